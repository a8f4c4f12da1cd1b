// Memory of a preview job does not grow with duration: frames are streamed to ffmpeg, never collected.
// Peaks come from the kernel (getrusage of the child) and from ffmpeg's own -benchmark report.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPreviewEngine } from "../src/engines/preview/index.js";
import { makeJob, tempDir } from "./preview-fixtures.js";

const engine = createPreviewEngine({ concurrency: 1, x264Preset: "ultrafast" });
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  ({ dir, cleanup } = await tempDir());
});
afterAll(async () => {
  await engine.close?.();
  await cleanup();
});

const MB = 1024 * 1024;

describe("preview engine memory", () => {
  it("keeps the job's peak memory flat from a 1 s clip to a 12 s clip (and far under 600 MB)", async () => {
    const peaks: Record<string, number>[] = [];
    for (const seconds of [1, 12]) {
      const job = await makeJob(dir, { name: `mem-${seconds}`, width: 640, height: 360, fps: 25, numFrames: 25 * seconds, generateAudio: true, cameraMotion: "dolly_in" });
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
});
