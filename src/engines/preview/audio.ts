// The preview engine's audio bed: a stereo 48 kHz ambience chosen from the prompt's words (rain, wind,
// sea, fire, city, crowd, birds; a soft tonal drone otherwise), faded in and out, normalised to
// -20 LUFS integrated (ITU-R BS.1770 K-weighted, gated) with peaks kept below -1 dBFS. Deterministic
// from the seed: the same prompt, length and seed give the same samples.
import os from "node:os";

export const AUDIO_SAMPLE_RATE = 48_000;
/** Integrated loudness the bed is normalised to. */
export const TARGET_LUFS = -20;
/** Sample peak ceiling (-1 dBFS) so the AAC encode cannot clip. */
export const PEAK_CEILING = 10 ** (-1 / 20);

export const AMBIENCE_KINDS = ["rain", "wind", "sea", "fire", "city", "crowd", "birds", "drone"] as const;
export type AmbienceKind = (typeof AMBIENCE_KINDS)[number];

const AMBIENCE_WORDS: [AmbienceKind, RegExp][] = [
  ["rain", /\b(rain\w*|drizzl\w*|downpour|storm\w*|showers?|thunder\w*|monsoon)\b/],
  ["wind", /\b(winds?|windy|windswept|breez(e|es|y)|gusts?|gusty|blizzard|gales?)\b/],
  ["sea", /\b(seas?|ocean\w*|waves?|beach\w*|surf\w*|shore\w*|tides?|coast\w*|harbou?r)\b/],
  ["fire", /\b(fires?|flames?|campfire|fireplace|bonfire|burning|embers?|blaze|candle\w*)\b/],
  ["city", /\b(city|cities|street\w*|traffic|urban|downtown|cars?|highway|subway|metropolis|skyline)\b/],
  ["crowd", /\b(crowds?|people|market\w*|audience|party|caf[eé]s?|restaurants?|festival|stadium|busy|chatter)\b/],
  ["birds", /\b(birds?|birdsong|forest\w*|woods|jungle|garden\w*|meadows?|chirp\w*|songbirds?|park)\b/],
];

/** Up to two ambiences named by the prompt, earliest mention first; a drone when none is named. */
export function chooseAmbience(prompt: string): AmbienceKind[] {
  const text = prompt.toLowerCase();
  const found: { kind: AmbienceKind; at: number }[] = [];
  for (const [kind, re] of AMBIENCE_WORDS) {
    const m = re.exec(text);
    if (m) found.push({ kind, at: m.index });
  }
  found.sort((a, b) => a.at - b.at);
  return found.length ? found.slice(0, 2).map((f) => f.kind) : ["drone"];
}

/**
 * mulberry32: a small, fast, well-mixed 32-bit generator; deterministic from its seed. A class with an
 * int32 field (not a closure) so that V8 inlines `next()` into the sample loops instead of boxing every
 * returned number.
 */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed | 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) | 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Uniform in [-1, 1). */
  signed(): number {
    return this.next() * 2 - 1;
  }
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** RBJ biquad (direct form I) run in place over a channel. */
class Biquad {
  private x1 = 0;
  private x2 = 0;
  private y1 = 0;
  private y2 = 0;
  constructor(private b0: number, private b1: number, private b2: number, private a1: number, private a2: number) {}
  static bandpass(freq: number, q: number): Biquad {
    const w = (2 * Math.PI * freq) / AUDIO_SAMPLE_RATE;
    const alpha = Math.sin(w) / (2 * q);
    const a0 = 1 + alpha;
    return new Biquad(alpha / a0, 0, -alpha / a0, (-2 * Math.cos(w)) / a0, (1 - alpha) / a0);
  }
  static lowpass(freq: number, q = Math.SQRT1_2): Biquad {
    const w = (2 * Math.PI * freq) / AUDIO_SAMPLE_RATE;
    const alpha = Math.sin(w) / (2 * q);
    const c = Math.cos(w);
    const a0 = 1 + alpha;
    return new Biquad((1 - c) / 2 / a0, (1 - c) / a0, (1 - c) / 2 / a0, (-2 * c) / a0, (1 - alpha) / a0);
  }
  static highpass(freq: number, q = Math.SQRT1_2): Biquad {
    const w = (2 * Math.PI * freq) / AUDIO_SAMPLE_RATE;
    const alpha = Math.sin(w) / (2 * q);
    const c = Math.cos(w);
    const a0 = 1 + alpha;
    return new Biquad((1 + c) / 2 / a0, -(1 + c) / a0, (1 + c) / 2 / a0, (-2 * c) / a0, (1 - alpha) / a0);
  }
  /** Retunes a band-pass filter without resetting its state (for swept filters). */
  setBandpass(freq: number, q: number): void {
    const w = (2 * Math.PI * freq) / AUDIO_SAMPLE_RATE;
    const alpha = Math.sin(w) / (2 * q);
    const a0 = 1 + alpha;
    this.b0 = alpha / a0;
    this.b1 = 0;
    this.b2 = -alpha / a0;
    this.a1 = (-2 * Math.cos(w)) / a0;
    this.a2 = (1 - alpha) / a0;
  }
  step(x: number): number {
    const y = this.b0 * x + this.b1 * this.x1 + this.b2 * this.x2 - this.a1 * this.y1 - this.a2 * this.y2;
    this.x2 = this.x1;
    this.x1 = x;
    this.y2 = this.y1;
    this.y1 = y;
    return y;
  }
  run(buf: Float32Array): Float32Array {
    for (let i = 0; i < buf.length; i++) buf[i] = this.step(buf[i]);
    return buf;
  }
}

