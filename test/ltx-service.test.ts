// The `ltx` engine end to end through the service: the REAL service (LTX_MODEL_DIR set, so `ltx` serves both
// endpoints) runs the REAL Python worker on a tiny random model, and the official @fal-ai/client submits.
// fal's schema starts at 1080p / 6 s, so the model generates at LTX_RENDER_SCALE=1/16 of the output
// (120x67.5 on a 128x128 grid) and the worker upscales to exactly 1920x1080. Checked with ffprobe/ffmpeg.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ffmpegBinary } from "../src/media/ffmpeg.js";
import { probeVideo } from "../src/media/probe.js";
import { ENDPOINT, falClient, smallInput } from "./helpers/fal.js";
import { RUN_LTX_TESTS, buildTinyLtxModel, requireLtxVenv, warnIfLtxSkipped } from "./helpers/ltx-tiny-model.js";
import { startTestService, type TestService } from "./helpers/service.js";

warnIfLtxSkipped("ltx-service.test");

const FAST = `${ENDPOINT}/fast`;
const STAGE1_STEPS = 3;
const STAGE_ORDER = ["encode-prompt", "denoise-1", "upsample", "denoise-2", "decode", "encode"];

interface Progress {
  stage: string;
  step: number;
  total: number;
  percent: number;
}
type VideoResult = { video: { url: string; width: number; height: number; num_frames: number }; seed: number };
type StatusWithLogs = { status: string; error_type?: string; logs?: { message: string }[] | null };

let tmp: string;
let svc: TestService;

async function download(url: string, name: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  const file = path.join(tmp, name);
  await fsp.writeFile(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

/** sha256 of every frame as ffmpeg (not our code) decodes it: raw yuv420p, streamed (450 MB for 6 s of 1080p). */
function decodedFramesHash(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    const child = spawn(ffmpegBinary().path, ["-v", "error", "-i", file, "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    let bytes = 0;
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      bytes += chunk.length;
      hash.update(chunk);
    });
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) return reject(new Error(`ffmpeg exited with ${code}: ${stderr}`));
      if (bytes !== 1920 * 1080 * 1.5 * 144) return reject(new Error(`decoded ${bytes} bytes, expected 144 frames of 1920x1080 yuv420p`));
      resolve(hash.digest("hex"));
    });
  });
}

async function requestRecord(requestId: string): Promise<{ engine: string; model: string; cost_usd: number; error: { error_type: string } | null }> {
  const res = await fetch(`${svc.url}/api/requests?limit=100`, { headers: { authorization: `Key ${svc.key}` } });
  const list = (await res.json()) as { requests: { request_id: string; engine: string; model: string; cost_usd: number; error: { error_type: string } | null }[] };
  const found = list.requests.find((r) => r.request_id === requestId);
  expect(found, `request ${requestId} in /api/requests`).toBeDefined();
  return found!;
}

async function logsOf(endpoint: string, requestId: string): Promise<string> {
  const status = (await falClient(svc.url, svc.key).queue.status(endpoint, { requestId, logs: true })) as unknown as StatusWithLogs;
  return (status.logs ?? []).map((l) => l.message).join("\n");
}

/** Submits through the client (polling) and returns the result and the downloaded MP4. */
async function generate(endpoint: string, input: Record<string, unknown>, name: string) {
  const result = await falClient(svc.url, svc.key).subscribe(endpoint, { input: await smallInput(input), pollInterval: 250 });
  const data = result.data as VideoResult;
  return { requestId: result.requestId, data, file: await download(data.video.url, name) };
}

