// Plain HTTP calls of the client commands (status, result, cancel, logs, health) and the video
// download. Every failure becomes a CliError with the request id, HTTP status and field errors.
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { CliError, httpError, toCliError, unreachableError, type Phase } from "./errors.js";
import { EXIT } from "./exit-codes.js";
import type { Server } from "./options.js";

const REQUEST_ID_HEADER = "x-fal-request-id";
const ERROR_TYPE_HEADER = "x-fal-error-type";

/** Time allowed for one JSON call, answer included, in ms. Default 60_000. */
export const JSON_CALL_TIMEOUT_MS = 60_000;

export interface JsonAnswer<T = Record<string, unknown>> {
  status: number;
  body: T;
  /** From x-fal-request-id, when the server set it. */
  requestId?: string;
}

async function readBody(res: Response): Promise<unknown> {
  const text = await res.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * One JSON call; a non-2xx answer throws a CliError built from its body. `phase` decides what a
 * failure status means (see errors.ts); `requestId` is reported if the answer lacks the header.
 */
export async function callJson<T = Record<string, unknown>>(
  server: Pick<Server, "url"> & { key?: string },
  method: "GET" | "PUT" | "POST",
  pathAndQuery: string,
  opts: { phase: Phase; requestId?: string; timeoutMs?: number },
): Promise<JsonAnswer<T>> {
  let res: Response;
  try {
    res = await fetch(`${server.url}${pathAndQuery}`, {
      method,
      headers: { accept: "application/json", ...(server.key ? { authorization: `Key ${server.key}` } : {}) },
      signal: AbortSignal.timeout(opts.timeoutMs ?? JSON_CALL_TIMEOUT_MS),
    });
  } catch (err) {
    throw toCliError(err, { phase: opts.phase, requestId: opts.requestId, url: server.url });
  }
  const body = await readBody(res);
  const requestId = res.headers.get(REQUEST_ID_HEADER) || opts.requestId;
  if (!res.ok) {
    throw httpError(res.status, body, { phase: opts.phase, requestId, errorTypeHeader: res.headers.get(ERROR_TYPE_HEADER) ?? undefined });
  }
  return { status: res.status, body: body as T, requestId };
}

/** Paths of a queued request on the server (fal-wire-protocol.md section 1: owner/alias, not the endpoint). */
export function requestPaths(app: string, id: string) {
  const base = `/queue.fal.run/${app}/requests/${encodeURIComponent(id)}`;
  return { result: base, status: `${base}/status`, cancel: `${base}/cancel` };
}

export interface Health {
  status: string;
  version?: string;
  endpoints?: { id: string; engine: string }[];
}

/** GET /health: proves the server is there (and is an ltx-serve) before uploading anything. */
export async function checkHealth(url: string): Promise<Health> {
  let res: Response;
  try {
    res = await fetch(`${url}/health`, { headers: { accept: "application/json" }, signal: AbortSignal.timeout(15_000) });
  } catch (err) {
    throw unreachableError(url, err);
  }
  const body = (await readBody(res)) as Health | undefined;
  const database = (body as { database?: { ok?: boolean; error?: string } } | undefined)?.database;
  if (body?.status === "degraded" && database?.ok === false) {
    throw new CliError(`the server at ${url} cannot use its database: ${database.error ?? "unknown error"}`, { exitCode: EXIT.unreachable, httpStatus: res.status });
  }
  if (!res.ok || !body || typeof body !== "object" || body.status !== "ok") {
    throw new CliError(`the server at ${url} did not answer /health as an ltx-serve (HTTP ${res.status})`, { exitCode: EXIT.unreachable, httpStatus: res.status });
  }
  return body;
}

/**
 * Streams a file from `url` to `dest` through a temporary file in the same folder, so that an
 * interrupted download never leaves a truncated video under the final name. Returns the size.
 */
export async function downloadTo(url: string, dest: string, opts: { requestId?: string } = {}): Promise<number> {
  let res: Response;
  try {
    res = await fetch(url);
  } catch (err) {
    throw toCliError(err, { phase: "download", requestId: opts.requestId, url });
  }
  if (!res.ok || !res.body) {
    const body = await readBody(res);
    const e = httpError(res.status, body, { phase: "download", requestId: opts.requestId });
    e.hint = `could not download ${url}`;
    throw e;
  }
  await fsp.mkdir(path.dirname(path.resolve(dest)), { recursive: true });
  const tmp = `${dest}.part-${process.pid}`;
  try {
    await pipeline(Readable.fromWeb(res.body as unknown as WebReadableStream<Uint8Array>), fs.createWriteStream(tmp));
    await fsp.rename(tmp, dest);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw new CliError(`download of ${url} to ${dest} failed: ${(err as Error).message}`, { exitCode: EXIT.usage, requestId: opts.requestId, cause: err });
  }
  return (await fsp.stat(dest)).size;
}
