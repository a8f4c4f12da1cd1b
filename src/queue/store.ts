// The durable request queue: every accepted request, its state, logs, progress, result and usage,
// in SQLite. Claiming, leasing, completing and charging are single statements or write transactions
// that hold the lock from their first read, so several server processes can share one database file
// and a request is charged at most once.
import { randomUUID } from "node:crypto";
import { writeTransaction, type Db } from "../db.js";
import type { VideoInput } from "../endpoints.js";
import type { WireError } from "../errors.js";

export type RequestState = "queued" | "running" | "succeeded" | "failed" | "cancelled";
export const TERMINAL_STATES: readonly RequestState[] = ["succeeded", "failed", "cancelled"];

export interface Progress {
  stage: string;
  step: number;
  total: number;
  /** Percentage of the current stage, 0 to 100. */
  percent: number;
}

export interface LogEntry {
  seq: number;
  message: string;
  level: "DEBUG" | "INFO" | "WARN" | "ERROR" | "STDOUT" | "STDERR";
  timestamp: string;
}

export interface StoredRequest {
  seq: number;
  id: string;
  app: string;
  endpoint: string;
  keyId: string;
  state: RequestState;
  /** 0 normal, 1 low. */
  priority: number;
  headers: Record<string, string>;
  webhookUrl: string | null;
  seed: number;
  /** Price at admission, kept in a column so that spend checks never read the input. */
  priceUsd: number | null;
  /** Size of the stored input JSON in bytes (inline data: URIs are already moved into file storage). */
  inputBytes: number | null;
  createdAt: number;
  startDeadlineAt: number | null;
  startedAt: number | null;
  finishedAt: number | null;
  attempts: number;
  leaseOwner: string | null;
  leaseExpiresAt: number | null;
  gatewayRequestId: string | null;
  cancelRequested: boolean;
  engine: string | null;
  model: string | null;
  progress: Progress | null;
  result: Record<string, unknown> | null;
  error: WireError | null;
  inferenceTime: number | null;
  metrics: Record<string, number> | null;
  costUsd: number | null;
  outputFileId: string | null;
  thumbnailFileId: string | null;
  idempotencyKey: string | null;
  bodyHash: string;
  filesExpiredAt: number | null;
}

export interface NewRequest {
  id?: string;
  app: string;
  endpoint: string;
  keyId: string;
  priority: number;
  input: VideoInput;
  headers: Record<string, string>;
  webhookUrl: string | null;
  seed: number;
  startDeadlineAt: number | null;
  /** Client-chosen Idempotency-Key, unique per API key. */
  idempotencyKey?: string | null;
  /** Hash of endpoint, body and x-fal-* headers, for idempotency checks and duplicate detection. */
  bodyHash?: string;
  /** Price of the request, for the spend cap. */
  priceUsd?: number;
}

/** A request with its input, as the job runner gets it (only the dispatcher reads the input). */
export type RunnableRequest = StoredRequest & { input: VideoInput };

export interface Completion {
  result: Record<string, unknown>;
  inferenceTime: number;
  metrics: Record<string, number>;
  model: string;
  outputFileId: string;
  thumbnailFileId: string | null;
  charge: { resolution: string; seconds: number; costUsd: number };
}

export interface UsageSummary {
  keyId: string;
  from: number;
  to: number;
  requests: number;
  seconds: number;
  costUsd: number;
  byEndpoint: { endpoint: string; resolution: string; requests: number; seconds: number; costUsd: number }[];
}

interface Row {
  seq: number;
  id: string;
  app: string;
  endpoint: string;
  key_id: string;
  state: RequestState;
  priority: number;
  headers_json: string;
  webhook_url: string | null;
  seed: number;
  created_at: number;
  start_deadline_at: number | null;
  started_at: number | null;
  finished_at: number | null;
  attempts: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  gateway_request_id: string | null;
  cancel_requested: number;
  engine: string | null;
  model: string | null;
  progress_json: string | null;
  result_json: string | null;
  error_json: string | null;
  inference_time: number | null;
  metrics_json: string | null;
  cost_usd: number | null;
  output_file_id: string | null;
  thumbnail_file_id: string | null;
  idempotency_key: string | null;
  body_hash: string;
  files_expired_at: number | null;
  price_usd: number | null;
  input_bytes: number | null;
}

