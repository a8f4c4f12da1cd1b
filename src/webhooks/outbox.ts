// The webhook outbox dispatcher: sends the deliveries the queue wrote into webhook_deliveries,
// signed afresh at every attempt, through the SSRF guard, retrying with backoff; all state is in the DB.
import dns from "node:dns";
import type { Logger } from "pino";
import { Agent, request } from "undici";
import type { Config } from "../config.js";
import type { Db } from "../db.js";
import { RateLimitedError } from "../errors.js";
import { webhookUserIdOf } from "../keys.js";
import { addressPolicy, guardedLookup, type AddressPolicy, type HostResolver } from "../media/fetch.js";
import { describeRange, literalAddressOf } from "../media/net-policy.js";
import { createSigningKeyStore, signWebhook, type SigningKeyStore } from "./signing.js";

export type DeliveryState = "pending" | "sending" | "delivered" | "failed";

export interface WebhookAttempt {
  attempt: number;
  /** Epoch ms when the POST began. */
  startedAt: number;
  durationMs: number;
  /** HTTP status the receiver answered, null when it did not answer. */
  statusCode: number | null;
  /** Why the attempt failed, null when it succeeded or is still running. */
  error: string | null;
  outcome: "delivered" | "failed" | "in_progress";
}

export interface WebhookDelivery {
  id: number;
  requestId: string;
  url: string;
  /** The exact JSON text sent. */
  body: string;
  state: DeliveryState;
  /** Attempts made so far (including one in progress). */
  attempts: number;
  /** Epoch ms of the next try while pending, else null. */
  nextAttemptAt: number | null;
  createdAt: number;
  deliveredAt: number | null;
  attemptLog: WebhookAttempt[];
}

export interface WebhookDispatcherOptions {
  db: Db;
  config: Pick<Config, "dataDir" | "allowPrivateUrls" | "webhookRetryDelaysMs" | "webhookTimeoutMs">;
  log: Logger;
  clock?: () => number;
  /** Signing keys; default the ones under config.dataDir. */
  keys?: SigningKeyStore;
  /** Host name resolver for the SSRF guard; default the system resolver. */
  resolve?: HostResolver;
  /** Largest wait between scans of the table (other processes' deliveries), in ms. Default 1_000. */
  pollMs?: number;
  /** Deliveries in flight at once from this process. Default 8. */
  concurrency?: number;
  /** Wakes the dispatcher when any request changes state (the event after a delivery is written). */
  events?: { onAnyState(fn: (requestId: string) => void): () => void };
  /** Told the result of every attempt this process made (for /metrics): delivered, retrying or failed for good. */
  onAttempt?(result: "delivered" | "retrying" | "failed", durationMs: number): void;
}

export type WebhookDispatcher = ReturnType<typeof createWebhookDispatcher>;

interface DeliveryRow {
  id: number;
  request_id: string;
  url: string;
  body: string;
  state: DeliveryState;
  attempts: number;
  next_attempt_at: number;
  created_at: number;
  delivered_at: number | null;
}

interface AttemptRow {
  delivery_id: number;
  attempt: number;
  started_at: number;
  duration_ms: number;
  status_code: number | null;
  error: string | null;
}

interface Outcome {
  statusCode: number | null;
  error: string | null;
  /** The attempt can never succeed (refused address, bad URL): no retries. */
  permanent?: boolean;
  /** Cut short by this process stopping: retried at once and not counted against the budget. */
  interrupted?: boolean;
}

/** Extra time beyond the attempt timeout before another process may take a claimed delivery over. */
const CLAIM_GRACE_MS = 10_000;
const USER_AGENT = "ltx-serve (webhook delivery)";
const ERROR_SNIPPET_BYTES = 300;
/** Attempts whose error starts with this were cut short by our side; they do not use up the retry budget. */
const INTERRUPTED = "interrupted:";
const INTERRUPTED_BY_CRASH = `${INTERRUPTED} the process sending it stopped before recording an answer`;
const INTERRUPTED_BY_SHUTDOWN = `${INTERRUPTED} the server shut down during the attempt`;

