// Reproducibility of the preview engine: the same job and seed give a byte-identical MP4 on the same
// machine; another seed changes the audio (and a handheld camera's sway).
import fsp from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { makeJob, usePreviewEngine } from "./preview-fixtures.js";

const suite = usePreviewEngine("veryfast");
const engine = suite.engine;

describe("preview engine reproducibility", () => {
  it("writes byte-identical MP4s for the same input and seed, and different ones for another seed", async () => {
    const common = { width: 320, height: 180, fps: 25, numFrames: 40, withEnd: true, generateAudio: true, prompt: "Handheld walk through the rain" } as const;
    const a = await makeJob(suite.dir, { ...common, name: "seed-a", seed: 77 });
    const b = await makeJob(suite.dir, { ...common, name: "seed-b", seed: 77 });
    const c = await makeJob(suite.dir, { ...common, name: "seed-c", seed: 78 });
    await engine.generate(a);
    await engine.generate(b);
    await engine.generate(c);
    const [ba, bb, bc] = await Promise.all([a, b, c].map((j) => fsp.readFile(j.outputPath)));
    expect(ba.length).toBeGreaterThan(1000);
    expect(ba.equals(bb)).toBe(true);
    expect(ba.equals(bc)).toBe(false);
  });
});
