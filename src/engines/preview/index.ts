// The CPU preview engine: animates the given images with a camera move, a start-to-end transition and
// an ambient audio bed; for audio-to-video it lays the input audio under the animated image, or under a
// visualisation of the audio when no image is given. It is a preview, not the LTX-2.3 model. Each job runs in its own child process
// (and process group, with its ffmpeg) so the server's event loop never renders, and a cancel kills both.
import { fork, type ChildProcess } from "node:child_process";
import fsp from "node:fs/promises";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import { CancelledError, EngineError, InfrastructureError } from "../../errors.js";
import { ENDPOINTS } from "../../endpoints.js";
import { demuxerOfPath } from "../../media/audio-input.js";
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

/** FNV-1a of a string, for seeding the scene from the prompt. */
function hash32(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/**
 * Paints a scene for text-to-video (no input image): a sky-to-ground gradient with soft shapes whose
 * colours and places come from the prompt and the seed, at 1.5 x the output so the camera can move.
 */
async function writeScene(job: EngineJob): Promise<string> {
  const { default: sharp } = await import("sharp");
  let state = hash32(job.prompt, job.seed) || 1;
  const rnd = () => ((state = Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) ^ (state + 0x6d2b79f5)) >>> 0) / 2 ** 32;
  const w = 160;
  const h = Math.max(2, Math.round((w * job.height) / job.width));
  const sky = [rnd() * 255, rnd() * 255, 128 + rnd() * 127];
  const ground = [rnd() * 160, 60 + rnd() * 140, rnd() * 120];
  const blobs = Array.from({ length: 6 }, () => ({ x: rnd() * w, y: rnd() * h, r: (0.05 + rnd() * 0.2) * w, c: [rnd() * 255, rnd() * 255, rnd() * 255] }));
  const px = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const t = y / (h - 1);
      const rgb = sky.map((s, i) => s * (1 - t) + ground[i]! * t);
      for (const b of blobs) {
        const d = Math.hypot(x - b.x, y - b.y) / b.r;
        if (d < 1) for (let i = 0; i < 3; i++) rgb[i] = rgb[i]! * d + b.c[i]! * (1 - d);
      }
      for (let i = 0; i < 3; i++) px[(y * w + x) * 3 + i] = Math.max(0, Math.min(255, Math.round(rgb[i]!)));
    }
  }
  const file = `${job.workDir}/scene.png`;
  await sharp(px, { raw: { width: w, height: h, channels: 3 } })
    .resize(Math.round(job.width * 1.5), Math.round(job.height * 1.5), { kernel: "cubic" })
    .png({ compressionLevel: 1 })
    .toFile(file);
  return file;
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
    const audioToVideo = job.kind === "audio-to-video";
    if (audioToVideo && !job.inputAudio) {
      throw new EngineError("An audio-to-video job reached the preview engine without its input audio", { requestId: job.requestId });
    }
    const inputAudioDemuxer = job.inputAudio ? demuxerOfPath(job.inputAudio.path) : undefined;
    if (job.inputAudio && !inputAudioDemuxer) {
      throw new EngineError("The input audio was not prepared by the audio intake (unknown container)", { requestId: job.requestId });
    }
    // Text-to-video: a seeded, prompt-driven scene stands in for the start image, then the same camera moves.
    // Audio-to-video without an image: no picture at all; the child draws a visualisation of the audio.
    const startImagePath = job.startImage ? requireStartImage(job).path : audioToVideo ? undefined : await writeScene(job);
    const spec: PreviewSpec = {
      prompt: job.prompt,
      startImagePath,
      endImagePath: job.endImage?.path,
      width: job.width,
      height: job.height,
      fps: job.fps,
      numFrames: job.numFrames,
      generateAudio: job.generateAudio,
      inputAudioPath: job.inputAudio?.path,
      inputAudioDemuxer,
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