/**
 * Every column but input_json: status, SSE, history and the queue's own bookkeeping never read the
 * stored input; only loadInput does, for the job that runs it.
 */
const COLS = `seq, id, app, endpoint, key_id, state, priority, headers_json, webhook_url, seed, created_at, start_deadline_at,
  started_at, finished_at, attempts, lease_owner, lease_expires_at, gateway_request_id, cancel_requested, engine, model,
  progress_json, result_json, error_json, inference_time, metrics_json, cost_usd, output_file_id, thumbnail_file_id,
  idempotency_key, body_hash, files_expired_at, price_usd, input_bytes`;

const json = <T>(s: string | null): T | null => (s === null ? null : (JSON.parse(s) as T));

function fromRow(r: Row): StoredRequest {
  return {
    seq: r.seq,
    id: r.id,
    app: r.app,
    endpoint: r.endpoint,
    keyId: r.key_id,
    state: r.state,
    priority: r.priority,
    headers: JSON.parse(r.headers_json) as Record<string, string>,
    webhookUrl: r.webhook_url,
    seed: r.seed,
    priceUsd: r.price_usd,
    inputBytes: r.input_bytes,
    createdAt: r.created_at,
    startDeadlineAt: r.start_deadline_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    attempts: r.attempts,
    leaseOwner: r.lease_owner,
    leaseExpiresAt: r.lease_expires_at,
    gatewayRequestId: r.gateway_request_id,
    cancelRequested: r.cancel_requested === 1,
    engine: r.engine,
    model: r.model,
    progress: json<Progress>(r.progress_json),
    result: json<Record<string, unknown>>(r.result_json),
    error: json<WireError>(r.error_json),
    inferenceTime: r.inference_time,
    metrics: json<Record<string, number>>(r.metrics_json),
    costUsd: r.cost_usd,
    outputFileId: r.output_file_id,
    thumbnailFileId: r.thumbnail_file_id,
    idempotencyKey: r.idempotency_key,
    bodyHash: r.body_hash,
    filesExpiredAt: r.files_expired_at,
  };
}

export type RequestStore = ReturnType<typeof createRequestStore>;

