// Prometheus metrics of one service instance (GET /metrics, docs/metrics.md): its own prom-client
// Registry (several services may share a process), job, stage, webhook and HTTP timings observed as
// they happen, and the queue, state, storage and slot gauges computed at scrape time with cheap SQL.
import crypto from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { Db } from "../db.js";
import type { EngineSet } from "../engines/index.js";
import type { Engine } from "../engines/types.js";
import { CancelledError, UnauthorizedError } from "../errors.js";
import type { JobContext, RunJob } from "../queue/dispatcher.js";

/** Metric names start with this. */
export const METRIC_PREFIX = "ltx_serve_";

/** Job and queue-wait buckets in seconds: previews take seconds, 4K renders and long queues many minutes. */
const JOB_BUCKETS = [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 2400, 3600];
const STAGE_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200];
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
/** Distinct stage names kept per engine; more (an engine gone wrong) are counted as "other". */
const MAX_STAGES_PER_ENGINE = 32;

export interface MetricsSources {
  db: Db;
  engines: EngineSet;
  /** Endpoint ids served, so that an empty queue still has its series (alerts see 0, not nothing). */
  endpoints: string[];
  /** This process's dispatcher slots per engine (read at scrape time). */
  slots(): { engine: Engine; concurrency: number; used: number }[];
  /** Bearer token /metrics requires; undefined: none. */
  token?: string;
}

export type Metrics = ReturnType<typeof createMetrics>;

