// Turns an RGB image into BT.709 limited-range YUV planes at a working scale, and samples a moving
// view of those planes into yuv420p output frames with separable fixed-point bilinear filtering.
// Everything runs in tight typed-array loops so that a 2160p frame costs a few milliseconds.

/** One 8-bit plane. */
export interface Plane {
  data: Uint8Array;
  width: number;
  height: number;
}

/** A picture prepared for sampling: full-resolution luma and 2x2-averaged chroma. */
export interface YuvImage {
  y: Plane;
  u: Plane;
  v: Plane;
}

/**
 * The visible part of the picture, in normalised picture coordinates ([0,1] across the cover-cropped
 * image): `zoom` >= 1 and the view's centre. `viewToRect` keeps the view inside the picture.
 */
export interface View {
  zoom: number;
  centerX: number;
  centerY: number;
}

export const IDENTITY_VIEW: View = { zoom: 1, centerX: 0.5, centerY: 0.5 };

/**
 * Converts interleaved 8-bit RGB (3 bytes per pixel) to BT.709 limited-range YUV; width and height must
 * be even. `alloc` provides the planes' memory (for example inside the SIMD kernels' memory).
 */
export function rgbToYuv(rgb: Uint8Array, width: number, height: number, alloc: (bytes: number) => Uint8Array = (n) => new Uint8Array(n)): YuvImage {
  if (width % 2 || height % 2) throw new Error(`working size must be even, got ${width}x${height}`);
  const y = alloc(width * height);
  const cw = width / 2;
  const ch = height / 2;
  const u = alloc(cw * ch);
  const v = alloc(cw * ch);
  // BT.709: Y' = 0.2126 R + 0.7152 G + 0.0722 B; limited range 16-235 luma, 16-240 chroma.
  // Fixed point with 16 fractional bits.
  const kYR = Math.round(0.2126 * (219 / 255) * 65536);
  const kYG = Math.round(0.7152 * (219 / 255) * 65536);
  const kYB = Math.round(0.0722 * (219 / 255) * 65536);
  const cbScale = (224 / 255) / 1.8556;
  const crScale = (224 / 255) / 1.5748;
  const kUR = Math.round(-0.2126 * cbScale * 65536);
  const kUG = Math.round(-0.7152 * cbScale * 65536);
  const kUB = Math.round((1 - 0.0722) * cbScale * 65536);
  const kVR = Math.round((1 - 0.2126) * crScale * 65536);
  const kVG = Math.round(-0.7152 * crScale * 65536);
  const kVB = Math.round(-0.0722 * crScale * 65536);
  for (let row = 0; row < height; row++) {
    let s = row * width * 3;
    let d = row * width;
    for (let col = 0; col < width; col++, s += 3, d++) {
      y[d] = (16 << 16) + kYR * rgb[s] + kYG * rgb[s + 1] + kYB * rgb[s + 2] + 32768 >> 16;
    }
  }
  for (let row = 0; row < ch; row++) {
    for (let col = 0; col < cw; col++) {
      const a = (2 * row * width + 2 * col) * 3;
      const b = a + width * 3;
      // Average the 2x2 block in RGB (times 4), then convert.
      const r = rgb[a] + rgb[a + 3] + rgb[b] + rgb[b + 3];
      const g = rgb[a + 1] + rgb[a + 4] + rgb[b + 1] + rgb[b + 4];
      const bl = rgb[a + 2] + rgb[a + 5] + rgb[b + 2] + rgb[b + 5];
      const i = row * cw + col;
      u[i] = clamp8(((128 << 18) + kUR * r + kUG * g + kUB * bl + (1 << 17)) >> 18);
      v[i] = clamp8(((128 << 18) + kVR * r + kVG * g + kVB * bl + (1 << 17)) >> 18);
    }
  }
  return { y: { data: y, width, height }, u: { data: u, width: cw, height: ch }, v: { data: v, width: cw, height: ch } };
}

function clamp8(x: number): number {
  return x < 0 ? 0 : x > 255 ? 255 : x;
}

