// The embedded SQL database under DATA_DIR: one SQLite file in WAL mode holding requests, logs,
// usage, keys, stored files and webhook deliveries. Migrations run in order at open.
import fs from "node:fs";
import path from "node:path";
import Database from "better-sqlite3";

export type Db = Database.Database;

const MIGRATIONS: string[] = [
  `
  CREATE TABLE api_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    key_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
  );
  CREATE TABLE requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    app TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    key_id TEXT NOT NULL,
    state TEXT NOT NULL,
    priority INTEGER NOT NULL DEFAULT 0,
    input_json TEXT NOT NULL,
    headers_json TEXT NOT NULL DEFAULT '{}',
    webhook_url TEXT,
    seed INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    start_deadline_at INTEGER,
    started_at INTEGER,
    finished_at INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_expires_at INTEGER,
    gateway_request_id TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    engine TEXT,
    model TEXT,
    progress_json TEXT,
    result_json TEXT,
    error_json TEXT,
    inference_time REAL,
    metrics_json TEXT,
    cost_usd REAL,
    output_file_id TEXT,
    thumbnail_file_id TEXT
  );
  CREATE INDEX requests_queue ON requests(state, priority, seq);
  CREATE INDEX requests_key ON requests(key_id, seq);
  CREATE TABLE request_logs (
    request_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (request_id, seq)
  );
  CREATE TABLE usage (
    request_id TEXT PRIMARY KEY,
    key_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    resolution TEXT NOT NULL,
    seconds REAL NOT NULL,
    cost_usd REAL NOT NULL,
    charged_at INTEGER NOT NULL
  );
  CREATE INDEX usage_key ON usage(key_id, charged_at);
  CREATE TABLE files (
    id TEXT PRIMARY KEY,
    key_id TEXT,
    state TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER,
    upload_token_hash TEXT,
    multipart INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    deleted_at INTEGER
  );
  `,
  `
  ALTER TABLE requests ADD COLUMN idempotency_key TEXT;
  ALTER TABLE requests ADD COLUMN body_hash TEXT NOT NULL DEFAULT '';
  CREATE UNIQUE INDEX requests_idempotency ON requests(key_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
  CREATE INDEX requests_dedupe ON requests(key_id, body_hash, created_at);
  ALTER TABLE requests ADD COLUMN files_expired_at INTEGER;
  ALTER TABLE api_keys ADD COLUMN spend_cap_usd REAL;
  CREATE TABLE webhook_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    delivered_at INTEGER
  );
  CREATE INDEX webhook_due ON webhook_deliveries(state, next_attempt_at);
  CREATE INDEX webhook_request ON webhook_deliveries(request_id);
  CREATE TABLE webhook_attempts (
    delivery_id INTEGER NOT NULL,
    attempt INTEGER NOT NULL,
    started_at INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    PRIMARY KEY (delivery_id, attempt)
  );
  `,
  // The X-Fal-Webhook-User-Id of each key: random, made on first use, never derived from the key.
  `
  CREATE TABLE webhook_user_ids (
    key_id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL UNIQUE
  );
  `,
  // Price and input size in columns, so that status, SSE, history and spend checks never read input_json.
  `
  ALTER TABLE requests ADD COLUMN price_usd REAL;
  ALTER TABLE requests ADD COLUMN input_bytes INTEGER;
  UPDATE requests SET input_bytes = length(CAST(input_json AS BLOB));
  `,
  // What an engine saved on a running request so a later attempt resumes instead of starting over
  // (the ltx-api engine: its hosted job id, so a restarted worker polls that job instead of paying for a new one).
  // The queue_position count of every submit answer and queued status poll reads only this index.
  `
  ALTER TABLE requests ADD COLUMN engine_state_json TEXT;
  CREATE INDEX requests_queue_position ON requests(state, endpoint, priority, seq);
  `,
];

/** How long a statement waits for another process's write lock before SQLITE_BUSY. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

export function openDb(dataDir: string, opts: { busyTimeoutMs?: number } = {}): Db {
  fs.mkdirSync(dataDir, { recursive: true });
  const db = new Database(path.join(dataDir, "ltx-serve.sqlite"));
  db.pragma("journal_mode = WAL");
  db.pragma("synchronous = NORMAL");
  db.pragma(`busy_timeout = ${Math.max(0, Math.round(opts.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS))}`);
  db.pragma("foreign_keys = ON");
  migrate(db);
  cachePreparedStatements(db);
  return db;
}

/** Distinct SQL texts kept compiled; the code has a few dozen, so the bound only guards against misuse. */
const STATEMENT_CACHE_SIZE = 500;

/**
 * Makes `db.prepare(sql)` return one compiled statement per SQL text instead of compiling it on every
 * call (a hot path, e.g. a status poll, prepares several). Safe because no caller changes a statement's
 * mode (pluck/raw/expand) or iterates one while calling it again.
 */
function cachePreparedStatements(db: Db): void {
  const prepare = db.prepare.bind(db);
  const cache = new Map<string, Database.Statement>();
  db.prepare = ((sql: string) => {
    let stmt = cache.get(sql);
    if (!stmt) {
      stmt = prepare(sql);
      if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value!);
      cache.set(sql, stmt);
    }
    return stmt;
  }) as Db["prepare"];
}

function migrate(db: Db): void {
  // Under the write lock from the start, so two processes opening a new DATA_DIR at once migrate it once.
  writeTransaction(db, () => {
    const version = db.pragma("user_version", { simple: true }) as number;
    for (let v = version; v < MIGRATIONS.length; v++) {
      db.exec(MIGRATIONS[v]);
      db.pragma(`user_version = ${v + 1}`);
    }
  });
}

/**
 * Runs `fn` in a transaction that takes the write lock before its first read (BEGIN IMMEDIATE). A
 * transaction that reads, decides and then writes must use this: a deferred one that finds another
 * process's lock when it first writes fails at once with SQLITE_BUSY instead of waiting, and may have
 * decided on data that changed meanwhile.
 */
export function writeTransaction<T>(db: Db, fn: () => T): T {
  return db.transaction(fn).immediate();
}

/** Whether an error is SQLite saying another connection holds the lock (after the busy timeout). */
export function isBusyError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"));
}

/** Calls `fn` until it does not fail with SQLITE_BUSY, waiting longer each time; other errors pass through. */
export async function retryWhileBusy<T>(fn: () => T, opts: { attempts?: number; delayMs?: number; onBusy?: (attempt: number) => void } = {}): Promise<T> {
  const attempts = opts.attempts ?? 10;
  let delay = opts.delayMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return fn();
    } catch (err) {
      if (!isBusyError(err) || attempt >= attempts) throw err;
      opts.onBusy?.(attempt);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    }
  }
}
