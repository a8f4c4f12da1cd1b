// ltx-serve's own routes beside fal's API: health, the OpenAPI document, endpoint descriptions for
// the playground, and a key's request history and usage.
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { ENDPOINTS } from "../../endpoints.js";
import { BadRequestError } from "../../errors.js";
import { ffmpegBinary } from "../../media/ffmpeg.js";
import { buildOpenApi } from "../openapi.js";
import { authenticate, type ApiDeps } from "../server.js";
import { wireStatusOf } from "../wire.js";

const VERSION = "0.1.0";

function parseTime(raw: string | undefined, fallback: number, name: string): number {
  if (raw === undefined || raw === "") return fallback;
  const t = /^\d+$/.test(raw) ? Number(raw) : Date.parse(raw);
  if (!Number.isFinite(t)) throw new BadRequestError(`${name} must be an ISO date or epoch milliseconds`);
  return t;
}

export async function registerServiceRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  app.get("/health", async () => {
    const ffmpeg = ffmpegBinary(deps.config.ffmpegPath);
    return {
      status: "ok",
      version: VERSION,
      endpoints: ENDPOINTS.map((e) => ({ id: e.id, engine: deps.engines.engineFor(e.id).name })),
      ffmpeg: { path: ffmpeg.path, source: ffmpeg.source, version: ffmpeg.version },
      queued: deps.store.countQueued(),
      running: deps.dispatcher.runningCount(),
    };
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

  app.get<{ Querystring: { limit?: string } }>("/api/requests", async (req) => {
    const keyId = authenticate(deps.keys, req);
    const limit = Math.min(500, Math.max(1, Number(req.query.limit ?? 50) || 50));
    const fileUrl = (id: string | null) => {
      const f = id ? deps.files.get(id) : undefined;
      return f && f.state === "ready" ? deps.files.urlOf(f) : null;
    };
    return {
      requests: deps.store.listForKey(keyId, limit).map((r) => ({
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
        input: r.input,
        seed: r.seed,
        progress: r.progress,
        video: r.state === "succeeded" ? ((r.result as { video?: unknown } | null)?.video ?? null) : null,
        thumbnail_url: fileUrl(r.thumbnailFileId),
        files_expired_at: r.filesExpiredAt ? new Date(r.filesExpiredAt).toISOString() : null,
        error: r.error ? { status: r.error.status, message: r.error.message, error_type: r.error.errorType, body: r.error.body } : null,
      })),
    };
  });

  app.get<{ Querystring: { from?: string; to?: string } }>("/api/usage", async (req) => {
    const keyId = authenticate(deps.keys, req);
    const from = parseTime(req.query.from, 0, "from");
    const to = parseTime(req.query.to, Date.now() + 1, "to");
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
