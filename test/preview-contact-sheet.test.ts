// Contact sheets of preview clips: a 4 x 2 PNG grid of 8 evenly spaced frames, the first tile being the
// first frame, and a lateral camera move visible as change from tile to tile.
import path from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { evenlySpaced, writeContactSheet } from "../src/media/contact-sheet.js";
import { makeJob, psnr, usePreviewEngine } from "./preview-fixtures.js";

const suite = usePreviewEngine("ultrafast");
const engine = suite.engine;

describe("contact sheet", () => {
  it("spaces frames evenly from the first to the last", () => {
    expect(evenlySpaced(150, 8)).toEqual([0, 21, 43, 64, 85, 106, 128, 149]);
    expect(evenlySpaced(3, 8)).toEqual([0, 1, 2]);
    expect(evenlySpaced(1, 8)).toEqual([0]);
  });

  it("writes a 4 x 2 grid of 8 frames whose tiles show the camera moving", async () => {
    const job = await makeJob(suite.dir, { name: "sheet", width: 320, height: 180, fps: 25, numFrames: 50, generateAudio: false, prompt: "Pan right across the bay" });
    await engine.generate(job);
    const out = path.join(suite.dir, "sheet.png");
    const sheet = await writeContactSheet(job.outputPath, out, { frames: 8, tileWidth: 160 });
    expect(sheet).toMatchObject({ columns: 4, rows: 2, frameIndices: [0, 7, 14, 21, 28, 35, 42, 49] });
    const meta = await sharp(out).metadata();
    expect(meta.format).toBe("png");
    // 4 tiles of 160 x 90 with 8 px margins and padding.
    expect(meta.width).toBe(8 + 4 * 160 + 3 * 8 + 8);
    expect(meta.height).toBe(8 + 2 * 90 + 8 + 8);
    const tile = (i: number) =>
      sharp(out).extract({ left: 8 + (i % 4) * 168, top: 8 + Math.floor(i / 4) * 98, width: 160, height: 90 }).removeAlpha().raw().toBuffer();
    const first = await tile(0);
    const reference = await sharp(job.startImage!.path).resize(160, 90, { fit: "cover" }).removeAlpha().raw().toBuffer();
    expect(psnr(first, reference)).toBeGreaterThan(25);
    const last = await tile(7);
    expect(psnr(first, last)).toBeLessThan(psnr(first, reference));
  });
});
