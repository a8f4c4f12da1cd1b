// Unit tests of the fal job -> hosted LTX request mapping (ltx-hosted-api.md section 2).
import { describe, expect, it } from "vitest";
import { ENDPOINTS, RESOLUTIONS, resolveOutputSpec, type VideoInput } from "../../endpoints.js";
import { EngineError } from "../../errors.js";
import { buildImageToVideoRequest, modelForEndpoint, type MappedJob } from "./mapping.js";

const base: MappedJob = {
  endpoint: "fal-ai/ltx-2.3/image-to-video",
  prompt: "waves",
  width: 1920,
  height: 1080,
  fps: 25,
  durationSeconds: 6,
  generateAudio: true,
};

describe("LTX request mapping", () => {
  it("maps the seed endpoint to ltx-2-3-pro and the fast sibling to ltx-2-3-fast", () => {
    expect(modelForEndpoint("fal-ai/ltx-2.3/image-to-video")).toBe("ltx-2-3-pro");
    expect(modelForEndpoint("fal-ai/ltx-2.3/image-to-video/fast")).toBe("ltx-2-3-fast");
  });

  it("maps every image-to-video endpoint the service defines, and refuses the others", () => {
    for (const e of ENDPOINTS) {
      if (e.kind === "image-to-video") expect(() => modelForEndpoint(e.id)).not.toThrow();
      else expect(() => modelForEndpoint(e.id)).toThrow(EngineError);
    }
  });

  it("refuses an endpoint it does not know with an engine error", () => {
    expect(() => modelForEndpoint("fal-ai/ltx-2/text-to-video")).toThrow(EngineError);
  });

  it("builds the documented body with fps and generate_audio always sent and no seed", () => {
    expect(buildImageToVideoRequest({ ...base, generateAudio: false }, { imageUri: "ltx://uploads/a" })).toEqual({
      image_uri: "ltx://uploads/a",
      prompt: "waves",
      model: "ltx-2-3-pro",
      duration: 6,
      resolution: "1920x1080",
      fps: 25,
      generate_audio: false,
    });
  });

  it("adds last_frame_uri and camera_motion only when given", () => {
    const body = buildImageToVideoRequest({ ...base, cameraMotion: "jib_up" }, { imageUri: "ltx://uploads/a", lastFrameUri: "ltx://uploads/b" });
    expect(body.last_frame_uri).toBe("ltx://uploads/b");
    expect(body.camera_motion).toBe("jib_up");
    const plain = buildImageToVideoRequest(base, { imageUri: "ltx://uploads/a" });
    expect(Object.keys(plain)).not.toContain("last_frame_uri");
    expect(Object.keys(plain)).not.toContain("camera_motion");
  });

  it("refuses a fractional duration, which the hosted schema cannot express", () => {
    expect(() => buildImageToVideoRequest({ ...base, durationSeconds: 6.5 }, { imageUri: "x" })).toThrow(/whole seconds/);
  });

  // The resolution table of ltx-hosted-api.md 1.4: every fal resolution x orientation gives the documented WxH.
  const documented: Record<string, [string, string]> = {
    "1080p": ["1920x1080", "1080x1920"],
    "1440p": ["2560x1440", "1440x2560"],
    "2160p": ["3840x2160", "2160x3840"],
  };
  it.each(RESOLUTIONS.flatMap((r) => [[r, "16:9"], [r, "9:16"], [r, "auto"]] as const))(
    "sends the documented resolution string for %s at aspect ratio %s",
    (resolution, aspect) => {
      const portraitImage = { width: 720, height: 1280 };
      const input = { resolution, aspect_ratio: aspect, fps: 25, duration: 6 } as VideoInput;
      const spec = resolveOutputSpec(input, portraitImage);
      const body = buildImageToVideoRequest({ ...base, width: spec.width, height: spec.height }, { imageUri: "x" });
      const portrait = aspect === "9:16" || aspect === "auto";
      expect(body.resolution).toBe(documented[resolution][portrait ? 1 : 0]);
    },
  );
});