// Generators below run sample by sample with a little state each, writing straight into the output
// channels: memory is the two output channels, whatever the clip length.

/** Pink noise (Paul Kellet's economy filter), about 0.25 RMS. */
class PinkNoise {
  private b0 = 0;
  private b1 = 0;
  private b2 = 0;
  constructor(private readonly rand: Random) {}
  next(): number {
    const w = this.rand.signed();
    this.b0 = 0.99765 * this.b0 + w * 0.099046;
    this.b1 = 0.963 * this.b1 + w * 0.2965164;
    this.b2 = 0.57 * this.b2 + w * 1.0526913;
    return (this.b0 + this.b1 + this.b2 + w * 0.1848) * 0.25;
  }
}

/** Brown (red) noise with a small leak so it cannot drift. */
class BrownNoise {
  private y = 0;
  constructor(private readonly rand: Random) {}
  next(): number {
    this.y = 0.998 * this.y + this.rand.signed() * 0.05;
    return this.y;
  }
}

/** A smooth random curve in [0, 1] with about `rate` new values per second (smoothstep interpolation). */
class SlowCurve {
  private readonly period: number;
  private phase = 0;
  private a: number;
  private b: number;
  constructor(rate: number, private readonly rand: Random) {
    this.period = AUDIO_SAMPLE_RATE / rate;
    this.a = rand.next();
    this.b = rand.next();
  }
  next(): number {
    const t = this.phase / this.period;
    const v = this.a + (this.b - this.a) * (t * t * (3 - 2 * t));
    if (++this.phase >= this.period) {
      this.phase -= this.period;
      this.a = this.b;
      this.b = this.rand.next();
    }
    return v;
  }
}

/** A sine oscillator by rotation (no Math.sin per sample), renormalised now and then. */
class Oscillator {
  private re: number;
  private im: number;
  private readonly cw: number;
  private readonly sw: number;
  private count = 0;
  constructor(freq: number, phase: number) {
    const w = (2 * Math.PI * freq) / AUDIO_SAMPLE_RATE;
    this.cw = Math.cos(w);
    this.sw = Math.sin(w);
    this.re = Math.cos(phase);
    this.im = Math.sin(phase);
  }
  next(): number {
    const v = this.im;
    const re = this.re * this.cw - this.im * this.sw;
    this.im = this.re * this.sw + this.im * this.cw;
    this.re = re;
    if ((++this.count & 4095) === 0) {
      const m = 1 / Math.hypot(this.re, this.im);
      this.re *= m;
      this.im *= m;
    }
    return v;
  }
}

type Stereo = [Float32Array, Float32Array];

