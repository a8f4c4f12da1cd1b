// Declared backend interfaces (types only): what the rest of the service is to import instead of a
// database handle. One adapter set per deployment: SQLite + local files (one machine, the default) or
// PostgreSQL + S3 (DATABASE_URL=postgres://..., STORAGE_URL=s3://...). Every method is async so that
// both adapters fit; every worker write carries its Lease and is refused when the lease is no longer
// held (fencing). docs/architecture.md describes the decisions behind these shapes.
import type { WireError } from "../errors.js";
import type { ApiKeyInfo } from "../keys.js";
import type { Completion, LogEntry, NewRequest, Progress, StoredRequest, UsageSummary } from "../queue/store.js";
import type { BlobStore } from "../storage/blobs/types.js";
import type { WebhookAttempt, WebhookDelivery } from "../webhooks/outbox.js";

/** Proof that a worker holds a running request: the owner and the attempt it claimed. */
export interface Lease {
  requestId: string;
  owner: string;
  attempt: number;
  /** Expiry by the database's clock (epoch ms), never the worker's. */
  expiresAt: number;
}

/** Limits checked in the submit transaction, under a per-key lock. */
export interface SubmitLimits {
  maxQueuedPerKey: number;
  /** Cap in USD on charged + queued spend; null = none. */
  spendCapUsd: number | null;
  priceUsd: number;
  dedupeWindowMs: number;
}

export type SubmitOutcome =
  | { kind: "created"; request: StoredRequest }
  /** Same Idempotency-Key or an identical recent submit: the first request, unchanged. */
  | { kind: "replayed"; request: StoredRequest }
  | { kind: "idempotency_conflict"; request: StoredRequest }
  | { kind: "queue_full"; queued: number }
  | { kind: "spend_cap"; committedUsd: number };

/** Request records: the rows clients read (status, result, logs, history). */
export interface RequestRecords {
  /** Admission in one transaction: duplicate/idempotency checks by unique constraints, limits under a per-key lock, insert. */
  submit(r: NewRequest & { engine: string }, limits: SubmitLimits): Promise<SubmitOutcome>;
  get(id: string): Promise<StoredRequest | undefined>;
  getForKey(id: string, keyId: string, app?: string): Promise<StoredRequest | undefined>;
  listForKey(keyId: string, limit?: number): Promise<StoredRequest[]>;
  /** True position: queued requests of the same engine ahead by (priority, seq). */
  queuePosition(r: Pick<StoredRequest, "seq" | "priority" | "engine">): Promise<number>;
  logs(id: string, afterSeq?: number): Promise<LogEntry[]>;
  /** Requests whose files have passed retention and are not yet marked expired. */
  listFilesExpired(now: number, limit: number): Promise<StoredRequest[]>;
  markFilesExpired(id: string): Promise<void>;
}

/** The work queue: the request row is the job. */
export interface WorkQueue {
  /** Takes the next queued request for one of `engines` (priority, then seq), skipping rows another claimer holds. */
  claim(engines: string[], owner: string, leaseMs: number): Promise<{ request: StoredRequest; lease: Lease } | undefined>;
  /** Extends a held lease; `held: false` means stop (lost or expired), `cancelRequested` means abort. */
  renew(lease: Lease, leaseMs: number): Promise<{ held: boolean; cancelRequested: boolean; lease: Lease }>;
  /** Gives a running request back to the queue, keeping its place (seq). */
  requeue(lease: Lease): Promise<boolean>;
  /** Requeues (attempts left) or fails every running request whose lease has expired; run by any process. */
  recoverExpired(maxAttempts: number): Promise<{ requeued: string[]; failed: string[] }>;
  appendLog(lease: Lease, entries: Omit<LogEntry, "seq">[]): Promise<boolean>;
  setProgress(lease: Lease, progress: Progress): Promise<boolean>;
  setEngine(lease: Lease, engine: string, model: string | null): Promise<boolean>;
  /** Terminal success in one transaction: state, usage row (charged once), outbox row. The output blob is already stored. */
  succeed(lease: Lease, completion: Completion): Promise<boolean>;
  fail(lease: Lease, error: WireError, inferenceTime?: number | null): Promise<boolean>;
  /** Cancels a queued request at once; false when it is no longer queued. */
  cancelQueued(id: string, error: WireError): Promise<boolean>;
  /** Flags a running request; its owner is woken (NOTIFY) and also sees it at its next renew. */
  requestCancel(id: string): Promise<void>;
  /** Fails queued requests whose start deadline has passed. */
  expireStartDeadlines(now: number): Promise<string[]>;
  countQueued(engine?: string): Promise<number>;
}