export function createMetrics(src: MetricsSources) {
  const registry = new Registry();
  // Process CPU, memory, GC and event-loop delay (nodejs_eventloop_lag_* from monitorEventLoopDelay).
  collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const queuedByEndpoint = src.db.prepare<[], { endpoint: string; n: number; oldest: number | null }>(
    "SELECT endpoint, COUNT(*) AS n, MIN(created_at) AS oldest FROM requests WHERE state = 'queued' GROUP BY endpoint",
  );
  // Both read only an index (requests_queue, webhook_due): no row is fetched.
  const byState = src.db.prepare<[], { state: string; n: number }>("SELECT state, COUNT(*) AS n FROM requests GROUP BY state");
  const webhooksByState = src.db.prepare<[], { state: string; n: number }>("SELECT state, COUNT(*) AS n FROM webhook_deliveries GROUP BY state");
  const storage = src.db.prepare<[], { state: string; n: number; bytes: number }>(
    "SELECT state, COUNT(*) AS n, COALESCE(SUM(size), 0) AS bytes FROM files WHERE state != 'deleted' GROUP BY state",
  );

  /** A read done once per scrape, shared by the gauges that show it. */
  let scrape = 0;
  const perScrape = <T>(read: () => T) => {
    let cached: { scrape: number; at: number; value: T } | undefined;
    return () => {
      if (!cached || cached.scrape !== scrape) cached = { scrape, at: Date.now(), value: read() };
      return cached;
    };
  };
  const queueRows = perScrape(() => queuedByEndpoint.all());
  const storageRows = perScrape(() => storage.all());
  const engineOf = (endpoint: string) => {
    try {
      return src.engines.engineFor(endpoint).name;
    } catch {
      return "none";
    }
  };

  new Gauge({
    name: `${METRIC_PREFIX}queue_depth`,
    help: "Requests waiting in the queue (whole fleet: read from the shared database)",
    labelNames: ["endpoint", "engine"],
    registers,
    collect() {
      this.reset();
      const { value: rows } = queueRows();
      for (const e of src.endpoints) this.set({ endpoint: e, engine: engineOf(e) }, 0);
      for (const r of rows) this.set({ endpoint: r.endpoint, engine: engineOf(r.endpoint) }, r.n);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}queue_oldest_age_seconds`,
    help: "Age of the oldest queued request, 0 when none is queued",
    labelNames: ["endpoint", "engine"],
    registers,
    collect() {
      this.reset();
      const { at, value: rows } = queueRows();
      for (const e of src.endpoints) this.set({ endpoint: e, engine: engineOf(e) }, 0);
      for (const r of rows) this.set({ endpoint: r.endpoint, engine: engineOf(r.endpoint) }, r.oldest === null ? 0 : Math.max(0, (at - r.oldest) / 1000));
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}requests`,
    help: "Requests in the database by state (queued, running, succeeded, failed, cancelled)",
    labelNames: ["state"],
    registers,
    collect() {
      this.reset();
      for (const s of ["queued", "running", "succeeded", "failed", "cancelled"]) this.set({ state: s }, 0);
      for (const r of byState.all()) this.set({ state: r.state }, r.n);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}webhook_deliveries`,
    help: "Webhook deliveries in the outbox by state (pending, sending, delivered, failed)",
    labelNames: ["state"],
    registers,
    collect() {
      this.reset();
      for (const s of ["pending", "sending", "delivered", "failed"]) this.set({ state: s }, 0);
      for (const r of webhooksByState.all()) this.set({ state: r.state }, r.n);
    },
  });
  const storageGauge = (name: string, help: string, value: (r: { n: number; bytes: number }) => number) =>
    new Gauge({
      name: `${METRIC_PREFIX}${name}`,
      help,
      labelNames: ["state"],
      registers,
      collect() {
        this.reset();
        for (const s of ["ready", "pending", "finalising"]) this.set({ state: s }, 0);
        for (const r of storageRows().value) this.set({ state: r.state }, value(r));
      },
    });
  storageGauge("storage_bytes", "Bytes of stored files (uploads and outputs) by state: ready, or uploads still pending/finalising", (r) => r.bytes);
  storageGauge("storage_files", "Stored files by state", (r) => r.n);

  const slotGauge = (name: string, help: string, value: (s: { engine: Engine; concurrency: number; used: number }) => number) =>
    new Gauge({
      name: `${METRIC_PREFIX}${name}`,
      help,
      labelNames: ["engine"],
      registers,
      collect() {
        this.reset();
        for (const s of src.slots()) this.set({ engine: s.engine.name }, value(s));
      },
    });
  slotGauge("worker_ready", "1 when this process takes jobs for the engine and the engine is ready (warmed up), else 0", (s) =>
    s.concurrency > 0 && s.engine.notReadyReason?.() === undefined ? 1 : 0,
  );
  slotGauge("worker_slots", "Jobs this process runs at once for the engine (0 on an API-only node)", (s) => s.concurrency);
  slotGauge("worker_slots_busy", "Slots of this process running a job", (s) => s.used);
  slotGauge("worker_slots_free", "Slots of this process free for a job", (s) => Math.max(0, s.concurrency - s.used));

  const jobDuration = new Histogram({
    name: `${METRIC_PREFIX}job_duration_seconds`,
    help: "Time one attempt of a job ran in this process, from start to its outcome",
    labelNames: ["engine", "resolution", "outcome"],
    buckets: JOB_BUCKETS,
    registers,
  });
  const queueWait = new Histogram({
    name: `${METRIC_PREFIX}job_queue_wait_seconds`,
    help: "Time from submission to the start of the job in this process",
    labelNames: ["engine", "resolution"],
    buckets: JOB_BUCKETS,
    registers,
  });
  const jobsFinished = new Counter({
    name: `${METRIC_PREFIX}jobs_finished_total`,
    help: "Job attempts this process finished, by outcome (succeeded, failed, cancelled, interrupted)",
    labelNames: ["engine", "outcome"],
    registers,
  });
  const stageDuration = new Histogram({
    name: `${METRIC_PREFIX}engine_stage_duration_seconds`,
    help: "Time the engine spent in each stage it reports through progress (e.g. render, encode, denoise-1)",
    labelNames: ["engine", "stage"],
    buckets: STAGE_BUCKETS,
    registers,
  });
  const webhookAttempts = new Counter({
    name: `${METRIC_PREFIX}webhook_attempts_total`,
    help: "Webhook delivery attempts this process made, by result (delivered, retrying, failed)",
    labelNames: ["result"],
    registers,
  });
  const webhookAttemptDuration = new Histogram({
    name: `${METRIC_PREFIX}webhook_attempt_duration_seconds`,
    help: "Time of one webhook POST",
    labelNames: ["result"],
    buckets: HTTP_BUCKETS,
    registers,
  });
  const httpDuration = new Histogram({
    name: `${METRIC_PREFIX}http_request_duration_seconds`,
    help: "HTTP requests by method, route pattern and status code, with their duration",
    labelNames: ["method", "route", "status"],
    buckets: HTTP_BUCKETS,
    registers,
  });

  const stagesSeen = new Map<string, Set<string>>();
  const stageLabel = (engine: string, stage: string) => {
    let seen = stagesSeen.get(engine);
    if (!seen) stagesSeen.set(engine, (seen = new Set()));
    if (seen.has(stage)) return stage;
    if (seen.size >= MAX_STAGES_PER_ENGINE) return "other";
    seen.add(stage);
    return stage;
  };

  /** The route pattern (never the raw URL, so the label set stays bounded), method and status. */
  function observeHttp(req: FastifyRequest, reply: FastifyReply) {
    const route = req.routeOptions.url ?? "unmatched";
    httpDuration.observe({ method: req.method, route, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  }

  return {
    registry,

    /** Wraps the job runner: queue wait at start, each reported stage's time, the attempt's time and outcome. */
    wrapRunJob(runJob: RunJob): RunJob {
      return async (request, ctx) => {
        const engine = ctx.engine.name;
        const resolution = String((request.input as { resolution?: unknown }).resolution ?? "unknown");
        const begin = performance.now();
        queueWait.observe({ engine, resolution }, Math.max(0, (Date.now() - request.createdAt) / 1000));
        let stage: { name: string; since: number } | undefined;
        const closeStage = (now: number) => {
          if (stage) stageDuration.observe({ engine, stage: stageLabel(engine, stage.name) }, (now - stage.since) / 1000);
          stage = undefined;
        };
        const observed: JobContext = {
          ...ctx,
          progress(p) {
            if (stage?.name !== p.stage) {
              const now = performance.now();
              closeStage(now);
              stage = { name: p.stage, since: now };
            }
            ctx.progress(p);
          },
        };
        let outcome = "failed";
        try {
          const completion = await runJob(request, observed);
          outcome = ctx.signal.aborted ? "interrupted" : "succeeded";
          return completion;
        } catch (err) {
          const reason = ctx.signal.aborted ? ctx.signal.reason : err;
          outcome = reason instanceof CancelledError ? "cancelled" : ctx.signal.aborted ? "interrupted" : "failed";
          throw err;
        } finally {
          const now = performance.now();
          closeStage(now);
          jobDuration.observe({ engine, resolution, outcome }, (now - begin) / 1000);
          jobsFinished.inc({ engine, outcome });
        }
      };
    },

    /** For the webhook outbox's onAttempt. */
    webhookAttempt(result: "delivered" | "retrying" | "failed", durationMs: number) {
      webhookAttempts.inc({ result });
      webhookAttemptDuration.observe({ result }, durationMs / 1000);
    },

    /** Registers GET /metrics (Bearer token when configured) and the HTTP timing hook. */
    register(app: FastifyInstance) {
      app.addHook("onResponse", async (req, reply) => observeHttp(req, reply));
      const expected = src.token ? crypto.createHash("sha256").update(src.token).digest() : undefined;
      app.get("/metrics", async (req, reply) => {
        if (expected) {
          const m = /^Bearer\s+(.+)$/i.exec((req.headers.authorization ?? "").trim());
          const given = m ? crypto.createHash("sha256").update(m[1].trim()).digest() : undefined;
          if (!given || !crypto.timingSafeEqual(given, expected)) {
            reply.header("www-authenticate", 'Bearer realm="metrics"');
            throw new UnauthorizedError(m ? "Invalid metrics token" : "Missing Authorization header (Authorization: Bearer <METRICS_TOKEN>)");
          }
        }
        scrape++;
        const text = await registry.metrics();
        return reply.type(registry.contentType).send(text);
      });
    },
  };
}
