// The SIMD counterpart of ViewSampler: the same views, rendered with the WebAssembly kernels from
// simd.ts over planes copied into the kernels' memory. Per frame only the lookup tables are computed
// here (one entry per output column and row); every pixel goes through the kernels. Each source row is
// filtered horizontally once and kept while the next output row still needs it.
import { clampView, samplePlane, createAxisTable, fillAxisTable, yuv420Layout, type AxisTable, type Plane, type View, type YuvImage } from "./sampler.js";
import type { SimdKernels } from "./simd.js";

export interface FrameSampler {
  render(view: View, frame: Uint8Array): void;
}

/** Per-axis tables for one plane kind (luma or chroma) in the kernels' memory. */
interface ColumnTables {
  cols: number;
  /** Groups of 16 output pixels (the vertical kernel's step). */
  groups16: number;
  bases: Int32Array;
  masks: Uint8Array;
  weights: Int16Array;
  /** Scratch: source index and 7-bit fraction per (padded) output column. */
  index: Int32Array;
  frac: Int32Array;
  /** Plain tables for the TypeScript fallback (used if a group's gather would not fit one vector). */
  fallback: AxisTable;
}

interface RowTables {
  index: Int32Array;
  weight: Int32Array;
  fallback: AxisTable;
}

/** Bytes of kernel memory a SimdViewSampler of this output size needs besides the image planes. */
export function simdSamplerScratchBytes(width: number, height: number): number[] {
  const { cWidth } = yuv420Layout(width, height);
  const sizes: number[] = [];
  for (const cols of [width, cWidth]) {
    const groups8 = 2 * Math.ceil(cols / 16);
    sizes.push(groups8 * 4, groups8 * 16, groups8 * 16);
  }
  const widest = 2 * Math.ceil(width / 16) * 16;
  sizes.push(widest, widest);
  return sizes;
}

export class SimdViewSampler implements FrameSampler {
  private readonly planes: Plane[];
  private readonly layout;
  private readonly luma: ColumnTables;
  private readonly chroma: ColumnTables;
  private readonly lumaRows: RowTables;
  private readonly chromaRows: RowTables;
  private readonly hA: Uint8Array;
  private readonly hB: Uint8Array;
  private readonly usable: boolean;

  /** Uses planes already in the kernels' memory as they are; copies others in (the caller may drop its copy). */
  constructor(private readonly k: SimdKernels, image: YuvImage, readonly width: number, readonly height: number) {
    this.planes = [image.y, image.u, image.v].map((p) => {
      if (p.data.buffer === k.memory.buffer) return p;
      const data = k.alloc(p.data.length);
      data.set(p.data);
      return { data, width: p.width, height: p.height };
    });
    this.layout = yuv420Layout(width, height);
    this.luma = this.columnTables(width);
    this.chroma = this.columnTables(this.layout.cWidth);
    this.lumaRows = { index: new Int32Array(height), weight: new Int32Array(height), fallback: createAxisTable(height) };
    this.chromaRows = { index: new Int32Array(this.layout.cHeight), weight: new Int32Array(this.layout.cHeight), fallback: createAxisTable(this.layout.cHeight) };
    const widest = 2 * Math.ceil(width / 16) * 16;
    this.hA = k.alloc(widest);
    this.hB = k.alloc(widest);
    // Planes of one row or column cannot be filtered between two rows; the fallback handles them.
    this.usable = this.planes.every((p) => p.width >= 2 && p.height >= 2);
  }

  /** The image's planes as they live in the kernels' memory. */
  get image(): YuvImage {
    return { y: this.planes[0], u: this.planes[1], v: this.planes[2] };
  }

  private columnTables(cols: number): ColumnTables {
    const groups16 = Math.ceil(cols / 16);
    const groups8 = 2 * groups16;
    const bases = this.k.alloc(groups8 * 4);
    const masks = this.k.alloc(groups8 * 16);
    const weights = this.k.alloc(groups8 * 16);
    return {
      cols,
      groups16,
      bases: new Int32Array(bases.buffer, bases.byteOffset, groups8),
      masks,
      weights: new Int16Array(weights.buffer, weights.byteOffset, groups8 * 8),
      index: new Int32Array(groups8 * 8),
      frac: new Int32Array(groups8 * 8),
      fallback: createAxisTable(cols),
    };
  }

  /** Fills a plane kind's column tables; false if some group spans more than one 16-byte gather. */
  private fillColumns(t: ColumnTables, first: number, spacing: number, outputSize: number, viewStart: number, zoom: number, planeSize: number): boolean {
    const per = planeSize / (outputSize * zoom);
    const origin = viewStart * planeSize - 0.5;
    const last = planeSize - 1;
    const { index, frac, bases, masks, weights, cols } = t;
    const padded = index.length;
    for (let i = 0; i < padded; i++) {
      const col = i < cols ? i : cols - 1;
      let p = origin + (first + col * spacing) * per;
      if (p < 0) p = 0;
      else if (p > last) p = last;
      let k = Math.floor(p);
      let f = Math.round((p - k) * 128);
      if (f === 128) {
        k += 1;
        f = 0;
      }
      if (k >= last) {
        k = last - 1;
        f = 128;
      }
      index[i] = k;
      frac[i] = f;
    }
    for (let g = 0; g < bases.length; g++) {
      const base = index[g * 8];
      bases[g] = base;
      for (let j = 0; j < 8; j++) {
        const d = index[g * 8 + j] - base;
        if (d < 0 || d > 14) return false;
        masks[g * 16 + j] = d;
        masks[g * 16 + 8 + j] = d + 1;
        weights[g * 8 + j] = frac[g * 8 + j];
      }
    }
    return true;
  }

