// ltx-serve's own routes beside fal's API: health and readiness, the OpenAPI document, endpoint
// descriptions for the playground, and a key's request history and usage.
import fsp from "node:fs/promises";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ENDPOINTS } from "../../endpoints.js";
import { BadRequestError, InputError, redactInternals } from "../../errors.js";
import { ffmpegBinary } from "../../media/ffmpeg.js";
import { buildOpenApi } from "../openapi.js";
import { authenticate, type ApiDeps } from "../server.js";
import { wireStatusOf } from "../wire.js";

const VERSION = "0.1.0";

/** A `from`/`to` query value: ISO date or epoch milliseconds, within what a Date can hold; else 422 naming it. */
function parseTime(raw: unknown, fallback: number, name: string): number {
  if (raw === undefined || raw === "") return fallback;
  const bad = (msg: string) => new InputError([{ loc: ["query", name], msg, type: "value_error", input: raw }]);
  if (typeof raw !== "string") throw bad(`${name} must be given once`);
  const t = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(t) || Number.isNaN(new Date(t).getTime())) throw bad(`${name} must be an ISO date or epoch milliseconds`);
  return t;
}

interface Check {
  ok: boolean;
  error?: string;
}

const failed = (err: unknown): Check => ({ ok: false, error: redactInternals((err as Error)?.message ?? String(err)) });

/** Reads the database for real: a closed, missing or corrupt database fails here. */
function checkDatabase(deps: ApiDeps): Check & { queued?: number } {
  try {
    deps.db.prepare("SELECT 1 FROM api_keys LIMIT 1").get();
    return { ok: true, queued: deps.store.countQueued() };
  } catch (err) {
    return failed(err);
  }
}

/** Writes and removes a small file where uploads and outputs are stored. */
async function checkStorage(deps: ApiDeps): Promise<Check> {
  const probe = path.join(deps.config.dataDir, "files", `.readyz-${process.pid}`);
  try {
    await fsp.writeFile(probe, "ok");
    await fsp.rm(probe, { force: true });
    return { ok: true };
  } catch (err) {
    return failed(err);
  }
}

function checkEngines(deps: ApiDeps): Check & { engines: { name: string; ready: boolean; reason?: string }[] } {
  const engines = deps.engines.all().map((e) => {
    const reason = e.notReadyReason?.();
    return reason === undefined ? { name: e.name, ready: true } : { name: e.name, ready: false, reason: redactInternals(reason) };
  });
  const notReady = engines.filter((e) => !e.ready);
  return notReady.length ? { ok: false, error: notReady.map((e) => `${e.name}: ${e.reason}`).join("; "), engines } : { ok: true, engines };
}