const systemResolver: HostResolver = async (hostname) => {
  const found = await dns.promises.lookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** Redeliveries of one request allowed within REDELIVERY_WINDOW_MS (the first delivery not counted). */
export const REDELIVERIES_PER_WINDOW = 5;
export const REDELIVERY_WINDOW_MS = 10 * 60_000;

/**
 * Why a webhook URL is refused before any connection, or undefined when it may be tried: only
 * http(s); with private addresses not allowed, no literal address outside public unicast and no
 * `localhost` name. Other names are judged by their DNS answers when the POST connects. Submit
 * (422 on `fal_webhook`) and every delivery attempt use this one rule.
 */
export function webhookRefusal(url: URL, allowPrivate: boolean): string | undefined {
  if (url.protocol !== "http:" && url.protocol !== "https:") return `${url.protocol} URLs are not delivered to`;
  if (allowPrivate) return undefined;
  // Literal addresses never reach the connect-time lookup, so they are judged here.
  const literal = literalAddressOf(url);
  const verdict = literal === undefined ? undefined : addressPolicy(false).refuses(literal);
  if (verdict) return `${literal} is ${describeRange(verdict.range)} (ALLOW_PRIVATE_URLS=true allows it)`;
  const host = url.hostname.replace(/\.$/, "").toLowerCase();
  if (host === "localhost" || host.endsWith(".localhost")) return `${host} is a loopback name (ALLOW_PRIVATE_URLS=true allows it)`;
  return undefined;
}

function outcomeOf(a: Pick<AttemptRow, "status_code" | "error">): WebhookAttempt["outcome"] {
  if (a.status_code === null && a.error === null) return "in_progress";
  return a.error === null && a.status_code !== null && a.status_code >= 200 && a.status_code < 300 ? "delivered" : "failed";
}

/**
 * Creates the outbox dispatcher. Claims are single UPDATE ... RETURNING statements, so several
 * processes on one database never send the same attempt at once; a claim left by a dead process
 * is taken over once its lease (attempt timeout + 10 s) has passed.
 */
export function createWebhookDispatcher(opts: WebhookDispatcherOptions) {
  const { db, config, log } = opts;
  const clock = opts.clock ?? Date.now;
  const keys = opts.keys ?? createSigningKeyStore({ dataDir: config.dataDir, clock });
  const delays = config.webhookRetryDelaysMs;
  /** Attempts before a delivery is given up: one first try plus one per retry delay. */
  const maxAttempts = delays.length + 1;
  /** Ceiling on attempts counting interrupted ones, so a delivery that keeps killing its sender stops. */
  const hardMaxAttempts = maxAttempts * 2;
  const timeoutMs = config.webhookTimeoutMs;
  const pollMs = opts.pollMs ?? 1_000;
  const concurrency = opts.concurrency ?? 8;
  const policy: AddressPolicy = addressPolicy(config.allowPrivateUrls);
  const agent = new Agent({
    connect: { lookup: guardedLookup(opts.resolve ?? systemResolver, policy), timeout: Math.min(timeoutMs, 10_000) },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    keepAliveTimeout: 4_000,
  });

  const inFlight = new Map<number, { controller: AbortController; done: Promise<void> }>();
  let timer: NodeJS.Timeout | undefined;
  let started = false;
  let stopping = false;
  let kickScheduled = false;
  let unsubscribe = () => {};

  const recoverStale = db.prepare<{ now: number; hardMax: number }, { id: number; attempts: number; state: DeliveryState }>(
    `UPDATE webhook_deliveries SET state = CASE WHEN attempts >= @hardMax THEN 'failed' ELSE 'pending' END, next_attempt_at = @now
     WHERE state = 'sending' AND next_attempt_at <= @now RETURNING id, attempts, state`,
  );
  const closeAttempt = db.prepare<{ id: number; attempt: number; duration: number; status: number | null; error: string | null }>(
    `UPDATE webhook_attempts SET duration_ms = @duration, status_code = @status, error = @error
     WHERE delivery_id = @id AND attempt = @attempt AND status_code IS NULL AND error IS NULL`,
  );
  const claimOne = db.prepare<{ now: number; leaseUntil: number }, DeliveryRow>(
    `UPDATE webhook_deliveries SET state = 'sending', attempts = attempts + 1, next_attempt_at = @leaseUntil
     WHERE id = (SELECT id FROM webhook_deliveries WHERE state = 'pending' AND next_attempt_at <= @now ORDER BY next_attempt_at, id LIMIT 1)
     RETURNING *`,
  );
  const openAttempt = db.prepare(
    "INSERT OR REPLACE INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms, status_code, error) VALUES (?, ?, ?, 0, NULL, NULL)",
  );
  const keyIdOf = db.prepare<[string], { key_id: string }>("SELECT key_id FROM requests WHERE id = ?");
  const finishDelivery = db.prepare<{ id: number; attempt: number; state: DeliveryState; next: number; deliveredAt: number | null }>(
    `UPDATE webhook_deliveries SET state = @state, next_attempt_at = @next, delivered_at = @deliveredAt
     WHERE id = @id AND state = 'sending' AND attempts = @attempt`,
  );
  const countedFailures = db.prepare<[number, string], { n: number }>(
    "SELECT COUNT(*) AS n FROM webhook_attempts WHERE delivery_id = ? AND error IS NOT NULL AND error NOT LIKE ?",
  );
  const nextDue = db.prepare<[], { next: number | null }>(
    "SELECT MIN(next_attempt_at) AS next FROM webhook_deliveries WHERE state IN ('pending', 'sending')",
  );

  /** Takes back claims of dead processes, then claims one due delivery and opens its attempt row. */
  const claim = db.transaction((now: number): (DeliveryRow & { userId: string }) | undefined => {
    for (const stale of recoverStale.all({ now, hardMax: hardMaxAttempts })) {
      closeAttempt.run({ id: stale.id, attempt: stale.attempts, duration: 0, status: null, error: INTERRUPTED_BY_CRASH });
      log.warn({ deliveryId: stale.id, attempt: stale.attempts }, "webhook attempt of a stopped process taken over");
    }
    const row = claimOne.get({ now, leaseUntil: now + timeoutMs + CLAIM_GRACE_MS });
    if (!row) return undefined;
    openAttempt.run(row.id, row.attempts, now);
    const keyId = keyIdOf.get(row.request_id)?.key_id;
    return { ...row, userId: keyId === undefined ? "" : webhookUserIdOf(db, keyId) };
  });

  /** Records an attempt's outcome and moves the delivery on: delivered, retried later, or failed. */
  const record = db.transaction((d: DeliveryRow, outcome: Outcome, durationMs: number) => {
    const now = clock();
    closeAttempt.run({ id: d.id, attempt: d.attempts, duration: durationMs, status: outcome.statusCode, error: outcome.error });
    let state: DeliveryState;
    let next = now;
    if (outcome.error === null) state = "delivered";
    else if (outcome.permanent || d.attempts >= hardMaxAttempts) state = "failed";
    else if (outcome.interrupted) state = "pending";
    else {
      const failures = countedFailures.get(d.id, `${INTERRUPTED}%`)!.n;
      if (failures >= maxAttempts) state = "failed";
      else {
        state = "pending";
        next = now + delays[failures - 1];
      }
    }
    finishDelivery.run({ id: d.id, attempt: d.attempts, state, next, deliveredAt: state === "delivered" ? now : null });
    return { state, next };
  });

  async function post(d: DeliveryRow & { userId: string }, signal: AbortSignal): Promise<Outcome> {
    let url: URL;
    try {
      url = new URL(d.url);
    } catch {
      return { statusCode: null, error: "refused: not a valid URL", permanent: true };
    }
    const refusal = webhookRefusal(url, config.allowPrivateUrls);
    if (refusal) return { statusCode: null, error: `refused: ${refusal}`, permanent: true };
    const body = Buffer.from(d.body, "utf8");
    const headers = signWebhook(keys.active(), {
      requestId: d.request_id,
      userId: d.userId,
      body,
      timestampSeconds: Math.floor(clock() / 1000),
    });
    try {
      const res = await request(url, {
        method: "POST",
        dispatcher: agent,
        body,
        headers: { ...headers, "user-agent": USER_AGENT },
        signal,
      });
      const ok = res.statusCode >= 200 && res.statusCode < 300;
      const snippet = ok ? "" : await readSnippet(res.body);
      if (ok) await res.body.dump().catch(() => {});
      const location = res.headers.location;
      const redirect = res.statusCode >= 300 && res.statusCode < 400 && location ? ` (redirect to ${String(location).slice(0, 200)} not followed)` : "";
      return { statusCode: res.statusCode, error: ok ? null : `HTTP ${res.statusCode}${redirect}${snippet ? `: ${snippet}` : ""}` };
    } catch (err) {
      const refused = findRefusal(err);
      if (refused) return { statusCode: null, error: `refused: ${refused} (ALLOW_PRIVATE_URLS=true allows it)`, permanent: true };
      if (signal.aborted) {
        const reason = signal.reason as Error | undefined;
        if (reason?.name === "TimeoutError") return { statusCode: null, error: `no answer within ${timeoutMs} ms` };
        return { statusCode: null, error: INTERRUPTED_BY_SHUTDOWN, interrupted: true };
      }
      return { statusCode: null, error: describeNetworkError(err) };
    }
  }

  function run(d: DeliveryRow & { userId: string }) {
    const controller = new AbortController();
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(timeoutMs)]);
    const begin = performance.now();
    const done = (async () => {
      let outcome: Outcome;
      try {
        outcome = await post(d, signal);
      } catch (err) {
        // Signing failed (a broken key file): retried like any failure, and logged loudly.
        log.error({ err, deliveryId: d.id }, "webhook attempt could not be made");
        outcome = { statusCode: null, error: `not sent: ${(err as Error).message}` };
      }
      const durationMs = Math.round(performance.now() - begin);
      try {
        const { state, next } = record(d, outcome, durationMs);
        opts.onAttempt?.(state === "delivered" ? "delivered" : state === "failed" ? "failed" : "retrying", durationMs);
        const fields = { deliveryId: d.id, requestId: d.request_id, attempt: d.attempts, statusCode: outcome.statusCode, durationMs };
        if (state === "delivered") log.info(fields, "webhook delivered");
        else if (state === "failed") log.warn({ ...fields, error: outcome.error }, "webhook delivery failed for good");
        else log.info({ ...fields, error: outcome.error, retryAt: new Date(next).toISOString() }, "webhook attempt failed; will retry");
      } catch (err) {
        // The database is closing or gone; the claim's lease lets a later process retry.
        log.error({ err, deliveryId: d.id }, "could not record a webhook attempt");
      } finally {
        inFlight.delete(d.id);
        kick();
      }
    })();
    inFlight.set(d.id, { controller, done });
  }

  function pump() {
    kickScheduled = false;
    if (stopping || !started) return;
    try {
      // A read first, so that an idle outbox takes no write lock on every scan.
      const due = nextDue.get()?.next;
      while (due !== null && due !== undefined && due <= clock() && inFlight.size < concurrency) {
        const d = claim.immediate(clock());
        if (!d) break;
        run(d);
      }
    } catch (err) {
      log.error({ err }, "webhook outbox scan failed");
    }
    schedule();
  }

  /** Sleeps until the earliest due delivery, but never longer than pollMs (other processes add rows). */
  function schedule() {
    if (stopping) return;
    clearTimeout(timer);
    let wait = pollMs;
    try {
      const next = nextDue.get()?.next;
      if (next !== null && next !== undefined) wait = Math.max(0, Math.min(pollMs, next - clock()));
    } catch {
      // The next pump reports database errors.
    }
    timer = setTimeout(pump, wait);
    timer.unref();
  }

  function kick() {
    if (kickScheduled || stopping || !started) return;
    kickScheduled = true;
    setImmediate(pump);
  }

  const deliveryRows = db.prepare<[string], DeliveryRow>("SELECT * FROM webhook_deliveries WHERE request_id = ? ORDER BY id");
  const attemptRows = db.prepare<[number], AttemptRow>("SELECT * FROM webhook_attempts WHERE delivery_id = ? ORDER BY attempt");
  const latestDelivery = db.prepare<[string], DeliveryRow>("SELECT * FROM webhook_deliveries WHERE request_id = ? ORDER BY id DESC LIMIT 1");
  /** Redeliveries (every delivery after a request's first) created since a time, oldest first. */
  const recentRedeliveries = db.prepare<[string, number, string], { created_at: number }>(
    `SELECT created_at FROM webhook_deliveries WHERE request_id = ? AND created_at > ?
     AND id > (SELECT MIN(id) FROM webhook_deliveries WHERE request_id = ?) ORDER BY created_at, id`,
  );
  const insertDelivery = db.prepare<[string, string, string, number, number], DeliveryRow>(
    "INSERT INTO webhook_deliveries (request_id, url, body, state, next_attempt_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?) RETURNING *",
  );

  function view(row: DeliveryRow): WebhookDelivery {
    return {
      id: row.id,
      requestId: row.request_id,
      url: row.url,
      body: row.body,
      state: row.state,
      attempts: row.attempts,
      nextAttemptAt: row.state === "pending" ? row.next_attempt_at : null,
      createdAt: row.created_at,
      deliveredAt: row.delivered_at,
      attemptLog: attemptRows.all(row.id).map((a) => ({
        attempt: a.attempt,
        startedAt: a.started_at,
        durationMs: a.duration_ms,
        statusCode: a.status_code,
        error: a.error,
        outcome: outcomeOf(a),
      })),
    };
  }

  return {
    /** Creates the first signing key if there is none, then starts sending. */
    start(): void {
      if (started) return;
      keys.all();
      started = true;
      stopping = false;
      if (opts.events) unsubscribe = opts.events.onAnyState(() => kick());
      kick();
    },

    /** Stops claiming; attempts in flight are cut short, recorded as interrupted and retried by the next start. */
    async stop(): Promise<void> {
      stopping = true;
      started = false;
      unsubscribe();
      clearTimeout(timer);
      for (const f of inFlight.values()) f.controller.abort(new Error("shutdown"));
      await Promise.all([...inFlight.values()].map((f) => f.done));
      await agent.close().catch(() => {});
    },

    /** Looks for due deliveries now (after a request reached a terminal state). */
    kick,

    /** Every delivery of a request with all its attempts, oldest first. */
    listForRequest(requestId: string): WebhookDelivery[] {
      return deliveryRows.all(requestId).map(view);
    },

    /** Queues a fresh delivery of the request's latest webhook body; undefined when it never had one. */
    redeliver(requestId: string): WebhookDelivery | undefined {
      const last = latestDelivery.get(requestId);
      if (!last) return undefined;
      const now = clock();
      const recent = recentRedeliveries.all(requestId, now - REDELIVERY_WINDOW_MS, requestId);
      if (recent.length >= REDELIVERIES_PER_WINDOW) {
        const retryAfterMs = recent[recent.length - REDELIVERIES_PER_WINDOW].created_at + REDELIVERY_WINDOW_MS - now;
        throw new RateLimitedError(
          `At most ${REDELIVERIES_PER_WINDOW} redeliveries of one request per ${REDELIVERY_WINDOW_MS / 60_000} minutes; try again in ${Math.ceil(retryAfterMs / 1000)} s`,
          retryAfterMs / 1000,
        );
      }
      const row = insertDelivery.get(last.request_id, last.url, last.body, now, now)!;
      log.info({ deliveryId: row.id, requestId }, "webhook redelivery queued");
      kick();
      return view(row);
    },

    /** The public keys receivers verify with (served at /.well-known/jwks.json). */
    jwks: () => keys.jwks(),

    /** Attempts made before a delivery is given up (retry delays + 1). */
    maxAttempts,
  };
}

async function readSnippet(body: AsyncIterable<Buffer | Uint8Array> & { destroy(): unknown; on(e: string, f: () => void): unknown }): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body) {
      parts.push(Buffer.from(chunk));
      size += chunk.length;
      if (size >= ERROR_SNIPPET_BYTES) break;
    }
  } catch {
    // A body cut short is still a failed attempt; its status is what matters.
  }
  body.on("error", () => {});
  body.destroy();
  return Buffer.concat(parts).subarray(0, ERROR_SNIPPET_BYTES).toString("utf8").replace(/\s+/g, " ").trim();
}

function findRefusal(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; current && depth < 8; depth++) {
    if ((current as Error).name === "RefusedAddressError") return (current as Error).message;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function describeNetworkError(err: unknown): string {
  let current: unknown = err;
  for (let depth = 0; current && depth < 8; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z_]+$/.test(code) && !code.startsWith("UND_")) {
      return `${code}${code === "ENOTFOUND" || code === "EAI_AGAIN" ? ": host not found" : ""}`;
    }
    current = (current as { cause?: unknown }).cause;
  }
  const e = err as { name?: string; message?: string };
  return `${e.name ?? "Error"}: ${e.message ?? String(err)}`.slice(0, 300);
}