/** Clamps a view so that it never shows anything outside the picture (no borders, ever). */
export function clampView(view: View): View {
  const zoom = Math.max(1, view.zoom);
  const half = 0.5 / zoom;
  return {
    zoom,
    centerX: Math.min(1 - half, Math.max(half, view.centerX)),
    centerY: Math.min(1 - half, Math.max(half, view.centerY)),
  };
}

/** Lookup tables for one axis of one plane: integer source index and 8-bit fraction per output sample. */
export interface AxisTable {
  index: Int32Array;
  frac: Int32Array;
}

export function createAxisTable(length: number): AxisTable {
  return { index: new Int32Array(length), frac: new Int32Array(length) };
}

/**
 * Fills `table` with the source positions of `count` output samples.
 * Output sample i sits at output-luma position `first + i * spacing` (in output pixels, 0 = left edge);
 * the view spans `outputSize` output pixels and `[viewStart, viewStart + 1/zoom]` of the picture, which is
 * `planeSize` plane pixels wide.
 */
export function fillAxisTable(
  table: AxisTable,
  count: number,
  first: number,
  spacing: number,
  outputSize: number,
  viewStart: number,
  zoom: number,
  planeSize: number,
): void {
  const perOutputPixel = planeSize / (outputSize * zoom);
  const origin = viewStart * planeSize - 0.5;
  const last = planeSize - 1;
  const { index, frac } = table;
  for (let i = 0; i < count; i++) {
    let p = origin + (first + i * spacing) * perOutputPixel;
    if (p < 0) p = 0;
    else if (p > last) p = last;
    let k = Math.floor(p);
    let f = Math.round((p - k) * 256);
    if (f === 256) {
      k += 1;
      f = 0;
    }
    if (k >= last) {
      // Keep k + 1 inside the plane: sample the last pixel with full weight.
      k = last - 1;
      f = last > 0 ? 256 : 0;
      if (last === 0) k = 0;
    }
    index[i] = k;
    frac[i] = f;
  }
}

/**
 * Bilinear sample of `src` into `dst[dstOffset ..]` (count.x by count.y samples, row stride = count.x)
 * through precomputed axis tables. 8-bit weights, rounding to nearest.
 */
export function samplePlane(src: Plane, dst: Uint8Array, dstOffset: number, cols: number, rows: number, xt: AxisTable, yt: AxisTable): void {
  const s = src.data;
  const sw = src.width;
  const xi = xt.index;
  const xf = xt.frac;
  const singleRow = src.height === 1;
  for (let r = 0; r < rows; r++) {
    const r0 = yt.index[r] * sw;
    const r1 = singleRow ? r0 : r0 + sw;
    const fy = yt.frac[r];
    const fy1 = 256 - fy;
    let d = dstOffset + r * cols;
    for (let c = 0; c < cols; c++, d++) {
      const k = xi[c];
      const fx = xf[c];
      const a0 = s[r0 + k];
      const b0 = s[r1 + k];
      const top = (a0 << 8) + (s[r0 + k + 1] - a0) * fx;
      const bot = (b0 << 8) + (s[r1 + k + 1] - b0) * fx;
      dst[d] = (top * fy1 + bot * fy + 32768) >>> 16;
    }
  }
}

/** `dst = dst + (other - dst) * weight / 256` over `length` bytes; weight in 0..256. */
export function blendInto(dst: Uint8Array, other: Uint8Array, length: number, weight: number): void {
  if (weight <= 0) return;
  if (weight >= 256) {
    dst.set(other.subarray(0, length));
    return;
  }
  for (let i = 0; i < length; i++) {
    const a = dst[i];
    dst[i] = a + (((other[i] - a) * weight + 128) >> 8);
  }
}

/**
 * A radial weight over one plane without a per-pixel table: the squared distance from the frame's centre
 * is a sum of a column term and a row term, so the weight is `lut[qx[col] + qy[row]]`.
 */
export interface RadialWeights {
  qx: Uint16Array;
  qy: Uint16Array;
  lut: Uint8Array;
}

const RADIAL_STEPS = 512;

