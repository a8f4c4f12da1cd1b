// Shared fixtures for the preview engine's tests: synthetic photos written as PNG, engine jobs in temp
// folders, and helpers that decode an MP4 with ffmpeg (never with our own code) to check what it holds.
import { execFile } from "node:child_process";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";
import { afterAll, beforeAll } from "vitest";
import { createPreviewEngine } from "../src/engines/preview/index.js";
import type { Engine, EngineJob, EngineProgress } from "../src/engines/types.js";
import { ffmpegBinary } from "../src/media/ffmpeg.js";

const run = promisify(execFile);

/**
 * A deterministic picture with smooth gradients, soft shapes and mild texture, like a photo's mix of
 * flat and detailed areas. `variant` changes colours and layout so start and end images differ.
 */
export async function writeTestPhoto(file: string, width: number, height: number, variant = 0): Promise<void> {
  const rgb = Buffer.alloc(width * height * 3);
  const cx = width * (0.35 + 0.3 * variant);
  const cy = height * (0.45 - 0.1 * variant);
  const r = Math.min(width, height) * 0.25;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const gx = x / width;
      const gy = y / height;
      const d = Math.hypot(x - cx, y - cy);
      const disc = 1 / (1 + Math.exp((d - r) / 3));
      const texture = 12 * Math.sin(x * 0.21 + variant) * Math.sin(y * 0.17);
      const stripes = y > height * 0.7 ? 30 * Math.sin((x + y) * 0.09) : 0;
      const base = variant === 0 ? [40 + 150 * gx, 70 + 120 * gy, 170 - 100 * gx] : [200 - 120 * gy, 60 + 80 * gx, 60 + 150 * gy];
      const shape = variant === 0 ? [230, 190, 60] : [40, 160, 220];
      for (let c = 0; c < 3; c++) {
        const v = base[c] * (1 - disc) + shape[c] * disc + texture + stripes;
        rgb[i + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
    }
  }
  await sharp(rgb, { raw: { width, height, channels: 3 } }).png().toFile(file);
}

export interface TestJob extends EngineJob {
  progress: EngineProgress[];
  logs: string[];
  abort(): void;
}

/** A temp folder for one test, removed by the returned cleanup. */
export async function tempDir(prefix = "preview-test-"): Promise<{ dir: string; cleanup(): Promise<void> }> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => fsp.rm(dir, { recursive: true, force: true }) };
}

/**
 * A preview engine and a temp folder shared by one test file: created before its tests, closed and
 * removed after them. `dir` is set once the file's tests start.
 */
export function usePreviewEngine(x264Preset: string): { engine: Engine; dir: string } {
  const suite = { engine: createPreviewEngine({ concurrency: 1, x264Preset }) as Engine, dir: "" };
  let cleanup: () => Promise<void> = async () => {};
  beforeAll(async () => {
    ({ dir: suite.dir, cleanup } = await tempDir());
  });
  afterAll(async () => {
    await suite.engine.close?.();
    await cleanup();
  });
  return suite;
}

/** Builds an engine job (with images written in `dir`) for a small output. */
export async function makeJob(dir: string, overrides: Partial<EngineJob> & { name?: string; withEnd?: boolean } = {}): Promise<TestJob> {
  const startPath = path.join(dir, "start.png");
  const endPath = path.join(dir, "end.png");
  await fsp.access(startPath).catch(() => writeTestPhoto(startPath, 640, 480, 0));
  if (overrides.withEnd) await fsp.access(endPath).catch(() => writeTestPhoto(endPath, 480, 640, 1));
  const controller = new AbortController();
  const progress: EngineProgress[] = [];
  const logs: string[] = [];
  const width = overrides.width ?? 320;
  const height = overrides.height ?? 180;
  const fps = overrides.fps ?? 25;
  const numFrames = overrides.numFrames ?? fps;
  const { name, withEnd, ...rest } = overrides;
  return {
    requestId: `test-${name ?? "job"}`,
    endpoint: "fal-ai/ltx-2.3/image-to-video",
    prompt: "A quiet lake at dawn",
    startImage: { path: startPath, width: 640, height: 480 },
    endImage: withEnd ? { path: endPath, width: 480, height: 640 } : undefined,
    width,
    height,
    fps,
    numFrames,
    durationSeconds: numFrames / fps,
    generateAudio: true,
    seed: 1234,
    outputPath: path.join(dir, `${name ?? "out"}.mp4`),
    workDir: dir,
    signal: controller.signal,
    onProgress: (p) => progress.push(p),
    log: (level, message) => logs.push(`${level} ${message}`),
    progress,
    logs,
    abort: () => controller.abort(),
    ...rest,
  };
}

/** Decodes chosen frames of a video to packed RGB with ffmpeg (BT.709 limited range, as tagged). */
export async function decodeFramesRgb(video: string, indices: number[], width: number, height: number): Promise<Buffer[]> {
  const select = indices.map((i) => `eq(n\\,${i})`).join("+");
  const { stdout } = await run(
    ffmpegBinary().path,
    ["-v", "error", "-i", video, "-vf", `select='${select}',scale=in_color_matrix=bt709:in_range=tv:out_range=pc:flags=accurate_rnd+full_chroma_int,format=rgb24`, "-vsync", "0", "-f", "rawvideo", "pipe:1"],
    { encoding: "buffer", maxBuffer: 512 * 1024 * 1024 },
  );
  const size = width * height * 3;
  if (stdout.length !== size * indices.length) throw new Error(`decoded ${stdout.length} bytes, expected ${size * indices.length}`);
  return indices.map((_, k) => stdout.subarray(k * size, (k + 1) * size));
}

/** The image cover-scaled and centre-cropped to width x height, as packed RGB (the reference for PSNR). */
export async function coverCropRgb(file: string, width: number, height: number): Promise<Buffer> {
  return sharp(file).resize(width, height, { fit: "cover", position: "centre" }).removeAlpha().raw().toBuffer();
}

export function psnr(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) throw new Error(`size mismatch ${a.length} vs ${b.length}`);
  let se = 0;
  for (let i = 0; i < a.length; i++) {
    const d = a[i] - b[i];
    se += d * d;
  }
  const mse = se / a.length;
  return mse === 0 ? Infinity : 10 * Math.log10((255 * 255) / mse);
}

/** Integrated loudness and sample peak of a file's audio, measured by ffmpeg's ebur128 filter. */
export async function measureLoudness(video: string): Promise<{ integrated: number; samplePeakDb: number }> {
  const { stderr } = await run(ffmpegBinary().path, ["-hide_banner", "-nostats", "-i", video, "-map", "0:a:0", "-af", "ebur128=peak=sample", "-f", "null", "-"], {
    maxBuffer: 64 * 1024 * 1024,
  });
  const summary = stderr.slice(stderr.lastIndexOf("Summary:"));
  const integrated = Number(/I:\s+(-?[\d.]+) LUFS/.exec(summary)?.[1]);
  const samplePeakDb = Number(/Peak:\s+(-?[\d.]+|-inf) dBFS/.exec(summary)?.[1]);
  return { integrated, samplePeakDb };
}
