// The `ltx` engine: LTX-2.3 open weights on the operator's GPU through a resident Python worker
// (python/ltx_worker, diffusers). Starts the worker once, feeds it one job at a time, relays progress
// and logs, cancels at the next transformer or VAE block (grace from the observed step times, then SIGTERM/SIGKILL), and restarts it when it dies.
import fsp from "node:fs/promises";
import type { Config } from "../../config.js";
import { CancelledError, EngineError, InfrastructureError, InputError } from "../../errors.js";
import type { Engine, EngineJob, EngineResult } from "../types.js";
import { CancelGraceTracker } from "./cancel-grace.js";
import { PYTHON_DIR, pythonFor } from "./paths.js";
import { formatRenderScales, normaliseRenderScales, type RenderScales } from "./render-scale.js";
import type { FromWorker, LtxFlow, WorkerJobMessage, WorkerMetrics } from "./protocol.js";
import { LtxWorkerProcess, WorkerStartError } from "./worker-process.js";

/** The settings the engine reads; a whole Config satisfies it. */
export type LtxEngineOptions = Omit<Pick<
  Config,
  | "ltxModelDir"
  | "ltxDevice"
  | "ltxDtype"
  | "ltxOffload"
  | "ltxPython"
  | "ltxFlowByEndpoint"
  | "ltxStage1Steps"
  | "ltxMaxSequenceLength"
  | "ltxThreads"
  | "ltxCancelGraceMs"
  | "ltxStartupTimeoutMs"
  | "ltxRenderScale"
  | "ltxPromptCacheBytes"
  | "x264Preset"
  | "ltxMemoryBudgetGb"
>, "ltxRenderScale" | "ltxMemoryBudgetGb"> & {
  /** LTX_RENDER_SCALE per resolution (a plain number applies to every size). */
  ltxRenderScale: RenderScales | number;
  ltxMemoryBudgetGb?: number;
  /** Extra environment for the worker process (tests set HF_HUB_OFFLINE, thread counts). */
  workerEnv?: NodeJS.ProcessEnv;
  /** After SIGTERM, ms before SIGKILL. Default 2_000. */
  killGraceMs?: number;
};

const STDERR_LINES_PER_JOB = 200;

/** The endpoints the ltx engine makes: image-to-video and text-to-video, Pro (two-stage) and Fast (distilled). */
export const LTX_SERVES = [
  "fal-ai/ltx-2.3/image-to-video",
  "fal-ai/ltx-2.3/image-to-video/fast",
  "fal-ai/ltx-2.3/text-to-video",
  "fal-ai/ltx-2.3/text-to-video/fast",
] as const;

/** Flattens the worker's metrics into the numeric map stored on the request. */
export function flattenMetrics(metrics: WorkerMetrics, loadSeconds?: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, seconds] of Object.entries(metrics.timings ?? {})) {
    if (typeof seconds === "number" && Number.isFinite(seconds)) out[`ltx_${name}_seconds`] = seconds;
  }
  for (const [name, value] of Object.entries(metrics)) {
    if (name !== "timings" && typeof value === "number" && Number.isFinite(value)) out[`ltx_${name}`] = value;
  }
  if (loadSeconds !== undefined) out.ltx_model_load_seconds = loadSeconds;
  return out;
}

/** The worker's command line (`python -m ltx_worker ...`). */
export function workerArguments(opts: LtxEngineOptions): string[] {
  const args = ["--model-dir", opts.ltxModelDir ?? "", "--device", opts.ltxDevice, "--dtype", opts.ltxDtype, "--offload", opts.ltxOffload];
  args.push("--max-sequence-length", String(opts.ltxMaxSequenceLength));
  if (opts.ltxStage1Steps) args.push("--pro-stage1-steps", String(opts.ltxStage1Steps));
  if (opts.ltxThreads) args.push("--threads", String(opts.ltxThreads));
  args.push("--render-scale", formatRenderScales(normaliseRenderScales(opts.ltxRenderScale)));
  if (opts.ltxMemoryBudgetGb !== undefined) args.push("--memory-budget-gb", String(opts.ltxMemoryBudgetGb));
  return args;
}

/**
 * The worker's environment: the caller's, with python/ on PYTHONPATH, offline Hub, and the CUDA caching
 * allocator's expandable segments (fewer fragmentation OOMs when clip sizes change between jobs) unless the
 * operator set PYTORCH_CUDA_ALLOC_CONF.
 */
