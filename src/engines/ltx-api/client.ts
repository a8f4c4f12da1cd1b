// HTTP client of Lightricks' hosted LTX API (docs/ltx-hosted-api.md): upload, v2 submit, job
// status, result download, each with the retry rules of ltx-hosted-api.md 1.7; other failures throw LtxApiCallError.
import fs from "node:fs";
import fsp from "node:fs/promises";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import { LtxApiCallError, type LtxApiCall } from "./errors.js";
import type { HostedEndpoint, HostedRequest } from "./mapping.js";
import { backoffDelay, parseRetryAfter, sleep } from "./retry.js";

export const REQUEST_ID_HEADER = "x-request-id";

/** v2 job states (ltx-hosted-api.md 1.6); `completed` and `failed` are terminal. */
export type HostedJobStatus = "pending" | "processing" | "completed" | "failed";

/** GET /v2/{endpoint}/{id} (ltx-hosted-api.md 1.6, OpenAPI V2JobStatusResponse). */
export interface HostedJob {
  id: string;
  status: HostedJobStatus | string;
  created_at?: string;
  completed_at?: string;
  result?: { video_url?: string } & Record<string, unknown>;
  error?: { type?: string; message?: string };
}

export interface LtxApiClientOptions {
  /** Base URL without trailing slash, e.g. https://api.ltx.video. */
  baseUrl: string;
  apiKey: string;
  /** Retries of one call after 5xx, network errors and timeouts. */
  maxRetries: number;
  /** First backoff wait in ms; doubles each retry. */
  retryBaseMs: number;
  /** Time allowed for one API call in ms. */
  requestTimeoutMs: number;
  /** Time allowed for one download of the result in ms. */
  downloadTimeoutMs: number;
}

/** Told before each wait between two attempts of a call. */
export interface RetryNotice {
  call: LtxApiCall;
  /** HTTP status, or undefined for a network error or timeout. */
  status?: number;
  errorType?: string;
  reason: string;
  waitMs: number;
  /** Whether this retry counts against maxRetries (5xx, network) or not (429, 503). */
  counted: boolean;
  requestId?: string;
}

export interface CallContext {
  /** Aborts every request and wait at once (job cancelled or deadline passed). */
  signal: AbortSignal;
  onRetry?(notice: RetryNotice): void;
}

export interface LtxApiClient {
  /** POST /v1/upload, then PUT the bytes with `required_headers`; returns the storage_uri (ltx-hosted-api.md 1.5). */
  uploadFile(file: string, contentType: string, ctx: CallContext): Promise<{ storageUri: string; requestId?: string }>;
  /** POST /v2/{endpoint} (image-to-video, text-to-video, audio-to-video); returns the hosted job id. */
  submit(endpoint: HostedEndpoint, body: HostedRequest, ctx: CallContext): Promise<{ id: string; requestId?: string }>;
  /** GET /v2/{endpoint}/{id}: the poll uses the submit's endpoint segment (ltx-hosted-api.md 1.2). */
  getJob(endpoint: HostedEndpoint, id: string, ctx: CallContext): Promise<HostedJob>;
  /** GET the signed result URL (no auth header, ltx-hosted-api.md 1.6) into `dest`; returns its size in bytes. */
  download(url: string, dest: string, ctx: CallContext): Promise<number>;
}

interface ErrorBody {
  type?: string;
  message?: string;
  param?: string;
}

/** Reads `{"type":"error","error":{"type","message"}}` (ltx-hosted-api.md 1.7), tolerating other shapes. */
async function readErrorBody(res: Response): Promise<ErrorBody> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    return {};
  }
  try {
    const json = JSON.parse(text) as Record<string, unknown>;
    const inner = (typeof json.error === "object" && json.error !== null ? json.error : json) as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
    return {
      type: str(inner.type) !== "error" ? str(inner.type) : undefined,
      message: str(inner.message) ?? str(json.message) ?? str(json.detail),
      param: str(inner.param) ?? str(inner.field),
    };
  } catch {
    return { message: text.slice(0, 300) || undefined };
  }
}