/**
 * Weights for a plane of `cols` x `rows` samples at output positions `first + i * step` (output pixels):
 * 0 inside `inner` (as a fraction of the centre-to-corner distance), rising smoothly to 255 at `outer`.
 */
export function radialWeights(cols: number, rows: number, firstX: number, stepX: number, firstY: number, stepY: number, outW: number, outH: number, inner: number, outer: number): RadialWeights {
  // Squared distance as a fraction of the corner's (0.5^2 + 0.5^2), split into column and row parts.
  const part = (pos: number, size: number) => Math.round((((pos / size - 0.5) ** 2) / 0.5) * RADIAL_STEPS);
  const qx = Uint16Array.from({ length: cols }, (_, i) => part(firstX + i * stepX, outW));
  const qy = Uint16Array.from({ length: rows }, (_, i) => part(firstY + i * stepY, outH));
  const lut = Uint8Array.from({ length: 2 * RADIAL_STEPS + 2 }, (_, i) => {
    const t = Math.min(1, Math.max(0, (Math.sqrt(i / RADIAL_STEPS) - inner) / (outer - inner)));
    return Math.round(255 * t * t * (3 - 2 * t));
  });
  return { qx, qy, lut };
}

/** `dst += (other - dst) * radialWeight * weight / 65536` over one plane at `offset`; weight in 0..256. */
export function blendRadial(dst: Uint8Array, other: Uint8Array, offset: number, cols: number, rows: number, w: RadialWeights, weight: number): void {
  if (weight <= 0) return;
  const { qx, qy, lut } = w;
  for (let r = 0; r < rows; r++) {
    const qr = qy[r];
    let i = offset + r * cols;
    for (let c = 0; c < cols; c++, i++) {
      const a = dst[i];
      const m = lut[qx[c] + qr] * weight;
      dst[i] = a + (((other[i] - a) * m + 32768) >> 16);
    }
  }
}

/** Sizes of the three planes of a yuv420p frame. */
export function yuv420Layout(width: number, height: number): { ySize: number; cWidth: number; cHeight: number; cSize: number; frameSize: number } {
  const cWidth = Math.ceil(width / 2);
  const cHeight = Math.ceil(height / 2);
  const ySize = width * height;
  const cSize = cWidth * cHeight;
  return { ySize, cWidth, cHeight, cSize, frameSize: ySize + 2 * cSize };
}

/**
 * Renders views of one picture into yuv420p frames of a fixed output size. Axis tables are
 * recomputed per frame (cheap: one entry per output column and row).
 */
export class ViewSampler {
  private readonly layout;
  private readonly tables;

  constructor(readonly image: YuvImage, readonly width: number, readonly height: number) {
    this.layout = yuv420Layout(width, height);
    this.tables = {
      yx: createAxisTable(width),
      yy: createAxisTable(height),
      cx: createAxisTable(this.layout.cWidth),
      cy: createAxisTable(this.layout.cHeight),
    };
  }

  /** Writes the view into `frame` (a yuv420p buffer of the output size). */
  render(view: View, frame: Uint8Array): void {
    const v = clampView(view);
    const { width: W, height: H, image, tables: t, layout: L } = this;
    const left = v.centerX - 0.5 / v.zoom;
    const top = v.centerY - 0.5 / v.zoom;
    fillAxisTable(t.yx, W, 0.5, 1, W, left, v.zoom, image.y.width);
    fillAxisTable(t.yy, H, 0.5, 1, H, top, v.zoom, image.y.height);
    samplePlane(image.y, frame, 0, W, H, t.yx, t.yy);
    // Chroma: MPEG-2 siting (co-sited with even luma columns, between luma rows), the x264 default.
    fillAxisTable(t.cx, L.cWidth, 0.5, 2, W, left, v.zoom, image.u.width);
    fillAxisTable(t.cy, L.cHeight, 1, 2, H, top, v.zoom, image.u.height);
    samplePlane(image.u, frame, L.ySize, L.cWidth, L.cHeight, t.cx, t.cy);
    samplePlane(image.v, frame, L.ySize + L.cSize, L.cWidth, L.cHeight, t.cx, t.cy);
  }
}
