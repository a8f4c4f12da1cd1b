// End to end on the CPU: builds a tiny random LTX-2.3-shaped model offline, starts the REAL Python
// worker through the REAL `ltx` engine and checks what it writes with ffprobe/ffmpeg. Needs python/.venv
// (`npm run setup:ltx`): skipped with a message when absent locally, a failure when CI is set.
import { execFile } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { createLtxEngine, type LtxEngine, type LtxEngineOptions } from "../src/engines/ltx/index.js";
import type { EngineJob, EngineProgress, PreparedImage } from "../src/engines/types.js";
import { CancelledError, EngineError, InfrastructureError, InputError } from "../src/errors.js";
import { ffmpegBinary } from "../src/media/ffmpeg.js";
import { probeVideo } from "../src/media/probe.js";
import { RUN_LTX_TESTS, TINY_WORKER_ENV, buildTinyLtxModel, requireLtxVenv, warnIfLtxSkipped } from "./helpers/ltx-tiny-model.js";

const run = promisify(execFile);
const PRO = "fal-ai/ltx-2.3/image-to-video";
const FAST = "fal-ai/ltx-2.3/image-to-video/fast";
warnIfLtxSkipped("ltx-engine.test");

let tmp: string;
let modelDir: string;
let startImage: PreparedImage;
let endImage: PreparedImage;
let engine: LtxEngine;

function options(overrides: Partial<LtxEngineOptions> = {}): LtxEngineOptions {
  const defaults = loadConfig({});
  return {
    ltxModelDir: modelDir,
    ltxDevice: "cpu",
    ltxDtype: "fp32",
    ltxOffload: "none",
    ltxPython: undefined,
    ltxFlowByEndpoint: defaults.ltxFlowByEndpoint,
    ltxStage1Steps: 3,
    ltxMaxSequenceLength: 256,
    ltxThreads: 2,
    ltxCancelGraceMs: 4_000,
    ltxStartupTimeoutMs: 180_000,
    ltxRenderScale: 1,
    x264Preset: "veryfast",
    workerEnv: { ...TINY_WORKER_ENV },
    ...overrides,
  };
}

async function writePng(file: string, width: number, height: number, seed: number): Promise<PreparedImage> {
  const data = Buffer.alloc(width * height * 3);
  let x = seed * 2654435761;
  for (let i = 0; i < data.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    data[i] = (i % 3 === seed % 3 ? 160 : 40) + ((x >>> 24) % 60);
  }
  await sharp(data, { raw: { width, height, channels: 3 } }).png().toFile(file);
  return { path: file, width, height };
}

interface RunRecord {
  job: EngineJob;
  progress: EngineProgress[];
  logs: string[];
  controller: AbortController;
}

let counter = 0;
function makeJob(overrides: Partial<EngineJob> = {}, onProgress?: (p: EngineProgress, rec: RunRecord) => void): RunRecord {
  const id = `ltx-test-${++counter}`;
  const controller = new AbortController();
  const rec: RunRecord = { progress: [], logs: [], controller, job: undefined as unknown as EngineJob };
  rec.job = {
    requestId: id,
    endpoint: PRO,
    prompt: "a red bird flies over the sea",
    startImage,
    endImage,
    width: 128,
    height: 120,
    fps: 24,
    numFrames: 8,
    durationSeconds: 8 / 24,
    generateAudio: true,
    seed: 42,
    outputPath: path.join(tmp, `${id}.mp4`),
    workDir: tmp,
    signal: controller.signal,
    onProgress: (p) => {
      rec.progress.push(p);
      onProgress?.(p, rec);
    },
    log: (level, message) => rec.logs.push(`${level} ${message}`),
    ...overrides,
  };
  return rec;
}

