// Unit tests of the audio bed: ambience chosen from the prompt, the BS.1770 meter against a calibrated
// sine, and every bed at -20 LUFS, unclipped, faded, stereo, exactly as long as asked and seed-reproducible.
import { describe, expect, it } from "vitest";
import { AUDIO_SAMPLE_RATE, chooseAmbience, integratedLoudness, PEAK_CEILING, synthesizeAudioBed, type AmbienceKind } from "./audio.js";

describe("chooseAmbience", () => {
  it.each<[string, AmbienceKind[]]>([
    ["Rain on a window at night", ["rain"]],
    ["A windy ridge", ["wind"]],
    ["Waves rolling onto the beach", ["sea"]],
    ["A campfire crackles", ["fire"]],
    ["Traffic on a city street", ["city"]],
    ["A crowd cheering in the stadium", ["crowd"]],
    ["Birds singing in the forest", ["birds"]],
    ["Portrait of an old man", ["drone"]],
    ["Birds over the sea in the rain", ["birds", "sea"]],
  ])("hears %j as %j", (prompt, kinds) => {
    expect(chooseAmbience(prompt)).toEqual(kinds);
  });
});

describe("integratedLoudness", () => {
  it("reads a 997 Hz sine at -20 dBFS in both channels as -20 LUFS (BS.1770 calibration)", () => {
    const n = 3 * AUDIO_SAMPLE_RATE;
    const sine = new Float32Array(n).map((_, i) => 0.1 * Math.sin((2 * Math.PI * 997 * i) / AUDIO_SAMPLE_RATE));
    // Stereo sine: each channel contributes; 0.1 amplitude = -20 dBFS peak, -23 dB RMS per channel, summed +3 dB.
    expect(integratedLoudness([sine, sine])).toBeCloseTo(-20, 1);
  });

  it("ignores silence below the absolute gate", () => {
    const n = 4 * AUDIO_SAMPLE_RATE;
    const half = new Float32Array(n).map((_, i) => (i < n / 2 ? 0.1 * Math.sin((2 * Math.PI * 997 * i) / AUDIO_SAMPLE_RATE) : 0));
    expect(integratedLoudness([half, half])).toBeCloseTo(-20, 0);
  });
});

describe("synthesizeAudioBed", () => {
  const prompts = ["rain", "wind", "the sea", "fire", "city", "crowd", "birds", "a still life", "rain in the city"];
  it.each(prompts)("makes a %j bed at -20 LUFS without clipping, faded in and out, exactly as long as asked", (prompt) => {
    const samples = 3 * AUDIO_SAMPLE_RATE + 17;
    const bed = synthesizeAudioBed({ prompt, seed: 11, samples });
    expect(bed.pcm.length).toBe(samples * 4);
    const pcm = new Int16Array(bed.pcm.buffer, bed.pcm.byteOffset, samples * 2);
    const left = new Float32Array(samples).map((_, i) => pcm[2 * i] / 32768);
    const right = new Float32Array(samples).map((_, i) => pcm[2 * i + 1] / 32768);
    expect(integratedLoudness([left, right])).toBeGreaterThan(-20.5);
    expect(integratedLoudness([left, right])).toBeLessThan(-19.5);
    let peak = 0;
    for (const v of pcm) peak = Math.max(peak, Math.abs(v) / 32768);
    expect(peak).toBeLessThanOrEqual(PEAK_CEILING + 1e-3);
    // Fades: the first and last 10 ms are far quieter than the body.
    const rmsOf = (from: number, to: number) => Math.sqrt(left.subarray(from, to).reduce((s, v) => s + v * v, 0) / (to - from));
    const edge = AUDIO_SAMPLE_RATE / 100;
    const body = rmsOf(samples / 2 - 4800, samples / 2 + 4800);
    expect(rmsOf(0, edge)).toBeLessThan(body * 0.1);
    expect(rmsOf(samples - edge, samples)).toBeLessThan(body * 0.1);
    // Stereo, not two copies of one channel.
    expect(left).not.toEqual(right);
  });

  it("is deterministic from the seed: the same seed gives the same bytes, another seed other bytes", () => {
    const a = synthesizeAudioBed({ prompt: "rain", seed: 1, samples: 48_000 });
    const b = synthesizeAudioBed({ prompt: "rain", seed: 1, samples: 48_000 });
    const c = synthesizeAudioBed({ prompt: "rain", seed: 2, samples: 48_000 });
    expect(a.pcm.equals(b.pcm)).toBe(true);
    expect(a.pcm.equals(c.pcm)).toBe(false);
  });
});
