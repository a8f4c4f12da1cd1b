// fal's queue API on the queue.fal.run prefix: submit, status (polling and SSE), result, cancel
// (fal-wire-protocol.md section 3). Handlers validate, call the queue, and map to the wire.
import { randomInt } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ENDPOINTS, findEndpoint, priceOf, type EndpointDef } from "../../endpoints.js";
import { InputError, NotFoundError, NotReadyError, RateLimitedError } from "../../errors.js";
import { submitHash } from "../../queue/admission.js";
import { moveInlineInputs } from "../../queue/inline-inputs.js";
import { outputExpiry } from "../../storage/retention.js";
import type { LogEntry, StoredRequest } from "../../queue/store.js";
import { authenticate, type ApiDeps } from "../server.js";
import { validateInput } from "../validation.js";
import { webhookRefusal } from "../../webhooks/outbox.js";
import {
  IDEMPOTENCY_HEADER,
  PRIORITY_HEADER,
  REPLAYED_HEADER,
  QUEUE_HOST,
  REQUEST_ID_HEADER,
  START_TIMEOUT_HEADERS,
  statusBody,
  wantsLogs,
  wireLogs,
  wireStatusOf,
  type StatusBody,
} from "../wire.js";

interface RequestParams {
  owner: string;
  alias: string;
  id: string;
}

/** Endpoints that share a queue with this one (same engine), for a true queue_position. */
export function queuePeers(deps: ApiDeps, endpoint: string): string[] {
  const engine = deps.engines.engineFor(endpoint);
  return ENDPOINTS.map((e) => e.id).filter((id) => deps.engines.engineFor(id) === engine);
}

/** queuePeers of each endpoint, worked out once per engine set (engines do not change while serving). */
const peersCache = new WeakMap<ApiDeps["engines"], Map<string, string[]>>();
function cachedQueuePeers(deps: ApiDeps, endpoint: string): string[] {
  let byEndpoint = peersCache.get(deps.engines);
  if (!byEndpoint) peersCache.set(deps.engines, (byEndpoint = new Map()));
  let peers = byEndpoint.get(endpoint);
  if (!peers) byEndpoint.set(endpoint, (peers = queuePeers(deps, endpoint)));
  return peers;
}

export function currentStatus(deps: ApiDeps, r: StoredRequest, logs: boolean): StatusBody {
  return statusBody(r, {
    publicUrl: deps.config.publicUrl,
    logs: logs ? deps.store.logs(r.id) : null,
    queuePosition: r.state === "queued" ? deps.store.queuePosition(r, cachedQueuePeers(deps, r.endpoint)) : 0,
  });
}

/** x-fal-* headers worth keeping with the request (lifecycle, store-io, no-retry, timeouts). */
function falHeaders(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (k.startsWith("x-fal-") && typeof v === "string" && k !== "x-fal-target-url") out[k] = v.slice(0, 2000);
  }
  return out;
}

function startDeadline(req: FastifyRequest, now: number): number | null {
  for (const name of START_TIMEOUT_HEADERS) {
    const raw = req.headers[name];
    if (typeof raw !== "string") continue;
    const seconds = Number(raw);
    if (!Number.isFinite(seconds) || seconds <= 0) throw InputError.field(name, `${name} must be a positive number of seconds`, "value_error");
    return now + Math.round(seconds * 1000);
  }
  return null;
}

function webhookUrl(raw: unknown, allowPrivate: boolean): string | null {
  if (raw === undefined || raw === "") return null;
  const value = Array.isArray(raw) ? raw[0] : raw;
  let u: URL | undefined;
  try {
    u = new URL(String(value));
  } catch {
    u = undefined;
  }
  if (!u || (u.protocol !== "http:" && u.protocol !== "https:")) {
    throw new InputError([{ loc: ["query", "fal_webhook"], msg: "fal_webhook must be an http(s) URL", type: "url_parsing", input: String(value).slice(0, 200) }]);
  }
  const refusal = webhookRefusal(u, allowPrivate);
  if (refusal) throw new InputError([{ loc: ["query", "fal_webhook"], msg: `fal_webhook is refused: ${refusal}`, type: "value_error", input: String(value).slice(0, 200) }]);
  return u.toString();
}

function idempotencyKeyOf(req: FastifyRequest): string | null {
  const raw = req.headers[IDEMPOTENCY_HEADER];
  if (raw === undefined) return null;
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (!value || value.length > 255) {
    throw new InputError([{ loc: ["header", IDEMPOTENCY_HEADER], msg: "Idempotency-Key must be 1 to 255 characters", type: "value_error" }]);
  }
  return value;
}

