// The output matrix of the endpoint (resolution x aspect ratio x fps x duration x audio) and one
// check that runs a case through the service with the official client and probes the MP4.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { expect } from "vitest";
import { probeVideo } from "../../src/media/probe.js";
import { ENDPOINT, falClient, smallInput } from "./fal.js";
import type { TestService } from "./service.js";

export interface OutputCase {
  resolution: "1080p" | "1440p" | "2160p";
  aspect_ratio: "16:9" | "9:16";
  fps: 24 | 25 | 48 | 50;
  duration: 6 | 8 | 10;
  generate_audio: boolean;
}

const SIZES = { "1080p": [1920, 1080], "1440p": [2560, 1440], "2160p": [3840, 2160] } as const;

export function allCases(): OutputCase[] {
  const out: OutputCase[] = [];
  for (const resolution of ["1080p", "1440p", "2160p"] as const)
    for (const aspect_ratio of ["16:9", "9:16"] as const)
      for (const fps of [24, 25, 48, 50] as const)
        for (const duration of [6, 8, 10] as const) out.push({ resolution, aspect_ratio, fps, duration, generate_audio: (fps + duration) % 2 === 0 });
  return out;
}

/** Every resolution x aspect ratio once, every fps and every duration once, audio on and off. */
export function subsetCases(): OutputCase[] {
  const base = { resolution: "1080p", aspect_ratio: "16:9", fps: 24, duration: 6, generate_audio: false } as const;
  return [
    { ...base, resolution: "1440p", aspect_ratio: "9:16" },
    { ...base, resolution: "1440p" },
    { ...base, resolution: "2160p", aspect_ratio: "9:16" },
    { ...base, resolution: "2160p", generate_audio: true },
    { ...base, aspect_ratio: "9:16", fps: 25, generate_audio: true },
    { ...base, fps: 48 },
    { ...base, fps: 50, duration: 8 },
    { ...base, duration: 10, generate_audio: true },
  ];
}

export const caseName = (c: OutputCase) => `${c.resolution} ${c.aspect_ratio} ${c.fps} fps ${c.duration} s audio ${c.generate_audio ? "on" : "off"}`;

export async function checkCase(svc: TestService, c: OutputCase): Promise<void> {
  const fal = falClient(svc.url, svc.key);
  const { data } = await fal.subscribe(ENDPOINT, { input: await smallInput({ ...c }), pollInterval: 250 });
  const video = (data as { video: { url: string; file_size: number } }).video;
  const res = await fetch(video.url);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ltx-case-")), "out.mp4");
  fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
  try {
    const probe = await probeVideo(file);
    const [w, h] = SIZES[c.resolution];
    const [width, height] = c.aspect_ratio === "16:9" ? [w, h] : [h, w];
    expect(probe.video).toMatchObject({ codec: "h264", pixFmt: "yuv420p", width, height, frames: c.fps * c.duration, colorPrimaries: "bt709", colorTransfer: "bt709", colorSpace: "bt709" });
    expect(probe.video.fps).toBeCloseTo(c.fps, 6);
    expect(probe.moovFirst).toBe(true);
    expect(probe.sizeBytes).toBe(video.file_size);
    if (c.generate_audio) {
      expect(probe.audio).toMatchObject({ codec: "aac", sampleRate: 48000, channels: 2 });
      expect(Math.abs(probe.audio!.durationSeconds - c.duration)).toBeLessThan(0.05);
    } else {
      expect(probe.audio).toBeUndefined();
    }
  } finally {
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  }
}
