// Manual smoke check of the `ltx-api` engine against the REAL hosted LTX API: one 6 s 1080p request
// (billed to the LTX account of LTX_API_KEY), then an ffprobe check of the MP4. Skips without a key.
// Usage: LTX_API_KEY=... npm run smoke:ltx-api -- [--fast] [--portrait] [--no-audio] [--image file.png] [--prompt "..."] [--out file.mp4]
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { loadConfig } from "../src/config.js";
import { createLtxApiEngine } from "../src/engines/ltx-api/index.js";
import { modelForEndpoint } from "../src/engines/ltx-api/mapping.js";
import type { EngineJob } from "../src/engines/types.js";
import { probeVideo } from "../src/media/probe.js";

const PRO = "fal-ai/ltx-2.3/image-to-video";
const FAST = "fal-ai/ltx-2.3/image-to-video/fast";
/** USD per second at 1080p (docs/ltx-hosted-api.md 1.11; reseller figures, not confirmed by Lightricks). */
const LIST_PRICE_1080P: Record<string, number> = { "ltx-2-3-pro": 0.08, "ltx-2-3-fast": 0.06 };

/** A landscape or portrait scene with some structure for the model to animate: sky, sun, sea, a boat. */
async function sceneImage(file: string, width: number, height: number): Promise<void> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1"><stop offset="0" stop-color="#1d3b73"/><stop offset="1" stop-color="#f4a261"/></linearGradient></defs>
    <rect width="100%" height="62%" fill="url(#sky)"/>
    <circle cx="${width * 0.65}" cy="${height * 0.5}" r="${Math.min(width, height) * 0.08}" fill="#ffd166"/>
    <rect y="${height * 0.62}" width="100%" height="38%" fill="#1b4965"/>
    <polygon points="${width * 0.3},${height * 0.7} ${width * 0.42},${height * 0.7} ${width * 0.4},${height * 0.75} ${width * 0.32},${height * 0.75}" fill="#2b2d42"/>
    <polygon points="${width * 0.36},${height * 0.56} ${width * 0.36},${height * 0.69} ${width * 0.41},${height * 0.69}" fill="#edf2f4"/>
  </svg>`;
  await sharp(Buffer.from(svg)).png().toFile(file);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      fast: { type: "boolean", default: false },
      portrait: { type: "boolean", default: false },
      "no-audio": { type: "boolean", default: false },
      image: { type: "string" },
      prompt: { type: "string", default: "A small sailing boat drifts across a calm sea at sunset, gentle waves, the sun slowly sinks" },
      out: { type: "string" },
    },
  });
  const config = loadConfig();
  const endpoint = values.fast ? FAST : PRO;
  const model = modelForEndpoint(endpoint);
  const seconds = 6;
  const estimate = (LIST_PRICE_1080P[model] * seconds).toFixed(2);
  if (!config.ltxApiKey) {
    console.log(`SKIPPED: LTX_API_KEY is not set. With a key this runs one real ${seconds} s 1080p request on ${model} (about $${estimate} on the LTX account).`);
    return 0;
  }

  const work = fs.mkdtempSync(path.join(os.tmpdir(), "smoke-ltx-api-"));
  const [width, height] = values.portrait ? [1080, 1920] : [1920, 1080];
  const startPath = values.image ? path.resolve(values.image) : path.join(work, "start.png");
  if (!values.image) await sceneImage(startPath, width, height);
  const meta = await sharp(startPath).metadata();
  if (meta.format !== "png") throw new Error(`--image must be a PNG (the engine uploads PNGs); got ${meta.format}`);
  const outputPath = path.resolve(values.out ?? path.join(work, "smoke.mp4"));
  const fps = 25;

  const engine = createLtxApiEngine(config);
  const controller = new AbortController();
  process.once("SIGINT", () => {
    console.log("\nCancelling (the hosted job cannot be cancelled remotely and may still be billed)...");
    controller.abort();
  });
  const job: EngineJob = {
    requestId: `smoke-${Date.now()}`,
    endpoint,
    prompt: values.prompt!,
    startImage: { path: startPath, width: meta.width ?? width, height: meta.height ?? height },
    width,
    height,
    fps,
    numFrames: seconds * fps,
    durationSeconds: seconds,
    generateAudio: !values["no-audio"],
    seed: 1,
    outputPath,
    workDir: work,
    signal: controller.signal,
    onProgress: (p) => console.log(`  progress ${p.stage} ${p.step}/${p.total}`),
    log: (level, message) => console.log(`  ${new Date().toISOString()} ${level} ${message}`),
  };
  console.log(`Smoke check: ${endpoint} -> ${model} at ${config.ltxApiUrl}, ${width}x${height}, ${fps} fps, ${seconds} s, audio ${job.generateAudio ? "on" : "off"} (about $${estimate})`);
  const began = performance.now();
  try {
    const result = await engine.generate(job);
    const probe = await probeVideo(outputPath, { ffprobePath: config.ffprobePath });
    console.log(`OK in ${((performance.now() - began) / 1000).toFixed(1)} s: ${outputPath}`);
    console.log(`  model ${result.model}; ${probe.video.codec} ${probe.video.width}x${probe.video.height}, ${probe.video.frames} frames at ${probe.video.fps} fps, ` +
      `${probe.durationSeconds.toFixed(3)} s, audio ${probe.audio ? `${probe.audio.codec} ${probe.audio.sampleRate} Hz ${probe.audio.channels} ch` : "none"}, ${probe.sizeBytes} bytes`);
    console.log(`  metrics ${JSON.stringify(result.metrics)}`);
    if (probe.video.frames !== job.numFrames) {
      console.log(`  NOTE: ${probe.video.frames} frames where exactly ${job.numFrames} were asked (accepted by the engine: within one frame)`);
    }
    return 0;
  } catch (err) {
    const e = err as Error & { errorType?: string; status?: number };
    console.error(`FAILED after ${((performance.now() - began) / 1000).toFixed(1)} s: ${e.name} (status ${e.status ?? "?"}, ${e.errorType ?? "no error_type"}): ${e.message}`);
    return 1;
  } finally {
    await engine.close?.();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
