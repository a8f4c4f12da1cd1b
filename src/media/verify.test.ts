// Unit tests of the comparison between an ffprobe result and the requested video.
import { describe, expect, it } from "vitest";
import type { VideoProbe } from "./probe.js";
import { differences, type ExpectedVideo } from "./verify.js";

const asked: ExpectedVideo = { width: 1920, height: 1080, fps: 25, durationSeconds: 6, audio: true };

function probe(over: Partial<VideoProbe["video"]> = {}, audio = true): VideoProbe {
  return {
    formatName: "mov,mp4,m4a,3gp,3g2,mj2",
    durationSeconds: 6,
    sizeBytes: 1000,
    video: { codec: "h264", pixFmt: "yuv420p", width: 1920, height: 1080, fps: 25, frames: 150, ...over },
    audio: audio ? { codec: "aac", sampleRate: 48000, channels: 2, durationSeconds: 6 } : undefined,
    moovFirst: true,
  };
}

describe("video check", () => {
  it("accepts a video that matches exactly, and one a frame off only with a tolerance of one", () => {
    expect(differences(probe(), asked)).toEqual([]);
    expect(differences(probe({ frames: 151 }), asked)).toEqual(["151 frames (6.040 s) instead of 150 (6 s) exactly"]);
    expect(differences(probe({ frames: 151 }), asked, 1)).toEqual([]);
    expect(differences(probe({ frames: 149 }), asked, 1)).toEqual([]);
  });

  it("names each property that differs", () => {
    expect(differences(probe({ width: 1080, height: 1920, fps: 24, frames: 144 }, false), asked, 1)).toEqual([
      "size 1080x1920 instead of 1920x1080",
      "24 fps instead of 25",
      "144 frames (6.000 s) instead of 150 (6 s) within 1 frame",
      "no audio stream although audio was asked",
    ]);
    expect(differences(probe({ frames: 152 }), { ...asked, audio: false }, 1)).toEqual([
      "152 frames (6.080 s) instead of 150 (6 s) within 1 frame",
      "an audio stream although none was asked",
    ]);
  });
});
