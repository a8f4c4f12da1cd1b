// Unit tests of the WebAssembly SIMD kernels, checked against the TypeScript sampler and blend that
// serve as their reference.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { blendInto, ViewSampler, yuv420Layout, type YuvImage } from "./sampler.js";
import { createSimdKernels, simdCapacity } from "./simd.js";
import { SimdViewSampler, simdSamplerScratchBytes } from "./simd-sampler.js";

function texturedImage(w: number, h: number): YuvImage {
  const plane = (pw: number, ph: number, seed: number) => ({
    data: new Uint8Array(pw * ph).map((_, i) => Math.round(128 + 100 * Math.sin(i * 0.37 + seed) * Math.cos((i % pw) * 0.05))),
    width: pw,
    height: ph,
  });
  return { y: plane(w, h, 1), u: plane(w / 2, h / 2, 2), v: plane(w / 2, h / 2, 3) };
}

describe("WebAssembly SIMD kernels", () => {
  it("assemble, validate and instantiate on this Node", () => {
    expect(createSimdKernels(1 << 16)).toBeDefined();
  });

  it("render the same frames as the TypeScript sampler to within 2 levels, for any view and size", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }).map((n) => n * 2),
        fc.integer({ min: 1, max: 30 }).map((n) => n * 2),
        fc.double({ min: 1, max: 1.15, noNaN: true }),
        fc.double({ min: 1, max: 2, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (W, H, scale, zoom, cx, cy) => {
          const iw = Math.max(2, 2 * Math.round((W * scale) / 2));
          const ih = Math.max(2, 2 * Math.round((H * scale) / 2));
          const image = texturedImage(iw, ih);
          const L = yuv420Layout(W, H);
          const k = createSimdKernels(simdCapacity([iw * ih, (iw * ih) / 4, (iw * ih) / 4, L.frameSize, ...simdSamplerScratchBytes(W, H)]))!;
          const simdFrame = k.alloc(L.frameSize);
          const tsFrame = new Uint8Array(L.frameSize);
          const view = { zoom, centerX: cx, centerY: cy };
          new SimdViewSampler(k, image, W, H).render(view, simdFrame);
          new ViewSampler(image, W, H).render(view, tsFrame);
          let worst = 0;
          for (let i = 0; i < L.frameSize; i++) worst = Math.max(worst, Math.abs(simdFrame[i] - tsFrame[i]));
          expect(worst).toBeLessThanOrEqual(2);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("crossfade like the TypeScript blend, exactly at the ends", () => {
    const n = 1000;
    const k = createSimdKernels(simdCapacity([n, n]))!;
    const a = k.alloc(n);
    const b = k.alloc(n);
    for (const weight of [0, 0.1, 0.5, 0.9, 32767 / 32768]) {
      const src = new Uint8Array(n).map((_, i) => (i * 37) & 255);
      const other = new Uint8Array(n).map((_, i) => (i * 91 + 7) & 255);
      a.set(src);
      b.set(other);
      const w = Math.min(32767, Math.round(weight * 32768));
      if (w > 0) k.blend(a.byteOffset, b.byteOffset, Math.ceil(n / 16), w);
      const ts = Uint8Array.from(src);
      blendInto(ts, other, n, Math.round(weight * 256));
      let worst = 0;
      for (let i = 0; i < n; i++) worst = Math.max(worst, Math.abs(a[i] - ts[i]));
      expect(worst).toBeLessThanOrEqual(1);
      if (weight === 0) expect(a).toEqual(src);
      if (w === 32767) expect(a).toEqual(other);
    }
  });
});