export function workerEnvironment(opts: Pick<LtxEngineOptions, "ltxThreads" | "ltxPromptCacheBytes" | "workerEnv">, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...base,
    PYTHONPATH: [PYTHON_DIR, base.PYTHONPATH].filter(Boolean).join(":"),
    PYTHONUNBUFFERED: "1",
    HF_HUB_OFFLINE: "1",
    ...opts.workerEnv,
  };
  if (opts.ltxThreads) env.OMP_NUM_THREADS ??= String(opts.ltxThreads);
  if (opts.ltxPromptCacheBytes !== undefined) env.LTX_PROMPT_CACHE_BYTES = String(opts.ltxPromptCacheBytes);
  if (!env.PYTORCH_CUDA_ALLOC_CONF) env.PYTORCH_CUDA_ALLOC_CONF = "expandable_segments:True";
  return env;
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(2)} GiB`;
}

/** The engine plus what tests and `doctor` may look at. */
export interface LtxEngine extends Engine {
  /** Pid of the current worker process, if one is running. */
  workerPid(): number | undefined;
}

export function createLtxEngine(opts: LtxEngineOptions): LtxEngine {
  const killGraceMs = opts.killGraceMs ?? 2_000;
  // Grace after a cancel, from the observed step/decode times (LTX_CANCEL_GRACE_MS is the floor).
  const grace = new CancelGraceTracker(opts.ltxCancelGraceMs);
  let worker: LtxWorkerProcess | undefined;
  let closed = false;
  let queue: Promise<unknown> = Promise.resolve();

  function spawnWorker(): LtxWorkerProcess {
    if (!opts.ltxModelDir) throw new EngineError("The ltx engine needs LTX_MODEL_DIR (a Diffusers-format LTX-2.3 folder); see docs/ltx-engine.md");
    const env = workerEnvironment(opts);
    const w = new LtxWorkerProcess({
      python: pythonFor(opts.ltxPython),
      args: workerArguments(opts),
      cwd: PYTHON_DIR,
      env,
      startupTimeoutMs: opts.ltxStartupTimeoutMs,
    });
    void w.exited.then(() => {
      // A worker that had been serving and then died (crash, OOM kill, our SIGKILL after a cancel) is
      // replaced at once, so the next job finds the model loading or loaded. One that never became
      // ready is not: the next job tries again and reports why.
      if (!closed && worker === w && w.readyEvent) worker = spawnWorker();
    });
    return w;
  }

  async function readyWorker(job: EngineJob): Promise<LtxWorkerProcess> {
    if (!worker || !worker.alive) worker = spawnWorker();
    const w = worker;
    if (!w.readyEvent) job.log("INFO", "Starting the LTX-2.3 worker and loading the model");
    let onAbort: (() => void) | undefined;
    try {
      // Loading takes minutes on real weights: a cancel while waiting ends the wait, not the load.
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(new CancelledError(job.requestId));
        job.signal.addEventListener("abort", onAbort, { once: true });
      });
      await Promise.race([w.ready, aborted]);
      return w;
    } catch (err) {
      if (err instanceof WorkerStartError) {
        if (err.reason === "spawn") {
          throw new EngineError(`${err.message}. Install the worker with \`npm run setup:ltx\` or set LTX_PYTHON.`, { requestId: job.requestId });
        }
        throw new EngineError(err.message, { requestId: job.requestId, cause: err });
      }
      throw err;
    } finally {
      if (onAbort) job.signal.removeEventListener("abort", onAbort);
    }
  }

  async function run(job: EngineJob): Promise<EngineResult> {
    if (job.signal.aborted) throw new CancelledError(job.requestId);
    if (job.numFrames < 1 || job.width < 2 || job.height < 2 || job.width % 2 || job.height % 2 || !(job.fps > 0)) {
      throw InputError.field("resolution", `cannot generate ${job.width}x${job.height}, ${job.numFrames} frames at ${job.fps} fps`);
    }
    // Text-to-video runs the same flows without image conditioning; each /fast endpoint defaults to the distilled flow.
    const flow: LtxFlow = opts.ltxFlowByEndpoint[job.endpoint] ?? (job.endpoint.endsWith("/fast") ? "fast" : "pro");
    const textToVideo = job.kind === "text-to-video" || (job.kind === undefined && !job.startImage);
    if (!textToVideo && !job.startImage) throw new EngineError(`${job.endpoint} needs a start image on the ltx engine`, { requestId: job.requestId });
    const w = await readyWorker(job);
    const ready = w.readyEvent!;
    if (!ready.flows.includes(flow)) {
      throw new EngineError(`The ${flow} flow needs distilled weights that are not under LTX_MODEL_DIR (see docs/ltx-engine.md)`, { requestId: job.requestId });
    }
    if (job.signal.aborted) throw new CancelledError(job.requestId);
    await fsp.rm(job.outputPath, { force: true });

    const message: WorkerJobMessage = {
      type: "job",
      id: job.requestId,
      prompt: job.prompt,
      // null for text-to-video: no conditioning frame (docs/ltx-worker-protocol.md).
      start_image: textToVideo ? null : job.startImage!.path,
      end_image: textToVideo ? null : job.endImage?.path ?? null,
      width: job.width,
      height: job.height,
      fps: job.fps,
      num_frames: job.numFrames,
      seed: job.seed,
      generate_audio: job.generateAudio,
      flow,
      output_path: job.outputPath,
      x264_preset: opts.x264Preset,
    };

    return await new Promise<EngineResult>((resolve, reject) => {
      let settled = false;
      let stderrLines = 0;
      let cancelTimers: NodeJS.Timeout[] = [];
      let cancelAt: number | null = null;
      grace.startJob();
      const cleanup = () => {
        settled = true;
        offEvent();
        offStderr();
        job.signal.removeEventListener("abort", onAbort);
        cancelTimers.forEach(clearTimeout);
        cancelTimers = [];
      };
      const fail = (err: Error) => {
        if (settled) return;
        cleanup();
        void fsp.rm(job.outputPath, { force: true }).finally(() => reject(err));
      };
      const offEvent = w.onEvent((event: FromWorker) => {
        if (settled || !("id" in event) || event.id !== job.requestId) return;
        switch (event.type) {
          case "progress":
            grace.observe(event);
            job.onProgress({ stage: event.stage, step: event.step, total: event.total });
            break;
          case "log":
            job.log(event.level, event.message);
            break;
          case "done": {
            cleanup();
            const metrics = flattenMetrics(event.metrics, ready.load_seconds);
            const peak = event.metrics.peak_gpu_memory_bytes;
            const stages = Object.entries(event.metrics.timings ?? {})
              .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
              .join(", ");
            job.log("INFO", `LTX-2.3 ${flow}: ${stages}; peak GPU memory ${peak == null ? "n/a (CPU)" : gib(peak)}`);
            resolve({ model: `Lightricks/LTX-2.3 ${flow} (local ${ready.device}, ${ready.dtype})`, metrics });
            break;
          }
          case "cancelled":
            if (cancelAt !== null) job.log("INFO", `Worker stopped ${Math.round(performance.now() - cancelAt)} ms after the cancel`);
            fail(new CancelledError(job.requestId));
            break;
          case "error": {
            const msg = `LTX-2.3 worker: ${event.error.message}`;
            if (event.error.type === "input") fail(new InputError([{ loc: ["body"], msg: event.error.message, type: "value_error" }], { requestId: job.requestId }));
            // The job cannot fit in the GPU's memory at any render scale the worker tries: 422 naming the limit.
            else if (event.error.type === "memory_budget") fail(new InputError([{ loc: ["body", "resolution"], msg: event.error.message, type: "value_error" }], { requestId: job.requestId }));
            else fail(new EngineError(msg, { requestId: job.requestId }));
            break;
          }
        }
      });
      const offStderr = w.onStderr((line) => {
        if (stderrLines++ < STDERR_LINES_PER_JOB) job.log("DEBUG", `[ltx worker] ${line}`);
      });
      void w.exited.then((exit) => {
        if (settled) return;
        if (job.signal.aborted) fail(new CancelledError(job.requestId));
        else fail(new InfrastructureError(`The LTX-2.3 worker exited during the job (code ${exit.code}, signal ${exit.signal}); it is being restarted${w.tailText()}`, { requestId: job.requestId }));
      });
      const onAbort = () => {
        if (settled) return;
        const graceMs = grace.graceMs();
        cancelAt = performance.now();
        job.log("INFO", `Cancelling: asking the worker to stop at the next block (grace ${graceMs} ms before SIGTERM)`);
        w.send({ type: "cancel", id: job.requestId });
        cancelTimers.push(
          setTimeout(() => {
            if (settled) return;
            job.log("WARN", `Worker did not stop within ${graceMs} ms: SIGTERM`);
            w.kill("SIGTERM");
            cancelTimers.push(
              setTimeout(() => {
                if (!settled) w.kill("SIGKILL");
              }, killGraceMs),
            );
          }, graceMs),
        );
      };
      job.signal.addEventListener("abort", onAbort, { once: true });
      w.send(message);
    });
  }

  return {
    name: "ltx",
    concurrency: 1,
    // Not audio-to-video: the pinned diffusers' LTX-2 pipelines denoise the audio latents at every step
    // and have no conditioning on an input audio track (docs/ltx-engine.md, "Audio-to-video").
    serves: LTX_SERVES,
    workerPid: () => (worker?.alive ? worker.pid : undefined),
    generate(job) {
      // One job at a time per worker (one model in GPU memory); callers may still overlap calls.
      const result = queue.then(() => run(job));
      queue = result.catch(() => undefined);
      return result;
    },
    async close() {
      closed = true;
      const w = worker;
      worker = undefined;
      if (w) await w.shutdown(opts.ltxCancelGraceMs + killGraceMs);
    },
  };
}
