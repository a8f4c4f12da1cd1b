// The preview engine's pipeline, run inside its child process: prepares the pictures once as YUV planes
// at a working scale, renders every frame from the motion plan into a small pool of yuv420p buffers,
// streams them to ffmpeg as they are made, and muxes the synthesised audio bed. For audio-to-video the
// input audio (conformed to the clip) is muxed instead, and without an image a visualisation of it is drawn.
import fsp from "node:fs/promises";
import path from "node:path";
import sharp from "sharp";
import type { CameraMotion } from "../../endpoints.js";
import { peakRssOf, startEncoder, wavFile, type EncoderStats, type FrameEncoder } from "../../media/encoder.js";
import { AUDIO_SAMPLE_RATE, synthesizeAudioBed } from "./audio.js";
import { conformInputAudio } from "./input-audio.js";
import { AudioVisualiser, monoOf } from "./visualiser.js";
import { chooseMotion, MAX_ZOOM, planMotion, type FramePlan, type MotionKind } from "./motion.js";
import { blendInto, blendRadial, radialWeights, rgbToYuv, ViewSampler, yuv420Layout, type RadialWeights, type View, type YuvImage } from "./sampler.js";
import { createSimdKernels, simdCapacity, type SimdKernels } from "./simd.js";
import { SimdViewSampler, simdSamplerScratchBytes, type FrameSampler } from "./simd-sampler.js";

/** Frames in flight: one being rendered while the other is taken by ffmpeg's pipe (ffmpeg buffers more). */
const FRAME_POOL_SIZE = 2;

// One job per process: nothing to gain from libvips' operation cache, and it would hold decoded pixels.
sharp.cache(false);

/** Everything the child needs to make one clip (plain data: it crosses the IPC channel). */
export interface PreviewSpec {
  prompt: string;
  /** The picture to animate; absent only with an input audio, which is then visualised instead. */
  startImagePath?: string;
  endImagePath?: string;
  width: number;
  height: number;
  fps: number;
  numFrames: number;
  generateAudio: boolean;
  /** Audio-to-video: the checked input audio, laid under the clip instead of the audio bed. */
  inputAudioPath?: string;
  /** ffmpeg demuxer of inputAudioPath. */
  inputAudioDemuxer?: string;
  seed: number;
  cameraMotion?: CameraMotion;
  outputPath: string;
  workDir: string;
  x264Preset: string;
  ffmpegPath?: string;
}

export interface RenderHooks {
  progress(stage: string, step: number, total: number): void;
  log(level: "DEBUG" | "INFO" | "WARN" | "ERROR", message: string): void;
}

/** A picture whose header has been read; `start()` begins the decode on sharp's threads. */
export interface PendingImage {
  /** Working size (even numbers), at most MAX_ZOOM x the output size (times `scale`). */
  width: number;
  height: number;
  /** Starts decoding (once); the promise resolves to packed RGB at the working size. */
  start(): Promise<Uint8Array>;
  /** Waits for the pixels and converts them to YUV planes in memory from `alloc`. */
  finish(alloc?: (bytes: number) => Uint8Array): Promise<YuvImage>;
}

export interface WorkingImageOptions {
  /** Gaussian blur applied after resizing (the defocused copy for the focus pull). */
  blurSigma?: number;
  /** Fraction of the usual working size; a blurred copy needs no more than half. Default 1. */
  scale?: number;
}

/**
 * Reads an image's header and plans its working copy: cover-cropped to the output's aspect ratio at up
 * to MAX_ZOOM x the output size. Decoding waits for `start()` (or `finish()`), so that several pictures
 * can be decoded one after the other and never hold their full-size pixels at the same time.
 */
