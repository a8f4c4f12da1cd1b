// Benchmark of the preview engine against the bare encoder (`npm run bench:engine`). For each case it
// times (1) the whole engine job as the service runs it, from the compiled dist/ (fork, pictures, audio,
// frames, encode) and (2) the same ffmpeg with the same settings fed the same, already-made raw frames
// from memory through its pipe, in the same run; it prints both, their ratio and our peak memory.
//
// Options: --only 1080p|2160p   --repeat N (best of N, default 1)   --preset NAME (default veryfast)
//          --png-level N (zlib level of the 12 MP input PNG, default 0 as the worker writes it)
//          --presets a,b,c      (encoder-only comparison of x264 presets at 2160p50 10 s)
import { spawn } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import sharp from "sharp";
import type * as EngineModule from "../src/engines/preview/index.js";
import type * as RenderModule from "../src/engines/preview/render.js";
import type * as AudioModule from "../src/engines/preview/audio.js";
import type * as EncoderModule from "../src/media/encoder.js";
import type * as FfmpegModule from "../src/media/ffmpeg.js";
import type { EngineJob } from "../src/engines/types.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const dist = path.join(root, "dist");
async function load<T>(rel: string): Promise<T> {
  const file = path.join(dist, rel);
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run \`npm run build\` first (npm run bench:engine does)`);
  return (await import(pathToFileURL(file).href)) as T;
}
const { createPreviewEngine } = await load<typeof EngineModule>("engines/preview/index.js");
const { prepareRenderer } = await load<typeof RenderModule>("engines/preview/render.js");
const { synthesizeAudioBed, AUDIO_SAMPLE_RATE } = await load<typeof AudioModule>("engines/preview/audio.js");
const { encoderArgs, wavFile, watchPeakRss } = await load<typeof EncoderModule>("media/encoder.js");
const { ffmpegBinary } = await load<typeof FfmpegModule>("media/ffmpeg.js");

interface Case {
  name: string;
  width: number;
  height: number;
  fps: number;
  seconds: number;
  audio: boolean;
}

const args = process.argv.slice(2);
const opt = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const repeat = Number(opt("repeat") ?? 1);
const preset = opt("preset") ?? "veryfast";
const only = opt("only");
const presets = opt("presets")?.split(",");
/** zlib level of the input PNG; the worker's image preparation writes level 0 (src/media/image.ts). */
const pngLevel = Number(opt("png-level") ?? 0);

const CASES: Case[] = [
  { name: "1080p 25 fps 6 s", width: 1920, height: 1080, fps: 25, seconds: 6, audio: false },
  { name: "1080p 25 fps 6 s + audio", width: 1920, height: 1080, fps: 25, seconds: 6, audio: true },
  { name: "2160p 50 fps 10 s", width: 3840, height: 2160, fps: 50, seconds: 10, audio: false },
  { name: "2160p 50 fps 10 s + audio", width: 3840, height: 2160, fps: 50, seconds: 10, audio: true },
].filter((c) => !only || c.name.startsWith(only));

const PROMPT = "Slow push in on a harbour at dusk, waves against the wall";
const SEED = 20240601;

/** A 12-megapixel photo-like picture: fractal value noise in colour over gradients, with fine grain. */
async function writeBenchPhoto(file: string): Promise<void> {
  const w = 4032;
  const h = 3024;
  const layers = await Promise.all(
    [8, 32, 128, 512].map(async (cells, k) => {
      const cw = Math.max(2, Math.round((cells * w) / h));
      const raw = Buffer.alloc(cw * cells * 3);
      let s = 12345 + k * 777;
      for (let i = 0; i < raw.length; i++) {
        s = (Math.imul(s, 1103515245) + 12345) | 0;
        raw[i] = (s >>> 16) & 255;
      }
      return sharp(raw, { raw: { width: cw, height: cells, channels: 3 } }).resize(w, h, { kernel: "cubic" }).raw().toBuffer();
    }),
  );
  const out = Buffer.alloc(w * h * 3);
  const weights = [0.5, 0.25, 0.15, 0.1];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      const sky = y / h;
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (let k = 0; k < 4; k++) v += weights[k] * layers[k][i + c];
        const tint = c === 0 ? 40 + 120 * sky : c === 1 ? 70 + 60 * sky : 150 - 60 * sky;
        out[i + c] = Math.max(0, Math.min(255, Math.round(0.6 * v + 0.4 * tint)));
      }
    }
  }
  await sharp(out, { raw: { width: w, height: h, channels: 3 } }).png({ compressionLevel: pngLevel }).toFile(file);
}