export interface Accepted {
  request: StoredRequest;
  /** True when an earlier identical submit was returned instead of a new request. */
  replayed: boolean;
}

/**
 * Validates, applies admission (replays, limits, spend cap) and persists a new request before it is
 * acknowledged; shared by queue submit and sync run. The final admission check and the insert run
 * under one write lock, so concurrent submits (in this process or another) cannot both pass a limit.
 */
export async function acceptRequest(deps: ApiDeps, req: FastifyRequest, endpoint: EndpointDef, opts: { webhook: string | null }): Promise<Accepted> {
  const keyId = authenticate(deps.keys, req);
  const input = validateInput(endpoint, req.body);
  const now = Date.now();
  const headers = falHeaders(req);
  const idempotencyKey = idempotencyKeyOf(req);
  const bodyHash = submitHash(endpoint.id, req.body, headers, opts.webhook);
  const admissionOpts = { keyId, endpoint, input, idempotencyKey, bodyHash };
  const replayed = (request: StoredRequest): Accepted => {
    req.falRequestId = request.id;
    deps.log.info({ requestId: request.id, keyId }, "repeated submit answered with the original request");
    return { request, replayed: true };
  };
  const first = deps.admission.admit(admissionOpts);
  if (first.kind === "replay") return replayed(first.request);
  await deps.files.checkCapacity(keyId);
  const startDeadlineAt = startDeadline(req, now);
  // Inline data: inputs go to file storage now, so the stored input holds only URLs and small fields.
  const storedInput = await moveInlineInputs(input, {
    files: deps.files,
    keyId,
    maxBytes: deps.config.uploadLimitBytes,
    expiresAt: outputExpiry(headers["x-fal-object-lifecycle-preference"], deps.config.retentionSeconds, now),
  });
  const accepted = deps.store.atomically((): Accepted => {
    const admission = deps.admission.admit(admissionOpts, { countHit: false });
    if (admission.kind === "replay") return { request: admission.request, replayed: true };
    const request = deps.store.create({
      app: endpoint.app,
      endpoint: endpoint.id,
      keyId,
      priority: headers[PRIORITY_HEADER] === "low" ? 1 : 0,
      input: storedInput,
      priceUsd: priceOf(endpoint, input),
      headers,
      webhookUrl: opts.webhook,
      seed: input.seed ?? randomInt(0, 2 ** 32 - 1),
      startDeadlineAt,
      idempotencyKey,
      bodyHash,
    });
    return { request, replayed: false };
  });
  if (accepted.replayed) return replayed(accepted.request);
  req.falRequestId = accepted.request.id;
  deps.log.info({ requestId: accepted.request.id, endpoint: endpoint.id, keyId }, "request accepted");
  deps.dispatcher.kick();
  return accepted;
}

function endpointFromWildcard(path: string): EndpointDef {
  const id = path.replace(/^\/+|\/+$/g, "");
  const endpoint = findEndpoint(id);
  if (!endpoint) throw new NotFoundError(`Unknown endpoint ${id}; this server serves ${ENDPOINTS.map((e) => e.id).join(", ")}`);
  return endpoint;
}