export async function planWorkingImage(file: string, width: number, height: number, opts: WorkingImageOptions = {}): Promise<PendingImage> {
  const meta = await sharp(file).metadata();
  const sw = meta.autoOrient?.width ?? meta.width ?? width;
  const sh = meta.autoOrient?.height ?? meta.height ?? height;
  // Width of the cover crop in source pixels; never work above MAX_ZOOM x output (wasted memory and time).
  const cropWidth = Math.min(sw, (sh * width) / height);
  const scale = Math.min(MAX_ZOOM, cropWidth / width) * (opts.scale ?? 1);
  const even = (x: number) => Math.max(2, 2 * Math.round(x / 2));
  const ww = even(width * scale);
  const wh = even(height * scale);
  let decoded: Promise<Uint8Array> | undefined;
  const start = () => {
    if (!decoded) {
      let pipeline = sharp(file, { sequentialRead: true })
        .resize(ww, wh, { fit: "cover", position: "centre", kernel: "lanczos3" })
        .flatten({ background: "#000000" })
        .toColourspace("srgb");
      if (opts.blurSigma) pipeline = pipeline.blur(opts.blurSigma);
      decoded = pipeline
        .raw()
        .toBuffer({ resolveWithObject: true })
        .then(({ data, info }) => {
          if (info.channels !== 3 || info.width !== ww || info.height !== wh) {
            throw new Error(`unexpected decoded image ${info.width}x${info.height}x${info.channels}, wanted ${ww}x${wh}x3`);
          }
          return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        });
      // Avoid an unhandled rejection if the caller fails before awaiting.
      decoded.catch(() => {});
    }
    return decoded;
  };
  return {
    width: ww,
    height: wh,
    start,
    async finish(alloc) {
      const yuv = rgbToYuv(await start(), ww, wh, alloc);
      // Let the decoded RGB go (tens of MB at 2160p); this picture is converted once.
      decoded = Promise.reject(new Error(`${file} was already converted`));
      decoded.catch(() => {});
      return yuv;
    },
  };
}

/** Loads an image as YUV planes for sampling (see planWorkingImage). */
export async function loadWorkingImage(file: string, width: number, height: number, opts: WorkingImageOptions = {}): Promise<YuvImage> {
  return (await planWorkingImage(file, width, height, opts)).finish();
}

function sameView(a: View, b: View): boolean {
  return a.zoom === b.zoom && a.centerX === b.centerX && a.centerY === b.centerY;
}

function samePlan(a: FramePlan, b: FramePlan): boolean {
  return sameView(a.start, b.start) && a.endWeight === b.endWeight && a.defocus === b.defocus && (!a.end || !b.end || sameView(a.end, b.end)) && !a.end === !b.end;
}

/** The pictures of a clip, as YUV planes. */
export interface ClipImages {
  start: YuvImage;
  end?: YuvImage;
  /** Defocused copy of the start picture, for the focus pull. */
  startBlur?: YuvImage;
}

/**
 * Renders frame n of the clip into yuv420p frames from its own pool (`frames`); holds the prepared
 * pictures and scratch buffers. With WebAssembly SIMD everything lives in one fixed memory and the
 * kernels do the per-pixel work; otherwise the TypeScript sampler does.
 */
export class FrameRenderer {
  readonly kind: MotionKind;
  readonly frameSize: number;
  /** Frames to render into and hand to the encoder (views stay valid for the renderer's life). */
  readonly frames: Uint8Array[];
  /** "simd" or "typescript": which sampler renders. */
  readonly sampler: "simd" | "typescript";
  private readonly plan: (t: number) => FramePlan;
  private readonly start: FrameSampler;
  private readonly end?: FrameSampler;
  private readonly startBlur?: FrameSampler;
  private readonly scratch?: Uint8Array;
  /** Radial weights of the focus pull for luma and chroma planes. */
  private focus?: { luma: RadialWeights; chroma: RadialWeights };
  private lastPlan?: FramePlan;
  private lastFrame?: Uint8Array;

  constructor(
    private readonly spec: Pick<PreviewSpec, "prompt" | "cameraMotion" | "width" | "height" | "numFrames" | "fps" | "seed">,
    images: ClipImages,
    opts: { framePool: number; kernels?: SimdKernels },
  ) {
    const { width, height } = spec;
    const k = opts.kernels;
    this.kind = chooseMotion(spec.prompt, spec.cameraMotion);
    this.plan = planMotion({ kind: this.kind, durationSeconds: spec.numFrames / spec.fps, seed: spec.seed, hasEndImage: Boolean(images.end) });
    const sampler = (img: YuvImage): FrameSampler => (k ? new SimdViewSampler(k, img, width, height) : new ViewSampler(img, width, height));
    this.sampler = k ? "simd" : "typescript";
    this.start = sampler(images.start);
    if (images.end) this.end = sampler(images.end);
    if (images.startBlur) this.startBlur = sampler(images.startBlur);
    const layout = yuv420Layout(width, height);
    this.frameSize = layout.frameSize;
    const alloc = (n: number) => (k ? k.alloc(n) : new Uint8Array(n));
    this.frames = Array.from({ length: opts.framePool }, () => alloc(layout.frameSize));
    if (images.end || images.startBlur) this.scratch = alloc(layout.frameSize);
    this.kernels = k;
    if (images.startBlur) {
      // The subject (the middle) stays sharp; the periphery softens from 30 % of the way to the corners.
      this.focus = {
        luma: radialWeights(width, height, 0.5, 1, 0.5, 1, width, height, 0.3, 0.85),
        chroma: radialWeights(layout.cWidth, layout.cHeight, 0.5, 2, 1, 2, width, height, 0.3, 0.85),
      };
    }
    this.layout = layout;
  }