/** Webhook outbox: rows written in the terminal transaction, delivered at least once by any process. */
export interface WebhookOutbox {
  /** Due deliveries, each claimed for `leaseMs` so that two processes never send one at once. */
  claimDue(owner: string, leaseMs: number, limit: number): Promise<WebhookDelivery[]>;
  recordAttempt(deliveryId: number, owner: string, attempt: WebhookAttempt, next: { state: "delivered" } | { state: "pending"; nextAttemptAt: number } | { state: "failed" }): Promise<boolean>;
  forRequest(requestId: string): Promise<WebhookDelivery | undefined>;
  /** Queues a fresh delivery of a finished request's webhook (limited per window by the caller). */
  redeliver(requestId: string): Promise<WebhookDelivery | undefined>;
}

/** API keys and the webhook signing keys every replica must share. */
export interface KeyRecords {
  create(name: string, spendCapUsd?: number | null): Promise<{ key: string; info: ApiKeyInfo }>;
  list(): Promise<ApiKeyInfo[]>;
  revoke(idOrKey: string): Promise<boolean>;
  /** The key's id, or undefined when unknown or revoked. */
  authenticate(key: string): Promise<string | undefined>;
  setSpendCap(id: string, spendCapUsd: number | null): Promise<boolean>;
  spendCap(id: string): Promise<number | null>;
  /** Counts a submit in the current minute for every process; false when over the limit. */
  takeRateToken(keyId: string, perMinute: number): Promise<{ allowed: boolean; retryAfterSeconds: number }>;
  /** Ed25519 signing keys (PEM), created once and shared by all replicas. */
  signingKeys(): Promise<{ kid: string; privateKeyPem: string; publicKeyPem: string; createdAt: number }[]>;
}

export interface UsageRecords {
  summary(keyId: string, from: number, to: number): Promise<UsageSummary>;
  /** Charged USD plus the price of the key's queued and running requests. */
  committedSpend(keyId: string): Promise<number>;
}

export type RequestEventKind = "state" | "log" | "progress";

/**
 * Wake-ups for status waits, SSE streams and idle workers. Events carry ids only: listeners re-read
 * the records. PostgreSQL: LISTEN/NOTIFY, delivered at commit, not replayed, so `onReconnect`
 * listeners must re-read everything they watch.
 */
export interface RequestEventBus {
  /** Inside the writing transaction where the adapter can (NOTIFY), else right after it commits. */
  publish(requestId: string, kind: RequestEventKind): Promise<void>;
  on(requestId: string, fn: (kind: RequestEventKind) => void): () => void;
  onAnyState(fn: (requestId: string) => void): () => void;
  /** New work for an engine (submit, requeue): idle workers claim. */
  onWork(fn: (engine: string) => void): () => void;
  /** Cancels of running requests, for the owning worker. */
  onCancel(fn: (requestId: string) => void): () => void;
  /** After the event connection was lost and restored (events in between are gone). */
  onReconnect(fn: () => void): () => void;
}

export interface WorkerInfo {
  id: string;
  host: string;
  engines: string[];
  slots: number;
  version: string;
  startedAt: number;
  lastSeenAt: number;
  ready: boolean;
  draining: boolean;
}

/** The workers table: registration and heartbeats (readiness, draining, autoscaling signals). */
export interface WorkerRegistry {
  register(w: Omit<WorkerInfo, "startedAt" | "lastSeenAt">): Promise<void>;
  heartbeat(id: string, patch?: Partial<Pick<WorkerInfo, "ready" | "draining">>): Promise<void>;
  remove(id: string): Promise<void>;
  /** Workers seen within `withinMs`. */
  list(withinMs: number): Promise<WorkerInfo[]>;
}

/** Everything one deployment's processes share; built once at start from DATABASE_URL and STORAGE_URL. */
export interface Backends {
  kind: "sqlite" | "postgres";
  records: RequestRecords;
  queue: WorkQueue;
  outbox: WebhookOutbox;
  keys: KeyRecords;
  usage: UsageRecords;
  events: RequestEventBus;
  workers: WorkerRegistry;
  blobs: BlobStore;
  close(): Promise<void>;
}
