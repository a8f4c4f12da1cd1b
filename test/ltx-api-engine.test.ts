// The real `ltx-api` engine against the TEST DOUBLE of the hosted LTX API on 127.0.0.1: successful
// generations (with and without end image, portrait, Fast), polling, concurrency and the output check.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { EngineError } from "../src/errors.js";
import { createLtxApiEngine, type LtxApiEngineOptions } from "../src/engines/ltx-api/index.js";
import type { EngineJob, EngineProgress, LogLevel } from "../src/engines/types.js";
import { probeVideo } from "../src/media/probe.js";
import { startLtxApiDouble, type LtxApiDouble } from "./doubles/ltx-hosted-api.js";

const PRO = "fal-ai/ltx-2.3/image-to-video";
const FAST = "fal-ai/ltx-2.3/image-to-video/fast";

let dir: string;
let landscapePng: string;
let portraitPng: string;
let endPng: string;
let double: LtxApiDouble;

type RecordingJob = EngineJob & { logs: { level: LogLevel; message: string }[]; progress: EngineProgress[] };

async function png(file: string, width: number, height: number, color: { r: number; g: number; b: number }) {
  await sharp({ create: { width, height, channels: 3, background: color } }).png().toFile(file);
  return file;
}

function job(over: Partial<EngineJob> = {}): RecordingJob {
  const logs: RecordingJob["logs"] = [];
  const progress: EngineProgress[] = [];
  const name = `job-${Math.random().toString(36).slice(2)}`;
  return {
    requestId: name,
    endpoint: PRO,
    prompt: "The camera pushes in slowly as waves roll onto the beach",
    startImage: { path: landscapePng, width: 1280, height: 720 },
    width: 1920,
    height: 1080,
    fps: 25,
    numFrames: 150,
    durationSeconds: 6,
    generateAudio: true,
    seed: 42,
    outputPath: path.join(dir, `${name}.mp4`),
    workDir: dir,
    signal: new AbortController().signal,
    onProgress: (p) => progress.push(p),
    log: (level, message) => logs.push({ level, message }),
    ...over,
    logs,
    progress,
  };
}

