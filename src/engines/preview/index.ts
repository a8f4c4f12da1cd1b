// The CPU preview engine: animates the given images with a camera move, a start-to-end transition and
// an ambient audio bed. It is a preview, not the LTX-2.3 model. Each job runs in its own child process
// (and process group, with its ffmpeg) so the server's event loop never renders, and a cancel kills both.
import { fork, type ChildProcess } from "node:child_process";
import fsp from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CancelledError, EngineError, InfrastructureError } from "../../errors.js";
import { ENDPOINTS } from "../../endpoints.js";
import { requireStartImage, type Engine, type EngineJob, type EngineResult } from "../types.js";
import type { FromChild, ToChild } from "./child.js";
import type { PreviewSpec } from "./render.js";

export interface PreviewEngineOptions {
  /** Jobs run at once. */
  concurrency: number;
  /** x264 preset, e.g. veryfast. */
  x264Preset: string;
  /** ffmpeg binary; default: system ffmpeg, else the bundled one. */
  ffmpegPath?: string;
  /** Keep one child process started ahead of the next job. Default true. */
  warmChild?: boolean;
}

/** glibc malloc settings for the child process (see spawnChild). */
export const CHILD_MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: "1048576", MALLOC_ARENA_MAX: "2" } as const;

/** How long a child may take to die after SIGKILL before we stop waiting for it, ms. */
const KILL_WAIT_MS = 1500;

/** The child module next to this one: the .ts source under tsx/vitest, the compiled .js from dist/. */
function childEntry(): { modulePath: string; execArgv: string[] } {
  const fromSource = import.meta.url.endsWith(".ts");
  const modulePath = fileURLToPath(new URL(fromSource ? "./child.ts" : "./child.js", import.meta.url));
  // --expose-gc: the child frees the decoded picture (tens of MB at 2160p) before rendering starts.
  if (!fromSource) return { modulePath, execArgv: ["--expose-gc"] };
  // Resolve tsx from here, not from the working directory, so the service can run from anywhere.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve("tsx")).href;
  return { modulePath, execArgv: ["--expose-gc", "--import", tsx] };
}

/** Kills a child's whole process group (the child and its ffmpeg). Never throws. */
function killGroup(child: ChildProcess): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, "SIGKILL");
  } catch {
    // Group already gone.
  }
  try {
    child.kill("SIGKILL");
  } catch {
    // Already dead.
  }
}

/** The preview engine, plus a way to wait until its pre-started child is ready (for benchmarks). */
export interface PreviewEngine extends Engine {
  /** Resolves when a pre-started child process has loaded its modules (at once if warm children are off). */
  ready(): Promise<void>;
}

interface JobProcess {
  child: ChildProcess;
  /** Last lines of the child's stderr, for error messages. */
  stderr: { text: string };
  /** Resolves when the child has loaded its modules. */
  ready: Promise<void>;
}

