// Decodes preview clips with ffmpeg and compares frames with the cover-cropped input pictures: the first
// frame is the start image, the last frame is the end image, and the frames between change smoothly
// (no cut, no flash). Also checks that covering is honoured for odd aspect ratios (no borders).
import { describe, expect, it } from "vitest";
import path from "node:path";
import type { CameraMotion } from "../src/endpoints.js";
import { probeVideo } from "../src/media/probe.js";
import { coverCropRgb, decodeFramesRgb, makeJob, psnr, usePreviewEngine, writeTestPhoto } from "./preview-fixtures.js";

const suite = usePreviewEngine("veryfast");
const engine = suite.engine;

/** Mean absolute difference per byte between two RGB frames. */
function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i] - b[i]);
  return s / a.length;
}

function meanLevel(a: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  return s / a.length;
}

describe("preview engine start and end frames", () => {
  const W = 384;
  const H = 216;

  it.each<[CameraMotion | undefined, string]>([
    [undefined, "A quiet lake at dawn"],
    ["dolly_in", "A quiet lake at dawn"],
    ["dolly_left", "A quiet lake at dawn"],
    ["jib_up", "A quiet lake at dawn"],
    [undefined, "Slow orbit around the lighthouse"],
  ])("with an end image and camera %s (%s), frame 0 is the start image and the last frame the end image (PSNR >= 30 dB), with no cut or flash between", async (cameraMotion, prompt) => {
    const numFrames = 50;
    const job = await makeJob(suite.dir, { name: `end-${cameraMotion ?? "prompt"}-${prompt.length}`, width: W, height: H, numFrames, withEnd: true, generateAudio: false, cameraMotion, prompt });
    await engine.generate(job);
    const probe = await probeVideo(job.outputPath);
    expect(probe.video.frames).toBe(numFrames);
    const all = await decodeFramesRgb(job.outputPath, Array.from({ length: numFrames }, (_, i) => i), W, H);
    const start = await coverCropRgb(job.startImage!.path, W, H);
    const end = await coverCropRgb(job.endImage!.path, W, H);
    expect(psnr(all[0], start)).toBeGreaterThanOrEqual(30);
    expect(psnr(all[numFrames - 1], end)).toBeGreaterThanOrEqual(30);
    // No hard cut: the largest change between neighbouring frames is a small part of the whole change.
    const whole = meanAbsDiff(start, end);
    const steps = all.slice(1).map((f, i) => meanAbsDiff(f, all[i]));
    expect(Math.max(...steps)).toBeLessThan(whole * 0.15);
    // No flash: every frame's mean level stays between the two pictures' levels (with a small margin).
    const lo = Math.min(meanLevel(start), meanLevel(end)) - 4;
    const hi = Math.max(meanLevel(start), meanLevel(end)) + 4;
    for (const f of all) {
      expect(meanLevel(f)).toBeGreaterThanOrEqual(lo);
      expect(meanLevel(f)).toBeLessThanOrEqual(hi);
    }
  });

  it.each<CameraMotion | undefined>([undefined, "dolly_in", "dolly_right", "jib_down", "static", "focus_shift"])(
    "without an end image and camera %s, frame 0 is the start image (PSNR >= 30 dB)",
    async (cameraMotion) => {
      const job = await makeJob(suite.dir, { name: `start-${cameraMotion ?? "default"}`, width: W, height: H, numFrames: 25, generateAudio: false, cameraMotion });
      await engine.generate(job);
      const [first] = await decodeFramesRgb(job.outputPath, [0], W, H);
      expect(psnr(first, await coverCropRgb(job.startImage!.path, W, H))).toBeGreaterThanOrEqual(30);
    },
  );

  it("covers the frame for a panorama and a tall image alike: no borders on any frame of a lateral move", async () => {
    for (const [name, w, h] of [["pano", 1200, 300], ["tall", 300, 1000]] as const) {
      const file = path.join(suite.dir, `${name}.png`);
      await writeTestPhoto(file, w, h, 0);
      const job = await makeJob(suite.dir, { name: `cover-${name}`, width: 256, height: 144, numFrames: 20, generateAudio: false, cameraMotion: "dolly_right" });
      job.startImage = { path: file, width: w, height: h };
      await engine.generate(job);
      const frames = await decodeFramesRgb(job.outputPath, [0, 10, 19], 256, 144);
      expect(psnr(frames[0], await coverCropRgb(file, 256, 144))).toBeGreaterThanOrEqual(30);
      // A border would be a dark first/last column or row; the test picture has none (its darkest level is ~25).
      for (const f of frames) {
        for (const [x, y] of [[0, 72], [255, 72], [128, 0], [128, 143]]) {
          const i = (y * 256 + x) * 3;
          expect(f[i] + f[i + 1] + f[i + 2]).toBeGreaterThan(60);
        }
      }
    }
  });
});