export function createRequestStore({ db, clock = Date.now }: { db: Db; clock?: () => number }) {
  const byId = db.prepare<[string], Row>(`SELECT ${COLS} FROM requests WHERE id = ?`);
  const insertLog = db.prepare(
    `INSERT INTO request_logs (request_id, seq, ts, level, message)
     SELECT @id, COALESCE(MAX(seq), 0) + 1, @ts, @level, @message FROM request_logs WHERE request_id = @id
     RETURNING seq, ts, level, message`,
  );
  const toLog = (r: { seq: number; ts: number; level: string; message: string }): LogEntry => ({
    seq: r.seq,
    message: r.message,
    level: r.level as LogEntry["level"],
    timestamp: new Date(r.ts).toISOString(),
  });

  function get(id: string): StoredRequest | undefined {
    const row = byId.get(id);
    return row ? fromRow(row) : undefined;
  }

  function appendLog(id: string, level: LogEntry["level"], message: string): LogEntry {
    return toLog(insertLog.get({ id, ts: clock(), level, message }) as { seq: number; ts: number; level: string; message: string });
  }

  const insertWebhook = db.prepare(
    "INSERT INTO webhook_deliveries (request_id, url, body, state, next_attempt_at, created_at) VALUES (?, ?, ?, 'pending', ?, ?)",
  );
  /**
   * Writes the webhook event into the outbox in the caller's transaction (fal-wire-protocol.md section 8):
   * payload is exactly what the result URL answers.
   */
  function enqueueWebhook(id: string): void {
    const r = get(id);
    if (!r?.webhookUrl) return;
    const ok = r.state === "succeeded";
    const body = ok
      ? { request_id: r.id, gateway_request_id: r.gatewayRequestId ?? r.id, status: "OK", payload: r.result, error: null }
      : {
          request_id: r.id,
          gateway_request_id: r.gatewayRequestId ?? r.id,
          status: "ERROR",
          error: r.error ? `Invalid status code: ${r.error.status}` : "Request failed",
          payload: r.error?.body ?? null,
        };
    const now = clock();
    insertWebhook.run(r.id, r.webhookUrl, JSON.stringify(body), now, now);
  }

  /** Moves a request to a terminal state unless it is already terminal; returns whether it moved. */
  const finish = db.prepare(
    `UPDATE requests SET state = @state, finished_at = @now, error_json = @error, inference_time = COALESCE(@inference_time, inference_time),
       lease_owner = NULL, lease_expires_at = NULL
     WHERE id = @id AND state IN ('queued', 'running')`,
  );

  const engineStateOf = db.prepare<[string], { engine_state_json: string | null }>("SELECT engine_state_json FROM requests WHERE id = ?");
  const setEngineStateStmt = db.prepare("UPDATE requests SET engine_state_json = ? WHERE id = ? AND lease_owner = ? AND state = 'running'");

  return {
    get,

    /** Runs `fn` (reads that decide, then writes) under the database's write lock, atomically. */
    atomically<T>(fn: () => T): T {
      return writeTransaction(db, fn);
    },

    /** Persists a new queued request (and its first log line) before anyone is told about it. */
    create(r: NewRequest): StoredRequest {
      const id = r.id ?? randomUUID();
      const now = clock();
      const inputJson = JSON.stringify(r.input);
      writeTransaction(db, () => {
        db.prepare(
          `INSERT INTO requests (id, app, endpoint, key_id, state, priority, input_json, headers_json, webhook_url, seed, created_at, start_deadline_at,
             idempotency_key, body_hash, price_usd, input_bytes)
           VALUES (?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          id, r.app, r.endpoint, r.keyId, r.priority, inputJson, JSON.stringify(r.headers), r.webhookUrl, r.seed, now,
          r.startDeadlineAt, r.idempotencyKey ?? null, r.bodyHash ?? "", r.priceUsd ?? null, Buffer.byteLength(inputJson),
        );
        appendLog(id, "INFO", "Request queued");
      });
      return get(id)!;
    },

    findByIdempotencyKey(keyId: string, idempotencyKey: string): StoredRequest | undefined {
      const row = db.prepare<[string, string], Row>(`SELECT ${COLS} FROM requests WHERE key_id = ? AND idempotency_key = ?`).get(keyId, idempotencyKey);
      return row ? fromRow(row) : undefined;
    },

    /** The newest identical request of this key since `since` that is queued, running or succeeded, and not being cancelled. */
    findRecentDuplicate(keyId: string, bodyHash: string, since: number): StoredRequest | undefined {
      const row = db
        .prepare<[string, string, number], Row>(
          `SELECT ${COLS} FROM requests WHERE key_id = ? AND body_hash = ? AND created_at >= ? AND state IN ('queued', 'running', 'succeeded')
             AND cancel_requested = 0
           ORDER BY seq DESC LIMIT 1`,
        )
        .get(keyId, bodyHash, since);
      return row ? fromRow(row) : undefined;
    },

    /** Requests of this key not yet running. */
    countQueuedForKey(keyId: string): number {
      return (db.prepare("SELECT COUNT(*) AS n FROM requests WHERE key_id = ? AND state = 'queued'").get(keyId) as { n: number }).n;
    },

    /** Dollars charged to a key plus the price of its queued and running requests (from the price column). */
    committedSpend(keyId: string): number {
      const charged = (db.prepare("SELECT COALESCE(SUM(cost_usd), 0) AS c FROM usage WHERE key_id = ?").get(keyId) as { c: number }).c;
      const pending = (
        db.prepare("SELECT COALESCE(SUM(price_usd), 0) AS p FROM requests WHERE key_id = ? AND state IN ('queued', 'running')").get(keyId) as { p: number }
      ).p;
      return charged + pending;
    },

    /** The stored input of a request: read only where the job runs. */
    loadInput(id: string): VideoInput {
      const row = db.prepare<[string], { input_json: string }>("SELECT input_json FROM requests WHERE id = ?").get(id);
      if (!row) throw new Error(`request ${id} not found`);
      return JSON.parse(row.input_json) as VideoInput;
    },

    /** The request if it belongs to this key (and app, when given); other keys see nothing. */
    getForKey(id: string, keyId: string, app?: string): StoredRequest | undefined {
      const r = get(id);
      if (!r || r.keyId !== keyId || (app !== undefined && r.app !== app)) return undefined;
      return r;
    },

    /** Requests ahead of this one in the queue: higher priority first, FIFO within a priority. */
    queuePosition(r: Pick<StoredRequest, "seq" | "priority" | "endpoint">, endpoints: string[]): number {
      const marks = endpoints.map(() => "?").join(",");
      const row = db
        .prepare(
          `SELECT COUNT(*) AS n FROM requests WHERE state = 'queued' AND endpoint IN (${marks})
           AND (priority < ? OR (priority = ? AND seq < ?))`,
        )
        .get(...endpoints, r.priority, r.priority, r.seq) as { n: number };
      return row.n;
    },

    /** Atomically takes the next queued request for these endpoints and leases it to `owner`. */
    claimNext(endpoints: string[], owner: string, leaseMs: number): StoredRequest | undefined {
      if (endpoints.length === 0) return undefined;
      const marks = endpoints.map(() => "?").join(",");
      const now = clock();
      const row = db
        .prepare(
          `UPDATE requests SET state = 'running', lease_owner = ?, lease_expires_at = ?, attempts = attempts + 1,
             started_at = COALESCE(started_at, ?), gateway_request_id = ?
           WHERE seq = (SELECT seq FROM requests WHERE state = 'queued' AND cancel_requested = 0 AND endpoint IN (${marks})
                        ORDER BY priority, seq LIMIT 1)
           RETURNING ${COLS}`,
        )
        .get(owner, now + leaseMs, now, randomUUID(), ...endpoints) as Row | undefined;
      return row ? fromRow(row) : undefined;
    },

    /** Extends the lease; false when the request is no longer leased to this owner. */
    renewLease(id: string, owner: string, leaseMs: number): boolean {
      const info = db
        .prepare("UPDATE requests SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? AND state = 'running'")
        .run(clock() + leaseMs, id, owner);
      return info.changes === 1;
    },

    /** Running requests whose lease ran out or whose owner is known dead. */
    listOrphaned(isOwnerDead: (owner: string) => boolean): StoredRequest[] {
      const rows = db.prepare<[], Row>(`SELECT ${COLS} FROM requests WHERE state = 'running'`).all();
      const now = clock();
      return rows
        .filter((r) => (r.lease_expires_at ?? 0) < now || (r.lease_owner !== null && isOwnerDead(r.lease_owner)))
        .map(fromRow);
    },

    /** Puts a leased request back in the queue (its place by seq is kept). */
    requeue(id: string, expectedOwner: string | null): boolean {
      const info = db
        .prepare(
          `UPDATE requests SET state = 'queued', lease_owner = NULL, lease_expires_at = NULL, progress_json = NULL
           WHERE id = ? AND state = 'running' AND lease_owner IS ?`,
        )
        .run(id, expectedOwner);
      return info.changes === 1;
    },

    appendLog,

    logs(id: string, afterSeq = 0): LogEntry[] {
      return db
        .prepare<[string, number], { seq: number; ts: number; level: string; message: string }>(
          "SELECT seq, ts, level, message FROM request_logs WHERE request_id = ? AND seq > ? ORDER BY seq",
        )
        .all(id, afterSeq)
        .map(toLog);
    },

    setProgress(id: string, progress: Progress): void {
      db.prepare("UPDATE requests SET progress_json = ? WHERE id = ? AND state = 'running'").run(JSON.stringify(progress), id);
    },

    setEngine(id: string, engine: string, model: string | null): void {
      db.prepare("UPDATE requests SET engine = ?, model = COALESCE(?, model) WHERE id = ?").run(engine, model, id);
    },

    /** Records success and charges the key, in one transaction; charging twice is impossible (usage PK). */
    succeed(id: string, owner: string | null, c: Completion): boolean {
      return writeTransaction(db, () => {
        const r = get(id);
        if (!r || r.state !== "running" || (owner !== null && r.leaseOwner !== owner)) return false;
        const now = clock();
        db.prepare(
          `UPDATE requests SET state = 'succeeded', finished_at = ?, result_json = ?, inference_time = ?, metrics_json = ?,
             model = ?, cost_usd = ?, output_file_id = ?, thumbnail_file_id = ?, lease_owner = NULL, lease_expires_at = NULL,
             progress_json = NULL
           WHERE id = ?`,
        ).run(now, JSON.stringify(c.result), c.inferenceTime, JSON.stringify(c.metrics), c.model, c.charge.costUsd, c.outputFileId, c.thumbnailFileId, id);
        db.prepare(
          `INSERT OR IGNORE INTO usage (request_id, key_id, endpoint, resolution, seconds, cost_usd, charged_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        ).run(id, r.keyId, r.endpoint, c.charge.resolution, c.charge.seconds, c.charge.costUsd, now);
        enqueueWebhook(id);
        return true;
      });
    },

    /** Ends a queued or running request with an error (failed or cancelled); not charged. */
    fail(id: string, state: "failed" | "cancelled", error: WireError, inferenceTime: number | null = null): boolean {
      return writeTransaction(db, () => {
        const moved = finish.run({ id, state, now: clock(), error: JSON.stringify(error), inference_time: inferenceTime }).changes === 1;
        if (moved) enqueueWebhook(id);
        return moved;
      });
    },

    /** Cancels a request only if it is still queued; returns whether it was. */
    cancelQueued(id: string, error: WireError): boolean {
      return writeTransaction(db, () => {
        const moved =
          db
            .prepare("UPDATE requests SET state = 'cancelled', finished_at = ?, error_json = ? WHERE id = ? AND state = 'queued'")
            .run(clock(), JSON.stringify(error), id).changes === 1;
        if (moved) enqueueWebhook(id);
        return moved;
      });
    },

    /** Marks a cancellation wish; the running job sees it through its lease heartbeat. */
    requestCancel(id: string): void {
      db.prepare("UPDATE requests SET cancel_requested = 1 WHERE id = ? AND state IN ('queued', 'running')").run(id);
    },

    /** Queued requests whose start deadline has passed. */
    listStartDeadlinePassed(): StoredRequest[] {
      return db
        .prepare<[number], Row>(`SELECT ${COLS} FROM requests WHERE state = 'queued' AND start_deadline_at IS NOT NULL AND start_deadline_at < ?`)
        .all(clock())
        .map(fromRow);
    },

    /** One page of this key's requests, newest first, strictly older than `beforeSeq` when given. */
    listForKey(keyId: string, limit = 50, beforeSeq: number | null = null): StoredRequest[] {
      return db
        .prepare<[string, number, number], Row>(`SELECT ${COLS} FROM requests WHERE key_id = ? AND seq < ? ORDER BY seq DESC LIMIT ?`)
        .all(keyId, beforeSeq ?? Number.MAX_SAFE_INTEGER, limit)
        .map(fromRow);
    },

    /** Whether this key has a request older than `seq` (so another history page exists). */
    hasOlderForKey(keyId: string, seq: number): boolean {
      return db.prepare("SELECT 1 FROM requests WHERE key_id = ? AND seq < ? LIMIT 1").get(keyId, seq) !== undefined;
    },

    countQueued(): number {
      return (db.prepare("SELECT COUNT(*) AS n FROM requests WHERE state = 'queued'").get() as { n: number }).n;
    },

    usage(keyId: string, from: number, to: number): UsageSummary {
      const rows = db
        .prepare<[string, number, number], { endpoint: string; resolution: string; requests: number; seconds: number; cost: number }>(
          `SELECT endpoint, resolution, COUNT(*) AS requests, SUM(seconds) AS seconds, SUM(cost_usd) AS cost
           FROM usage WHERE key_id = ? AND charged_at >= ? AND charged_at < ? GROUP BY endpoint, resolution ORDER BY endpoint, resolution`,
        )
        .all(keyId, from, to);
      const round = (n: number) => Math.round(n * 1e6) / 1e6;
      return {
        keyId,
        from,
        to,
        requests: rows.reduce((a, r) => a + r.requests, 0),
        seconds: rows.reduce((a, r) => a + r.seconds, 0),
        costUsd: round(rows.reduce((a, r) => a + r.cost, 0)),
        byEndpoint: rows.map((r) => ({ endpoint: r.endpoint, resolution: r.resolution, requests: r.requests, seconds: r.seconds, costUsd: round(r.cost) })),
      };
    },

    /** What an engine saved on this request on an earlier attempt (e.g. a hosted job id), or null. */
    engineState(id: string): Record<string, unknown> | null {
      const row = engineStateOf.get(id);
      return row ? json<Record<string, unknown>>(row.engine_state_json) : null;
    },

    /** Saves (null clears) the engine's state while `owner` holds the lease; returns whether it was saved. */
    setEngineState(id: string, owner: string, state: Record<string, unknown> | null): boolean {
      return setEngineStateStmt.run(state === null ? null : JSON.stringify(state), id, owner).changes === 1;
    },
  };
}
