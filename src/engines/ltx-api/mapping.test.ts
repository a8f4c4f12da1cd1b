// Unit tests of the fal job -> hosted LTX request mapping (ltx-hosted-api.md section 2).
import { describe, expect, it } from "vitest";
import { ENDPOINTS, FAMILY_ENDPOINTS, RESOLUTIONS, resolveOutputSpec, type VideoInput } from "../../endpoints.js";
import { EngineError, InputError } from "../../errors.js";
import {
  audioToVideoProblem,
  buildAudioToVideoRequest,
  buildImageToVideoRequest,
  buildTextToVideoRequest,
  hostedEndpointFor,
  modelForEndpoint,
  type MappedAudioJob,
  type MappedJob,
} from "./mapping.js";

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

  it("maps every endpoint of the family to the hosted endpoint of its kind, Pro and Fast to their models", () => {
    const all = [...ENDPOINTS, ...FAMILY_ENDPOINTS.filter((f) => !ENDPOINTS.some((e) => e.id === f.id))];
    expect(all.map((e) => e.kind).sort()).toEqual(["audio-to-video", "image-to-video", "image-to-video", "text-to-video", "text-to-video"]);
    for (const e of all) {
      expect(hostedEndpointFor(e.id)).toBe(e.kind);
      expect(modelForEndpoint(e.id)).toBe(e.id.endsWith("/fast") ? "ltx-2-3-fast" : "ltx-2-3-pro");
    }
  });

  it("maps text-to-video Pro and Fast to ltx-2-3-pro and ltx-2-3-fast", () => {
    expect(modelForEndpoint("fal-ai/ltx-2.3/text-to-video")).toBe("ltx-2-3-pro");
    expect(modelForEndpoint("fal-ai/ltx-2.3/text-to-video/fast")).toBe("ltx-2-3-fast");
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

  it("builds the text-to-video body: image-to-video's fields without any image", () => {
    const body = buildTextToVideoRequest({ ...base, endpoint: "fal-ai/ltx-2.3/text-to-video/fast", durationSeconds: 12, fps: 24, width: 1080, height: 1920 });
    expect(body).toEqual({ prompt: "waves", model: "ltx-2-3-fast", duration: 12, resolution: "1080x1920", fps: 24, generate_audio: true });
    expect(buildTextToVideoRequest({ ...base, endpoint: "fal-ai/ltx-2.3/text-to-video", cameraMotion: "dolly_in" }).camera_motion).toBe("dolly_in");
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

describe("LTX audio-to-video mapping (OpenAPI AudioToVideoRequest)", () => {
  const a2v: MappedAudioJob = {
    endpoint: "fal-ai/ltx-2.3/audio-to-video",
    prompt: "a man speaks",
    width: 1920,
    height: 1080,
    fps: 25,
    guidanceScale: 3,
    audioSeconds: 4.2,
    hasImage: false,
  };

  it("builds the documented body: audio_uri, resolution and model always, no duration, fps or generate_audio", () => {
    expect(buildAudioToVideoRequest(a2v, { audioUri: "ltx://uploads/a" })).toEqual({
      audio_uri: "ltx://uploads/a",
      resolution: "1920x1080",
      model: "ltx-2-3-pro",
      prompt: "a man speaks",
      guidance_scale: 3,
    });
  });

  it("adds image_uri with a first frame, keeps a portrait resolution, and omits an empty prompt and an unset guidance", () => {
    const body = buildAudioToVideoRequest({ ...a2v, prompt: "", guidanceScale: undefined, width: 1080, height: 1920, hasImage: true }, {
      audioUri: "ltx://uploads/a",
      imageUri: "ltx://uploads/i",
    });
    expect(body).toEqual({ audio_uri: "ltx://uploads/a", image_uri: "ltx://uploads/i", resolution: "1080x1920", model: "ltx-2-3-pro" });
  });

  const refusals: [string, Partial<MappedAudioJob>, string][] = [
    ["1440p", { width: 2560, height: 1440 }, "resolution"],
    ["2160p portrait", { width: 2160, height: 3840 }, "resolution"],
    ["24 fps", { fps: 24 }, "fps"],
    ["50 fps", { fps: 50 }, "fps"],
    ["audio under 2 s", { audioSeconds: 1.5 }, "audio_url"],
    ["no prompt and no image", { prompt: "", hasImage: false }, "prompt"],
    ["guidance above 50", { guidanceScale: 60 }, "guidance_scale"],
  ];
  it.each(refusals)("refuses %s with a 422 naming %s, before anything is uploaded", (_what, over, field) => {
    const problem = audioToVideoProblem({ ...a2v, ...over });
    expect(problem).toBeInstanceOf(InputError);
    expect(problem!.status).toBe(422);
    expect(problem!.detail[0].loc).toEqual(["body", field]);
    expect(() => buildAudioToVideoRequest({ ...a2v, ...over }, { audioUri: "x" })).toThrow(InputError);
  });

  it("takes every length the hosted API takes, from 2 s to the 20 s the fal schema allows", () => {
    for (const audioSeconds of [2, 6.04, 20]) expect(audioToVideoProblem({ ...a2v, audioSeconds })).toBeUndefined();
    expect(audioToVideoProblem({ ...a2v, prompt: "", hasImage: true })).toBeUndefined();
  });
});