export function createPreviewEngine(opts: PreviewEngineOptions): PreviewEngine {
  const running = new Set<ChildProcess>();
  const warm = opts.warmChild ?? true;
  let spare: JobProcess | undefined;
  let closed = false;

  function spawnChild(): JobProcess {
    const { modulePath, execArgv } = childEntry();
    // detached: the child leads a new process group that its ffmpeg joins, so one kill reaches both.
    const child = fork(modulePath, [], {
      execArgv,
      detached: true,
      stdio: ["ignore", "ignore", "pipe", "ipc"],
      serialization: "json",
      // glibc: allocations over 1 MB (decoded pictures) go straight back to the system when freed,
      // instead of staying in the child's arenas (measured 60 MB less peak at 2160p). The child
      // removes these again before starting ffmpeg, whose per-frame buffers are better recycled.
      env: { ...process.env, ...CHILD_MALLOC_ENV },
    });
    const stderr = { text: "" };
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (chunk: string) => {
      stderr.text = (stderr.text + chunk).slice(-8192);
    });
    const ready = new Promise<void>((resolve) => {
      child.on("message", (msg: FromChild) => msg.type === "ready" && resolve());
      child.on("exit", () => resolve());
    });
    return { child, stderr, ready };
  }

  /**
   * Keeps one child started and idle, so a job does not wait for Node and sharp to load (~150 ms).
   * It is started when the engine is made and after each job, never during one (it would take CPU
   * from the encoder). An idle child does not keep the server alive and exits if the server dies.
   */
  function refillSpare(): void {
    if (!warm || closed || spare || running.size > 0) return;
    const proc = spawnChild();
    proc.child.unref();
    proc.child.channel?.unref();
    proc.child.once("exit", () => {
      if (spare === proc) spare = undefined;
    });
    spare = proc;
  }

  function takeChild(): JobProcess {
    const proc = spare;
    spare = undefined;
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null && proc.child.connected) {
      proc.child.ref();
      proc.child.channel?.ref();
      return proc;
    }
    if (proc) killGroup(proc.child);
    return spawnChild();
  }

  refillSpare();

  async function generate(job: EngineJob): Promise<EngineResult> {
    if (job.signal.aborted) throw new CancelledError(job.requestId);
    const spec: PreviewSpec = {
      prompt: job.prompt,
      startImagePath: requireStartImage(job).path,
      endImagePath: job.endImage?.path,
      width: job.width,
      height: job.height,
      fps: job.fps,
      numFrames: job.numFrames,
      generateAudio: job.generateAudio,
      seed: job.seed,
      cameraMotion: job.cameraMotion,
      outputPath: job.outputPath,
      workDir: job.workDir,
      x264Preset: opts.x264Preset,
      ffmpegPath: opts.ffmpegPath,
    };
    const { child, stderr } = takeChild();
    running.add(child);

    return new Promise<EngineResult>((resolve, reject) => {
      let outcome: { ok: true; result: EngineResult } | { ok: false; error: Error } | undefined;
      let cancelled = false;
      const onAbort = () => {
        cancelled = true;
        killGroup(child);
        // Do not wait on a child that refuses to die: report the cancel within the 2 s budget.
        setTimeout(() => finish(), KILL_WAIT_MS).unref();
      };
      let finished = false;
      const finish = (code?: number | null, sig?: NodeJS.Signals | null) => {
        if (finished) return;
        finished = true;
        job.signal.removeEventListener("abort", onAbort);
        running.delete(child);
        // Whatever happened, nothing of this job may outlive it.
        killGroup(child);
        refillSpare();
        if (cancelled) {
          void fsp.rm(job.outputPath, { force: true }).finally(() => reject(new CancelledError(job.requestId)));
        } else if (outcome?.ok) resolve(outcome.result);
        else if (outcome && !outcome.ok) reject(outcome.error);
        else {
          const detail = stderr.text.trim().split("\n").slice(-5).join("\n");
          // The job's process died (killed, out of memory): a fresh process may succeed, so it is retryable.
          reject(
            new InfrastructureError(`Preview engine process exited unexpectedly (${code ?? sig})${detail ? `: ${detail}` : ""}`, {
              requestId: job.requestId,
              errorType: "runner_disconnected",
            }),
          );
        }
      };
      job.signal.addEventListener("abort", onAbort, { once: true });
      child.on("message", (msg: FromChild) => {
        switch (msg.type) {
          case "progress":
            job.onProgress({ stage: msg.stage, step: msg.step, total: msg.total });
            break;
          case "log":
            job.log(msg.level, msg.message);
            break;
          case "done": {
            const metrics: Record<string, number> = {};
            for (const [k, v] of Object.entries(msg.metrics)) if (typeof v === "number") metrics[k] = v;
            outcome = { ok: true, result: { model: "preview", metrics } };
            break;
          }
          case "error":
            outcome = { ok: false, error: new EngineError(`Preview engine failed: ${msg.message}`, { requestId: job.requestId }) };
            break;
        }
      });
      child.on("error", (err) => {
        outcome ??= { ok: false, error: new EngineError(`Preview engine process failed: ${err.message}`, { requestId: job.requestId, cause: err }) };
        finish();
      });
      // "close" rather than "exit": it comes after the IPC channel has delivered the last message.
      child.on("close", (code, sig) => finish(code, sig));
      if (child.exitCode !== null || child.signalCode !== null) return finish(child.exitCode, child.signalCode);
      const message: ToChild = { type: "job", spec };
      child.send(message);
    });
  }

  return {
    name: "preview",
    concurrency: opts.concurrency,
    serves: ENDPOINTS.map((e) => e.id),
    generate,
    async ready() {
      await spare?.ready;
    },
    async close() {
      closed = true;
      for (const child of running) killGroup(child);
      running.clear();
      if (spare) killGroup(spare.child);
      spare = undefined;
    },
  };
}
