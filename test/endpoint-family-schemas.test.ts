// Checks the text-to-video and audio-to-video schemas: defaults and errors naming the field.
import { describe, expect, it } from "vitest";
import { FAMILY_ENDPOINTS } from "../src/endpoints.js";

const byAlias = (a: string) => FAMILY_ENDPOINTS.find((e) => e.alias === a)!;

describe("LTX-2.3 family schemas", () => {
  it("text-to-video applies fal's defaults", () => {
    const v = byAlias("t2v").schema.parse({ prompt: "a cat" }) as Record<string, unknown>;
    expect(v).toMatchObject({ duration: 6, resolution: "1080p", aspect_ratio: "16:9", fps: 25, generate_audio: true });
  });
  it("text-to-video refuses 12 s on Pro and allows it on Fast only at 1080p/25", () => {
    const pro = byAlias("t2v").schema.safeParse({ prompt: "x", duration: 12 });
    expect(pro.success).toBe(false);
    expect(pro.error!.issues[0].path).toEqual(["duration"]);
    expect(byAlias("t2v-fast").schema.safeParse({ prompt: "x", duration: 12 }).success).toBe(true);
    const bad = byAlias("t2v-fast").schema.safeParse({ prompt: "x", duration: 12, fps: 50 });
    expect(bad.error!.issues[0].path).toEqual(["duration"]);
  });
  it("audio-to-video requires audio_url", () => {
    const r = byAlias("a2v").schema.safeParse({ prompt: "x" });
    expect(r.error!.issues[0].path).toEqual(["audio_url"]);
    const bad = byAlias("a2v").schema.safeParse({ audio_url: "ftp://x" });
    expect(bad.error!.issues[0].path).toEqual(["audio_url"]);
    expect(byAlias("a2v").schema.safeParse({ audio_url: "https://example.com/a.mp3" }).success).toBe(true);
  });
});
