// Audio-to-video on the preview engine, end to end through the official @fal-ai/client against a started
// service: each accepted input format (MP3, WAV, M4A, OGG/Opus, FLAC) given as a data: URI, an http URL
// behind a redirect or an uploaded file of this server; outputs probed with ffprobe (size, frames =
// duration x fps, 48 kHz stereo AAC as long as the input audio, the input tone's frequency kept); and
// every bad audio_url a 422 naming the field. Inputs are made with ffmpeg at run time; clips last under 1 s.
import { ApiError } from "@fal-ai/client";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeVideo, type VideoProbe } from "../src/media/probe.js";
import { dominantFrequency, makeAudioBomb, makeLongSilence, makeTone, probedSeconds, TONE_MIME, type ToneFormat } from "./helpers/audio.js";
import { blobOf, falClient, testImageDataUri } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

const A2V = "fal-ai/ltx-2.3/audio-to-video";

let svc: TestService;
let files: http.Server;
let filesBase = "";
const served = new Map<string, { bytes: Buffer; type: string }>();
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-a2v-"));

beforeAll(async () => {
  svc = await startTestService({ env: { PREVIEW_CONCURRENCY: "2" } });
  // A plain file server on loopback (the service allows private URLs, as in local use); /go/x redirects to /x.
  files = http.createServer((req, res) => {
    const name = (req.url ?? "").replace(/^\/+/, "");
    if (name.startsWith("go/")) {
      res.writeHead(302, { location: `/${name.slice(3)}` }).end();
      return;
    }
    const f = served.get(name);
    if (!f) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": f.type, "content-length": f.bytes.length }).end(f.bytes);
  });
  await new Promise<void>((resolve) => files.listen(0, "127.0.0.1", resolve));
  filesBase = `http://127.0.0.1:${(files.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await svc?.close();
  await new Promise((resolve) => files?.close(resolve));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const dataUri = (bytes: Buffer, type: string) => `data:${type};base64,${bytes.toString("base64")}`;

async function download(url: string, name: string): Promise<string> {
  const file = path.join(tmp, name);
  fs.writeFileSync(file, Buffer.from(await (await fetch(url)).arrayBuffer()));
  return file;
}

interface Case {
  format: ToneFormat;
  freq: number;
  seconds: number;
  via: "data" | "http" | "upload";
  withImage: boolean;
}

const CASES: Case[] = [
  { format: "mp3", freq: 440, seconds: 0.75, via: "data", withImage: false },
  { format: "wav", freq: 660, seconds: 0.5, via: "http", withImage: true },
  { format: "m4a", freq: 880, seconds: 0.6, via: "upload", withImage: true },
  { format: "opus", freq: 550, seconds: 0.55, via: "data", withImage: false },
  { format: "flac", freq: 990, seconds: 0.8, via: "http", withImage: false },
];

async function audioUrlFor(c: Case, bytes: Buffer): Promise<string | Blob> {
  const type = TONE_MIME[c.format];
  if (c.via === "data") return dataUri(bytes, type);
  if (c.via === "upload") return blobOf(bytes, type); // the client uploads it and sends this server's file URL
  const name = `tone-${c.freq}.${c.format}`;
  served.set(name, { bytes, type });
  return `${filesBase}/go/${name}`;
}

async function failureOf(client: ReturnType<typeof falClient>, input: Record<string, unknown>): Promise<{ status: number; locs: string[]; types: string[]; ms: number }> {
  const began = performance.now();
  try {
    await client.subscribe(A2V, { input: input as { audio_url: string }, pollInterval: 100 });
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError<{ detail: { loc: string[]; type: string }[] }>;
    return { status: e.status, locs: e.body.detail.map((d) => d.loc.join(".")), types: e.body.detail.map((d) => d.type), ms: Math.round(performance.now() - began) };
  }
  throw new Error(`${A2V} accepted ${JSON.stringify(input).slice(0, 200)}`);
}

describe("audio-to-video on the preview engine", () => {
  it("is routed, served by preview, and in the OpenAPI document", async () => {
    const list = (await (await fetch(`${svc.url}/api/endpoints`)).json()) as { id: string; engine: string }[];
    expect(list.find((e) => e.id === A2V)?.engine).toBe("preview");
    const doc = (await (await fetch(`${svc.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toContain(`/fal.run/${A2V}`);
    expect(Object.keys(doc.paths)).toContain(`/queue.fal.run/${A2V}`);
  });

  it("each input format (MP3, WAV, M4A, OGG/Opus, FLAC) is accepted: the clip follows the audio, laid under it as 48 kHz stereo AAC", async () => {
    const client = falClient(svc.url, svc.key);
    // Two at a time on the engine (PREVIEW_CONCURRENCY=2): the clips are short, the cost is start-up.
    await Promise.all(
      CASES.map(async (c) => {
        const what = `${c.format} via ${c.via}${c.withImage ? " with an image" : " (visualised)"}`;
        const bytes = await makeTone(c.format, c.freq, c.seconds);
        const input: Record<string, unknown> = { audio_url: await audioUrlFor(c, bytes), fps: 24, seed: 11 };
        if (c.withImage) input.image_url = await testImageDataUri(480, 270, c.freq % 360);
        const result = await client.subscribe(A2V, { input: input as { audio_url: string }, pollInterval: 100 });
        const video = (result.data as { video: { url: string; duration: number; num_frames: number; fps: number } }).video;
        const file = await download(video.url, `${c.format}.mp4`);
        const probe: VideoProbe = await probeVideo(file);
        // The clip lasts as long as ffprobe says the input does (an MP3's length includes its encoder padding).
        const inputSeconds = await probedSeconds(bytes);
        expect(Math.abs(inputSeconds - c.seconds), what).toBeLessThan(0.06);
        const frames = Math.round(inputSeconds * 24);
        expect([probe.video.width, probe.video.height, probe.video.fps, probe.video.frames], what).toEqual([1920, 1080, 24, frames]);
        expect([video.num_frames, video.fps], what).toEqual([frames, 24]);
        expect(video.duration, what).toBeCloseTo(frames / 24, 6);
        expect(probe.audio, what).toMatchObject({ codec: "aac", sampleRate: 48_000, channels: 2 });
        // The output's audio lasts as long as the input (rounded to whole frames, plus AAC's last frame).
        expect(Math.abs(probe.audio!.durationSeconds - inputSeconds), what).toBeLessThan(0.06);
        // The content survives: the input tone's frequency is the output's strongest.
        const found = await dominantFrequency(file, { start: 0.1, seconds: c.seconds - 0.2 });
        expect(Math.abs(found - c.freq), `${what}: found ${found} Hz`).toBeLessThan(c.freq * 0.02);
        // Presented as the preview it is, never as the LTX model.
        const status = await fetch(`${svc.url}/queue.fal.run/fal-ai/ltx-2.3/requests/${result.requestId}/status?logs=1`, { headers: { authorization: `Key ${svc.key}` } });
        const logs = ((await status.json()) as { logs: { message: string }[] }).logs.map((l) => l.message).join("\n");
        expect(logs, what).toContain("not the LTX-2.3 model");
        expect(logs, what).toMatch(c.withImage ? /camera / : /visualisation of the input audio/);
      }),
    );
    // Inline audio was moved into file storage at admission: the stored requests carry file URLs only.
    const res = await fetch(`${svc.url}/api/requests?limit=50`, { headers: { authorization: `Key ${svc.key}` } });
    const history = (await res.json()) as { requests: { endpoint: string; model: string; input: { audio_url: string } }[] };
    const a2v = history.requests.filter((r) => r.endpoint === A2V);
    expect(a2v).toHaveLength(CASES.length);
    for (const r of a2v) {
      expect(r.model).toBe("preview");
      expect(r.input.audio_url).toMatch(new RegExp(`^(${svc.url}/files/|${filesBase}/)`));
    }
    expect(a2v.filter((r) => r.input.audio_url.startsWith(`${svc.url}/files/`))).toHaveLength(CASES.filter((c) => c.via !== "http").length);
  });

  it("a missing audio_url and non-audio bytes are 422s naming audio_url", async () => {
    const client = falClient(svc.url, svc.key);
    const missing = await failureOf(client, { prompt: "no audio" });
    expect(missing).toMatchObject({ status: 422, locs: ["body.audio_url"] });
    const png = Buffer.from((await testImageDataUri(64, 64)).split(",")[1]!, "base64");
    const notAudio = await failureOf(client, { audio_url: dataUri(png, "audio/mpeg"), seed: 1 });
    expect(notAudio).toMatchObject({ status: 422, locs: ["body.audio_url"], types: ["unsupported_audio_format"] });
    const html = Buffer.from("<!doctype html><html><body>not audio</body></html>");
    const page = await failureOf(client, { audio_url: dataUri(html, "audio/wav"), seed: 2 });
    expect(page).toMatchObject({ status: 422, locs: ["body.audio_url"], types: ["unsupported_audio_format"] });
    console.log(`422s through the client: missing ${missing.ms} ms, PNG bytes ${notAudio.ms} ms, HTML ${page.ms} ms`);
  });

  it("a 10-hour silent file and a decompression-style bomb are refused from their headers with 422s naming audio_url", async () => {
    const client = falClient(svc.url, svc.key);
    const long = await makeLongSilence(10);
    const bomb = await makeAudioBomb();
    expect(long.length).toBeLessThan(200_000);
    expect(bomb.length).toBeLessThan(100_000);
    const longFailure = await failureOf(client, { audio_url: dataUri(long, "audio/flac"), seed: 3 });
    expect(longFailure).toMatchObject({ status: 422, locs: ["body.audio_url"], types: ["audio_duration_too_long"] });
    const bombFailure = await failureOf(client, { audio_url: dataUri(bomb, "audio/flac"), seed: 4 });
    expect(bombFailure).toMatchObject({ status: 422, locs: ["body.audio_url"], types: ["unsupported_audio_format"] });
    console.log(`refused through the client: 10-hour FLAC (${long.length} bytes) in ${longFailure.ms} ms, bomb (${bomb.length} bytes) in ${bombFailure.ms} ms`);
  });

  it("an audio_url at a private address is a 422 naming audio_url (without ALLOW_PRIVATE_URLS)", async () => {
    const strict = await startTestService({ config: { allowPrivateUrls: false } });
    try {
      const client = falClient(strict.url, strict.key);
      const served = `${filesBase}/tone.wav`;
      expect(await failureOf(client, { audio_url: served, seed: 5 })).toMatchObject({ status: 422, locs: ["body.audio_url"], types: ["file_download_error"] });
      expect(await failureOf(client, { audio_url: "http://169.254.169.254/latest/meta-data/a.mp3", seed: 6 })).toMatchObject({ status: 422, locs: ["body.audio_url"], types: ["file_download_error"] });
    } finally {
      await strict.close();
    }
  });
});