/** Adds sparse decaying resonant clicks (rain drops, fire crackle): damped sinusoids by recurrence. */
function addImpulses(ch: Float32Array, random: Random, perSecond: number, decaySeconds: [number, number], freq: [number, number], level: number): void {
  const n = ch.length;
  const count = Math.round((perSecond * n) / AUDIO_SAMPLE_RATE);
  for (let k = 0; k < count; k++) {
    const at = Math.floor(random.next() * n);
    const decay = decaySeconds[0] + random.next() * (decaySeconds[1] - decaySeconds[0]);
    const f = freq[0] + random.next() * (freq[1] - freq[0]);
    // Heavy-tailed amplitudes: most drops are faint, a few are close.
    const amp = level * Math.min(1, 0.15 / Math.pow(random.next() + 0.02, 0.7));
    addDampedSine(ch, at, Math.min(n - at, Math.ceil(decay * AUDIO_SAMPLE_RATE * 5)), f, decay, amp, random.next() * 2 * Math.PI);
  }
}

/** Adds amp * r^i * sin(phase + w i) for `len` samples from `at`, by the recurrence y[i] = c y[i-1] - r^2 y[i-2]. */
function addDampedSine(ch: Float32Array, at: number, len: number, freq: number, decaySeconds: number, amp: number, phase: number): void {
  const w = (2 * Math.PI * freq) / AUDIO_SAMPLE_RATE;
  const r = Math.exp(-1 / (decaySeconds * AUDIO_SAMPLE_RATE));
  const c = 2 * r * Math.cos(w);
  const r2 = r * r;
  let y2 = (amp * Math.sin(phase - w)) / r;
  let y1 = amp * Math.sin(phase);
  for (let i = 0; i < len; i++) {
    ch[at + i] += y1;
    const y = c * y1 - r2 * y2;
    y2 = y1;
    y1 = y;
  }
}

// One small function per ambience: V8 inlines the generators' next()/step() into small loops only
// (in one big function the inlining budget runs out and every sample boxes a number for the GC).

function rain(out: Stereo, random: Random): void {
  for (const ch of out) {
    const pink = new PinkNoise(random);
    const brown = new BrownNoise(random);
    const hp = Biquad.highpass(400);
    const lp = Biquad.lowpass(7000);
    const rumble = Biquad.lowpass(200);
    for (let i = 0; i < ch.length; i++) ch[i] += lp.step(hp.step(pink.next())) + 0.6 * rumble.step(brown.next());
    addImpulses(ch, random, 60, [0.002, 0.008], [1800, 6000], 0.25);
  }
}

function wind(out: Stereo, random: Random): void {
  for (const ch of out) {
    const pink = new PinkNoise(random);
    const brown = new BrownNoise(random);
    const sweep = new SlowCurve(0.35, random);
    const gust = new SlowCurve(0.2, random);
    const bp = Biquad.bandpass(400, 1.2);
    const low = Biquad.lowpass(120);
    for (let i = 0; i < ch.length; i++) {
      const sw = sweep.next();
      const g = gust.next();
      if ((i & 63) === 0) bp.setBandpass(180 + 700 * sw, 1.2);
      ch[i] += bp.step(pink.next()) * (0.25 + 0.75 * g * g) + 0.3 * low.step(brown.next());
    }
  }
}

function sea(out: Stereo, random: Random): void {
  const wavePeriod = 6 + random.next() * 3;
  for (let c = 0; c < 2; c++) {
    const ch = out[c];
    const brown = new BrownNoise(random);
    const pink = new PinkNoise(random);
    const body = Biquad.lowpass(900);
    const foam = Biquad.highpass(1500);
    const swell = new Oscillator(1 / wavePeriod, 2 * Math.PI * (random.next() * 0.15 + c * 0.4) - Math.PI / 2);
    for (let i = 0; i < ch.length; i++) {
      const s = 0.5 + 0.5 * swell.next();
      ch[i] += body.step(brown.next()) * (0.35 + 0.65 * s) + foam.step(pink.next()) * 0.5 * s * s;
    }
  }
}

function fire(out: Stereo, random: Random): void {
  for (const ch of out) {
    const brown = new BrownNoise(random);
    const low = Biquad.lowpass(250);
    const hiss = Biquad.highpass(2500);
    for (let i = 0; i < ch.length; i++) ch[i] += low.step(brown.next()) + 0.01 * hiss.step(random.signed());
    addImpulses(ch, random, 14, [0.0005, 0.002], [1500, 5000], 0.5);
    addImpulses(ch, random, 3, [0.004, 0.012], [300, 900], 0.3);
  }
}

