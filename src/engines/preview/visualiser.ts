// The preview engine's picture for audio-to-video without an image: a visualisation of the input
// audio, drawn straight into yuv420p frames. A seeded gradient background, a spectrum of log-spaced
// bars (FFT of the audio around each frame's time, fast attack and slow fall) and an oscilloscope
// trace of the frame's samples. Deterministic: the same audio, prompt, seed and size give the same frames.
import { Random } from "./audio.js";
import { yuv420Layout } from "./sampler.js";

export const VISUALISER_BANDS = 48;
const FFT_SIZE = 2048;
const LOW_HZ = 40;
const HIGH_HZ = 16_000;
/** dB range mapped onto the bars' height (0 dB = a full-scale sine). */
const FLOOR_DB = -72;
/** Fraction of a bar's height kept from one frame to the next when the level falls. */
const FALL = 0.82;

export interface VisualiserSpec {
  width: number;
  height: number;
  fps: number;
  numFrames: number;
  seed: number;
  prompt: string;
}

/** BT.709 limited-range Y'CbCr of an sRGB colour (0..255 each). */
export function rgbToYcbcr(r: number, g: number, b: number): [number, number, number] {
  const y = 16 + (219 / 255) * (0.2126 * r + 0.7152 * g + 0.0722 * b);
  const cb = 128 + (224 / 255) * ((b - (0.2126 * r + 0.7152 * g + 0.0722 * b)) / 1.8556);
  const cr = 128 + (224 / 255) * ((r - (0.2126 * r + 0.7152 * g + 0.0722 * b)) / 1.5748);
  const c = (v: number) => Math.max(0, Math.min(255, Math.round(v)));
  return [c(y), c(cb), c(cr)];
}

/** HSL (h in turns, s and l in 0..1) to sRGB 0..255. */
function hsl(h: number, s: number, l: number): [number, number, number] {
  const f = (n: number) => {
    const k = (n + h * 12) % 12;
    const a = s * Math.min(l, 1 - l);
    return 255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1)));
  };
  return [f(0), f(8), f(4)];
}

function hash32(text: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

/** In-place radix-2 complex FFT (re, im of length a power of two). */
export function fft(re: Float64Array, im: Float64Array): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = (-2 * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < len / 2; k++) {
        const a = i + k;
        const b = a + len / 2;
        const tr = re[b]! * cr - im[b]! * ci;
        const ti = re[b]! * ci + im[b]! * cr;
        re[b] = re[a]! - tr;
        im[b] = im[a]! - ti;
        re[a] = re[a]! + tr;
        im[a] = im[a]! + ti;
        const next = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = next;
      }
    }
  }
}

/**
 * Bar heights (0..1) per frame and band from mono samples at `sampleRate`: the Hann-windowed FFT of
 * FFT_SIZE samples centred on each frame's middle, band levels in dB mapped onto 0..1 from FLOOR_DB,
 * with a fast attack and a slow fall from frame to frame.
 */
export function spectrumBars(mono: Float32Array, sampleRate: number, fps: number, numFrames: number, bands = VISUALISER_BANDS): Float32Array {
  const out = new Float32Array(numFrames * bands);
  const re = new Float64Array(FFT_SIZE);
  const im = new Float64Array(FFT_SIZE);
  const hann = Float64Array.from({ length: FFT_SIZE }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (FFT_SIZE - 1)));
  // Band edges in FFT bins, log-spaced; each band at least one bin wide.
  const binHz = sampleRate / FFT_SIZE;
  const edges: number[] = [];
  for (let b = 0; b <= bands; b++) edges.push(Math.max(1, Math.round((LOW_HZ * (HIGH_HZ / LOW_HZ) ** (b / bands)) / binHz)));
  // A full-scale sine's peak magnitude with this window is FFT_SIZE / 4.
  const ref = FFT_SIZE / 4;
  const prev = new Float32Array(bands);
  for (let n = 0; n < numFrames; n++) {
    const centre = Math.round(((n + 0.5) / fps) * sampleRate);
    for (let i = 0; i < FFT_SIZE; i++) {
      const at = centre - FFT_SIZE / 2 + i;
      re[i] = (at >= 0 && at < mono.length ? mono[at]! : 0) * hann[i]!;
      im[i] = 0;
    }
    fft(re, im);
    for (let b = 0; b < bands; b++) {
      const lo = Math.min(edges[b]!, FFT_SIZE / 2 - 1);
      const hi = Math.max(lo + 1, Math.min(edges[b + 1]!, FFT_SIZE / 2));
      let peak = 0;
      for (let k = lo; k < hi; k++) peak = Math.max(peak, Math.hypot(re[k]!, im[k]!));
      const db = 20 * Math.log10(peak / ref + 1e-12);
      const level = Math.max(0, Math.min(1, (db - FLOOR_DB) / -FLOOR_DB));
      const h = Math.max(level, prev[b]! * FALL);
      prev[b] = h;
      out[n * bands + b] = h;
    }
  }
  return out;
}

/** Mono mix (-1..1) of interleaved 16-bit stereo PCM. */
export function monoOf(pcm: Uint8Array): Float32Array {
  const frames = Math.floor(pcm.length / 4);
  const view = new DataView(pcm.buffer, pcm.byteOffset, pcm.length);
  const mono = new Float32Array(frames);
  for (let i = 0; i < frames; i++) mono[i] = (view.getInt16(4 * i, true) + view.getInt16(4 * i + 2, true)) / 65536;
  return mono;
}

/**
 * Renders frame n of the visualisation into yuv420p frames from its own pool, like the camera-move
 * renderer (same `frames` / `render` shape, so the encoder loop is shared).
 */
