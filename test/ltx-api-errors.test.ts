// Failure handling of the real `ltx-api` engine against the TEST DOUBLE of the hosted LTX API:
// 429/503 with Retry-After, 5xx then success, exhausted retries, safety filter, invalid input,
// 401, 402, failed jobs, a job that never finishes (deadline) and cancellation of a running job.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CancelledError, EngineError, InfrastructureError, InputError, isRetryable, toWireError } from "../src/errors.js";
import { createLtxApiEngine, type LtxApiEngineOptions } from "../src/engines/ltx-api/index.js";
import {
  LTX_API_JOB_FAILED,
  LTX_API_UNAVAILABLE,
  LtxApiAuthenticationError,
  LtxApiDeadlineError,
  LtxApiInsufficientFundsError,
} from "../src/engines/ltx-api/errors.js";
import type { EngineJob, LogLevel } from "../src/engines/types.js";
import { probeVideo } from "../src/media/probe.js";
import { startLtxApiDouble, type LtxApiDouble } from "./doubles/ltx-hosted-api.js";

let dir: string;
let startPng: string;
let double: LtxApiDouble;

type RecordingJob = EngineJob & { logs: { level: LogLevel; message: string }[] };

function job(over: Partial<EngineJob> = {}): RecordingJob {
  const logs: RecordingJob["logs"] = [];
  const name = `job-${Math.random().toString(36).slice(2)}`;
  return {
    requestId: name,
    endpoint: "fal-ai/ltx-2.3/image-to-video",
    prompt: "A lighthouse at dusk, waves crashing",
    startImage: { path: startPng, width: 1280, height: 720 },
    width: 1920,
    height: 1080,
    fps: 25,
    numFrames: 150,
    durationSeconds: 6,
    generateAudio: true,
    seed: 7,
    outputPath: path.join(dir, `${name}.mp4`),
    workDir: dir,
    signal: new AbortController().signal,
    onProgress: () => {},
    log: (level, message) => logs.push({ level, message }),
    ...over,
    logs,
  };
}

function engineFor(d: LtxApiDouble, over: Partial<LtxApiEngineOptions> = {}) {
  return createLtxApiEngine({
    ltxApiKey: d.apiKey,
    ltxApiUrl: d.url,
    ltxApiPollIntervalMs: 20,
    ltxApiJobDeadlineMs: 240_000,
    ltxApiMaxRetries: 3,
    ltxApiRequestTimeoutMs: 30_000,
    retryBaseMs: 10,
    ...over,
  });
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(outcome instanceof Error)) throw new Error("expected the job to fail, but it succeeded");
  return outcome;
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-api-errors-"));
  startPng = path.join(dir, "start.png");
  await sharp({ create: { width: 1280, height: 720, channels: 3, background: { r: 200, g: 120, b: 40 } } }).png().toFile(startPng);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
beforeEach(async () => {
  double = await startLtxApiDouble();
});
afterEach(async () => {
  await double.close();
});

