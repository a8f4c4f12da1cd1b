// One running Python worker: spawns `python -m ltx_worker`, splits its stdout into protocol events,
// keeps the tail of its stderr for error messages, and tells when it is ready and when it exits.
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { createInterface } from "node:readline";
import { parseWorkerLine, type FromWorker, type ReadyEvent, type ToWorker } from "./protocol.js";

export interface WorkerSpawnOptions {
  python: string;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
  /** ms allowed between spawn and the "ready" event. */
  startupTimeoutMs: number;
}

export interface WorkerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** Why a worker never became ready: `fatal` = it said why (e.g. no weights); `spawn`/`exit`/`timeout` otherwise. */
export class WorkerStartError extends Error {
  constructor(message: string, readonly reason: "fatal" | "spawn" | "exit" | "timeout", readonly fatalType?: string) {
    super(message);
    this.name = "WorkerStartError";
  }
}

const STDERR_TAIL_LINES = 40;

export class LtxWorkerProcess {
  readonly ready: Promise<ReadyEvent>;
  readonly exited: Promise<WorkerExit>;
  readonly stderrTail: string[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly eventListeners = new Set<(event: FromWorker) => void>();
  private readonly stderrListeners = new Set<(line: string) => void>();
  private exitInfo: WorkerExit | undefined;
  private readyInfo: ReadyEvent | undefined;

  constructor(opts: WorkerSpawnOptions) {
    this.child = spawn(opts.python, ["-m", "ltx_worker", ...opts.args], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    // Writes to a dead worker fail with EPIPE; the exit handler reports the real problem.
    this.child.stdin.on("error", () => undefined);

    let settleReady: { resolve(r: ReadyEvent): void; reject(e: Error): void };
    this.ready = new Promise<ReadyEvent>((resolve, reject) => (settleReady = { resolve, reject }));
    this.ready.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection
    const startupTimer = setTimeout(() => {
      settleReady.reject(new WorkerStartError(`ltx worker did not become ready within ${opts.startupTimeoutMs} ms${this.tailText()}`, "timeout"));
      this.kill("SIGKILL");
    }, opts.startupTimeoutMs);
    startupTimer.unref();

    let resolveExit: (e: WorkerExit) => void;
    this.exited = new Promise<WorkerExit>((resolve) => (resolveExit = resolve));
    let spawnError: Error | undefined;
    this.child.on("error", (err) => {
      spawnError = err;
      // ENOENT and the like: no 'exit' follows when the process never started.
      if (this.child.pid === undefined) finish({ code: null, signal: null });
    });
    const finish = (exit: WorkerExit) => {
      if (this.exitInfo) return;
      this.exitInfo = exit;
      clearTimeout(startupTimer);
      if (!this.readyInfo) {
        const why = spawnError
          ? new WorkerStartError(`cannot start ${opts.python}: ${spawnError.message}`, "spawn")
          : new WorkerStartError(`ltx worker exited before it was ready (code ${exit.code}, signal ${exit.signal})${this.tailText()}`, "exit");
        settleReady.reject(why);
      }
      resolveExit(exit);
    };
    this.child.on("exit", (code, signal) => {
      // Let the last stdout lines (e.g. a fatal event) be read before reporting the exit.
      setImmediate(() => finish({ code, signal }));
    });

    createInterface({ input: this.child.stdout }).on("line", (line) => {
      const event = parseWorkerLine(line);
      if (!event) {
        this.pushStderr(`[stdout] ${line}`);
        return;
      }
      if (event.type === "ready") {
        this.readyInfo = event;
        clearTimeout(startupTimer);
        settleReady.resolve(event);
      } else if (event.type === "fatal") {
        settleReady.reject(new WorkerStartError(`ltx worker could not start: ${event.error.message}`, "fatal", event.error.type));
      }
      for (const listener of this.eventListeners) listener(event);
    });
    createInterface({ input: this.child.stderr }).on("line", (line) => this.pushStderr(line));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  get readyEvent(): ReadyEvent | undefined {
    return this.readyInfo;
  }

  send(msg: ToWorker): void {
    if (!this.alive || !this.child.stdin.writable) return;
    this.child.stdin.write(`${JSON.stringify(msg)}\n`);
  }

  onEvent(listener: (event: FromWorker) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  onStderr(listener: (line: string) => void): () => void {
    this.stderrListeners.add(listener);
    return () => this.stderrListeners.delete(listener);
  }

  kill(signal: NodeJS.Signals): void {
    if (this.alive) this.child.kill(signal);
  }

  /** Asks the worker to finish and exit; kills it if it has not gone within graceMs. */
  async shutdown(graceMs: number): Promise<void> {
    if (!this.alive) return;
    this.send({ type: "shutdown" });
    this.child.stdin.end();
    const timer = setTimeout(() => this.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  tailText(): string {
    const tail = this.stderrTail.slice(-8).join("\n").trim();
    return tail ? `\n--- worker stderr (last lines) ---\n${tail}` : "";
  }

  private pushStderr(raw: string): void {
    // tqdm redraws with carriage returns: keep only the last state of such a line.
    const line = raw.split("\r").filter(Boolean).pop() ?? "";
    if (!line.trim()) return;
    this.stderrTail.push(line);
    if (this.stderrTail.length > STDERR_TAIL_LINES) this.stderrTail.shift();
    for (const listener of this.stderrListeners) listener(line);
  }
}