describe.skipIf(!RUN_LTX_TESTS)("ltx engine behind the service, through @fal-ai/client, on a tiny random model", () => {
  const seed = 4242;
  let firstHash: string;

  beforeAll(async () => {
    requireLtxVenv();
    tmp = await fsp.mkdtemp(path.join(os.tmpdir(), "ltx-service-"));
    const modelDir = await buildTinyLtxModel(path.join(tmp, "tiny-model"));
    svc = await startTestService({
      env: {
        LTX_MODEL_DIR: modelDir,
        LTX_DEVICE: "cpu",
        LTX_DTYPE: "fp32",
        LTX_RENDER_SCALE: "0.0625",
        LTX_STAGE1_STEPS: String(STAGE1_STEPS),
        LTX_MAX_SEQUENCE_LENGTH: "256",
        LTX_THREADS: "2",
        LTX_CANCEL_GRACE_MS: "10000",
        LTX_STARTUP_TIMEOUT_MS: "180000",
        RATE_LIMIT_PER_MINUTE: "0",
        // The tiny model's frames are noise, which libx264 veryfast encodes at ~8 fps in 1080p on two cores.
        X264_PRESET: "ultrafast",
      },
    });
  }, 240_000);

  afterAll(async () => {
    await svc?.close();
    if (tmp) await fsp.rm(tmp, { recursive: true, force: true });
  });

  it("streams progress events in stage order and delivers exactly 1920x1080, 144 frames at 24 fps with 48 kHz stereo AAC", async () => {
    const fal = falClient(svc.url, svc.key);
    const progress: Progress[] = [];
    const statuses: string[] = [];
    const logLines: string[] = [];
    const result = await fal.subscribe(ENDPOINT, {
      input: await smallInput({ seed, generate_audio: true }),
      mode: "streaming",
      logs: true,
      onQueueUpdate: (update) => {
        statuses.push(update.status);
        const u = update as typeof update & { progress?: Progress | null; logs?: { message: string }[] };
        if (u.progress) progress.push(u.progress);
        for (const l of u.logs ?? []) logLines.push(l.message);
      },
    });
    expect(statuses.at(-1)).toBe("COMPLETED");
    expect(statuses).toContain("IN_PROGRESS");

    // Each stage's last step is always stored, so every stage shows up on the stream, in order.
    expect(progress.map((p) => p.stage).filter((s, i, all) => all.indexOf(s) === i)).toEqual(STAGE_ORDER);
    for (let i = 1; i < progress.length; i++) {
      const [a, b] = [progress[i - 1]!, progress[i]!];
      if (a.stage === b.stage) expect(b.step).toBeGreaterThanOrEqual(a.step);
      else expect(STAGE_ORDER.indexOf(b.stage)).toBeGreaterThan(STAGE_ORDER.indexOf(a.stage));
    }
    for (const p of progress) expect(p.percent).toBe(Math.round((100 * p.step) / p.total));
    expect(progress.filter((p) => p.stage === "denoise-1").at(-1)).toMatchObject({ step: STAGE1_STEPS, total: STAGE1_STEPS, percent: 100 });
    expect(progress.filter((p) => p.stage === "denoise-2").at(-1)).toMatchObject({ step: 3, total: 3 });
    // The streamed logs carry the worker's own account of the render scale and the per-stage summary.
    const logs = logLines.join("\n");
    expect(logs).toMatch(/render scale 0\.0625 \(LTX_RENDER_SCALE 0\.0625\): the model generates 120x67\.5 \(grid 128x128\); the output is upscaled to 1920x1080/);
    expect(logs).toMatch(/grid=128x128 stage1=64x64 frames=145->144 fps=24/);
    expect(logs).toMatch(/LTX-2\.3 pro: .*encode_mp4/);

    const data = result.data as VideoResult;
    expect(data.seed).toBe(seed);
    const file = await download(data.video.url, "first.mp4");
    const probe = await probeVideo(file);
    expect(probe.video).toMatchObject({ codec: "h264", pixFmt: "yuv420p", width: 1920, height: 1080, fps: 24, frames: 144 });
    expect(probe.audio).toMatchObject({ codec: "aac", sampleRate: 48_000, channels: 2 });
    expect(probe.audio!.durationSeconds).toBeGreaterThan(6 - 0.05);
    expect(probe.audio!.durationSeconds).toBeLessThan(6 + 0.05);
    firstHash = await decodedFramesHash(file);
  }, 180_000);

  it("writes no audio stream when generate_audio is false, and the same seed gives identical frames", async () => {
    // Audio is always denoised with the video; generate_audio only skips decoding it, so the frames match.
    const again = await generate(ENDPOINT, { seed, generate_audio: false }, "same-seed.mp4");
    const probe = await probeVideo(again.file);
    expect(probe.video).toMatchObject({ width: 1920, height: 1080, fps: 24, frames: 144 });
    expect(probe.audio).toBeUndefined();
    expect(await decodedFramesHash(again.file)).toBe(firstHash);
  }, 180_000);

  it("runs the distilled fast flow for the /fast endpoint", async () => {
    const fast = await generate(FAST, { seed, generate_audio: false }, "fast.mp4");
    expect((await probeVideo(fast.file)).video).toMatchObject({ width: 1920, height: 1080, fps: 24, frames: 144 });
    const record = await requestRecord(fast.requestId);
    expect(record.engine).toBe("ltx");
    expect(record.model).toMatch(/LTX-2\.3 fast/);
    const logs = await logsOf(FAST, fast.requestId);
    expect(logs).toMatch(/flow=fast .* steps=8\+3/);
    expect(logs).not.toMatch(/flow=pro/);
  }, 180_000);

  it("cancels a running request through fal.queue.cancel and frees the worker: the next request, with another seed, completes on it with other frames", async () => {
    const fal = falClient(svc.url, svc.key);
    // 10 s at 50 fps: 500 full-HD frames to upscale and encode, far longer than the cancel takes to land.
    const { request_id } = await fal.queue.submit(ENDPOINT, { input: await smallInput({ duration: 10, fps: 50 }) });
    let status = (await fal.queue.status(ENDPOINT, { requestId: request_id })) as unknown as { status: string; progress?: Progress | null };
    for (let i = 0; i < 600 && !(status.status === "IN_PROGRESS" && status.progress); i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = (await fal.queue.status(ENDPOINT, { requestId: request_id })) as unknown as typeof status;
    }
    expect(status).toMatchObject({ status: "IN_PROGRESS" });
    await fal.queue.cancel(ENDPOINT, { requestId: request_id });
    let final = (await fal.queue.status(ENDPOINT, { requestId: request_id })) as unknown as StatusWithLogs;
    for (let i = 0; i < 300 && final.status !== "COMPLETED"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      final = (await fal.queue.status(ENDPOINT, { requestId: request_id })) as unknown as StatusWithLogs;
    }
    expect(final).toMatchObject({ status: "COMPLETED", error_type: "request_cancelled" });
    expect((await requestRecord(request_id)).cost_usd).toBe(0);
    const cancelledLogs = await logsOf(ENDPOINT, request_id);
    expect(cancelledLogs).toMatch(/Cancelling: asking the worker to stop/);
    // It stopped by itself at the next block: no SIGTERM was needed, so the model stays loaded.
    expect(cancelledLogs).toMatch(/Worker stopped \d+ ms after the cancel/);
    expect(cancelledLogs).not.toMatch(/did not stop within \d+ ms: SIGTERM/);

    const next = await generate(ENDPOINT, { seed: seed + 1, generate_audio: false }, "after-cancel.mp4");
    expect((await probeVideo(next.file)).video).toMatchObject({ width: 1920, height: 1080, fps: 24, frames: 144 });
    // Served by the same resident worker: no new start or model load.
    expect(await logsOf(ENDPOINT, next.requestId)).not.toMatch(/Starting the LTX-2\.3 worker/);
    // Another seed, other frames (the same seed gave identical ones above).
    expect(await decodedFramesHash(next.file)).not.toBe(firstHash);
    expect(fs.existsSync(path.join(svc.dataDir, "work", `${request_id}-1`))).toBe(false);
  }, 240_000);
});