export class AudioVisualiser {
  readonly kind = "audio-visualiser" as const;
  readonly sampler = "visualiser" as const;
  readonly frames: Uint8Array[];
  readonly frameSize: number;
  private readonly background: Uint8Array;
  private readonly bars: Float32Array;
  private readonly barColours: [number, number, number][];
  private readonly traceColour: [number, number, number];
  private readonly layout: ReturnType<typeof yuv420Layout>;

  constructor(private readonly spec: VisualiserSpec, private readonly mono: Float32Array, sampleRate: number, framePool = 2) {
    const { width, height } = spec;
    this.layout = yuv420Layout(width, height);
    this.frameSize = this.layout.frameSize;
    this.frames = Array.from({ length: framePool }, () => new Uint8Array(this.frameSize));
    const random = new Random(hash32(spec.prompt, spec.seed));
    const hue = random.next();
    const spread = 0.15 + random.next() * 0.35;
    const top = hsl(hue, 0.55, 0.16 + random.next() * 0.08);
    const bottom = hsl((hue + 0.5 + random.signed() * 0.1) % 1, 0.5, 0.05 + random.next() * 0.05);
    this.background = this.paintBackground(top, bottom);
    this.barColours = Array.from({ length: VISUALISER_BANDS }, (_, b) => rgbToYcbcr(...hsl((hue + 0.5 + (spread * b) / VISUALISER_BANDS) % 1, 0.75, 0.58)));
    this.traceColour = rgbToYcbcr(...hsl((hue + 0.08) % 1, 0.35, 0.9));
    this.bars = spectrumBars(mono, sampleRate, spec.fps, spec.numFrames);
    this.sampleRate = sampleRate;
  }

  private readonly sampleRate: number;

  private paintBackground(top: [number, number, number], bottom: [number, number, number]): Uint8Array {
    const { width, height } = this.spec;
    const L = this.layout;
    const bg = new Uint8Array(this.frameSize);
    for (let row = 0; row < height; row++) {
      const t = height > 1 ? row / (height - 1) : 0;
      const [y] = rgbToYcbcr(...(top.map((c, i) => c * (1 - t) + bottom[i]! * t) as [number, number, number]));
      bg.fill(y, row * width, (row + 1) * width);
    }
    for (let row = 0; row < L.cHeight; row++) {
      const t = L.cHeight > 1 ? row / (L.cHeight - 1) : 0;
      const [, u, v] = rgbToYcbcr(...(top.map((c, i) => c * (1 - t) + bottom[i]! * t) as [number, number, number]));
      bg.fill(u, L.ySize + row * L.cWidth, L.ySize + (row + 1) * L.cWidth);
      bg.fill(v, L.ySize + L.cSize + row * L.cWidth, L.ySize + L.cSize + (row + 1) * L.cWidth);
    }
    return bg;
  }

  /** Fills a rectangle (luma pixel coordinates, clipped) with one colour. */
  private fillRect(frame: Uint8Array, x0: number, y0: number, x1: number, y1: number, [y, u, v]: [number, number, number]): void {
    const { width, height } = this.spec;
    const L = this.layout;
    x0 = Math.max(0, Math.floor(x0));
    y0 = Math.max(0, Math.floor(y0));
    x1 = Math.min(width, Math.ceil(x1));
    y1 = Math.min(height, Math.ceil(y1));
    if (x1 <= x0 || y1 <= y0) return;
    for (let row = y0; row < y1; row++) frame.fill(y, row * width + x0, row * width + x1);
    const cx0 = x0 >> 1;
    const cx1 = (x1 + 1) >> 1;
    for (let row = y0 >> 1; row < (y1 + 1) >> 1; row++) {
      frame.fill(u, L.ySize + row * L.cWidth + cx0, L.ySize + row * L.cWidth + cx1);
      frame.fill(v, L.ySize + L.cSize + row * L.cWidth + cx0, L.ySize + L.cSize + row * L.cWidth + cx1);
    }
  }

  /** Writes frame n into `frame` (one of `frames`). */
  render(n: number, frame: Uint8Array): void {
    const { width, height, fps } = this.spec;
    frame.set(this.background);
    // Spectrum: bars standing on a baseline at 88 % of the height, up to 55 % of the height tall.
    const base = height * 0.88;
    const maxH = height * 0.55;
    const margin = width * 0.06;
    const slot = (width - 2 * margin) / VISUALISER_BANDS;
    const barW = Math.max(1, slot * 0.7);
    for (let b = 0; b < VISUALISER_BANDS; b++) {
      const h = Math.max(height / 270, this.bars[n * VISUALISER_BANDS + b]! * maxH);
      const x = margin + b * slot + (slot - barW) / 2;
      this.fillRect(frame, x, base - h, x + barW, base, this.barColours[b]!);
    }
    // Oscilloscope: this frame's samples across the width, centred at 22 % of the height.
    const mid = height * 0.22;
    const amp = height * 0.14;
    const thick = Math.max(2, Math.round(height / 360));
    const first = Math.floor((n / fps) * this.sampleRate);
    const count = Math.max(1, Math.floor(this.sampleRate / fps));
    let prevY = mid;
    for (let x = 0; x < width; x += 2) {
      const at = first + Math.floor((x / width) * count);
      const s = at < this.mono.length ? this.mono[at]! : 0;
      const y = mid - Math.max(-1, Math.min(1, s * 2)) * amp;
      const lo = Math.min(prevY, y) - thick / 2;
      const hi = Math.max(prevY, y) + thick / 2;
      this.fillRect(frame, x, lo, x + 2, hi, this.traceColour);
      prevY = y;
    }
  }
}