  private readonly layout: ReturnType<typeof yuv420Layout>;
  private readonly kernels?: SimdKernels;

  /** Kernel memory a renderer needs for these pictures, output size and frame pool. */
  static simdCapacity(images: { width: number; height: number }[], width: number, height: number, framePool: number, scratchFrames: number): number {
    const { frameSize } = yuv420Layout(width, height);
    const blocks: number[] = [];
    for (const img of images) {
      blocks.push(img.width * img.height, (img.width * img.height) / 4, (img.width * img.height) / 4, ...simdSamplerScratchBytes(width, height));
    }
    for (let i = 0; i < framePool + scratchFrames; i++) blocks.push(frameSize);
    return simdCapacity(blocks);
  }

  /** Motion time of frame n: 0 for the first frame, 1 for the last. */
  timeOf(n: number): number {
    return this.spec.numFrames > 1 ? n / (this.spec.numFrames - 1) : 0;
  }

  /** Writes frame n into `frame` (one of `frames`). Reuses the previous frame when nothing moved (static shots cost a copy). */
  render(n: number, frame: Uint8Array): void {
    const plan = this.plan(this.timeOf(n));
    if (this.lastPlan && this.lastFrame && samePlan(plan, this.lastPlan)) {
      if (this.lastFrame !== frame) frame.set(this.lastFrame);
      this.lastFrame = frame;
      return;
    }
    this.drawPicture(this.start, this.startBlur, plan.start, plan.defocus, frame, this.scratch);
    if (this.end && plan.end && plan.endWeight > 0) {
      // The end picture is always drawn sharp: the focus pull happens on the start picture.
      if (plan.endWeight >= 1) this.end.render(plan.end, frame);
      else {
        this.end.render(plan.end, this.scratch!);
        this.blend(frame, this.scratch!, plan.endWeight);
      }
    }
    this.lastPlan = plan;
    this.lastFrame = frame;
  }

  /** frame += (other - frame) * weight, weight in 0..1. */
  private blend(frame: Uint8Array, other: Uint8Array, weight: number): void {
    if (this.kernels) {
      const w = Math.min(32767, Math.round(weight * 32768));
      if (w > 0) this.kernels.blend(frame.byteOffset, other.byteOffset, Math.ceil(this.frameSize / 16), w);
    } else blendInto(frame, other, this.frameSize, Math.round(weight * 256));
  }

  private drawPicture(sharpSampler: FrameSampler, blurSampler: FrameSampler | undefined, view: View, defocus: number, out: Uint8Array, scratch: Uint8Array | undefined): void {
    sharpSampler.render(view, out);
    const weight = Math.round(defocus * 256);
    if (blurSampler && scratch && this.focus && weight > 0) {
      blurSampler.render(view, scratch);
      const L = this.layout;
      blendRadial(out, scratch, 0, this.spec.width, this.spec.height, this.focus.luma, weight);
      blendRadial(out, scratch, L.ySize, L.cWidth, L.cHeight, this.focus.chroma, weight);
      blendRadial(out, scratch, L.ySize + L.cSize, L.cWidth, L.cHeight, this.focus.chroma, weight);
    }
  }
}

