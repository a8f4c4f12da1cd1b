// The official @fal-ai/client against a running ltx-serve, through each documented redirect style.
import { ApiError, ValidationError } from "@fal-ai/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeVideo } from "../src/media/probe.js";
import { ENDPOINT, REDIRECT_STYLES, blobOf, falClient, smallInput, testImagePng, type TestInput } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

async function download(url: string): Promise<string> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get("content-type")).toBe("video/mp4");
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ltx-dl-")), "out.mp4");
  fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  return file;
}

type VideoResult = { video: { url: string; content_type: string; file_name: string; file_size: number }; seed: number };

describe.each(REDIRECT_STYLES)("@fal-ai/client redirected by %s", (style) => {
  it("subscribes in polling mode and gets an MP4 that probes as asked, with logs and the request id", async () => {
    const fal = falClient(svc.url, svc.key, style);
    const updates: string[] = [];
    let enqueued = "";
    const result = await fal.subscribe(ENDPOINT, {
      input: await smallInput(),
      logs: true,
      pollInterval: 200,
      onEnqueue: (id) => (enqueued = id),
      onQueueUpdate: (u) => updates.push(u.status),
    });
    const data = result.data as VideoResult;
    expect(result.requestId).toBe(enqueued);
    expect(updates.at(-1)).toBe("COMPLETED");
    expect(data.video.content_type).toBe("video/mp4");
    expect(data.video.url.startsWith(svc.url)).toBe(true);
    const probe = await probeVideo(await download(data.video.url));
    expect(probe.video).toMatchObject({ codec: "h264", width: 1920, height: 1080, frames: 144, fps: 24, pixFmt: "yuv420p" });
    expect(probe.audio).toBeUndefined();
    expect(probe.sizeBytes).toBe(data.video.file_size);
  });

  it("runs synchronously and answers with the output", async () => {
    const fal = falClient(svc.url, svc.key, style);
    const result = await fal.run(ENDPOINT, { input: await smallInput({ aspect_ratio: "9:16" }) });
    const data = result.data as VideoResult;
    expect(result.requestId).toMatch(/[0-9a-f-]{36}/);
    const probe = await probeVideo(await download(data.video.url));
    expect([probe.video.width, probe.video.height]).toEqual([1080, 1920]);
  });
});

describe("@fal-ai/client queue calls", () => {
  const fal = () => falClient(svc.url, svc.key, "middleware");

  it("subscribes in streaming mode", async () => {
    const statuses: string[] = [];
    const result = await fal().subscribe(ENDPOINT, {
      input: await smallInput({ generate_audio: true }),
      mode: "streaming",
      logs: true,
      onQueueUpdate: (u) => statuses.push(u.status),
    });
    expect(statuses).toContain("COMPLETED");
    const probe = await probeVideo(await download((result.data as VideoResult).video.url));
    expect(probe.audio).toMatchObject({ codec: "aac", sampleRate: 48000, channels: 2 });
  });

  it("submits, polls status with logs, and fetches the result", async () => {
    const client = fal();
    const { request_id } = await client.queue.submit(ENDPOINT, { input: await smallInput() });
    let status = await client.queue.status(ENDPOINT, { requestId: request_id, logs: true });
    while (status.status !== "COMPLETED") {
      await new Promise((r) => setTimeout(r, 200));
      status = await client.queue.status(ENDPOINT, { requestId: request_id, logs: true });
    }
    const completed = status as unknown as { logs: { message: string }[]; metrics: { inference_time: number } };
    expect(completed.metrics.inference_time).toBeGreaterThan(0);
    const messages = completed.logs.map((l) => l.message).join("\n");
    expect(messages).toMatch(/queued/i);
    expect(messages).toMatch(/Started on engine preview/);
    expect(messages).toMatch(/\d+%/);
    const result = await client.queue.result(ENDPOINT, { requestId: request_id });
    expect(result.requestId).toBe(request_id);
    expect((result.data as VideoResult).video.file_name).toMatch(/\.mp4$/);
  });

  it("uploads a file through storage.upload and uses its URL as image_url", async () => {
    const client = fal();
    const url = await client.storage.upload(blobOf(await testImagePng(400, 600), "image/png"));
    expect(url.startsWith(svc.url)).toBe(true);
    const result = await client.subscribe(ENDPOINT, { input: await smallInput({ image_url: url }), pollInterval: 200 });
    const probe = await probeVideo(await download((result.data as VideoResult).video.url));
    // A portrait image with aspect_ratio auto gives 9:16.
    expect([probe.video.width, probe.video.height]).toEqual([1080, 1920]);
  });

  it("rejects bad input with a ValidationError naming the field", async () => {
    const client = fal();
    const err = await client.subscribe(ENDPOINT, { input: await smallInput({ duration: 7 }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).getFieldErrors("duration")).toHaveLength(1);
    const missing = await client.run(ENDPOINT, { input: { image_url: "https://example.com/a.png" } as TestInput }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ValidationError);
    expect((missing as ValidationError).getFieldErrors("prompt")[0]?.msg).toMatch(/required/i);
  });

  it("reports an undecodable image as a ValidationError on image_url from the result", async () => {
    const client = fal();
    const err = await client
      .subscribe(ENDPOINT, { input: await smallInput({ image_url: `data:image/png;base64,${Buffer.from("not an image").toString("base64")}` }), pollInterval: 200 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).getFieldErrors("image_url")).toHaveLength(1);
  });

  it("cancels a queued request and a running one; both complete with an error and are not charged", async () => {
    const client = fal();
    const long = () => smallInput({ duration: 10, fps: 50, resolution: "2160p" });
    const running = await client.queue.submit(ENDPOINT, { input: await long() });
    const queued = await client.queue.submit(ENDPOINT, { input: await long() });
    // Wait until the first one runs.
    for (let i = 0; i < 200; i++) {
      const s = await client.queue.status(ENDPOINT, { requestId: running.request_id });
      if (s.status === "IN_PROGRESS") break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const queuedStatus = await client.queue.status(ENDPOINT, { requestId: queued.request_id });
    expect(queuedStatus).toMatchObject({ status: "IN_QUEUE", queue_position: 0 });
    await client.queue.cancel(ENDPOINT, { requestId: queued.request_id });
    const afterQueuedCancel = await client.queue.status(ENDPOINT, { requestId: queued.request_id });
    expect(afterQueuedCancel.status).toBe("COMPLETED");
    await client.queue.cancel(ENDPOINT, { requestId: running.request_id });
    let s = await client.queue.status(ENDPOINT, { requestId: running.request_id });
    for (let i = 0; i < 100 && s.status !== "COMPLETED"; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s = await client.queue.status(ENDPOINT, { requestId: running.request_id });
    }
    expect(s).toMatchObject({ status: "COMPLETED", error_type: "request_cancelled" });
    for (const id of [queued.request_id, running.request_id]) {
      const err = await client.queue.result(ENDPOINT, { requestId: id }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError<unknown>).status).toBe(400);
    }
    const cancelAgain = await client.queue.cancel(ENDPOINT, { requestId: queued.request_id }).catch((e: unknown) => e);
    expect((cancelAgain as ApiError<unknown>).status).toBe(400);
    const usage = (await (await fetch(`${svc.url}/api/usage`, { headers: { authorization: `Key ${svc.key}` } })).json()) as { by_endpoint: { resolution: string }[] };
    expect(usage.by_endpoint.filter((b) => b.resolution === "2160p")).toHaveLength(0);
  });
});