function city(out: Stereo, random: Random): void {
  for (const ch of out) {
    const brown = new BrownNoise(random);
    const pink = new PinkNoise(random);
    const rumble = Biquad.lowpass(300);
    const traffic = Biquad.bandpass(900, 0.7);
    const passing = new SlowCurve(0.15, random);
    // Distant hum of the city (mains and engines).
    const hum = new Oscillator(50 + random.next() * 60, random.next() * 2 * Math.PI);
    for (let i = 0; i < ch.length; i++) {
      const p = passing.next();
      ch[i] += 1.2 * rumble.step(brown.next()) + traffic.step(pink.next()) * 0.5 * p * p + 0.01 * hum.next();
    }
  }
}

/** One voice of a crowd: formant-band noise with a syllable-rate envelope, panned. */
function crowdVoice(out: Stereo, random: Random): void {
  const pink = new PinkNoise(random);
  const voice = Biquad.bandpass(300 + random.next() * 1500, 2.5);
  const syllables = new SlowCurve(3 + random.next() * 3, random);
  const phrases = new SlowCurve(0.4, random);
  const pan = random.next();
  const gl = Math.sqrt(1 - pan);
  const gr = Math.sqrt(pan);
  const [left, right] = out;
  for (let i = 0; i < left.length; i++) {
    const sy = syllables.next();
    const s = voice.step(pink.next()) * sy * sy * (0.3 + 0.7 * phrases.next());
    left[i] += s * gl;
    right[i] += s * gr;
  }
}

function crowd(out: Stereo, random: Random): void {
  for (let v = 0; v < 6; v++) crowdVoice(out, random);
  for (const ch of out) {
    const pink = new PinkNoise(random);
    const murmur = Biquad.bandpass(500, 0.5);
    for (let i = 0; i < ch.length; i++) ch[i] += 0.3 * murmur.step(pink.next());
  }
}

/** One chirp: a short downward sine sweep with a fast flutter, at `at`, panned. */
function chirp(out: Stereo, at: number, dur: number, f0: number, f1: number, amp: number, pan: number): void {
  const gl = Math.sqrt(1 - pan);
  const gr = Math.sqrt(pan);
  const end = Math.min(dur, out[0].length - at);
  let ph = 0;
  for (let i = 0; i < end; i++) {
    const x = i / dur;
    const f = f0 + (f1 - f0) * x + 80 * Math.sin((2 * Math.PI * 30 * i) / AUDIO_SAMPLE_RATE);
    ph += (2 * Math.PI * f) / AUDIO_SAMPLE_RATE;
    const env = Math.sin(Math.PI * x) ** 2;
    const s = amp * env * Math.sin(ph);
    out[0][at + i] += s * gl;
    out[1][at + i] += s * gr;
  }
}

function birds(out: Stereo, random: Random): void {
  const n = out[0].length;
  for (const ch of out) {
    const pink = new PinkNoise(random);
    const air = Biquad.highpass(300);
    for (let i = 0; i < n; i++) ch[i] += 0.05 * air.step(pink.next());
  }
  // Little phrases of chirps, each bird at its own pitch and place.
  const phrasesCount = Math.max(1, Math.round((n / AUDIO_SAMPLE_RATE) * 0.9));
  for (let p = 0; p < phrasesCount; p++) {
    let at = Math.floor(random.next() * n);
    const base = 2500 + random.next() * 2500;
    const pan = random.next();
    const notes = 2 + Math.floor(random.next() * 4);
    for (let k = 0; k < notes && at < n; k++) {
      const dur = Math.floor((0.05 + random.next() * 0.12) * AUDIO_SAMPLE_RATE);
      const f0 = base * (1.1 + random.next() * 0.3);
      const f1 = base * (0.7 + random.next() * 0.2);
      chirp(out, at, dur, f0, f1, 0.25 + random.next() * 0.2, pan);
      at += dur + Math.floor((0.03 + random.next() * 0.1) * AUDIO_SAMPLE_RATE);
    }
  }
}

/** One breathing partial of the drone. */
function dronePartial(ch: Float32Array, freq: number, amp: number, random: Random): void {
  const osc = new Oscillator(freq, random.next() * 2 * Math.PI);
  const breathe = new SlowCurve(0.15 + random.next() * 0.1, random);
  for (let i = 0; i < ch.length; i++) ch[i] += amp * (0.5 + 0.5 * breathe.next()) * osc.next();
}