/** Asks V8 for a full collection where the engine's child exposes it (it runs with --expose-gc). */
function collectGarbage(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/**
 * Starts preparing the pictures a clip needs: reads every header, starts decoding the start image at
 * once, and resolves to a function that finishes the job and builds the renderer with `framePool`
 * frames. The end image and the defocused copies (half size: a blurred picture needs no more) are
 * decoded one at a time after it, with the decoded RGB let go in between, to keep peak memory low.
 */
export async function startRenderer(spec: PreviewSpec, framePool = FRAME_POOL_SIZE): Promise<() => Promise<FrameRenderer>> {
  if (!spec.startImagePath) throw new Error("the camera-move renderer needs a start image");
  const startImagePath = spec.startImagePath;
  const kind = chooseMotion(spec.prompt, spec.cameraMotion);
  const blurSigma = kind === "focus_shift" ? Math.max(1, Math.min(spec.width, spec.height) / 300) : undefined;
  const plan = (file: string, blur?: number) =>
    planWorkingImage(file, spec.width, spec.height, blur ? { blurSigma: blur, scale: 0.5 } : {});
  const pending = await Promise.all([
    plan(startImagePath),
    spec.endImagePath ? plan(spec.endImagePath) : undefined,
    blurSigma ? plan(startImagePath, blurSigma) : undefined,
  ]);
  void pending[0]!.start();
  const present = pending.filter((p): p is PendingImage => p !== undefined);
  // Matches FrameRenderer: one scratch frame, for the end picture and the defocused copy in turn.
  const scratchFrames = spec.endImagePath || blurSigma ? 1 : 0;
  const kernels = createSimdKernels(FrameRenderer.simdCapacity(present, spec.width, spec.height, framePool, scratchFrames));
  return async () => {
    const alloc = kernels ? (n: number) => kernels.alloc(n) : undefined;
    const images: (YuvImage | undefined)[] = [];
    for (const p of pending) {
      images.push(await p?.finish(alloc));
      collectGarbage();
    }
    const [startImage, end, startBlur] = images;
    return new FrameRenderer(spec, { start: startImage!, end, startBlur }, { framePool, kernels });
  };
}

/** Prepares the pictures a clip needs and builds its renderer. */
export async function prepareRenderer(spec: PreviewSpec, framePool = FRAME_POOL_SIZE): Promise<FrameRenderer> {
  return (await startRenderer(spec, framePool))();
}

export interface RenderMetrics {
  frames: number;
  /** Seconds spent preparing pictures and audio before the first frame. */
  prepareSeconds: number;
  /** Wall seconds of our own frame rendering (the rest of the wall time is ffmpeg). */
  renderSeconds: number;
  /** CPU seconds of our own frame rendering (steadier than wall time on a busy machine). */
  renderCpuSeconds: number;
  /** 1 when the WebAssembly SIMD kernels rendered, 0 for the TypeScript fallback. */
  simd: number;
  wallSeconds: number;
  childMaxRssBytes: number;
  ffmpegMaxRssBytes: number;
  /** CPU seconds (user + system) of the child process during the job, and of ffmpeg. */
  childCpuSeconds: number;
  ffmpegCpuSeconds: number;
  /** Upper bound of the job's peak memory: the child's peak plus ffmpeg's peak. */
  peakRssBytes: number;
  motion: MotionKind | AudioVisualiser["kind"];
}

/** Makes the whole clip. Aborting `signal` kills ffmpeg and rejects. */
export async function renderPreview(spec: PreviewSpec, hooks: RenderHooks, signal?: AbortSignal): Promise<RenderMetrics> {
  const began = performance.now();
  const cpuAtStart = process.cpuUsage();
  hooks.progress("prepare", 0, 1);
  signal?.throwIfAborted();

  let encoder: FrameEncoder | undefined;
  let audioPath: string | undefined;
  const onAbort = () => encoder?.kill();
  signal?.addEventListener("abort", onAbort, { once: true });
  let renderSeconds = 0;
  let renderCpuMicros = 0;
  let prepareSeconds = 0;
  let stats: EncoderStats;
  let renderer: FrameRenderer | AudioVisualiser;
  try {
    // Pictures decode on sharp's threads while this thread synthesises (or decodes) the audio.
    const finishRenderer = spec.startImagePath ? await startRenderer(spec) : undefined;
    let inputPcm: Buffer | undefined;
    if (spec.inputAudioPath) {
      const samples = Math.round((spec.numFrames / spec.fps) * AUDIO_SAMPLE_RATE);
      inputPcm = await conformInputAudio({
        inputPath: spec.inputAudioPath,
        demuxer: spec.inputAudioDemuxer ?? "",
        samples,
        ffmpegPath: spec.ffmpegPath,
        signal,
      });
      audioPath = path.join(spec.workDir, `preview-audio-${process.pid}.wav`);
      await fsp.writeFile(audioPath, wavFile(inputPcm, AUDIO_SAMPLE_RATE, 2));
      hooks.log("INFO", `Input audio laid under the clip: ${(samples / AUDIO_SAMPLE_RATE).toFixed(3)} s at 48 kHz stereo (trimmed or padded with silence)`);
    } else if (spec.generateAudio) {
      const samples = Math.round((spec.numFrames / spec.fps) * AUDIO_SAMPLE_RATE);
      const bed = synthesizeAudioBed({ prompt: spec.prompt, seed: spec.seed, samples });
      audioPath = path.join(spec.workDir, `preview-audio-${process.pid}.wav`);
      await fsp.writeFile(audioPath, wavFile(bed.pcm, AUDIO_SAMPLE_RATE, 2));
      hooks.log("INFO", `Audio bed: ${bed.ambience.join(" + ")}, ${bed.loudness.toFixed(1)} LUFS integrated`);
    }
    signal?.throwIfAborted();
    // ffmpeg opens the audio file as it starts, so it starts once the file is written; its start-up
    // still overlaps the last of the picture preparation.
    encoder = startEncoder(
      { width: spec.width, height: spec.height, fps: spec.fps, preset: spec.x264Preset, audioPath, outputPath: spec.outputPath },
      { ffmpegPath: spec.ffmpegPath },
    );
    // Collects each decoded RGB picture once converted, before the frames are touched, so that they
    // never add up in the job's peak memory.
    if (finishRenderer) renderer = await finishRenderer();
    else {
      if (!inputPcm) throw new Error("a clip without a start image needs an input audio to visualise");
      renderer = new AudioVisualiser(spec, monoOf(inputPcm), AUDIO_SAMPLE_RATE, FRAME_POOL_SIZE);
    }
    hooks.log(
      "INFO",
      renderer instanceof AudioVisualiser
        ? "Preview engine (not the LTX-2.3 model): a visualisation of the input audio (spectrum and waveform)"
        : `Preview engine (not the LTX-2.3 model): camera ${renderer.kind}${spec.endImagePath ? ", transition to end image" : ""}, ${renderer.sampler} sampler`,
    );
    hooks.progress("prepare", 1, 1);
    prepareSeconds = (performance.now() - began) / 1000;

    const pool = renderer.frames;
    const inFlight: (Promise<void> | undefined)[] = new Array(pool.length);
    const total = spec.numFrames;
    const every = Math.max(1, Math.ceil(total / 100));
    for (let n = 0; n < total; n++) {
      const slot = n % pool.length;
      await inFlight[slot];
      signal?.throwIfAborted();
      const t0 = performance.now();
      const cpu0 = process.cpuUsage();
      renderer.render(n, pool[slot]);
      const cpu = process.cpuUsage(cpu0);
      renderCpuMicros += cpu.user + cpu.system;
      renderSeconds += (performance.now() - t0) / 1000;
      inFlight[slot] = encoder.write(pool[slot]);
      // Surface a failed write at once rather than at the end.
      inFlight[slot]!.catch(() => {});
      if ((n + 1) % every === 0 || n + 1 === total) hooks.progress("render", n + 1, total);
    }
    await Promise.all(inFlight);
    hooks.progress("encode", 0, 1);
    stats = await encoder.end();
    hooks.progress("encode", 1, 1);
  } catch (err) {
    if (encoder) {
      encoder.kill();
      // Wait for ffmpeg to be gone before removing what it may still be writing.
      await encoder.end().catch(() => {});
    }
    await fsp.rm(spec.outputPath, { force: true });
    if (signal?.aborted) throw signal.reason ?? err;
    throw err;
  } finally {
    signal?.removeEventListener("abort", onAbort);
    if (audioPath) await fsp.rm(audioPath, { force: true });
  }
  // VmHWM, not getrusage: the latter also counts the parent's memory copied when this process was forked.
  const childMaxRssBytes = (await peakRssOf("self")) ?? process.resourceUsage().maxRSS * 1024;
  return {
    frames: spec.numFrames,
    prepareSeconds,
    renderSeconds,
    renderCpuSeconds: renderCpuMicros / 1e6,
    simd: renderer.sampler === "simd" ? 1 : 0,
    wallSeconds: (performance.now() - began) / 1000,
    childMaxRssBytes,
    ffmpegMaxRssBytes: stats.maxRssBytes,
    childCpuSeconds: cpuSecondsOf(process.cpuUsage(cpuAtStart)),
    ffmpegCpuSeconds: stats.userSeconds + stats.systemSeconds,
    peakRssBytes: childMaxRssBytes + stats.maxRssBytes,
    motion: renderer.kind,
  };
}

function cpuSecondsOf(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1e6;
}
