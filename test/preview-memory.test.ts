// Memory of a preview job does not grow with duration: frames are streamed to ffmpeg, never collected.
// Peaks come from the kernel (getrusage of the child) and from ffmpeg's own -benchmark report.
import path from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { createPreviewEngine } from "../src/engines/preview/index.js";
import { makeJob, usePreviewEngine } from "./preview-fixtures.js";

const suite = usePreviewEngine("ultrafast");
const engine = suite.engine;

const MB = 1024 * 1024;

describe("preview engine memory", () => {
  it("keeps the job's peak memory flat from a 1 s clip to a 12 s clip (and far under 600 MB)", async () => {
    const peaks: Record<string, number>[] = [];
    for (const seconds of [1, 12]) {
      const job = await makeJob(suite.dir, { name: `mem-${seconds}`, width: 640, height: 360, fps: 25, numFrames: 25 * seconds, generateAudio: true, cameraMotion: "dolly_in" });
      const result = await engine.generate(job);
      const m = result.metrics!;
      expect(m.childMaxRssBytes).toBeGreaterThan(10 * MB);
      expect(m.ffmpegMaxRssBytes).toBeGreaterThan(5 * MB);
      peaks.push(m);
    }
    const [short, long] = peaks;
    expect(long.peakRssBytes).toBeLessThan(600 * MB);
    // Twelve times the frames (and audio) may cost a few MB more, not twelve times as much.
    expect(long.childMaxRssBytes - short.childMaxRssBytes).toBeLessThan(25 * MB);
    expect(long.ffmpegMaxRssBytes - short.ffmpegMaxRssBytes).toBeLessThan(25 * MB);
  });

  it("stays under 600 MB for the heaviest 2160p job: start and end images, focus pull, audio", async () => {
    const job = await makeJob(suite.dir, { name: "mem-2160", width: 3840, height: 2160, fps: 50, numFrames: 12, withEnd: true, generateAudio: true, cameraMotion: "focus_shift" });
    // Photos large enough for full-size working copies (the engine works at up to 1.15 x the output).
    const big = path.join(suite.dir, "big.png");
    await sharp({ create: { width: 4800, height: 2700, channels: 3, background: "#808080", noise: { type: "gaussian", mean: 128, sigma: 50 } } }).png({ compressionLevel: 0 }).toFile(big);
    job.startImage = { path: big, width: 4800, height: 2700 };
    job.endImage = { path: big, width: 4800, height: 2700 };
    const engine2160 = createPreviewEngine({ concurrency: 1, x264Preset: "veryfast", warmChild: false });
    try {
      const m = (await engine2160.generate(job)).metrics!;
      expect(m.peakRssBytes).toBe(m.childMaxRssBytes + m.ffmpegMaxRssBytes);
      expect(m.ffmpegMaxRssBytes).toBeGreaterThan(50 * MB);
      console.log(`2160p heaviest job: child ${Math.round(m.childMaxRssBytes / MB)} MB + ffmpeg ${Math.round(m.ffmpegMaxRssBytes / MB)} MB`);
      expect(m.peakRssBytes).toBeLessThan(600 * MB);
    } finally {
      await engine2160.close?.();
    }
  });
});