describe("ltx-api engine retries what a wait can fix", () => {
  it("waits out a 429 concurrency limit for its Retry-After and then submits once more, creating one hosted job", async () => {
    double.script("submit", { status: 429, errorType: "concurrency_limit_error", retryAfter: "1", message: "Too many concurrent generations" });
    const j = job();
    await engineFor(double).generate(j);
    const submits = double.callsTo("submit");
    expect(submits.map((c) => c.status)).toEqual([429, 202]);
    expect(submits[1].at - submits[0].at).toBeGreaterThanOrEqual(950);
    expect(double.jobs.size).toBe(1);
    expect(j.logs.some((l) => l.level === "WARN" && /submit: HTTP 429 concurrency_limit_error .*retrying in 1\.\d s/.test(l.message))).toBe(true);
    expect((await probeVideo(j.outputPath)).video.frames).toBe(150);
  });

  it("keeps waiting through more 429 and 503 answers than the 5xx retry limit allows, since they do not count against it", async () => {
    double.script("status", ...Array.from({ length: 5 }, (_, i) => ({ status: i % 2 ? 503 : 429, retryAfter: "0" })));
    const j = job();
    await engineFor(double, { ltxApiMaxRetries: 1 }).generate(j);
    expect(double.callsTo("status").filter((c) => c.status === 429 || c.status === 503)).toHaveLength(5);
    expect(j.logs.filter((l) => /rate or capacity limit/.test(l.message))).toHaveLength(5);
  });

  it("retries 5xx answers and dropped connections on every call and then succeeds", async () => {
    double.script("upload-slot", { status: 500 });
    double.script("submit", { status: 502, errorType: "api_error" });
    double.script("status", { status: 500 }, { status: 0, drop: true });
    const j = job();
    await engineFor(double).generate(j);
    expect(double.callsTo("upload-slot").map((c) => c.status)).toEqual([500, 200]);
    expect(double.callsTo("submit").map((c) => c.status)).toEqual([502, 202]);
    expect(double.callsTo("status").slice(0, 2).map((c) => c.status)).toEqual([500, -2]);
    expect(double.jobs.size).toBe(1);
    expect((await probeVideo(j.outputPath)).video).toMatchObject({ width: 1920, height: 1080 });
  });

  it("gives up after the bounded number of 5xx retries with a retryable infrastructure error", async () => {
    double.script("submit", ...Array.from({ length: 4 }, () => ({ status: 500, message: "boom" })));
    const err = await failure(engineFor(double, { ltxApiMaxRetries: 3 }).generate(job()));
    expect(err).toBeInstanceOf(InfrastructureError);
    expect((err as InfrastructureError).errorType).toBe(LTX_API_UNAVAILABLE);
    expect(err.message).toMatch(/submit call failed with HTTP 500 api_error after retries \(boom\)/);
    expect(isRetryable(err)).toBe(true);
    expect(double.callsTo("submit")).toHaveLength(4);
    expect(double.jobs.size).toBe(0);
  });

  it("treats a call that gets no answer within the request timeout as retryable", async () => {
    double.script("status", { status: 0, hang: true });
    const j = job();
    await engineFor(double, { ltxApiRequestTimeoutMs: 300 }).generate(j);
    expect(double.callsTo("status")[0].status).toBe(-1);
    expect(j.logs.some((l) => /status: no answer \(no answer within 300 ms\)/.test(l.message))).toBe(true);
  });
});

describe("ltx-api engine maps hosted errors to the wire", () => {
  it("turns a safety-filter 422 into a 422 content_policy_violation naming the field", async () => {
    double.script("submit", { status: 422, errorType: "content_filtered_error", message: "The prompt was flagged by our safety filters" });
    const err = await failure(engineFor(double).generate(job()));
    expect(err).toBeInstanceOf(InputError);
    const wire = toWireError(err);
    expect(wire.status).toBe(422);
    expect(wire.body.detail).toEqual([
      { loc: ["body", "prompt"], msg: "Rejected by the hosted LTX API's safety filter: The prompt was flagged by our safety filters", type: "content_policy_violation" },
    ]);
    expect(double.callsTo("submit")).toHaveLength(1);
  });

  it("turns a hosted job that failed with content_filtered_error into the same 422", async () => {
    double.scriptJobs({ outcome: "fail", error: { type: "content_filtered_error", message: "Input image rejected by safety filters" } });
    const err = await failure(engineFor(double).generate(job()));
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).detail[0]).toMatchObject({ loc: ["body", "image_url"], type: "content_policy_violation" });
  });

  it("turns invalid_request_error into a 422 that names the fal field", async () => {
    double.script("submit", { status: 400, errorType: "invalid_request_error", message: "last_frame_uri: unsupported image" });
    const err = await failure(engineFor(double).generate(job()));
    expect(toWireError(err)).toMatchObject({ status: 422, body: { detail: [{ loc: ["body", "end_image_url"], type: "value_error" }] } });
  });

  it("reports a refused key as a configuration error without retrying", async () => {
    const engine = engineFor(double, { ltxApiKey: "not-the-key" });
    const err = await failure(engine.generate(job()));
    expect(err).toBeInstanceOf(LtxApiAuthenticationError);
    expect(err).toBeInstanceOf(EngineError);
    expect(isRetryable(err)).toBe(false);
    expect(err.message).toMatch(/refused this service's API key .*LTX_API_KEY/);
    expect(double.calls.map((c) => [c.route, c.status])).toEqual([["upload-slot", 401]]);
  });

  it("reports insufficient funds as a billing error without retrying", async () => {
    double.script("submit", { status: 402, message: "Insufficient funds. Required: 48 cents" });
    const err = await failure(engineFor(double).generate(job()));
    expect(err).toBeInstanceOf(LtxApiInsufficientFundsError);
    expect(isRetryable(err)).toBe(false);
    expect(err.message).toMatch(/insufficient funds .*Required: 48 cents.*top up/);
    expect(double.callsTo("submit")).toHaveLength(1);
  });

  it("reports a hosted job that failed with api_error as retryable and names the job", async () => {
    double.scriptJobs({ outcome: "fail", error: { type: "api_error", message: "GPU fell over" } });
    const err = await failure(engineFor(double).generate(job()));
    const hostedId = [...double.jobs.keys()][0];
    expect(err).toBeInstanceOf(InfrastructureError);
    expect((err as InfrastructureError).errorType).toBe(LTX_API_JOB_FAILED);
    expect(err.message).toContain(`hosted job ${hostedId} failed (api_error: GPU fell over)`);
  });
});

