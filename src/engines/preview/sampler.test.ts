// Unit tests of the TypeScript sampler: BT.709 colour conversion, exact identity sampling, sub-pixel
// interpolation, and lookups that never leave the picture for any view.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { clampView, createAxisTable, fillAxisTable, IDENTITY_VIEW, rgbToYuv, ViewSampler, yuv420Layout, type YuvImage } from "./sampler.js";

function solidRgb(width: number, height: number, rgb: [number, number, number]): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) out.set(rgb, i * 3);
  return out;
}

function rampImage(width: number, height: number): YuvImage {
  const y = new Uint8Array(width * height);
  for (let r = 0; r < height; r++) for (let c = 0; c < width; c++) y[r * width + c] = (c * 7 + r * 3) & 255;
  const cw = width / 2;
  const ch = height / 2;
  return { y: { data: y, width, height }, u: { data: new Uint8Array(cw * ch).fill(90), width: cw, height: ch }, v: { data: new Uint8Array(cw * ch).fill(170), width: cw, height: ch } };
}

describe("rgbToYuv", () => {
  it.each<[string, [number, number, number], [number, number, number]]>([
    ["white", [255, 255, 255], [235, 128, 128]],
    ["black", [0, 0, 0], [16, 128, 128]],
    ["BT.709 red", [255, 0, 0], [63, 102, 240]],
    ["BT.709 green", [0, 255, 0], [173, 42, 26]],
    ["BT.709 blue", [0, 0, 255], [32, 240, 118]],
  ])("converts %s to limited-range BT.709 YUV", (_name, rgb, [y, u, v]) => {
    const yuv = rgbToYuv(solidRgb(4, 2, rgb), 4, 2);
    expect([...yuv.y.data]).toEqual(new Array(8).fill(y));
    expect([...yuv.u.data]).toEqual([u, u]);
    expect([...yuv.v.data]).toEqual([v, v]);
  });
});

describe("ViewSampler", () => {
  it("reproduces the picture exactly when the view is the whole picture at the same size", () => {
    const img = rampImage(64, 36);
    const sampler = new ViewSampler(img, 64, 36);
    const frame = new Uint8Array(yuv420Layout(64, 36).frameSize);
    sampler.render(IDENTITY_VIEW, frame);
    expect(frame.subarray(0, 64 * 36)).toEqual(img.y.data);
    expect(frame.subarray(64 * 36).every((b, i) => b === (i < 32 * 18 ? 90 : 170))).toBe(true);
  });

  it("interpolates between pixels for sub-pixel positions (a quarter-pixel move changes values by a quarter step)", () => {
    const width = 40;
    const img: YuvImage = {
      y: { data: new Uint8Array(width * 2).map((_, i) => (i % width) * 4), width, height: 2 },
      u: { data: new Uint8Array(width / 2).fill(128), width: width / 2, height: 1 },
      v: { data: new Uint8Array(width / 2).fill(128), width: width / 2, height: 1 },
    };
    // Zoom 4: 10 output pixels span 10 source pixels of the 40-pixel row.
    const sampler = new ViewSampler(img, 10, 2);
    const frame = new Uint8Array(yuv420Layout(10, 2).frameSize);
    sampler.render({ zoom: 4, centerX: 0.125 + 0.25 / 40, centerY: 0.5 }, frame);
    const a = [...frame.subarray(0, 10)];
    sampler.render({ zoom: 4, centerX: 0.125, centerY: 0.5 }, frame);
    const b = [...frame.subarray(0, 10)];
    // Shifting the view by a quarter source pixel moves every sample by a quarter of the 4-level step.
    a.forEach((v, i) => expect(v - b[i]).toBe(1));
  });

  it("keeps every lookup inside the picture for any view, size and zoom (no borders, no reads past the edge)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 80 }).map((n) => n * 2),
        fc.integer({ min: 1, max: 200 }),
        fc.double({ min: 0.5, max: 3, noNaN: true }),
        fc.double({ min: -0.5, max: 1.5, noNaN: true }),
        fc.double({ min: -0.5, max: 1.5, noNaN: true }),
        (pw, outW, zoom, cx, cy) => {
          const v = clampView({ zoom, centerX: cx, centerY: cy });
          expect(v.zoom).toBeGreaterThanOrEqual(1);
          expect(v.centerX - 0.5 / v.zoom).toBeGreaterThanOrEqual(-1e-12);
          expect(v.centerX + 0.5 / v.zoom).toBeLessThanOrEqual(1 + 1e-12);
          const t = createAxisTable(outW);
          fillAxisTable(t, outW, 0.5, 1, outW, v.centerX - 0.5 / v.zoom, v.zoom, pw);
          const bad: number[] = [];
          for (let i = 0; i < outW; i++) {
            const inside = t.index[i] >= 0 && t.index[i] <= pw - 2 && t.frac[i] >= 0 && t.frac[i] <= 256;
            const ordered = i === 0 || t.index[i] * 256 + t.frac[i] >= t.index[i - 1] * 256 + t.frac[i - 1];
            if (!inside || !ordered) bad.push(i);
          }
          expect(bad).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });
});
