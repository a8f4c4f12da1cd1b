// Text-to-video (Pro, Fast) and audio-to-video on the hosted-API engine, end to end: the service with
// ENGINES giving those endpoints to ltx-api, pointed at the TEST DOUBLE of Lightricks' hosted API,
// serves them to the official @fal-ai/client; outputs are probed with ffprobe. Audio-to-video runs
// once the service routes it (it is checked in the routed endpoint list, not assumed).
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ffmpegBinary } from "../src/media/ffmpeg.js";
import { probeVideo } from "../src/media/probe.js";
import { startLtxApiDouble, type LtxApiDouble } from "./doubles/ltx-hosted-api.js";
import { falClient, testImageDataUri } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

const T2V: string = "fal-ai/ltx-2.3/text-to-video";
const T2V_FAST: string = "fal-ai/ltx-2.3/text-to-video/fast";
const A2V: string = "fal-ai/ltx-2.3/audio-to-video";
const run = promisify(execFile);

let double: LtxApiDouble;
let svc: TestService;
let dir: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-api-family-"));
  double = await startLtxApiDouble();
  svc = await startTestService({
    env: {
      LTX_API_KEY: double.apiKey,
      LTX_API_URL: double.url,
      LTX_API_POLL_INTERVAL_MS: "100",
      ENGINES: [T2V, T2V_FAST, A2V].map((e) => `${e}=ltx-api`).join(","),
    },
  });
});
afterAll(async () => {
  await svc?.close();
  await double?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function download(url: string, name: string): Promise<string> {
  const file = path.join(dir, name);
  fs.writeFileSync(file, Buffer.from(await (await fetch(url)).arrayBuffer()));
  return file;
}

async function requestRow(requestId: string) {
  const list = (await (await fetch(`${svc.url}/api/requests`, { headers: { authorization: `Key ${svc.key}` } })).json()) as {
    requests: { request_id: string; engine: string; model: string; cost_usd: number }[];
  };
  return list.requests.find((r) => r.request_id === requestId);
}

/** The submits (and their hosted endpoint) made since `since` calls were recorded. */
const submitsSince = (since: number) => double.calls.slice(since).filter((c) => c.route === "submit");

describe("ltx-api engine: text-to-video and audio-to-video", () => {
  it("/api/endpoints names ltx-api for the endpoints ENGINES gives it", async () => {
    const body = (await (await fetch(`${svc.url}/api/endpoints`)).json()) as { id: string; engine: string }[];
    expect(body.find((e) => e.id === T2V)?.engine).toBe("ltx-api");
    expect(body.find((e) => e.id === T2V_FAST)?.engine).toBe("ltx-api");
    expect(body.some((e) => e.id === A2V)).toBe(true);
  });

  it("text-to-video Pro goes to /v2/text-to-video with no image and no upload: portrait 1080p, silent, exact frames", async () => {
    const before = double.calls.length;
    const fal = falClient(svc.url, svc.key);
    const result = await fal.subscribe(T2V, {
      input: { prompt: "a lighthouse in a storm", duration: 6, fps: 24, aspect_ratio: "9:16", generate_audio: false, seed: 11 },
      pollInterval: 100,
    });
    const probe = await probeVideo(await download((result.data as { video: { url: string } }).video.url, "t2v.mp4"));
    expect([probe.video.width, probe.video.height, probe.video.fps]).toEqual([1080, 1920, 24]);
    expect(Math.abs(probe.video.frames - 144)).toBeLessThanOrEqual(1);
    expect(probe.audio).toBeFalsy();
    const [submit, ...more] = submitsSince(before);
    expect(more).toHaveLength(0);
    expect(submit.path).toBe("/v2/text-to-video");
    expect(submit.json).toEqual({ prompt: "a lighthouse in a storm", model: "ltx-2-3-pro", duration: 6, resolution: "1080x1920", fps: 24, generate_audio: false });
    expect(double.calls.slice(before).filter((c) => c.route === "upload-slot")).toHaveLength(0);
    expect(double.calls.slice(before).filter((c) => c.route === "status").every((c) => c.path.startsWith("/v2/text-to-video/"))).toBe(true);
    expect(await requestRow(result.requestId)).toMatchObject({ engine: "ltx-api", model: "ltx-2-3-pro", cost_usd: 0.48 });
  });

  it("text-to-video Fast goes to ltx-2-3-fast with audio and camera motion, and charges the text-to-video rate", async () => {
    const before = double.calls.length;
    const fal = falClient(svc.url, svc.key);
    const result = await fal.subscribe(T2V_FAST, { input: { prompt: "a long drive", duration: 6, fps: 25, camera_motion: "dolly_in", seed: 12 }, pollInterval: 100 });
    const probe = await probeVideo(await download((result.data as { video: { url: string } }).video.url, "t2v-fast.mp4"));
    expect([probe.video.width, probe.video.height, probe.video.fps]).toEqual([1920, 1080, 25]);
    expect(Math.abs(probe.video.frames - 150)).toBeLessThanOrEqual(1);
    expect(probe.audio).toBeTruthy();
    const [submit] = submitsSince(before);
    expect(submit.path).toBe("/v2/text-to-video");
    expect(submit.json).toMatchObject({ model: "ltx-2-3-fast", duration: 6, resolution: "1920x1080", fps: 25, generate_audio: true, camera_motion: "dolly_in" });
    expect(await requestRow(result.requestId)).toMatchObject({ engine: "ltx-api", model: "ltx-2-3-fast", cost_usd: 0.48 });
  });

  it("audio-to-video uploads the audio and the image, and the clip is 25 fps, as long as the audio and carries it", async () => {
    const wav = path.join(dir, "in.wav");
    await run(ffmpegBinary().path, ["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100:duration=3.2", "-ac", "1", wav]);
    const before = double.calls.length;
    const fal = falClient(svc.url, svc.key);
    const result = await fal.subscribe(A2V, {
      input: {
        audio_url: `data:audio/wav;base64,${fs.readFileSync(wav).toString("base64")}`,
        image_url: await testImageDataUri(360, 640),
        prompt: "a singer",
        seed: 13,
      },
      pollInterval: 100,
    });
    const probe = await probeVideo(await download((result.data as { video: { url: string } }).video.url, "a2v.mp4"));
    expect([probe.video.width, probe.video.height, probe.video.fps]).toEqual([1080, 1920, 25]);
    expect(Math.abs(probe.video.frames - 80)).toBeLessThanOrEqual(1);
    expect(probe.audio).toBeTruthy();
    const [submit] = submitsSince(before);
    expect(submit.path).toBe("/v2/audio-to-video");
    const body = submit.json as Record<string, unknown>;
    expect(body).toMatchObject({ model: "ltx-2-3-pro", resolution: "1080x1920", prompt: "a singer" });
    expect(Object.keys(body).sort()).toEqual(["audio_uri", "guidance_scale", "image_uri", "model", "prompt", "resolution"]);
    expect(double.uploads.get(body.audio_uri as string)?.contentType).toBe("audio/wav");
  });
});