function drone(out: Stereo, random: Random): void {
  // A soft chord on a seeded root: root, fifth, octave and a tenth, each breathing slowly.
  const roots = [98.0, 110.0, 130.81, 146.83, 164.81];
  const root = roots[Math.floor(random.next() * roots.length)];
  const partials: [number, number][] = [[1, 0.5], [1.5, 0.3], [2, 0.25], [2.5198, 0.12], [3, 0.08]];
  for (let c = 0; c < 2; c++) {
    const ch = out[c];
    for (const [ratio, amp] of partials) dronePartial(ch, root * ratio * (1 + (c === 0 ? -1 : 1) * 0.0015), amp, random);
    const pink = new PinkNoise(random);
    const warm = Biquad.lowpass(600);
    for (let i = 0; i < ch.length; i++) ch[i] += 0.03 * warm.step(pink.next());
  }
}

const AMBIENCES: Record<AmbienceKind, (out: Stereo, random: Random) => void> = { rain, wind, sea, fire, city, crowd, birds, drone };

/** Integrated loudness (LUFS) of a stereo signal at 48 kHz per ITU-R BS.1770-4, with absolute and relative gating. */
export function integratedLoudness(channels: Float32Array[]): number {
  const n = channels[0].length;
  // Mean-square energy of each 100 ms sub-block, K-weighted (high shelf then high-pass, 48 kHz
  // coefficients from BS.1770) and summed over channels; 400 ms blocks overlap by 75 %.
  const hop = Math.round(0.1 * AUDIO_SAMPLE_RATE);
  const short = n < 4 * hop;
  const subBlocks = short ? 1 : Math.floor(n / hop);
  const subLength = short ? n : hop;
  const energy = new Float64Array(subBlocks);
  for (const ch of channels) {
    const shelf = new Biquad(1.53512485958697, -2.69169618940638, 1.19839281085285, -1.69065929318241, 0.73248077421585);
    const hp = new Biquad(1, -2, 1, -1.99004745483398, 0.99007225036621);
    for (let b = 0; b < subBlocks; b++) {
      let sum = 0;
      for (let i = b * subLength, end = i + subLength; i < end; i++) {
        const z = hp.step(shelf.step(ch[i]));
        sum += z * z;
      }
      energy[b] += sum;
    }
  }
  const powers: number[] = [];
  if (short) powers.push(energy[0] / n);
  else for (let b = 0; b + 4 <= subBlocks; b++) powers.push((energy[b] + energy[b + 1] + energy[b + 2] + energy[b + 3]) / (4 * hop));
  const lufs = (z: number) => -0.691 + 10 * Math.log10(z);
  const absGated = powers.filter((z) => lufs(z) > -70);
  if (absGated.length === 0) return -Infinity;
  const relGate = lufs(absGated.reduce((a, b) => a + b, 0) / absGated.length) - 10;
  const gated = absGated.filter((z) => lufs(z) > relGate);
  return lufs(gated.reduce((a, b) => a + b, 0) / gated.length);
}

function rms(channels: Float32Array[]): number {
  let sum = 0;
  let count = 0;
  for (const ch of channels) {
    for (let i = 0; i < ch.length; i++) sum += ch[i] * ch[i];
    count += ch.length;
  }
  return Math.sqrt(sum / Math.max(1, count));
}

function peakOf(channels: Float32Array[]): number {
  let peak = 0;
  for (const ch of channels) for (let i = 0; i < ch.length; i++) peak = Math.max(peak, Math.abs(ch[i]));
  return peak;
}

/** Soft limiter: leaves samples under `knee` alone and bends the rest smoothly under the ceiling. */
function softLimit(channels: Float32Array[], ceiling: number): void {
  const knee = ceiling * 0.7;
  const range = ceiling - knee;
  for (const ch of channels) {
    for (let i = 0; i < ch.length; i++) {
      const a = Math.abs(ch[i]);
      if (a > knee) ch[i] = Math.sign(ch[i]) * (knee + range * Math.tanh((a - knee) / range));
    }
  }
}

