// Unit tests of the preview engine's audio-to-video parts: the input audio conformed to the clip (exact
// length at 48 kHz stereo, trimmed or padded with silence, the tone kept) by the real ffmpeg, and the
// audio visualisation (deterministic, seeded, following the audio).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { makeTone } from "../../../test/helpers/audio.js";
import { conformInputAudio } from "./input-audio.js";
import { AudioVisualiser, fft, monoOf, spectrumBars, VISUALISER_BANDS } from "./visualiser.js";

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-preview-a2v-"));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function toneFile(format: "mp3" | "flac" | "wav", freq: number, seconds: number, channels = 1): Promise<string> {
  const file = path.join(tmp, `${freq}-${seconds}-${channels}.${format}`);
  fs.writeFileSync(file, await makeTone(format, freq, seconds, { channels }));
  return file;
}

/** Peak absolute sample of channel `ch` in [from, to) stereo frames. */
function peak(pcm: Buffer, ch: number, from: number, to: number): number {
  let p = 0;
  for (let i = from; i < to; i++) p = Math.max(p, Math.abs(pcm.readInt16LE(4 * i + 2 * ch)));
  return p;
}

/** Strongest frequency of a mono signal at 48 kHz. */
function strongest(mono: Float32Array): number {
  const n = 16_384;
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  for (let i = 0; i < Math.min(n, mono.length); i++) re[i] = mono[i]!;
  fft(re, im);
  let best = 1;
  for (let k = 2; k < n / 2; k++) if (Math.hypot(re[k]!, im[k]!) > Math.hypot(re[best]!, im[best]!)) best = k;
  return (best * 48_000) / n;
}

describe("conformInputAudio", () => {
  it("pads a short mono MP3 with silence to the clip, on both channels, at 48 kHz", async () => {
    const pcm = await conformInputAudio({ inputPath: await toneFile("mp3", 440, 0.5), demuxer: "mp3", samples: 48_000 });
    expect(pcm.length).toBe(48_000 * 4);
    expect(peak(pcm, 0, 4800, 19_200)).toBeGreaterThan(8000);
    expect(peak(pcm, 1, 4800, 19_200)).toBe(peak(pcm, 0, 4800, 19_200));
    expect(peak(pcm, 0, 33_600, 48_000)).toBe(0);
    expect(Math.abs(strongest(monoOf(pcm).subarray(2400, 2400 + 16_384)) - 440)).toBeLessThan(6);
  });

  it("trims a longer 44.1 kHz FLAC to the clip's exact length, keeping its tone", async () => {
    const pcm = await conformInputAudio({ inputPath: await toneFile("flac", 1000, 2, 2), demuxer: "flac", samples: 36_000 });
    expect(pcm.length).toBe(36_000 * 4);
    expect(peak(pcm, 0, 30_000, 36_000)).toBeGreaterThan(8000);
    expect(Math.abs(strongest(monoOf(pcm)) - 1000)).toBeLessThan(6);
  });

  it("fails plainly on a file that is not what its demuxer says", async () => {
    const file = path.join(tmp, "bad.flac");
    fs.writeFileSync(file, Buffer.from("not audio at all"));
    await expect(conformInputAudio({ inputPath: file, demuxer: "flac", samples: 4800 })).rejects.toThrow(/could not decode the input audio/);
  });
});

describe("AudioVisualiser", () => {
  const spec = { width: 320, height: 180, fps: 24, numFrames: 24, seed: 5, prompt: "" };
  const tone = (freq: number, seconds: number) => Float32Array.from({ length: 48_000 * seconds }, (_, i) => 0.5 * Math.sin((2 * Math.PI * freq * i) / 48_000));

  function frames(v: AudioVisualiser, count: number): Buffer[] {
    return Array.from({ length: count }, (_, i) => {
      v.render(i, v.frames[0]!);
      return Buffer.from(v.frames[0]!);
    });
  }

  it("is deterministic from audio, seed and prompt, and the seed changes the colours", () => {
    const a = frames(new AudioVisualiser(spec, tone(440, 1), 48_000), 3);
    const b = frames(new AudioVisualiser(spec, tone(440, 1), 48_000), 3);
    const c = frames(new AudioVisualiser({ ...spec, seed: 6 }, tone(440, 1), 48_000), 3);
    expect(a.map((f) => f.equals(b[a.indexOf(f)]!))).toEqual([true, true, true]);
    expect(a[0]!.equals(c[0]!)).toBe(false);
    expect(a[0]!.length).toBe((320 * 180 * 3) / 2);
  });

  it("follows the audio: silence and a tone draw different frames, and the tone's band is the tallest", () => {
    const silent = frames(new AudioVisualiser(spec, new Float32Array(48_000), 48_000), 1)[0]!;
    const loud = frames(new AudioVisualiser(spec, tone(440, 1), 48_000), 1)[0]!;
    expect(silent.equals(loud)).toBe(false);
    const bars = spectrumBars(tone(2000, 1), 48_000, 24, 24);
    const frame = Array.from(bars.subarray(12 * VISUALISER_BANDS, 13 * VISUALISER_BANDS));
    const top = frame.indexOf(Math.max(...frame));
    // Band edges are log-spaced from 40 Hz to 16 kHz.
    const centre = 40 * (16_000 / 40) ** ((top + 0.5) / VISUALISER_BANDS);
    expect(centre).toBeGreaterThan(1700);
    expect(centre).toBeLessThan(2400);
    expect(Math.max(...spectrumBars(new Float32Array(48_000), 48_000, 24, 24))).toBe(0);
  });
});