export async function registerServiceRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  // Unauthenticated and cheap: one indexed read of the database, no input blobs.
  app.get("/health", async (_req, reply) => {
    const ffmpeg = ffmpegBinary(deps.config.ffmpegPath);
    const { queued, ...database } = checkDatabase(deps);
    return reply.code(database.ok ? 200 : 503).send({
      status: database.ok ? "ok" : "degraded",
      version: VERSION,
      database,
      endpoints: ENDPOINTS.map((e) => ({ id: e.id, engine: deps.engines.engineFor(e.id).name })),
      ffmpeg: { path: ffmpeg.path, source: ffmpeg.source, version: ffmpeg.version },
      queued: queued ?? null,
      running: deps.dispatcher.runningCount(),
    });
  });

  // Process alive: touches nothing (no database, no disk), whatever the query string.
  app.get("/healthz", async () => ({ ok: true }));

  // Whether this process can take work now: database reachable, storage writable, engines warmed up;
  // the slots of this process are reported, and ?slots=1 also requires a free one (for a worker's probe).
  app.get<{ Querystring: { slots?: unknown } }>("/readyz", async (req, reply) => {
    const wantSlot = req.query.slots;
    if (wantSlot !== undefined && wantSlot !== "0" && wantSlot !== "1") {
      throw new InputError([{ loc: ["query", "slots"], msg: "slots must be 0 or 1", type: "value_error", input: wantSlot }]);
    }
    let database: Check;
    try {
      deps.db.prepare("SELECT 1 FROM api_keys LIMIT 1").get();
      database = { ok: true };
    } catch (err) {
      database = failed(err);
    }
    const storage = await checkStorage(deps);
    const engines = checkEngines(deps);
    const slotList = deps.dispatcher.slots().map((s) => ({ engine: s.engine.name, slots: s.concurrency, busy: s.used, free: Math.max(0, s.concurrency - s.used) }));
    const free = slotList.reduce((n, s) => n + s.free, 0);
    const slots: Check & { engines: typeof slotList } =
      wantSlot === "1" && free === 0 ? { ok: false, error: "no free slot in this process", engines: slotList } : { ok: true, engines: slotList };
    const ready = database.ok && storage.ok && engines.ok && slots.ok;
    return reply.code(ready ? 200 : 503).send({ ready, checks: { database, storage, engines, slots } });
  });

  const openapi = buildOpenApi(deps.config.publicUrl, VERSION);
  app.get("/openapi.json", async () => openapi);

  app.get("/api/endpoints", async () =>
    ENDPOINTS.map((e) => ({
      id: e.id,
      app: e.app,
      title: e.title,
      engine: deps.engines.engineFor(e.id).name,
      input_schema: z.toJSONSchema(e.schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" }),
      price_per_second: e.pricePerSecond,
    })),
  );

  // History, newest first, one page at a time: ?limit= (1 to 100, default 20) and the opaque ?cursor=
  // of the previous answer's next_cursor. Each row's input is read for this page only, and is small:
  // inline data: inputs were moved into file storage at admission.
  app.get<{ Querystring: { limit?: string | string[]; cursor?: string | string[] } }>("/api/requests", async (req) => {
    const keyId = authenticate(deps.keys, req);
    const { limit, beforeSeq } = historyPage(req.query);
    const fileUrl = (id: string | null) => {
      const f = id ? deps.files.get(id) : undefined;
      return f && f.state === "ready" ? deps.files.urlOf(f) : null;
    };
    const page = deps.store.listForKey(keyId, limit, beforeSeq);
    const last = page.at(-1);
    const nextCursor = page.length === limit && last && deps.store.hasOlderForKey(keyId, last.seq) ? encodeCursor(last.seq) : null;
    return {
      next_cursor: nextCursor,
      requests: page.map((r) => ({
        request_id: r.id,
        endpoint: r.endpoint,
        status: wireStatusOf(r),
        state: r.state,
        created_at: new Date(r.createdAt).toISOString(),
        started_at: r.startedAt ? new Date(r.startedAt).toISOString() : null,
        finished_at: r.finishedAt ? new Date(r.finishedAt).toISOString() : null,
        engine: r.engine,
        model: r.model,
        cost_usd: r.costUsd ?? 0,
        input: deps.store.loadInput(r.id),
        input_bytes: r.inputBytes,
        seed: r.seed,
        progress: r.progress,
        video: r.state === "succeeded" ? ((r.result as { video?: unknown } | null)?.video ?? null) : null,
        thumbnail_url: fileUrl(r.thumbnailFileId),
        files_expired_at: r.filesExpiredAt ? new Date(r.filesExpiredAt).toISOString() : null,
        error: r.error ? { status: r.error.status, message: r.error.message, error_type: r.error.errorType, body: r.error.body } : null,
      })),
    };
  });

  app.get<{ Querystring: { from?: unknown; to?: unknown } }>("/api/usage", async (req) => {
    const keyId = authenticate(deps.keys, req);
    const from = parseTime(req.query.from, 0, "from");
    const to = parseTime(req.query.to, Date.now() + 1, "to");
    if (to < from) throw new InputError([{ loc: ["query", "to"], msg: "to must not be before from", type: "value_error", input: req.query.to }]);
    const u = deps.store.usage(keyId, from, to);
    return {
      key_id: u.keyId,
      from: new Date(u.from).toISOString(),
      to: new Date(u.to).toISOString(),
      requests: u.requests,
      seconds: u.seconds,
      cost_usd: u.costUsd,
      by_endpoint: u.byEndpoint.map((b) => ({ endpoint: b.endpoint, resolution: b.resolution, requests: b.requests, seconds: b.seconds, cost_usd: b.costUsd })),
    };
  });
}

export const HISTORY_DEFAULT_LIMIT = 20;
export const HISTORY_MAX_LIMIT = 100;

const encodeCursor = (seq: number) => Buffer.from(`s:${seq}`).toString("base64url");

/** Parses ?limit= and ?cursor= of the history route; bad values are 422s naming the field. */
export function historyPage(query: { limit?: string | string[]; cursor?: string | string[] }): { limit: number; beforeSeq: number | null } {
  const bad = (field: string, msg: string) => new InputError([{ loc: ["query", field], msg, type: "value_error" }]);
  let limit = HISTORY_DEFAULT_LIMIT;
  if (query.limit !== undefined) {
    const raw = Array.isArray(query.limit) ? query.limit[0] : query.limit;
    if (!/^\d{1,4}$/.test(raw ?? "") || Number(raw) < 1 || Number(raw) > HISTORY_MAX_LIMIT) {
      throw bad("limit", `limit must be a whole number from 1 to ${HISTORY_MAX_LIMIT}`);
    }
    limit = Number(raw);
  }
  let beforeSeq: number | null = null;
  if (query.cursor !== undefined) {
    const raw = (Array.isArray(query.cursor) ? query.cursor[0] : query.cursor) ?? "";
    const decoded = /^[A-Za-z0-9_-]{1,64}$/.test(raw) ? Buffer.from(raw, "base64url").toString() : "";
    const m = /^s:(\d{1,15})$/.exec(decoded);
    if (!m) throw bad("cursor", "cursor is not a next_cursor value of this route");
    beforeSeq = Number(m[1]);
  }
  return { limit, beforeSeq };
}