function engineFor(d: LtxApiDouble, over: Partial<LtxApiEngineOptions> = {}) {
  return createLtxApiEngine({
    ltxApiKey: d.apiKey,
    ltxApiUrl: d.url,
    ltxApiConcurrency: 2,
    ltxApiPollIntervalMs: 20,
    ltxApiJobDeadlineMs: 240_000,
    ltxApiMaxRetries: 3,
    ltxApiRequestTimeoutMs: 30_000,
    retryBaseMs: 10,
    ...over,
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-api-engine-"));
  landscapePng = await png(path.join(dir, "start.png"), 1280, 720, { r: 30, g: 90, b: 160 });
  portraitPng = await png(path.join(dir, "portrait.png"), 720, 1280, { r: 160, g: 90, b: 30 });
  endPng = await png(path.join(dir, "end.png"), 1024, 576, { r: 20, g: 160, b: 60 });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
beforeEach(async () => {
  double = await startLtxApiDouble({ pendingPolls: 2, processingPolls: 3 });
});
afterEach(async () => {
  await double.close();
});

describe("ltx-api engine against the hosted API double", () => {
  it("uploads the start image, submits the exact v2 request, polls to completion and writes an MP4 that probes as asked", async () => {
    const engine = engineFor(double);
    expect(engine.name).toBe("ltx-api");
    expect(engine.concurrency).toBe(2);
    const j = job();
    const result = await engine.generate(j);

    expect(result.model).toBe("ltx-2-3-pro");
    const [submit] = double.callsTo("submit");
    const storageUri = [...double.uploads.keys()][0];
    expect(submit.json).toEqual({
      image_uri: storageUri,
      prompt: j.prompt,
      model: "ltx-2-3-pro",
      duration: 6,
      resolution: "1920x1080",
      fps: 25,
      generate_audio: true,
    });
    expect(double.uploads.get(storageUri)).toMatchObject({ contentType: "image/png", width: 1280, height: 720 });
    expect(double.callsTo("upload-put")[0].headers["x-ms-blob-type"]).toBe("BlockBlob");
    expect(double.callsTo("upload-put")[0].headers.authorization).toBeUndefined();
    for (const c of [...double.callsTo("upload-slot"), ...double.callsTo("submit"), ...double.callsTo("status")]) {
      expect(c.headers.authorization).toBe(`Bearer ${double.apiKey}`);
    }

    const probe = await probeVideo(j.outputPath);
    expect(probe.video).toMatchObject({ codec: "h264", width: 1920, height: 1080, fps: 25, frames: 150 });
    expect(probe.audio?.codec).toBe("aac");

    const hostedId = [...double.jobs.keys()][0];
    const text = j.logs.map((l) => l.message).join("\n");
    expect(text).toContain(`Hosted LTX job ${hostedId} submitted`);
    for (const state of ["pending", "processing", "completed"]) expect(text).toContain(`Hosted LTX job ${hostedId}: ${state}`);
    expect(text).toMatch(/Seed 42 is not passed/);
    expect(j.progress.at(-1)).toEqual({ stage: "hosted", step: 6, total: 6 });
    expect(j.progress.map((p) => p.step)).toEqual([...j.progress.map((p) => p.step)].sort((a, b) => a - b));
    expect(result.metrics?.ltx_api_output_frames).toBe(150);
  });

  it("polls at the configured pace until the job leaves pending and processing, logging each state once", async () => {
    const engine = engineFor(double);
    const j = job();
    const result = await engine.generate(j);
    // pendingPolls 2 + processingPolls 3, then completed once the video is rendered.
    const polls = double.callsTo("status").length;
    expect(polls).toBeGreaterThanOrEqual(6);
    expect(result.metrics?.ltx_api_polls).toBe(polls);
    const stateLines = j.logs.filter((l) => /Hosted LTX job [\w-]+: \w+$/.test(l.message)).map((l) => l.message.split(": ").at(-1));
    expect(stateLines).toEqual(["pending", "processing", "completed"]);
    const times = double.callsTo("status").map((c) => c.at);
    for (let i = 1; i < times.length; i++) expect(times[i] - times[i - 1]).toBeGreaterThanOrEqual(15);
  });

  it("sends the end image as last_frame_uri and maps the Fast endpoint, silence and camera motion", async () => {
    const engine = engineFor(double);
    const j = job({
      endpoint: FAST,
      endImage: { path: endPng, width: 1024, height: 576 },
      generateAudio: false,
      cameraMotion: "dolly_in",
      durationSeconds: 6,
    });
    const result = await engine.generate(j);
    expect(result.model).toBe("ltx-2-3-fast");
    const body = double.callsTo("submit")[0].json as Record<string, unknown>;
    expect(body).toMatchObject({ model: "ltx-2-3-fast", generate_audio: false, camera_motion: "dolly_in", resolution: "1920x1080", fps: 25 });
    expect(body).not.toHaveProperty("seed");
    expect(double.uploads.get(body.last_frame_uri as string)).toMatchObject({ width: 1024, height: 576 });
    expect(double.uploads.get(body.image_uri as string)).toMatchObject({ width: 1280, height: 720 });
    const probe = await probeVideo(j.outputPath);
    expect(probe.audio).toBeUndefined();
    expect(probe.video.frames).toBe(150);
  });

  it("asks for the swapped resolution for portrait output and gets a portrait MP4", async () => {
    const engine = engineFor(double);
    const j = job({ startImage: { path: portraitPng, width: 720, height: 1280 }, width: 1080, height: 1920, fps: 24, numFrames: 144, generateAudio: false });
    await engine.generate(j);
    expect(double.callsTo("submit")[0].json).toMatchObject({ resolution: "1080x1920", fps: 24 });
    const probe = await probeVideo(j.outputPath);
    expect(probe.video).toMatchObject({ width: 1080, height: 1920, fps: 24, frames: 144 });
  });

  it("never has more jobs in flight at the hosted API than its concurrency, even when called more often", async () => {
    const engine = engineFor(double, { ltxApiConcurrency: 2 });
    const jobs = [job(), job(), job(), job()];
    const results = await Promise.all(jobs.map((j) => engine.generate(j)));
    expect(results.map((r) => r.model)).toEqual(Array(4).fill("ltx-2-3-pro"));
    expect(double.jobs.size).toBe(4);
    expect(double.maxActiveJobs()).toBe(2);
    // The double answers 429 concurrency_limit_error beyond two unfinished jobs: none was needed.
    expect(double.calls.filter((c) => c.status === 429)).toEqual([]);
    expect(jobs.some((j) => j.logs.some((l) => l.message.includes("Waiting for one of 2 LTX API slots")))).toBe(true);
  });

  it("rejects a hosted video that does not match the request after probing it", async () => {
    double.scriptJobs({ videoOverride: { fps: 24 } });
    const engine = engineFor(double);
    const j = job();
    const err = await engine.generate(j).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EngineError);
    expect((err as Error).message).toMatch(/does not match the request: 24 fps instead of 25; 144 frames/);
  });
});
