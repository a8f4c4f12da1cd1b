// Audio-to-video on the real `ltx-api` engine against the TEST DOUBLE of the hosted LTX API: the input
// audio goes up as a WAV cut to the clip, the submit goes to /v2/audio-to-video with the documented body,
// the clip that comes back is 25 fps, as long as the audio and carries it; inputs the hosted endpoint
// cannot make are a 422 naming the field before anything is uploaded or billed.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InfrastructureError, InputError } from "../src/errors.js";
import { createLtxApiEngine } from "../src/engines/ltx-api/index.js";
import type { EngineJob } from "../src/engines/types.js";
import { ffmpegBinary } from "../src/media/ffmpeg.js";
import { probeVideo } from "../src/media/probe.js";
import { startLtxApiDouble, type LtxApiDouble } from "./doubles/ltx-hosted-api.js";

const A2V = "fal-ai/ltx-2.3/audio-to-video";
const run = promisify(execFile);

let dir: string;
let wav: string;
let portrait: string;
let double: LtxApiDouble;

async function audioSeconds(file: string): Promise<number> {
  const { stdout } = await run("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries", "stream=duration", "-of", "csv=p=0", file]);
  return Number(stdout.trim());
}

/** Mean absolute sample of the first audio stream, decoded to mono 16-bit PCM. */
async function loudness(file: string): Promise<number> {
  const { stdout } = await run(ffmpegBinary().path, ["-v", "error", "-i", file, "-map", "a:0", "-ac", "1", "-f", "s16le", "-"], {
    encoding: "buffer",
    maxBuffer: 64 * 1024 * 1024,
  });
  const pcm = new Int16Array(stdout.buffer, stdout.byteOffset, Math.floor(stdout.length / 2));
  let sum = 0;
  for (const v of pcm) sum += Math.abs(v);
  return sum / pcm.length;
}

function job(over: Partial<EngineJob> = {}): EngineJob {
  const name = `a2v-${Math.random().toString(36).slice(2)}`;
  return {
    requestId: name,
    endpoint: A2V,
    kind: "audio-to-video",
    prompt: "a singer on a stage",
    startImage: { path: portrait, width: 720, height: 1280 },
    inputAudio: { path: wav, durationSeconds: 3.2, codec: "pcm_s16le", sampleRate: 44100, channels: 1 },
    guidanceScale: 3,
    width: 1080,
    height: 1920,
    fps: 25,
    numFrames: 80,
    durationSeconds: 3.2,
    generateAudio: true,
    seed: 7,
    outputPath: path.join(dir, `${name}.mp4`),
    workDir: dir,
    signal: new AbortController().signal,
    onProgress: () => undefined,
    log: () => undefined,
    ...over,
  };
}