export interface AudioBed {
  /** Interleaved signed 16-bit little-endian stereo PCM at 48 kHz. */
  pcm: Buffer;
  samples: number;
  ambience: AmbienceKind[];
  /** Integrated loudness of the result as measured here, LUFS. */
  loudness: number;
  /** Sample peak of the result, linear full scale. */
  peak: number;
}

/** Interleaved little-endian 16-bit PCM with TPDF dither from a seeded generator (so the bytes stay reproducible). */
function toPcm16(channels: Stereo, seed: number): Buffer {
  const n = channels[0].length;
  const dither = new Random((seed ^ 0x5eed) >>> 0);
  const pcm = Buffer.alloc(n * 4);
  // Write straight into the buffer's memory when the machine is little-endian (every platform Node ships for).
  const samples16 = os.endianness() === "LE" ? new Int16Array(pcm.buffer, pcm.byteOffset, n * 2) : new Int16Array(n * 2);
  const [left, right] = channels;
  for (let i = 0; i < n; i++) {
    const l = Math.round(left[i] * 32767 + (dither.next() - dither.next()));
    const r = Math.round(right[i] * 32767 + (dither.next() - dither.next()));
    samples16[2 * i] = l > 32767 ? 32767 : l < -32768 ? -32768 : l;
    samples16[2 * i + 1] = r > 32767 ? 32767 : r < -32768 ? -32768 : r;
  }
  if (samples16.buffer !== pcm.buffer) for (let j = 0; j < samples16.length; j++) pcm.writeInt16LE(samples16[j], j * 2);
  return pcm;
}

/** Makes the audio bed for a clip of exactly `samples` frames (duration x 48 kHz). */
export function synthesizeAudioBed(opts: { prompt: string; seed: number; samples: number }): AudioBed {
  const n = Math.max(1, opts.samples);
  const ambience = chooseAmbience(opts.prompt);
  const channels: Stereo = [new Float32Array(n), new Float32Array(n)];
  ambience.forEach((kind, layer) => {
    const random = new Random((opts.seed ^ hashString(kind)) >>> 0);
    // Level each layer (by RMS; the exact loudness is set on the mix) so the first-named ambience
    // leads and the second sits 6 dB under it.
    const target = layer === 0 ? channels : ([new Float32Array(n), new Float32Array(n)] as Stereo);
    AMBIENCES[kind](target, random);
    const gain = (0.1 / (rms(target) || 1)) * (layer === 0 ? 1 : 0.5);
    for (let c = 0; c < 2; c++) {
      const src = target[c];
      const dst = channels[c];
      if (src === dst) for (let i = 0; i < n; i++) dst[i] *= gain;
      else for (let i = 0; i < n; i++) dst[i] += src[i] * gain;
    }
  });

  // Fades in and out: raised cosine, half a second or a tenth of the clip, whichever is shorter.
  const fade = Math.max(1, Math.min(Math.round(0.5 * AUDIO_SAMPLE_RATE), Math.floor(n / 10)));
  for (let i = 0; i < fade; i++) {
    const g = 0.5 - 0.5 * Math.cos((Math.PI * (i + 0.5)) / fade);
    for (const ch of channels) {
      ch[i] *= g;
      ch[n - 1 - i] *= g;
    }
  }

  // Normalise, limit, and measure again: limiting lowers loudness a little, so correct once or twice.
  let loudness = integratedLoudness(channels);
  for (let pass = 0; pass < 4 && Number.isFinite(loudness); pass++) {
    const gain = 10 ** ((TARGET_LUFS - loudness) / 20);
    for (const ch of channels) for (let i = 0; i < n; i++) ch[i] *= gain;
    if (peakOf(channels) <= PEAK_CEILING) {
      // A pure gain shifts loudness by exactly its size in dB: no need to measure again.
      loudness = TARGET_LUFS;
      break;
    }
    softLimit(channels, PEAK_CEILING);
    loudness = integratedLoudness(channels);
    if (Math.abs(loudness - TARGET_LUFS) < 0.1) break;
  }
  // Final safety: never exceed the ceiling, whatever the last gain did.
  if (peakOf(channels) > PEAK_CEILING) softLimit(channels, PEAK_CEILING);

  const pcm = toPcm16(channels, opts.seed);
  return { pcm, samples: n, ambience, loudness, peak: peakOf(channels) };
}
