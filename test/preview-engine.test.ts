// The preview engine end to end on small clips: it writes one MP4 that ffprobe finds exactly as asked
// (size, frame count, fps, codec settings, audio or none), reports progress, cancels promptly and
// turns failures into typed errors.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { CancelledError, EngineError } from "../src/errors.js";
import { probeVideo } from "../src/media/probe.js";
import { makeJob, usePreviewEngine } from "./preview-fixtures.js";

const suite = usePreviewEngine("veryfast");
const engine = suite.engine;

describe("preview engine", () => {
  it("writes an H.264 High yuv420p BT.709 MP4 with faststart, exact size, frame count and fps, and stereo 48 kHz AAC", async () => {
    const job = await makeJob(suite.dir, { name: "basic", width: 320, height: 180, fps: 25, numFrames: 30, generateAudio: true });
    const result = await engine.generate(job);
    expect(result.model).toBe("preview");
    const probe = await probeVideo(job.outputPath);
    expect(probe.video).toMatchObject({ codec: "h264", profile: "High", pixFmt: "yuv420p", width: 320, height: 180, frames: 30 });
    expect(probe.video.fps).toBe(25);
    expect(probe.video).toMatchObject({ colorPrimaries: "bt709", colorTransfer: "bt709", colorSpace: "bt709" });
    expect(probe.moovFirst).toBe(true);
    expect(probe.audio).toMatchObject({ codec: "aac", sampleRate: 48000, channels: 2 });
    expect(probe.audio!.durationSeconds).toBeCloseTo(1.2, 1);
    expect(job.progress.at(-1)).toMatchObject({ stage: "encode", step: 1, total: 1 });
    expect(job.progress.some((p) => p.stage === "render" && p.step === 30 && p.total === 30)).toBe(true);
    expect(job.logs.some((l) => /preview engine/i.test(l) && /not the LTX-2\.3 model/.test(l))).toBe(true);
  });

  it("writes no audio stream at all when audio is off, and honours 9:16, odd frame rates and other sizes", async () => {
    const job = await makeJob(suite.dir, { name: "silent", width: 180, height: 320, fps: 24, numFrames: 24, generateAudio: false });
    await engine.generate(job);
    const probe = await probeVideo(job.outputPath);
    expect(probe.audio).toBeUndefined();
    expect(probe.video).toMatchObject({ width: 180, height: 320, frames: 24 });
    expect(probe.video.fps).toBe(24);
  });

  it("muxes the audio even when the job folder's path has characters that ffmpeg's filter syntax treats specially", async () => {
    const odd = path.join(suite.dir, "odd [dir], it's: a;test");
    await fsp.mkdir(odd, { recursive: true });
    const job = await makeJob(suite.dir, { name: "odd-path", width: 160, height: 96, fps: 25, numFrames: 25, generateAudio: true });
    job.workDir = odd;
    job.outputPath = path.join(odd, "out.mp4");
    await engine.generate(job);
    const probe = await probeVideo(job.outputPath);
    expect(probe.audio).toMatchObject({ codec: "aac", sampleRate: 48000, channels: 2 });
    // The engine's temporary audio file is gone.
    expect(await fsp.readdir(odd)).toEqual(["out.mp4"]);
  });

  it("places keyframes every two seconds", async () => {
    const job = await makeJob(suite.dir, { name: "gop", width: 160, height: 96, fps: 25, numFrames: 125, generateAudio: false, cameraMotion: "dolly_left" });
    await engine.generate(job);
    const out = execFileSync("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame", "-of", "json", job.outputPath], { encoding: "utf8" });
    const frames = (JSON.parse(out) as { frames: { key_frame: number }[] }).frames;
    expect(frames).toHaveLength(125);
    const keys = frames.map((f, i) => (f.key_frame === 1 ? i : -1)).filter((i) => i >= 0);
    expect(keys).toEqual([0, 50, 100]);
  });

  it("cancels a running job within two seconds, rejects with CancelledError and leaves no process or file behind", async () => {
    const job = await makeJob(suite.dir, { name: "cancel", width: 640, height: 360, fps: 25, numFrames: 1500, generateAudio: false });
    const pending = engine.generate(job);
    let settled = false;
    pending.then(() => (settled = true), () => (settled = true));
    // Wait until frames are being rendered (or the job ended early, which fails below), then cancel.
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (settled || job.progress.some((p) => p.stage === "render")) {
          clearInterval(timer);
          resolve();
        }
      }, 20);
    });
    expect(settled).toBe(false);
    const ffmpegBefore = ffmpegWriting(job.outputPath);
    expect(ffmpegBefore.length).toBe(1);
    const t0 = performance.now();
    job.abort();
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    const elapsed = performance.now() - t0;
    expect(elapsed).toBeLessThan(2000);
    expect(ffmpegWriting(job.outputPath)).toEqual([]);
    await expect(fsp.access(job.outputPath)).rejects.toThrow();
  });

  it("rejects with EngineError when the start image cannot be read", async () => {
    const job = await makeJob(suite.dir, { name: "broken" });
    job.startImage = { path: `${suite.dir}/missing.png`, width: 10, height: 10 };
    await expect(engine.generate(job)).rejects.toBeInstanceOf(EngineError);
  });
});

/** Pids of live ffmpeg processes writing `file` (found through /proc, not through our own bookkeeping). */
function ffmpegWriting(file: string): number[] {
  const pids: number[] = [];
  for (const entry of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = fs.readFileSync(`/proc/${entry}/cmdline`, "utf8");
      const stat = fs.readFileSync(`/proc/${entry}/stat`, "utf8");
      if (cmd.includes(file) && cmd.split("\0")[0].endsWith("ffmpeg") && !/\) Z /.test(stat)) pids.push(Number(entry));
    } catch {
      // Process ended while we looked.
    }
  }
  return pids;
}