export async function registerQueueRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const prefix = `/${QUEUE_HOST}`;
  const streams = createStatusStreams(deps);
  const find = (req: FastifyRequest<{ Params: RequestParams }>): StoredRequest => {
    const keyId = authenticate(deps.keys, req);
    const { owner, alias, id } = req.params;
    const r = deps.store.getForKey(id, keyId, `${owner}/${alias}`);
    if (!r) throw new NotFoundError("Request not found", { requestId: id });
    req.falRequestId = r.id;
    return r;
  };

  app.post<{ Params: { "*": string }; Querystring: Record<string, string> }>(`${prefix}/*`, async (req, reply) => {
    const endpoint = endpointFromWildcard(req.params["*"]);
    const maxQueue = req.query.fal_max_queue_length;
    if (maxQueue !== undefined && deps.store.countQueued() >= Number(maxQueue)) {
      throw new RateLimitedError(`Queue is longer than fal_max_queue_length=${maxQueue}`, 5);
    }
    const { request: r, replayed } = await acceptRequest(deps, req, endpoint, { webhook: webhookUrl(req.query.fal_webhook, deps.config.allowPrivateUrls) });
    reply.header(REQUEST_ID_HEADER, r.id);
    if (replayed) reply.header(REPLAYED_HEADER, "true");
    // The request as accepted (just created, or read under the write lock for a replay): no second read.
    return reply.code(200).send(currentStatus(deps, r, false));
  });

  app.get<{ Params: RequestParams; Querystring: { logs?: string } }>(`${prefix}/:owner/:alias/requests/:id/status`, async (req, reply) => {
    const r = find(req);
    const body = currentStatus(deps, r, wantsLogs(req.query.logs));
    reply.header(REQUEST_ID_HEADER, r.id);
    return reply.code(body.status === "COMPLETED" ? 200 : 202).send(body);
  });

  app.get<{ Params: RequestParams; Querystring: { logs?: string } }>(`${prefix}/:owner/:alias/requests/:id/status/stream`, async (req, reply) => {
    const r = find(req);
    streams.open(req, reply, r, wantsLogs(req.query.logs));
  });

  app.get<{ Params: RequestParams }>(`${prefix}/:owner/:alias/requests/:id`, async (req, reply) => {
    const r = find(req);
    reply.header(REQUEST_ID_HEADER, r.id);
    if (wireStatusOf(r) !== "COMPLETED") throw new NotReadyError(r.id);
    if (r.filesExpiredAt !== null) {
      return reply.code(410).send({ detail: `The output of this request expired on ${new Date(r.filesExpiredAt).toISOString()} and was deleted` });
    }
    if (r.state === "succeeded" && r.result) return reply.code(200).send(r.result);
    return replyWithFailure(reply, r);
  });

  app.put<{ Params: RequestParams }>(`${prefix}/:owner/:alias/requests/:id/cancel`, async (req, reply) => {
    const keyId = authenticate(deps.keys, req);
    const { owner, alias, id } = req.params;
    const r = deps.store.getForKey(id, keyId, `${owner}/${alias}`);
    if (!r) return reply.code(404).header(REQUEST_ID_HEADER, id).send({ status: "NOT_FOUND" });
    const outcome = deps.dispatcher.cancel(r);
    reply.header(REQUEST_ID_HEADER, r.id);
    if (outcome === "CANCELLATION_REQUESTED") return reply.code(202).send({ status: outcome });
    if (outcome === "ALREADY_COMPLETED") return reply.code(400).send({ status: outcome });
    return reply.code(404).send({ status: outcome });
  });
}

/** A failed or cancelled request's stored error, as the result URL and sync run answer it. */
export function replyWithFailure(reply: FastifyReply, r: StoredRequest): FastifyReply {
  const e = r.error ?? { status: 500, body: { detail: "Request failed" }, errorType: "internal_error", message: "Request failed" };
  reply.header(REQUEST_ID_HEADER, r.id).header("x-fal-error-type", e.errorType);
  for (const [k, v] of Object.entries(e.headers ?? {})) reply.header(k, v);
  return reply.code(e.status).type("application/json").send(e.body);
}

/** One open SSE status stream. */
interface Stream {
  raw: FastifyReply["raw"];
  logs: boolean;
  lastLogSeq: number;
  /** The last body sent, without logs, to send only changes. */
  lastSent: string;
  closed: boolean;
}

/** The streams of one request, which share one database read per wake-up instead of one per stream. */
interface Watch {
  id: string;
  streams: Set<Stream>;
  /** The request was queued at its last read, so any request's state change can move its queue position. */
  queued: boolean;
}

/**
 * SSE status streams (fal-wire-protocol.md section 3.4): the current state first, then one event per change, with only
 * new log lines; a stream closes after COMPLETED. All streams of one request share a watch: in-process
 * events and a once-a-second re-read (so work done by another process is seen too) read the request
 * once for all its streams, and wake-ups arriving together are served by one read.
 */
