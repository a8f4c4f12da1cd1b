// Audio inputs for tests, made by the real ffmpeg at run time (sine tones in each accepted format, a
// 10-hour silent FLAC, a tiny many-channel high-rate "bomb"), and the dominant frequency of a file's
// audio, measured by decoding it with ffmpeg and taking the FFT peak.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { fft } from "../../src/engines/preview/visualiser.js";

const run = promisify(execFile);

export type ToneFormat = "mp3" | "wav" | "m4a" | "opus" | "flac" | "vorbis" | "aac" | "webm";

const ENCODERS: Record<ToneFormat, string[]> = {
  mp3: ["-c:a", "libmp3lame", "-b:a", "128k", "-f", "mp3"],
  wav: ["-c:a", "pcm_s16le", "-f", "wav"],
  m4a: ["-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", "-f", "ipod"],
  aac: ["-c:a", "aac", "-b:a", "128k", "-f", "adts"],
  opus: ["-c:a", "libopus", "-b:a", "64k", "-f", "ogg"],
  vorbis: ["-c:a", "libvorbis", "-q:a", "3", "-f", "ogg"],
  flac: ["-c:a", "flac", "-f", "flac"],
  webm: ["-c:a", "libopus", "-b:a", "64k", "-f", "webm"],
};

export const TONE_MIME: Record<ToneFormat, string> = {
  mp3: "audio/mpeg",
  wav: "audio/wav",
  m4a: "audio/mp4",
  aac: "audio/aac",
  opus: "audio/ogg",
  vorbis: "audio/ogg",
  flac: "audio/flac",
  webm: "audio/webm",
};

async function ffmpeg(args: string[]): Promise<Buffer> {
  const { stdout } = await run("ffmpeg", ["-hide_banner", "-loglevel", "error", ...args], { encoding: "buffer", maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

/**
 * Encodes into a seekable file and returns its bytes, as a real file would be: M4A needs it, and FLAC
 * only records its length (STREAMINFO total samples) when the muxer can seek back. `pipe: true`
 * streams instead (FLAC without a length, as from a live encoder).
 */
async function ffmpegFile(args: string[], ext: string, pipe = false): Promise<Buffer> {
  if (pipe) return ffmpeg([...args, "pipe:1"]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-audio-"));
  try {
    const file = path.join(dir, `out.${ext}`);
    await ffmpeg([...args, "-y", file]);
    return fs.readFileSync(file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A sine tone of `freq` Hz lasting `seconds`, encoded as `format` (mono unless `channels`). */
export function makeTone(format: ToneFormat, freq: number, seconds: number, opts: { sampleRate?: number; channels?: number; pipe?: boolean } = {}): Promise<Buffer> {
  const rate = opts.sampleRate ?? (format === "opus" || format === "webm" ? 48_000 : 44_100);
  const layout = (opts.channels ?? 1) === 2 ? "stereo" : "mono";
  return ffmpegFile(
    ["-f", "lavfi", "-i", `sine=frequency=${freq}:sample_rate=${rate}:duration=${seconds}`, "-af", `volume=4,aformat=channel_layouts=${layout}`, ...ENCODERS[format]],
    format,
    opts.pipe,
  );
}

/** A silent FLAC of `hours` hours (8 kHz mono, 64k-sample frames): about 70 kB for 10 hours. `pipe`: without its length in the header. */
export function makeLongSilence(hours: number, opts: { pipe?: boolean } = {}): Promise<Buffer> {
  return ffmpegFile(["-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono:n=65535", "-t", String(hours * 3600), "-c:a", "flac", "-frame_size", "65535", "-f", "flac"], "flac", opts.pipe);
}

/** A decompression-style bomb: 20 s of 8-channel 384 kHz silence as FLAC, a 16 kB file that decodes to 123 MB of samples. */
export function makeAudioBomb(): Promise<Buffer> {
  return ffmpegFile(["-f", "lavfi", "-i", "anullsrc=r=384000:cl=7.1:n=65535", "-t", "20", "-c:a", "flac", "-f", "flac"], "flac");
}

/** The length ffprobe reads from a file's header (container, else stream), in seconds. */
export async function probedSeconds(bytes: Buffer): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-audio-"));
  try {
    const file = path.join(dir, "in");
    fs.writeFileSync(file, bytes);
    const { stdout } = await run("ffprobe", ["-v", "error", "-show_entries", "format=duration:stream=duration", "-of", "json", file]);
    const info = JSON.parse(stdout) as { format?: { duration?: string }; streams?: { duration?: string }[] };
    return Number(info.format?.duration ?? info.streams?.[0]?.duration);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The strongest frequency (Hz) in the first audio stream of `file` (or bytes), over its middle `seconds`. */
export async function dominantFrequency(file: string, opts: { start?: number; seconds?: number } = {}): Promise<number> {
  const rate = 48_000;
  const n = 16_384;
  const pcm = await ffmpeg(["-ss", String(opts.start ?? 0.2), "-i", file, "-map", "0:a:0", "-t", String(opts.seconds ?? 0.5), "-ac", "1", "-ar", String(rate), "-f", "s16le", "pipe:1"]);
  const re = new Float64Array(n);
  const im = new Float64Array(n);
  const count = Math.min(n, pcm.length / 2);
  for (let i = 0; i < count; i++) re[i] = (pcm.readInt16LE(2 * i) / 32768) * (0.5 - 0.5 * Math.cos((2 * Math.PI * i) / (count - 1)));
  fft(re, im);
  let best = 1;
  for (let k = 2; k < n / 2; k++) if (Math.hypot(re[k]!, im[k]!) > Math.hypot(re[best]!, im[best]!)) best = k;
  return (best * rate) / n;
}
