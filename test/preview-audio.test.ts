// The preview engine's audio as ffmpeg hears it in the finished MP4: stereo 48 kHz AAC at about
// -20 LUFS integrated (ebur128), never clipping, exactly as long as the video.
import { describe, expect, it } from "vitest";
import { probeVideo } from "../src/media/probe.js";
import { makeJob, measureLoudness, usePreviewEngine } from "./preview-fixtures.js";

const suite = usePreviewEngine("ultrafast");
const engine = suite.engine;

describe("preview engine audio", () => {
  it.each([
    ["Heavy rain on a tin roof", 25],
    ["Wind across the dunes", 24],
    ["Surf on a rocky shore", 50],
    ["Portrait of a sleeping cat", 25],
  ])("for %j at %i fps: about -20 LUFS integrated, sample peak below 0 dBFS, as long as the video", async (prompt, fps) => {
    const numFrames = fps * 3;
    const job = await makeJob(suite.dir, { name: `audio-${prompt.length}-${fps}`, width: 128, height: 72, fps, numFrames, prompt, generateAudio: true });
    await engine.generate(job);
    const probe = await probeVideo(job.outputPath);
    expect(probe.audio).toMatchObject({ codec: "aac", sampleRate: 48000, channels: 2 });
    expect(Math.abs(probe.audio!.durationSeconds - 3)).toBeLessThan(0.025);
    expect(Math.abs(probe.durationSeconds - 3)).toBeLessThan(0.025);
    const { integrated, samplePeakDb } = await measureLoudness(job.outputPath);
    expect(integrated).toBeGreaterThanOrEqual(-21);
    expect(integrated).toBeLessThanOrEqual(-19);
    expect(samplePeakDb).toBeLessThan(0);
  });
});