interface Measured {
  wall: number;
  /** CPU seconds (user + system) of every process of the run. */
  cpu: number;
  peakRssBytes?: number;
}

type PreviewEngine = ReturnType<typeof createPreviewEngine>;

async function runEngine(engine: PreviewEngine, c: Case, dir: string, photo: string): Promise<Measured & { metrics: Record<string, number> }> {
  // As in the service: the engine is long-lived and has a child process started before the job comes.
  await engine.ready();
  const controller = new AbortController();
  const job: EngineJob = {
    requestId: "bench",
    endpoint: "fal-ai/ltx-2.3/image-to-video",
    prompt: PROMPT,
    startImage: { path: photo, width: 4032, height: 3024 },
    width: c.width,
    height: c.height,
    fps: c.fps,
    numFrames: c.fps * c.seconds,
    durationSeconds: c.seconds,
    generateAudio: c.audio,
    seed: SEED,
    outputPath: path.join(dir, "ours.mp4"),
    workDir: dir,
    signal: controller.signal,
    onProgress: () => {},
    log: () => {},
  };
  const t0 = performance.now();
  const result = await engine.generate(job);
  const wall = (performance.now() - t0) / 1000;
  // Let the next pre-started child finish loading before anything else is timed.
  await engine.ready();
  const metrics = result.metrics ?? {};
  return { wall, peakRssBytes: metrics.peakRssBytes, cpu: (metrics.childCpuSeconds ?? 0) + (metrics.ffmpegCpuSeconds ?? 0), metrics };
}

/**
 * Renders the clip's frames once, with the engine's own renderer, into memory (6.2 GB for 2160p50 10 s:
 * frames in RAM are the cheapest possible input, so the bare encoder is never slowed by its feeder), and
 * writes the audio bed to a WAV file, as the engine does.
 */
async function makeRawInputs(c: Case, dir: string, photo: string): Promise<{ frames: Buffer[]; audio?: string }> {
  const spec = {
    prompt: PROMPT,
    startImagePath: photo,
    width: c.width,
    height: c.height,
    fps: c.fps,
    numFrames: c.fps * c.seconds,
    generateAudio: c.audio,
    seed: SEED,
    outputPath: path.join(dir, "unused.mp4"),
    workDir: dir,
    x264Preset: preset,
  };
  const renderer = await prepareRenderer(spec, 1);
  const frames: Buffer[] = [];
  for (let n = 0; n < spec.numFrames; n++) {
    renderer.render(n, renderer.frames[0]);
    frames.push(Buffer.from(renderer.frames[0]));
  }
  let audio: string | undefined;
  if (c.audio) {
    audio = path.join(dir, `audio-${c.seconds}.wav`);
    const bed = synthesizeAudioBed({ prompt: PROMPT, seed: SEED, samples: Math.round(c.seconds * AUDIO_SAMPLE_RATE) });
    await fsp.writeFile(audio, wavFile(bed.pcm, AUDIO_SAMPLE_RATE, 2));
  }
  return { frames, audio };
}

