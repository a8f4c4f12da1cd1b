// Moves requests from the queue to engines: fills each engine's slots in priority/FIFO order,
// holds a heartbeat-renewed lease on every running request, hands back the work of dead runners,
// enforces start deadlines, and carries out cancellation.
import os from "node:os";
import type { Logger } from "pino";
import { isBusyError, retryWhileBusy } from "../db.js";
import { CancelledError, InfrastructureError, RequestTimeoutError, ServiceError, isRetryable, toWireError } from "../errors.js";
import type { Engine, EngineProgress } from "../engines/types.js";
import type { LogEntry, Progress, RequestStore, StoredRequest } from "./store.js";
import type { RequestEvents } from "./events.js";
import type { Completion, RunnableRequest } from "./store.js";

/** What a job runner needs besides the request. */
export interface JobContext {
  engine: Engine;
  signal: AbortSignal;
  log(level: LogEntry["level"], message: string): void;
  progress(p: EngineProgress): void;
  /** What the engine saved on this request on an earlier attempt (e.g. a hosted job id), or null. */
  engineState: Record<string, unknown> | null;
  /** Saves engine state on the request for a later attempt (waits out a busy database); false when the lease is gone. */
  saveEngineState(state: Record<string, unknown> | null): Promise<boolean>;
}

export type RunJob = (request: RunnableRequest, ctx: JobContext) => Promise<Completion>;

export type CancelOutcome = "CANCELLATION_REQUESTED" | "ALREADY_COMPLETED" | "NOT_FOUND";

export interface DispatcherOptions {
  store: RequestStore;
  events: RequestEvents;
  /** Engine serving each endpoint id. */
  engineFor: (endpoint: string) => Engine;
  endpoints: string[];
  runJob: RunJob;
  log: Logger;
  /** Lease length in ms; renewed every lease/3. Default 15_000. */
  leaseMs?: number;
  /** Runs of one request (counting runner deaths) before it fails. Default 2. */
  maxAttempts?: number;
  /** Queue scan interval in ms (other processes, deadlines, expired leases). Default 1_000. */
  pollMs?: number;
}

interface Running {
  request: StoredRequest;
  controller: AbortController;
  done: Promise<void>;
  heartbeat: NodeJS.Timeout;
}

export const INSTANCE_ID = `${os.hostname()}:${process.pid}:${Date.now()}`;

/** Whether a lease owner (host:pid:startMs) is a process of this host that no longer runs. */
export function isOwnerDead(owner: string): boolean {
  const [host, pidStr, start] = owner.split(":");
  if (host !== os.hostname()) return false;
  const pid = Number(pidStr);
  if (pid === process.pid) return owner !== INSTANCE_ID && Number(start) < Number(INSTANCE_ID.split(":")[2]);
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "ESRCH";
  }
}

export type Dispatcher = ReturnType<typeof createDispatcher>;