describe("ltx-api engine never hangs", () => {
  it("fails a job that never finishes at the per-job deadline, naming the hosted job and its last state", async () => {
    double.scriptJobs({ outcome: "never" });
    const j = job();
    const err = await failure(engineFor(double, { ltxApiJobDeadlineMs: 1_500 }).generate(j));
    const hostedId = [...double.jobs.keys()][0];
    expect(err).toBeInstanceOf(LtxApiDeadlineError);
    expect(isRetryable(err)).toBe(false);
    expect(err.message).toContain(`Hosted LTX job ${hostedId} did not finish within 1.5 s (LTX_API_JOB_DEADLINE_MS); last state: processing`);
    expect(double.callsTo("status").length).toBeGreaterThan(2);
  });

  it("stops polling and rejects with CancelledError when a running hosted job is cancelled", async () => {
    double.scriptJobs({ outcome: "never" });
    const controller = new AbortController();
    const j = job({ signal: controller.signal });
    const running = engineFor(double).generate(j);
    await double.waitForCall((c) => c.route === "status" && c.status === 200);
    await double.waitForCall((c) => c.route === "status" && double.callsTo("status").length >= 3);
    controller.abort();
    const err = await failure(running);
    expect(err).toBeInstanceOf(CancelledError);
    const pollsAtCancel = double.callsTo("status").length;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(double.callsTo("status").length).toBe(pollsAtCancel);
    expect(j.logs.some((l) => l.level === "WARN" && /Stopped polling hosted LTX job .* may still finish and be billed/.test(l.message))).toBe(true);
  });

  it("gives back a cancelled job's slot so that the next job runs", async () => {
    double.scriptJobs({ outcome: "never" });
    const engine = engineFor(double, { ltxApiConcurrency: 1 });
    const controller = new AbortController();
    const first = engine.generate(job({ signal: controller.signal }));
    const waiting = job();
    const second = engine.generate(waiting);
    await double.waitForCall((c) => c.route === "status");
    controller.abort();
    expect(await failure(first)).toBeInstanceOf(CancelledError);
    // The double still counts the abandoned job as running (the API has no cancel call); its limit is 2.
    await second;
    expect(waiting.logs[0].message).toMatch(/Waiting for one of 1 LTX API slots/);
  });

  it("rejects a job cancelled while it waits for a slot without calling the API", async () => {
    double.scriptJobs({ outcome: "never" });
    const engine = engineFor(double, { ltxApiConcurrency: 1, ltxApiJobDeadlineMs: 5_000 });
    const blocker = new AbortController();
    const first = engine.generate(job({ signal: blocker.signal }));
    await double.waitForCall((c) => c.route === "status");
    const controller = new AbortController();
    const queued = engine.generate(job({ signal: controller.signal }));
    controller.abort();
    expect(await failure(queued)).toBeInstanceOf(CancelledError);
    expect(double.callsTo("upload-slot")).toHaveLength(1);
    blocker.abort();
    expect(await failure(first)).toBeInstanceOf(CancelledError);
  });
});
