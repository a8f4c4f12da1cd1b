// Unit tests of the audio intake: containers recognised from their first bytes, real files made by
// ffmpeg probed with ffprobe, and every refusal an InputError naming audio_url (too long, bomb-style,
// not audio, truncated, too many bytes, private addresses also behind a redirect).
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeAudioBomb, makeLongSilence, makeTone, TONE_MIME, type ToneFormat } from "../../test/helpers/audio.js";
import { InputError } from "../errors.js";
import { prepareAudio, sniffAudioFormat, type PrepareAudioOptions } from "./audio-input.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-audio-input-"));
let server: http.Server;
let base = "";
let lastAccept = "";
const wav = makeTone("wav", 500, 0.5);

beforeAll(async () => {
  const wavBytes = await wav;
  server = http.createServer((req, res) => {
    lastAccept = String(req.headers.accept ?? "");
    if (req.url === "/a.wav") return void res.writeHead(200, { "content-type": "audio/wav" }).end(wavBytes);
    if (req.url === "/to-private") return void res.writeHead(302, { location: "http://10.0.0.1/a.wav" }).end();
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  fs.rmSync(tmp, { recursive: true, force: true });
});

let n = 0;
function options(extra: Partial<PrepareAudioOptions> = {}): PrepareAudioOptions {
  return { field: "audio_url", destPath: path.join(tmp, `in-${n++}`, "audio_url"), maxBytes: 25_000_000, timeoutMs: 10_000, maxSeconds: 21, ...extra };
}
const dataUri = (bytes: Buffer, type: string) => `data:${type};base64,${bytes.toString("base64")}`;

async function refusal(source: string, extra: Partial<PrepareAudioOptions> = {}): Promise<{ type: string; loc: string; msg: string }> {
  try {
    await prepareAudio(source, options(extra));
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    const d = (err as InputError).detail[0]!;
    return { type: d.type, loc: d.loc.join("."), msg: d.msg };
  }
  throw new Error("accepted");
}

describe("sniffAudioFormat", () => {
  it.each([
    ["mp3", "mp3"],
    ["wav", "wav"],
    ["m4a", "mp4"],
    ["aac", "aac"],
    ["opus", "ogg"],
    ["vorbis", "ogg"],
    ["flac", "flac"],
    ["webm", "webm"],
  ] as [ToneFormat, string][])("recognises %s", async (format, container) => {
    expect(sniffAudioFormat(await makeTone(format, 440, 0.2))).toBe(container);
  });

  it("refuses what is not one of them", () => {
    expect(sniffAudioFormat(Buffer.from("<!doctype html><html></html>"))).toBeUndefined();
    expect(sniffAudioFormat(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0]))).toBeUndefined();
    expect(sniffAudioFormat(Buffer.from("ID3"))).toBeUndefined();
    expect(sniffAudioFormat(Buffer.alloc(0))).toBeUndefined();
  });
});

describe("prepareAudio", () => {
  it.each([
    ["mp3", "mp3", "mp3"],
    ["wav", "pcm_s16le", "wav"],
    ["m4a", "aac", "m4a"],
    ["opus", "opus", "ogg"],
    ["flac", "flac", "flac"],
    ["webm", "opus", "webm"],
  ] as [ToneFormat, string, string][])("accepts %s and reads its header", async (format, codec, ext) => {
    const got = await prepareAudio(dataUri(await makeTone(format, 440, 1.5, { channels: 2 }), TONE_MIME[format]), options());
    expect(got).toMatchObject({ codec, channels: 2 });
    expect(got.durationSeconds).toBeGreaterThan(1.45);
    expect(got.durationSeconds).toBeLessThan(1.6);
    expect(path.extname(got.path)).toBe(`.${ext}`);
    expect(fs.existsSync(got.path)).toBe(true);
  });

  it("fetches http URLs asking for audio, and refuses private addresses, also behind a redirect", async () => {
    const got = await prepareAudio(`${base}/a.wav`, options({ allowPrivate: true }));
    expect(got.container).toBe("wav");
    expect(lastAccept).toMatch(/^audio\//);
    expect(await refusal(`${base}/a.wav`)).toMatchObject({ type: "file_download_error", loc: "body.audio_url", msg: expect.stringMatching(/127\.0\.0\.1/) });
    expect(await refusal(`${base}/to-private`, { trustedAddresses: ["127.0.0.1"] })).toMatchObject({ type: "file_download_error", msg: expect.stringMatching(/10\.0\.0\.1/) });
  });

  it("refuses a 10-hour silent file and a bomb-style file from their headers", async () => {
    const [long, bomb] = await Promise.all([makeLongSilence(10), makeAudioBomb()]);
    let began = performance.now();
    expect(await refusal(dataUri(long, "audio/flac"))).toMatchObject({ type: "audio_duration_too_long", loc: "body.audio_url", msg: expect.stringMatching(/10\.0 h/) });
    const longMs = performance.now() - began;
    began = performance.now();
    expect(await refusal(dataUri(bomb, "audio/flac"))).toMatchObject({ type: "unsupported_audio_format", msg: expect.stringMatching(/8 channels at 384000 Hz/) });
    console.log(`refused: 10-hour FLAC (${long.length} bytes) in ${longMs.toFixed(0)} ms, bomb (${bomb.length} bytes) in ${(performance.now() - began).toFixed(0)} ms`);
  });

  it("measures a file whose header has no length by decoding at most the longest accepted length", async () => {
    for (const format of ["flac", "webm"] as const) {
      const streamed = await makeTone(format, 440, 1.5, { pipe: true });
      const got = await prepareAudio(dataUri(streamed, TONE_MIME[format]), options());
      expect(got.durationSeconds, format).toBeCloseTo(1.5, 1);
    }
    const longStreamed = await makeLongSilence(1, { pipe: true });
    expect(await refusal(dataUri(longStreamed, "audio/flac"))).toMatchObject({ type: "audio_duration_too_long" });
  });

  it("refuses non-audio, truncated and oversize data naming audio_url", async () => {
    expect(await refusal(dataUri(Buffer.from("<html>hi</html>"), "audio/mpeg"))).toMatchObject({ type: "unsupported_audio_format", loc: "body.audio_url", msg: expect.stringMatching(/HTML/) });
    const m4a = await makeTone("m4a", 440, 1);
    expect(await refusal(dataUri(m4a.subarray(0, 40), "audio/mp4"))).toMatchObject({ type: "unsupported_audio_format" });
    expect(await refusal(dataUri(m4a, "audio/mp4"), { maxBytes: 1000 })).toMatchObject({ type: "file_download_error", msg: expect.stringMatching(/an input audio file may have/) });
    expect(await refusal("   ")).toMatchObject({ type: "file_download_error" });
  });
});