  private fillRows(t: RowTables, first: number, spacing: number, outputSize: number, viewStart: number, zoom: number, planeSize: number): void {
    const per = planeSize / (outputSize * zoom);
    const origin = viewStart * planeSize - 0.5;
    const last = planeSize - 1;
    for (let r = 0; r < t.index.length; r++) {
      let p = origin + (first + r * spacing) * per;
      if (p < 0) p = 0;
      else if (p > last) p = last;
      let k = Math.floor(p);
      let w = Math.round((p - k) * 32768);
      if (w >= 32768) {
        k += 1;
        w = 0;
      }
      if (k >= last) {
        k = last - 1;
        w = 32767;
      }
      t.index[r] = k;
      t.weight[r] = w;
    }
  }

  /** Samples one plane into `dst` at byte offset `dstOffset` of the kernels' memory. */
  private samplePlaneSimd(src: Plane, dstAddress: number, rows: number, cols: ColumnTables, rowTables: RowTables): void {
    const k = this.k;
    const srcAddress = src.data.byteOffset;
    const stride = src.width;
    const groups8 = cols.groups16 * 2;
    const basesAddress = cols.bases.byteOffset;
    const masksAddress = cols.masks.byteOffset;
    const weightsAddress = cols.weights.byteOffset;
    let top = this.hA.byteOffset;
    let bottom = this.hB.byteOffset;
    let topRow = -1;
    let bottomRow = -1;
    const filter = (row: number, out: number) => k.hrow(srcAddress + row * stride, basesAddress, masksAddress, weightsAddress, out, groups8);
    for (let r = 0; r < rows; r++) {
      const row = rowTables.index[r];
      if (topRow !== row || bottomRow !== row + 1) {
        if (bottomRow === row) {
          // Moving down one source row: the old bottom row becomes the top one.
          const t = top;
          top = bottom;
          bottom = t;
          topRow = row;
        } else if (topRow !== row) {
          filter(row, top);
          topRow = row;
        }
        filter(row + 1, bottom);
        bottomRow = row + 1;
      }
      k.vrow(top, bottom, rowTables.weight[r], dstAddress + r * cols.cols, cols.groups16);
    }
  }

  render(view: View, frame: Uint8Array): void {
    if (frame.buffer !== this.k.memory.buffer) throw new Error("SimdViewSampler renders only into frames allocated in its kernels' memory");
    const v = clampView(view);
    const { width: W, height: H, layout: L, planes } = this;
    const left = v.centerX - 0.5 / v.zoom;
    const top = v.centerY - 0.5 / v.zoom;
    const base = frame.byteOffset;
    const [py, pu, pv] = planes;
    // Luma, then chroma with MPEG-2 siting (see ViewSampler); planes in order, because each may spill
    // up to 15 bytes into the next one, which is then overwritten.
    const lumaOk = this.usable && this.fillColumns(this.luma, 0.5, 1, W, left, v.zoom, py.width);
    this.fillRows(this.lumaRows, 0.5, 1, H, top, v.zoom, py.height);
    if (lumaOk) this.samplePlaneSimd(py, base, H, this.luma, this.lumaRows);
    else this.fallbackPlane(py, frame, 0, W, H, this.luma.fallback, this.lumaRows.fallback, 0.5, 1, 0.5, 1, left, top, v.zoom);
    const chromaOk = this.usable && this.fillColumns(this.chroma, 0.5, 2, W, left, v.zoom, pu.width);
    this.fillRows(this.chromaRows, 1, 2, H, top, v.zoom, pu.height);
    for (const [plane, offset] of [[pu, L.ySize], [pv, L.ySize + L.cSize]] as const) {
      if (chromaOk) this.samplePlaneSimd(plane, base + offset, L.cHeight, this.chroma, this.chromaRows);
      else this.fallbackPlane(plane, frame, offset, L.cWidth, L.cHeight, this.chroma.fallback, this.chromaRows.fallback, 0.5, 2, 1, 2, left, top, v.zoom);
    }
  }

  private fallbackPlane(src: Plane, frame: Uint8Array, offset: number, cols: number, rows: number, xt: AxisTable, yt: AxisTable, fx: number, sx: number, fy: number, sy: number, left: number, top: number, zoom: number): void {
    fillAxisTable(xt, cols, fx, sx, this.width, left, zoom, src.width);
    fillAxisTable(yt, rows, fy, sy, this.height, top, zoom, src.height);
    samplePlane(src, frame, offset, cols, rows, xt, yt);
  }
}
