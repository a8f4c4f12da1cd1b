// Warms a freshly started child process before it takes a job: runs each hot path (audio synthesis,
// colour conversion, the SIMD and TypeScript samplers) once on tiny inputs so that V8 has compiled and
// optimised them, and the job's first second is not spent in the interpreter. Takes ~0.2 s of CPU
// while the child waits idle; never affects any output.
import { AMBIENCE_KINDS, AUDIO_SAMPLE_RATE, synthesizeAudioBed } from "./audio.js";
import { rgbToYuv, ViewSampler, yuv420Layout } from "./sampler.js";
import { createSimdKernels, simdCapacity } from "./simd.js";
import { SimdViewSampler, simdSamplerScratchBytes } from "./simd-sampler.js";

export function warmUp(): void {
  for (const kind of AMBIENCE_KINDS) synthesizeAudioBed({ prompt: kind, seed: 1, samples: AUDIO_SAMPLE_RATE / 2 });
  const w = 128;
  const h = 72;
  const rgb = new Uint8Array(w * h * 3).map((_, i) => (i * 7) & 255);
  const image = rgbToYuv(rgb, w, h);
  const L = yuv420Layout(w - 16, h - 8);
  const kernels = createSimdKernels(simdCapacity([w * h, (w * h) / 4, (w * h) / 4, L.frameSize, ...simdSamplerScratchBytes(w - 16, h - 8)]));
  const frame = kernels ? kernels.alloc(L.frameSize) : new Uint8Array(L.frameSize);
  const sampler = kernels ? new SimdViewSampler(kernels, image, w - 16, h - 8) : new ViewSampler(image, w - 16, h - 8);
  for (let i = 0; i < 300; i++) sampler.render({ zoom: 1 + i / 3000, centerX: 0.5, centerY: 0.5 }, frame);
  if (kernels) kernels.blend(frame.byteOffset, frame.byteOffset, 4, 16384);
}
