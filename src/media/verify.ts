// Checks a video with ffprobe against what was asked: exact size and fps, frame count (counted by
// decoding) within a tolerance, and audio presence. Used for every engine's output before success.
import { probeVideo, type VideoProbe } from "./probe.js";

export interface ExpectedVideo {
  width: number;
  height: number;
  fps: number;
  durationSeconds: number;
  audio: boolean;
}

/** What differs from the request, in words; empty when the video matches. `frameTolerance` 0 = exact. */
export function differences(probe: VideoProbe, expected: ExpectedVideo, frameTolerance = 0): string[] {
  const problems: string[] = [];
  if (probe.video.width !== expected.width || probe.video.height !== expected.height) {
    problems.push(`size ${probe.video.width}x${probe.video.height} instead of ${expected.width}x${expected.height}`);
  }
  if (Math.abs(probe.video.fps - expected.fps) > 0.01) problems.push(`${probe.video.fps} fps instead of ${expected.fps}`);
  const wantFrames = Math.round(expected.durationSeconds * expected.fps);
  if (!Number.isFinite(probe.video.frames) || Math.abs(probe.video.frames - wantFrames) > frameTolerance) {
    const seconds = probe.video.frames / (probe.video.fps || expected.fps);
    const within = frameTolerance === 0 ? "exactly" : `within ${frameTolerance} frame${frameTolerance > 1 ? "s" : ""}`;
    problems.push(`${probe.video.frames} frames (${seconds.toFixed(3)} s) instead of ${wantFrames} (${expected.durationSeconds} s) ${within}`);
  }
  if (Boolean(probe.audio) !== expected.audio) problems.push(probe.audio ? "an audio stream although none was asked" : "no audio stream although audio was asked");
  return problems;
}

export async function verifyVideo(
  file: string,
  expected: ExpectedVideo,
  opts: { ffprobePath?: string; frameTolerance?: number } = {},
): Promise<{ probe: VideoProbe; problems: string[] }> {
  const probe = await probeVideo(file, { ffprobePath: opts.ffprobePath });
  return { probe, problems: differences(probe, expected, opts.frameTolerance ?? 0) };
}