export function createDispatcher(opts: DispatcherOptions) {
  const { store, events, engineFor, runJob, log } = opts;
  const leaseMs = opts.leaseMs ?? 15_000;
  const maxAttempts = opts.maxAttempts ?? 2;
  const pollMs = opts.pollMs ?? 1_000;
  const running = new Map<string, Running>();
  const slotsUsed = new Map<Engine, number>();
  let timer: NodeJS.Timeout | undefined;
  let stopping = false;
  let kickScheduled = false;

  const enginesInUse = () => [...new Set(opts.endpoints.map(engineFor))];
  const endpointsOf = (engine: Engine) => opts.endpoints.filter((e) => engineFor(e) === engine);

  function logLine(id: string, level: LogEntry["level"], message: string) {
    store.appendLog(id, level, message);
    events.emit(id, { kind: "log" });
  }

  /**
   * Runs a write a running job can do without (a log line, progress, a lease renewal): when another
   * process holds the database lock past the busy timeout it is skipped, never failing the render.
   */
  function bestEffort(what: string, requestId: string, fn: () => void) {
    try {
      fn();
    } catch (err) {
      if (!isBusyError(err)) throw err;
      log.warn({ requestId }, `${what} skipped: database busy`);
    }
  }

  function failRequest(r: StoredRequest, state: "failed" | "cancelled", err: ServiceError, inferenceTime: number | null = null) {
    err.requestId = r.id;
    if (store.fail(r.id, state, err.toWire(), inferenceTime)) {
      logLine(r.id, state === "cancelled" ? "WARN" : "ERROR", `${state === "cancelled" ? "Cancelled" : "Failed"}: ${err.message}`);
      events.emit(r.id, { kind: "state" });
    }
  }

  /** Hands back requests whose runner died; fails those that already killed their runner maxAttempts times. */
  function recoverOrphans() {
    for (const r of store.listOrphaned(isOwnerDead)) {
      if (running.has(r.id)) continue;
      if (r.attempts >= maxAttempts) {
        failRequest(r, "failed", new InfrastructureError(`The request's runner stopped ${r.attempts} times while running it; not retrying`, { errorType: "runner_disconnected" }));
      } else if (store.requeue(r.id, r.leaseOwner)) {
        logLine(r.id, "WARN", `Runner lost (attempt ${r.attempts}); request returned to the queue`);
        events.emit(r.id, { kind: "state" });
      }
    }
  }

  function expireStartDeadlines() {
    for (const r of store.listStartDeadlinePassed()) {
      failRequest(r, "failed", new RequestTimeoutError(r.id, "Request did not start before its start timeout (x-fal-request-timeout)"));
    }
  }

  function fillSlots() {
    if (stopping) return;
    for (const engine of enginesInUse()) {
      while ((slotsUsed.get(engine) ?? 0) < engine.concurrency) {
        const r = store.claimNext(endpointsOf(engine), INSTANCE_ID, leaseMs);
        if (!r) break;
        start(engine, r);
      }
    }
  }

  function start(engine: Engine, r: StoredRequest) {
    slotsUsed.set(engine, (slotsUsed.get(engine) ?? 0) + 1);
    const controller = new AbortController();
    store.setEngine(r.id, engine.name, null);
    logLine(r.id, "INFO", `Started on engine ${engine.name} (attempt ${r.attempts})`);
    events.emit(r.id, { kind: "state" });
    const heartbeat = setInterval(
      () =>
        bestEffort("lease renewal", r.id, () => {
          if (!store.renewLease(r.id, INSTANCE_ID, leaseMs)) {
            controller.abort(new InfrastructureError("Lease lost"));
            return;
          }
          if (store.get(r.id)?.cancelRequested) controller.abort(new CancelledError(r.id));
        }),
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    heartbeat.unref();
    const begin = performance.now();
    let lastLogged = "";
    let lastProgressWrite = 0;
    const ctx: JobContext = {
      engine,
      signal: controller.signal,
      engineState: store.engineState(r.id),
      saveEngineState: (state) => retryWhileBusy(() => store.setEngineState(r.id, INSTANCE_ID, state)),
      log: (level, message) => bestEffort("log line", r.id, () => logLine(r.id, level, message)),
      progress: (p) => bestEffort("progress", r.id, () => {
        const percent = p.total > 0 ? Math.min(100, Math.round((100 * p.step) / p.total)) : 0;
        const progress: Progress = { ...p, percent };
        const now = Date.now();
        if (now - lastProgressWrite >= 250 || p.step === p.total) {
          lastProgressWrite = now;
          store.setProgress(r.id, progress);
          events.emit(r.id, { kind: "progress" });
        }
        const bucket = `${p.stage}:${Math.floor(percent / 10)}`;
        if (bucket !== lastLogged) {
          lastLogged = bucket;
          logLine(r.id, "INFO", `${p.stage} ${percent}% (${p.step}/${p.total})`);
        }
      }),
    };
    const done = (async () => {
      try {
        const completion = await runJob({ ...r, input: store.loadInput(r.id) }, ctx);
        if (controller.signal.aborted) throw controller.signal.reason;
        // The video is made: recording it waits out any lock held by another process.
        const recorded = await retryWhileBusy(() => store.succeed(r.id, INSTANCE_ID, completion), {
          onBusy: (attempt) => log.warn({ requestId: r.id, attempt }, "database busy while recording a finished render; retrying"),
        });
        if (recorded) {
          logLine(r.id, "INFO", `Completed in ${completion.inferenceTime.toFixed(1)} s; charged $${completion.charge.costUsd.toFixed(2)}`);
          events.emit(r.id, { kind: "state" });
        }
      } catch (raw) {
        const err = controller.signal.aborted ? controller.signal.reason : raw;
        const seconds = (performance.now() - begin) / 1000;
        if (err instanceof CancelledError) {
          failRequest(r, "cancelled", err, seconds);
        } else if (stopping && isRetryable(err)) {
          // Shutdown: hand the request back for the next process.
          if (store.requeue(r.id, INSTANCE_ID)) logLine(r.id, "WARN", "Server shutting down; request returned to the queue");
        } else if (isRetryable(err) && r.attempts < maxAttempts && store.requeue(r.id, INSTANCE_ID)) {
          logLine(r.id, "WARN", `Attempt ${r.attempts} failed (${(err as Error).message}); retrying`);
          events.emit(r.id, { kind: "state" });
        } else if (err instanceof InfrastructureError) {
          failRequest(
            r,
            "failed",
            new InfrastructureError(`Failed after ${r.attempts} attempts, not retrying: ${err.message}`, { errorType: err.errorType }),
            seconds,
          );
        } else {
          const service = err instanceof ServiceError ? err : undefined;
          if (!service) log.error({ err, requestId: r.id }, "job failed with an unexpected error");
          const wire = toWireError(err);
          if (store.fail(r.id, "failed", wire, seconds)) {
            logLine(r.id, "ERROR", `Failed: ${service ? service.message : "internal error"}`);
            events.emit(r.id, { kind: "state" });
          }
        }
      } finally {
        clearInterval(heartbeat);
        running.delete(r.id);
        slotsUsed.set(engine, (slotsUsed.get(engine) ?? 1) - 1);
        kick();
      }
    })();
    running.set(r.id, { request: r, controller, done, heartbeat });
  }

  function tick() {
    try {
      expireStartDeadlines();
      recoverOrphans();
      fillSlots();
    } catch (err) {
      log.error({ err }, "dispatcher tick failed");
    }
  }

  /**
   * Schedules a slot fill soon (after a submit or a finished job). Only the fill: deadlines and orphans
   * are the periodic tick's, since their scans grow with the queue and a submit must stay cheap.
   */
  function kick() {
    if (kickScheduled || stopping) return;
    kickScheduled = true;
    setImmediate(() => {
      kickScheduled = false;
      try {
        fillSlots();
      } catch (err) {
        log.error({ err }, "dispatcher slot fill failed");
      }
    });
  }

  return {
    start() {
      stopping = false;
      tick();
      timer = setInterval(tick, pollMs);
      timer.unref();
    },
    kick,

    /** fal semantics: queued -> removed now; running -> signalled; finished -> ALREADY_COMPLETED. */
    cancel(r: StoredRequest): CancelOutcome {
      const current = store.get(r.id);
      if (!current) return "NOT_FOUND";
      if (current.state === "queued") {
        if (!store.cancelQueued(r.id, new CancelledError(r.id).toWire())) return this.cancel(current);
        logLine(r.id, "WARN", "Cancelled while queued");
        events.emit(r.id, { kind: "state" });
        return "CANCELLATION_REQUESTED";
      }
      if (current.state === "running") {
        store.requestCancel(r.id);
        logLine(r.id, "WARN", "Cancellation requested");
        running.get(r.id)?.controller.abort(new CancelledError(r.id));
        return "CANCELLATION_REQUESTED";
      }
      return "ALREADY_COMPLETED";
    },

    runningCount: () => running.size,

    /** Each engine's slots in this process and how many run a job; no slots while not taking work (API-only node, stopping). */
    slots(): { engine: Engine; concurrency: number; used: number }[] {
      const taking = timer !== undefined && !stopping;
      return enginesInUse().map((engine) => ({ engine, concurrency: taking ? engine.concurrency : 0, used: slotsUsed.get(engine) ?? 0 }));
    },

    /** Stops taking work, hands running requests back to the queue, and waits for them to settle. */
    async stop(graceMs = 10_000) {
      stopping = true;
      if (timer) clearInterval(timer);
      for (const job of running.values()) job.controller.abort(new InfrastructureError("Server shutting down"));
      const all = Promise.allSettled([...running.values()].map((j) => j.done));
      await Promise.race([all, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    },
  };
}