function describeNetworkError(err: unknown, timedOut: boolean, timeoutMs: number): string {
  if (timedOut) return `no answer within ${timeoutMs} ms`;
  const e = err as { message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code ? `${e.cause.code}: ` : "";
  return `${code}${e.cause?.message ?? e.message ?? String(err)}`;
}

export function createLtxApiClient(opts: LtxApiClientOptions): LtxApiClient {
  const base = opts.baseUrl.replace(/\/+$/, "");
  const auth = { authorization: `Bearer ${opts.apiKey}` };

  /**
   * Runs `attempt` until it yields a 2xx answer. `attempt` gets a signal that also fires at the
   * per-attempt timeout and must finish reading the body before returning (so a body that stalls
   * counts as a timeout). Returns what `attempt` returned with the 2xx response.
   * 429 and 503 are waited out (Retry-After, backoff) without counting: only the job's signal
   * (deadline, cancel) ends those waits. 5xx, network errors and timeouts are retried maxRetries
   * times. Any other answer is thrown at once.
   */
  async function withRetries<T>(
    call: LtxApiCall,
    ctx: CallContext,
    timeoutMs: number,
    attempt: (signal: AbortSignal) => Promise<{ res: Response; value?: T }>,
  ): Promise<{ res: Response; value?: T }> {
    let counted = 0;
    let waits = 0;
    for (;;) {
      ctx.signal.throwIfAborted();
      const timeout = AbortSignal.timeout(timeoutMs);
      const signal = AbortSignal.any([ctx.signal, timeout]);
      let outcome: { res: Response; value?: T } | undefined;
      let failure: unknown;
      try {
        outcome = await attempt(signal);
      } catch (err) {
        if (ctx.signal.aborted) throw ctx.signal.reason;
        if (err instanceof LtxApiCallError) throw err;
        failure = err;
      }

      if (outcome && outcome.res.ok) return outcome;

      let status: number | undefined;
      let body: ErrorBody = {};
      let requestId: string | undefined;
      let retryAfterMs: number | undefined;
      if (outcome) {
        const res = outcome.res;
        status = res.status;
        requestId = res.headers.get(REQUEST_ID_HEADER) ?? undefined;
        retryAfterMs = parseRetryAfter(res.headers.get("retry-after"));
        body = await readErrorBody(res);
      }
      const message = outcome ? body.message ?? `HTTP ${status}` : describeNetworkError(failure, timeout.aborted, timeoutMs);

      if (status === 429 || status === 503) {
        // Rate or concurrency limit, or a brief outage: wait as told; only the job deadline ends this.
        waits += 1;
        const waitMs = backoffDelay(waits, { baseMs: opts.retryBaseMs, retryAfterMs });
        ctx.onRetry?.({ call, status, errorType: body.type, reason: message, waitMs, counted: false, requestId });
        await sleep(waitMs, ctx.signal);
        continue;
      }
      if (status === undefined || status >= 500) {
        counted += 1;
        if (counted > opts.maxRetries) {
          throw new LtxApiCallError(call, status, body.type, message, { requestId, retriesExhausted: true, attempts: counted, cause: failure });
        }
        const waitMs = backoffDelay(counted, { baseMs: opts.retryBaseMs, retryAfterMs });
        ctx.onRetry?.({ call, status, errorType: body.type, reason: message, waitMs, counted: true, requestId });
        await sleep(waitMs, ctx.signal);
        continue;
      }
      throw new LtxApiCallError(call, status, body.type, message, { requestId, param: body.param });
    }
  }

  /** A JSON call: the body is read within the attempt so that its time counts against the timeout. */
  async function jsonCall<T>(call: LtxApiCall, ctx: CallContext, url: string, init: RequestInit): Promise<{ json: T; requestId?: string }> {
    const { res, value } = await withRetries<unknown>(call, ctx, opts.requestTimeoutMs, async (signal) => {
      const res = await fetch(url, { ...init, signal });
      if (!res.ok) return { res };
      return { res, value: await res.json() };
    });
    const requestId = res.headers.get(REQUEST_ID_HEADER) ?? undefined;
    if (typeof value !== "object" || value === null) {
      throw new LtxApiCallError(call, res.status, undefined, "answer is not a JSON object", { requestId });
    }
    return { json: value as T, requestId };
  }

  return {
    async uploadFile(file, contentType, ctx) {
      const slot = await jsonCall<Record<string, unknown>>("upload-slot", ctx, `${base}/v1/upload`, { method: "POST", headers: auth });
      const { upload_url: uploadUrl, storage_uri: storageUri, required_headers: required } = slot.json;
      if (typeof uploadUrl !== "string" || typeof storageUri !== "string") {
        throw new LtxApiCallError("upload-slot", 200, undefined, "answer lacks upload_url or storage_uri", { requestId: slot.requestId });
      }
      const requiredHeaders: Record<string, string> = {};
      if (typeof required === "object" && required !== null) {
        for (const [k, v] of Object.entries(required)) requiredHeaders[k] = String(v);
      }
      const bytes = await fsp.readFile(file);
      // The upload URL is pre-signed storage: no bearer header goes there (ltx-hosted-api.md 1.5).
      await withRetries("upload-put", ctx, opts.requestTimeoutMs, async (signal) => {
        const res = await fetch(uploadUrl, {
          method: "PUT",
          headers: { "content-type": contentType, ...requiredHeaders },
          body: bytes,
          signal,
        });
        if (res.ok) await res.arrayBuffer().catch(() => undefined);
        return { res };
      });
      return { storageUri, requestId: slot.requestId };
    },

    async submit(endpoint, body, ctx) {
      const { json, requestId } = await jsonCall<{ id?: unknown }>("submit", ctx, `${base}/v2/${endpoint}`, {
        method: "POST",
        headers: { ...auth, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      if (typeof json.id !== "string" || json.id === "") {
        throw new LtxApiCallError("submit", 202, undefined, "answer lacks a job id", { requestId });
      }
      return { id: json.id, requestId };
    },

    async getJob(endpoint, id, ctx) {
      const { json } = await jsonCall<HostedJob>("status", ctx, `${base}/v2/${endpoint}/${encodeURIComponent(id)}`, {
        method: "GET",
        headers: auth,
      });
      if (typeof json.status !== "string") throw new LtxApiCallError("status", 200, undefined, "job document lacks a status");
      return json;
    },

    async download(url, dest, ctx) {
      await withRetries("download", ctx, opts.downloadTimeoutMs, async (signal) => {
        const res = await fetch(url, { signal });
        if (!res.ok || !res.body) return { res };
        await pipeline(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>), fs.createWriteStream(dest), { signal });
        return { res };
      });
      return (await fsp.stat(dest)).size;
    },
  };
}