const engine = () =>
  createLtxApiEngine({ ltxApiKey: double.apiKey, ltxApiUrl: double.url, ltxApiPollIntervalMs: 20, retryBaseMs: 10, ltxApiJobDeadlineMs: 120_000 });

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-api-audio-"));
  wav = path.join(dir, "in.wav");
  await run(ffmpegBinary().path, ["-v", "error", "-y", "-f", "lavfi", "-i", "sine=frequency=330:sample_rate=44100:duration=3.5", "-ac", "1", wav]);
  portrait = path.join(dir, "portrait.png");
  await sharp({ create: { width: 720, height: 1280, channels: 3, background: { r: 200, g: 90, b: 40 } } }).png().toFile(portrait);
  double = await startLtxApiDouble({ pendingPolls: 1, processingPolls: 1 });
});
afterAll(async () => {
  await double?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("ltx-api engine: audio-to-video", () => {
  it("declares audio-to-video among the endpoints it serves", () => {
    expect(engine().serves).toContain(A2V);
  });

  it("uploads the audio cut to the clip and the first frame, submits the documented body, and checks the clip", async () => {
    const j = job();
    const result = await engine().generate(j);
    expect(result.model).toBe("ltx-2-3-pro");

    const [submit] = double.callsTo("submit");
    expect(submit.path).toBe("/v2/audio-to-video");
    const body = submit.json as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(["audio_uri", "guidance_scale", "image_uri", "model", "prompt", "resolution"]);
    expect(body).toMatchObject({ model: "ltx-2-3-pro", resolution: "1080x1920", prompt: "a singer on a stage", guidance_scale: 3 });
    expect(double.callsTo("status").every((c) => c.path.startsWith("/v2/audio-to-video/"))).toBe(true);

    // The upload is a 48 kHz stereo WAV of exactly the clip's 3.2 s (the input lasts 3.5 s).
    const uploaded = double.uploads.get(body.audio_uri as string)!;
    expect(uploaded.contentType).toBe("audio/wav");
    expect(uploaded.audioSeconds).toBeCloseTo(3.2, 2);
    expect(double.uploads.get(body.image_uri as string)).toMatchObject({ contentType: "image/png", width: 720, height: 1280 });

    const probe = await probeVideo(j.outputPath);
    expect([probe.video.width, probe.video.height, probe.video.fps]).toEqual([1080, 1920, 25]);
    expect(Math.abs(probe.video.frames - 80)).toBeLessThanOrEqual(1);
    expect(probe.audio).toBeTruthy();
    // The clip's audio is the input's: as long as the clip (AAC priming aside) and as loud as the tone.
    expect(Math.abs((await audioSeconds(j.outputPath)) - 3.2)).toBeLessThan(0.1);
    const [inLoud, outLoud] = [await loudness(wav), await loudness(j.outputPath)];
    expect(outLoud / inLoud).toBeGreaterThan(0.7);
    expect(outLoud / inLoud).toBeLessThan(1.3);
  }, 120_000);

  it("without an image sends only audio, prompt, resolution and model (portrait from aspect_ratio 9:16)", async () => {
    const before = double.calls.length;
    const j = job({ startImage: undefined, guidanceScale: undefined });
    await engine().generate(j);
    const submit = double.calls.slice(before).find((c) => c.route === "submit")!;
    expect(Object.keys(submit.json as object).sort()).toEqual(["audio_uri", "model", "prompt", "resolution"]);
    expect(double.calls.slice(before).filter((c) => c.route === "upload-slot")).toHaveLength(1);
    expect((submit.json as { resolution: string }).resolution).toBe("1080x1920");
    const probe = await probeVideo(j.outputPath);
    expect([probe.video.width, probe.video.height]).toEqual([1080, 1920]);
  }, 120_000);

  it("a job stopped mid-poll (shutdown) is resumed by the next attempt on /v2/audio-to-video: one upload, one submit", async () => {
    const before = double.calls.length;
    let saved: Record<string, unknown> | null = null;
    const saveState = async (state: Record<string, unknown> | null) => {
      saved = state;
      return true;
    };
    const first = new AbortController();
    const stopped = await engine()
      .generate(
        job({
          signal: first.signal,
          saveState,
          // After the submit (progress step 2), the process "shuts down".
          onProgress: (p) => {
            if (p.step === 2) first.abort(new InfrastructureError("server shutting down"));
          },
        }),
      )
      .catch((e: unknown) => e);
    expect(stopped).toBeInstanceOf(InfrastructureError);
    expect(saved).toMatchObject({ engine: "ltx-api", model: "ltx-2-3-pro", hostedEndpoint: "audio-to-video" });

    const j = job({ savedState: saved, saveState });
    const result = await engine().generate(j);
    expect(result.metrics).toMatchObject({ ltx_api_resumed: 1 });
    const calls = double.calls.slice(before);
    expect(calls.filter((c) => c.route === "submit")).toHaveLength(1);
    expect(calls.filter((c) => c.route === "upload-slot")).toHaveLength(2);
    expect(calls.filter((c) => c.route === "status").every((c) => c.path === `/v2/audio-to-video/${String(saved!.hostedJobId)}`)).toBe(true);
    const probe = await probeVideo(j.outputPath);
    expect([probe.video.width, probe.video.height, probe.video.fps]).toEqual([1080, 1920, 25]);
  }, 120_000);

  it.each([
    ["fps", { fps: 24, numFrames: 77, durationSeconds: 77 / 24 }],
    ["resolution", { width: 1440, height: 2560 }],
    ["audio_url", { inputAudio: { path: "/nonexistent.wav", durationSeconds: 1.2, codec: "mp3", sampleRate: 44100, channels: 2 }, numFrames: 30, durationSeconds: 1.2 }],
    ["prompt", { startImage: undefined, prompt: "" }],
  ] as [string, Partial<EngineJob>][])("refuses what the hosted endpoint cannot make with a 422 naming %s, calling nothing", async (field, over) => {
    const before = double.calls.length;
    const err = await engine()
      .generate(job(over))
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).detail[0].loc).toEqual(["body", field]);
    expect(double.calls.length).toBe(before);
  });
});