export function createStatusStreams(deps: ApiDeps) {
  const watches = new Map<string, Watch>();
  /** Each watch's subscription to its request's events. */
  const watchUnsubscribe = new Map<Watch, () => void>();
  const dirty = new Set<Watch>();
  let scheduled = false;
  let timers: NodeJS.Timeout[] = [];
  let unsubscribeAny: (() => void) | undefined;

  const peers = (endpoint: string) => cachedQueuePeers(deps, endpoint);

  function end(watch: Watch, stream: Stream) {
    if (stream.closed) return;
    stream.closed = true;
    stream.raw.end();
    watch.streams.delete(stream);
    if (watch.streams.size === 0) {
      watches.delete(watch.id);
      dirty.delete(watch);
      watchUnsubscribe.get(watch)?.();
      watchUnsubscribe.delete(watch);
      if (watches.size === 0) stopTimers();
    }
  }

  /** Writes what changed since the stream's last event; ends it once the request is COMPLETED. */
  function deliver(watch: Watch, stream: Stream, r: StoredRequest | undefined, base: StatusBody | undefined, baseKey: string, logs: LogEntry[]) {
    if (stream.closed) return;
    if (!r || !base) return end(watch, stream);
    const mine = stream.logs ? logs.filter((l) => l.seq > stream.lastLogSeq) : [];
    if (mine.length) stream.lastLogSeq = mine[mine.length - 1].seq;
    if (baseKey !== stream.lastSent || mine.length) {
      stream.lastSent = baseKey;
      stream.raw.write(`data: ${stream.logs ? JSON.stringify({ ...base, logs: wireLogs(mine) }) : baseKey}\n\n`);
    }
    if (base.status === "COMPLETED") end(watch, stream);
  }

  /** Reads the request (and the log lines its streams have not seen) once, and serves every stream. */
  function refresh(watch: Watch) {
    const r = deps.store.get(watch.id);
    let base: StatusBody | undefined;
    let baseKey = "";
    let logs: LogEntry[] = [];
    if (r) {
      watch.queued = r.state === "queued";
      base = statusBody(r, {
        publicUrl: deps.config.publicUrl,
        logs: null,
        queuePosition: watch.queued ? deps.store.queuePosition(r, peers(r.endpoint)) : 0,
      });
      baseKey = JSON.stringify(base);
      let after = Infinity;
      for (const s of watch.streams) if (s.logs) after = Math.min(after, s.lastLogSeq);
      if (after !== Infinity) logs = deps.store.logs(r.id, after);
    }
    for (const stream of [...watch.streams]) deliver(watch, stream, r, base, baseKey, logs);
  }

  function flush() {
    scheduled = false;
    const batch = [...dirty];
    dirty.clear();
    for (const watch of batch) {
      if (watch.streams.size === 0) continue;
      try {
        refresh(watch);
      } catch (err) {
        // A busy database or a failed read: the next wake-up or the once-a-second re-read tries again.
        deps.log.warn({ err, requestId: watch.id }, "status stream refresh failed");
      }
    }
  }

  function wake(watch: Watch) {
    dirty.add(watch);
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  }

  function startTimers() {
    if (timers.length) return;
    const poll = setInterval(() => {
      for (const w of watches.values()) wake(w);
    }, 1000);
    const ping = setInterval(() => {
      for (const w of watches.values()) for (const s of w.streams) if (!s.closed) s.raw.write(": ping\n\n");
    }, 15_000);
    poll.unref();
    ping.unref();
    timers = [poll, ping];
    unsubscribeAny = deps.events.onAnyState(() => {
      for (const w of watches.values()) if (w.queued) wake(w);
    });
  }

  function stopTimers() {
    for (const t of timers) clearInterval(t);
    timers = [];
    unsubscribeAny?.();
    unsubscribeAny = undefined;
  }

  return {
    open(req: FastifyRequest, reply: FastifyReply, first: StoredRequest, logs: boolean): void {
      reply.hijack();
      const raw = reply.raw;
      const headers: Record<string, string | number | string[]> = {};
      for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) headers[k] = v as string;
      raw.writeHead(200, {
        ...headers,
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache, no-transform",
        connection: "keep-alive",
        "x-accel-buffering": "no",
        [REQUEST_ID_HEADER]: first.id,
      });
      let watch = watches.get(first.id);
      if (!watch) {
        watch = { id: first.id, streams: new Set(), queued: first.state === "queued" };
        const w = watch;
        watches.set(first.id, w);
        watchUnsubscribe.set(w, deps.events.on(first.id, () => wake(w)));
        startTimers();
      }
      const stream: Stream = { raw, logs, lastLogSeq: 0, lastSent: "", closed: false };
      watch.streams.add(stream);
      const w = watch;
      req.raw.on("close", () => end(w, stream));
      // The first event is this stream's own: the state as just read, with every log line so far.
      try {
        const base = statusBody(first, {
          publicUrl: deps.config.publicUrl,
          logs: null,
          queuePosition: first.state === "queued" ? deps.store.queuePosition(first, peers(first.endpoint)) : 0,
        });
        deliver(w, stream, first, base, JSON.stringify(base), logs ? deps.store.logs(first.id) : []);
      } catch (err) {
        deps.log.error({ err }, "status stream failed");
        end(w, stream);
      }
    },
  };
}