/** Decodes every frame to raw RGB with ffmpeg (not our code) for comparisons. */
async function decodedFrames(file: string): Promise<Buffer> {
  const { stdout } = await run(ffmpegBinary().path, ["-v", "error", "-i", file, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], {
    encoding: "buffer",
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout as unknown as Buffer;
}

const STAGE_ORDER = ["encode-prompt", "denoise-1", "upsample", "denoise-2", "decode", "encode"];

function expectOrderedProgress(progress: EngineProgress[], stage1Total: number) {
  const stages = progress.map((p) => p.stage).filter((s, i, all) => all.indexOf(s) === i);
  expect(stages).toEqual(STAGE_ORDER);
  for (let i = 1; i < progress.length; i++) {
    const [a, b] = [progress[i - 1]!, progress[i]!];
    if (a.stage === b.stage) expect(b.step).toBeGreaterThanOrEqual(a.step);
    else expect(STAGE_ORDER.indexOf(b.stage)).toBeGreaterThan(STAGE_ORDER.indexOf(a.stage));
  }
  const last = (stage: string) => progress.filter((p) => p.stage === stage).at(-1)!;
  expect(last("denoise-1")).toMatchObject({ step: stage1Total, total: stage1Total });
  expect(last("denoise-2")).toMatchObject({ step: 3, total: 3 });
  expect(progress.filter((p) => p.stage === "denoise-1").map((p) => p.step)).toEqual([...Array(stage1Total + 1).keys()]);
}

describe.skipIf(!RUN_LTX_TESTS)("ltx engine with the real worker on a tiny random model", () => {
  beforeAll(async () => {
    requireLtxVenv();
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "ltx-engine-"));
    modelDir = await buildTinyLtxModel(path.join(tmp, "tiny-model"));
    startImage = await writePng(path.join(tmp, "start.png"), 160, 90, 1);
    endImage = await writePng(path.join(tmp, "end.png"), 160, 90, 2);
    engine = createLtxEngine(options());
  }, 180_000);

  afterAll(async () => {
    await engine?.close?.();
    if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
  });

  let firstOutput: string;

  it("writes an MP4 with the exact size, fps and frame count, a 48 kHz stereo AAC track, and reports progress in order", async () => {
    const rec = makeJob();
    const result = await engine.generate(rec.job);
    const probe = await probeVideo(rec.job.outputPath);
    expect(probe.video).toMatchObject({ codec: "h264", pixFmt: "yuv420p", width: 128, height: 120, fps: 24, frames: 8 });
    expect(probe.video.colorPrimaries).toBe("bt709");
    expect(probe.video.colorSpace).toBe("bt709");
    expect(probe.audio).toMatchObject({ codec: "aac", sampleRate: 48_000, channels: 2 });
    expect(probe.audio!.durationSeconds).toBeGreaterThan(8 / 24 - 0.03);
    expect(probe.audio!.durationSeconds).toBeLessThan(8 / 24 + 0.03);
    expectOrderedProgress(rec.progress, 3);
    expect(result.model).toContain("LTX-2.3 pro");
    expect(result.metrics).toMatchObject({ ltx_frames_generated: 9, ltx_frames_written: 8, ltx_prompt_cache_hit: 0 });
    expect(result.metrics!.ltx_stage1_seconds).toBeGreaterThan(0);
    expect(rec.logs.some((l) => l.includes("peak GPU memory"))).toBe(true);
    firstOutput = rec.job.outputPath;
  }, 180_000);

  it("text-to-video/fast runs the fast flow with no start image: no conditioning frame, exact size and frames", async () => {
    const rec = makeJob({ endpoint: "fal-ai/ltx-2.3/text-to-video/fast", kind: "text-to-video", startImage: undefined, endImage: undefined });
    const result = await engine.generate(rec.job);
    const probe = await probeVideo(rec.job.outputPath);
    expect(probe.video).toMatchObject({ codec: "h264", width: 128, height: 120, fps: 24, frames: 8 });
    expect(probe.audio).toMatchObject({ codec: "aac", sampleRate: 48_000, channels: 2 });
    expect(result.model).toContain("LTX-2.3 fast");
    expect(rec.logs.some((l) => l.includes("text-to-video: no conditioning frame"))).toBe(true);
    expect(engine.serves).toContain("fal-ai/ltx-2.3/text-to-video");
    expect(engine.serves).not.toContain("fal-ai/ltx-2.3/audio-to-video");
  }, 180_000);

  it("runs the fast flow for the /fast endpoint and writes no audio stream when generate_audio is false", async () => {
    const rec = makeJob({ endpoint: FAST, fps: 25, numFrames: 16, durationSeconds: 16 / 25, width: 128, height: 128, generateAudio: false });
    const result = await engine.generate(rec.job);
    const probe = await probeVideo(rec.job.outputPath);
    expect(probe.video).toMatchObject({ width: 128, height: 128, fps: 25, frames: 16, pixFmt: "yuv420p" });
    expect(probe.audio).toBeUndefined();
    expectOrderedProgress(rec.progress, 8);
    expect(result.model).toContain("LTX-2.3 fast");
    expect(result.metrics).toMatchObject({ ltx_frames_generated: 17 });
  }, 180_000);

  it("gives identical frames for the same seed and different frames for another seed", async () => {
    const again = makeJob();
    const againResult = await engine.generate(again.job);
    // Same prompt as the first job: Gemma is skipped, the embeddings come from the worker's cache.
    expect(againResult.metrics).toMatchObject({ ltx_prompt_cache_hit: 1 });
    const other = makeJob({ seed: 43 });
    await engine.generate(other.job);
    const [a, b, c] = await Promise.all([decodedFrames(firstOutput), decodedFrames(again.job.outputPath), decodedFrames(other.job.outputPath)]);
    expect(a.length).toBe(128 * 120 * 3 * 8);
    expect(b.equals(a)).toBe(true);
    expect(c.equals(a)).toBe(false);
  }, 240_000);

  it("cancels mid-run between denoising steps, writes no file, and keeps the worker ready for the next job", async () => {
    const pidBefore = engine.workerPid();
    const rec = makeJob({}, (p, r) => {
      if (p.stage === "denoise-1" && p.step === 1) r.controller.abort();
    });
    await expect(engine.generate(rec.job)).rejects.toBeInstanceOf(CancelledError);
    expect(fs.existsSync(rec.job.outputPath)).toBe(false);
    // Stopped between steps: it never reached decoding or encoding.
    expect(rec.progress.some((p) => p.stage === "decode" || p.stage === "encode")).toBe(false);
    // The cancel latency is reported by the worker and by the engine; the grace is stated.
    expect(rec.logs.some((l) => /^INFO cancel honoured \d+ ms after it arrived/.test(l))).toBe(true);
    expect(rec.logs.some((l) => /^INFO Worker stopped \d+ ms after the cancel/.test(l))).toBe(true);
    expect(rec.logs.some((l) => /grace \d+ ms before SIGTERM/.test(l))).toBe(true);
    // Cooperative cancel: the same process serves the next job.
    expect(engine.workerPid()).toBe(pidBefore);
    const next = makeJob();
    await engine.generate(next.job);
    expect((await probeVideo(next.job.outputPath)).video.frames).toBe(8);
    expect(engine.workerPid()).toBe(pidBefore);
  }, 240_000);

  it("fails a job whose worker is killed with a retryable InfrastructureError, restarts the worker, and completes the next job", async () => {
    const pidBefore = engine.workerPid();
    expect(pidBefore).toBeTypeOf("number");
    const rec = makeJob({}, (p) => {
      if (p.stage === "denoise-1" && p.step === 1) process.kill(pidBefore!, "SIGKILL");
    });
    await expect(engine.generate(rec.job)).rejects.toBeInstanceOf(InfrastructureError);
    const next = makeJob();
    await engine.generate(next.job);
    const probe = await probeVideo(next.job.outputPath);
    expect(probe.video.frames).toBe(8);
    expect(engine.workerPid()).toBeTypeOf("number");
    expect(engine.workerPid()).not.toBe(pidBefore);
  }, 240_000);

  it("reports an unreadable start image as an input error", async () => {
    const bad = path.join(tmp, "not-an-image.png");
    await fsp.writeFile(bad, "this is not a PNG");
    const rec = makeJob({ startImage: { path: bad, width: 160, height: 90 } });
    await expect(engine.generate(rec.job)).rejects.toBeInstanceOf(InputError);
  }, 120_000);

  it("reports a model folder without weights as an engine error, not a retryable one", async () => {
    const empty = await fsp.mkdtemp(path.join(tmp, "empty-model-"));
    const broken = createLtxEngine(options({ ltxModelDir: empty }));
    try {
      const err = await broken.generate(makeJob().job).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(EngineError);
      expect((err as Error).message).toMatch(/model_index\.json/);
    } finally {
      await broken.close?.();
    }
  }, 120_000);
});