/** The bare encoder: the same ffmpeg and arguments, the already-made frames written to its pipe as the engine writes them. */
async function runBare(c: Case, dir: string, inputs: { frames: Buffer[]; audio?: string }, x264Preset: string): Promise<Measured & { bytes: number }> {
  const outputPath = path.join(dir, "bare.mp4");
  const argv = encoderArgs({ width: c.width, height: c.height, fps: c.fps, preset: x264Preset, audioPath: inputs.audio, outputPath });
  const t0 = performance.now();
  const proc = spawn(ffmpegBinary().path, argv, { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr!.on("data", (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => proc.on("close", resolve));
  const memory = watchPeakRss(proc);
  const stdin = proc.stdin!;
  // Two frames in flight, like the engine's frame pool.
  const inFlight: Promise<void>[] = [];
  for (const [n, frame] of inputs.frames.entries()) {
    await inFlight[n % 2];
    inFlight[n % 2] = new Promise<void>((resolve, reject) => stdin.write(frame, (err) => (err ? reject(err) : resolve())));
  }
  await Promise.all(inFlight);
  stdin.end();
  const code = await exited;
  const wall = (performance.now() - t0) / 1000;
  if (code !== 0) throw new Error(`bare ffmpeg failed: ${stderr.slice(-2000)}`);
  // Not ffmpeg's maxrss: that would include this process's gigabytes of frames, copied at fork.
  const maxrss = memory.stop() ?? 0;
  const cpu = Number(/utime=([\d.]+)s/.exec(stderr)?.[1] ?? 0) + Number(/stime=([\d.]+)s/.exec(stderr)?.[1] ?? 0);
  return { wall, cpu, peakRssBytes: maxrss, bytes: (await fsp.stat(outputPath)).size };
}

const fmt = (x: number, d = 2) => x.toFixed(d);
const mb = (b?: number) => (b ? `${Math.round(b / 2 ** 20)} MB` : "-");

async function main(): Promise<void> {
  const ff = ffmpegBinary();
  console.log(`preview engine benchmark: ffmpeg ${ff.version} (${ff.source}), x264 preset ${preset}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), node ${process.version}`);
  console.log(`input: 4032x3024 photo-like PNG (zlib level ${pngLevel}), prompt ${JSON.stringify(PROMPT)}`);
  console.log(`load average at start: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), "ltx-bench-"));
  try {
    const photo = path.join(dir, "photo.png");
    await writeBenchPhoto(photo);

    if (presets) {
      const c: Case = { name: "2160p 50 fps 10 s", width: 3840, height: 2160, fps: 50, seconds: 10, audio: false };
      const inputs = await makeRawInputs(c, dir, photo);
      console.log(`\nbare encoder by x264 preset, ${c.name} (best of ${repeat}):`);
      console.log(["preset", "encode s", "x realtime", "MB out", "peak RSS"].join("\t"));
      for (const p of presets) {
        let best: (Measured & { bytes: number }) | undefined;
        for (let r = 0; r < repeat; r++) {
          const m = await runBare(c, dir, inputs, p);
          if (!best || m.wall < best.wall) best = m;
        }
        console.log([p, fmt(best!.wall), fmt(c.seconds / best!.wall), fmt(best!.bytes / 2 ** 20, 1), mb(best!.peakRssBytes)].join("\t"));
      }
      return;
    }

    const engine = createPreviewEngine({ concurrency: 1, x264Preset: preset });
    const rows: string[][] = [];
    try {
      for (const c of CASES) {
        const inputs = await makeRawInputs(c, dir, photo);
        let bare: Measured | undefined;
        let ours: (Measured & { metrics: Record<string, number> }) | undefined;
        const pairRatios: number[] = [];
        // Alternate the two so that background load hits both alike; keep the best of each, and the
        // ratio of each back-to-back pair (steadier on a shared machine than the ratio of the bests).
        for (let r = 0; r < repeat; r++) {
          await engine.ready();
          const b = await runBare(c, dir, inputs, preset);
          if (!bare || b.wall < bare.wall) bare = b;
          const o = await runEngine(engine, c, dir, photo);
          if (!ours || o.wall < ours.wall) ours = o;
          pairRatios.push(o.wall / b.wall);
        }
        pairRatios.sort((a, b) => a - b);
        const medianPair = pairRatios[Math.floor((pairRatios.length - 1) / 2)];
        const m = ours!.metrics;
        const row = [
          c.name,
          fmt(ours!.wall),
          fmt(bare!.wall),
          fmt(ours!.wall / bare!.wall),
          fmt(medianPair),
          fmt(ours!.cpu / bare!.cpu),
          mb(ours!.peakRssBytes),
          `${mb(m.childMaxRssBytes)} + ${mb(m.ffmpegMaxRssBytes)}`,
          fmt(m.renderCpuSeconds ?? 0),
          fmt(m.prepareSeconds ?? 0),
        ];
        rows.push(row);
        // Let go of the case's frames (gigabytes at 2160p) before the next case renders its own.
        inputs.frames.length = 0;
        console.log(
          `${c.name}: ours ${row[1]} s, bare encoder ${row[2]} s, ratio ${row[3]} (median of pairs ${row[4]}, CPU ratio ${row[5]}), our peak RSS ${row[6]} (child + ffmpeg: ${row[7]}), frame rendering ${row[8]} s CPU, prepare ${row[9]} s`,
        );
      }
    } finally {
      await engine.close?.();
    }
    console.log(`\n| case | ours (s) | bare encoder (s) | ratio | median pair ratio | CPU ratio | our peak RSS | child + ffmpeg | frame rendering CPU (s) | prepare (s) |`);
    console.log(`|---|---|---|---|---|---|---|---|---|---|`);
    for (const r of rows) console.log(`| ${r.join(" | ")} |`);
    console.log(`\ntimes: best of ${repeat} runs each; ratio = best ours / best bare; load average at end: ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

await main();
