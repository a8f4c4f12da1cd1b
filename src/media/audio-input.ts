// Turns an `audio_url` value (http(s) URL, data: URI or one of this server's file URLs) into a checked
// audio file on disk for the engines. The bytes come through the same SSRF-checked fetch and limits as
// images; the container is recognised from its first bytes and then read by ffprobe with that demuxer
// forced and only local files allowed. Limits are checked from headers, never by decoding the whole
// file: a long file (a 10-hour silent FLAC is 70 kB) or a decompression-style bomb (a tiny file that
// would decode to hundreds of MB of samples) is refused in milliseconds. Only a file whose header gives
// no length (a streamed FLAC or WebM) is decoded, and then at most up to the longest accepted length.
// Every failure is an InputError naming the field.
import { execFile, spawn } from "node:child_process";
import fsp from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { InfrastructureError, InputError, type FieldError } from "../errors.js";
import type { PreparedAudio } from "../engines/types.js";
import { DEFAULT_MAX_REDIRECTS, ImageFetchError, readImageSource, type ReadImageSourceOptions } from "./fetch.js";
import { ffmpegBinary, ffprobeBinary } from "./ffmpeg.js";
import { describeInput } from "./image.js";

const run = promisify(execFile);

export type AudioField = "audio_url";
/** Containers accepted, as recognised from their first bytes. */
export type AudioContainer = "mp3" | "wav" | "mp4" | "aac" | "ogg" | "flac" | "webm";

/** The ffmpeg demuxer forced for each container (ffprobe and the engines never guess the format). */
export const AUDIO_DEMUXERS: Record<AudioContainer, string> = {
  mp3: "mp3",
  wav: "wav",
  mp4: "mov",
  aac: "aac",
  ogg: "ogg",
  flac: "flac",
  webm: "matroska",
};

/** Codecs accepted inside those containers (plus every `pcm_*`). */
const AUDIO_CODECS = new Set(["mp3", "mp2", "aac", "opus", "vorbis", "flac", "alac"]);

/** Highest sample rate and channel count decoded: more is refused from the header (decode bombs). */
export const MAX_AUDIO_SAMPLE_RATE = 192_000;
export const MAX_AUDIO_CHANNELS = 8;
/** Time ffprobe may take on one input, ms. */
const PROBE_TIMEOUT_MS = 10_000;

export const AUDIO_ACCEPT = "audio/mpeg,audio/wav,audio/mp4,audio/aac,audio/ogg,audio/opus,audio/flac,audio/webm,audio/*;q=0.8";
const SUPPORTED = "MP3, WAV, AAC/M4A, OGG (Vorbis or Opus), FLAC or WebM audio";
const ERROR_DOCS = "https://docs.fal.ai/errors#";

/** The download options are the image reader's own (src/media/fetch.ts), with the audio limits. */
export interface PrepareAudioOptions
  extends Pick<ReadImageSourceOptions, "timeoutMs" | "allowPrivate" | "maxRedirects" | "signal" | "resolveLocalFile" | "lookup" | "trustedAddresses"> {
  /** The input field the value came from; named in every error's `loc`. */
  field: AudioField;
  /** Where the checked file is written; its extension is replaced by the container's. */
  destPath: string;
  /** Largest file in bytes, for every source (AUDIO_FETCH_LIMIT_BYTES). */
  maxBytes: number;
  /** Longest audio accepted in seconds, from its header. */
  maxSeconds: number;
  ffprobePath?: string;
  ffmpegPath?: string;
  requestId?: string;
}

/** A PreparedAudio plus its container (the demuxer to force when reading it). */
export interface CheckedAudio extends PreparedAudio {
  container: AudioContainer;
}

function syncsafe(b: Buffer, at: number): number {
  return ((b[at]! & 0x7f) << 21) | ((b[at + 1]! & 0x7f) << 14) | ((b[at + 2]! & 0x7f) << 7) | (b[at + 3]! & 0x7f);
}

/** The container from the first bytes; undefined for anything that is not one of the accepted ones. */
export function sniffAudioFormat(bytes: Uint8Array): AudioContainer | undefined {
  let b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
  // An ID3v2 tag may precede MP3 or ADTS AAC frames: look behind it.
  if (b.length >= 10 && b.toString("latin1", 0, 3) === "ID3") {
    const skip = 10 + syncsafe(b, 6) + (b[5]! & 0x10 ? 10 : 0);
    if (b.length < skip + 2) return "mp3";
    b = b.subarray(skip);
  }
  if (b.length < 4) return undefined;
  const ascii = (from: number, to: number) => b.toString("latin1", from, to);
  if (b.length >= 12 && ascii(0, 4) === "RIFF" && ascii(8, 12) === "WAVE") return "wav";
  if (ascii(0, 4) === "OggS") return "ogg";
  if (ascii(0, 4) === "fLaC") return "flac";
  if (b[0] === 0x1a && b[1] === 0x45 && b[2] === 0xdf && b[3] === 0xa3) return "webm";
  if (b.length >= 12 && ascii(4, 8) === "ftyp") return "mp4";
  if (b[0] === 0xff && (b[1]! & 0xf6) === 0xf0) return "aac"; // ADTS: sync, layer 00
  if (b[0] === 0xff && (b[1]! & 0xe0) === 0xe0 && (b[1]! & 0x06) !== 0 && (b[2]! & 0xf0) !== 0xf0) return "mp3"; // MPEG audio frame
  return undefined;
}

function fieldError(opts: PrepareAudioOptions, source: string, type: string, msg: string, ctx?: Record<string, unknown>, cause?: unknown): InputError {
  const entry: FieldError = { loc: ["body", opts.field], msg, type, url: ERROR_DOCS + type, input: describeInput(source) };
  if (ctx) entry.ctx = ctx;
  return new InputError([entry], { requestId: opts.requestId, cause });
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error("aborted");
}

/** What ffprobe says about a file's first audio stream and its container. */
export interface AudioHeader {
  formatName: string;
  codec: string;
  sampleRate: number;
  channels: number;
  /** From the stream or container header; undefined when neither gives one. */
  durationSeconds?: number;
  /** Whether the file also has a video stream (an M4A's cover art counts). */
  hasVideo: boolean;
}

/**
 * Reads the header of `file` with ffprobe, forcing the demuxer and allowing only local file access
 * (a playlist or reference can never make it fetch anything). Reads no samples beyond the probe.
 */
export async function probeAudioHeader(file: string, demuxer: string, opts: { ffprobePath?: string } = {}): Promise<AudioHeader | undefined> {
  const bin = ffprobeBinary(opts.ffprobePath).path;
  const { stdout } = await run(
    bin,
    ["-v", "error", "-protocol_whitelist", "file", "-f", demuxer, "-show_format", "-show_streams", "-of", "json", file],
    { maxBuffer: 4 * 1024 * 1024, timeout: PROBE_TIMEOUT_MS },
  );
  const info = JSON.parse(stdout) as { streams?: Record<string, unknown>[]; format?: Record<string, unknown> };
  const streams = info.streams ?? [];
  const a = streams.find((s) => s.codec_type === "audio");
  if (!a) return undefined;
  const num = (v: unknown) => {
    const n = Number(v);
    return Number.isFinite(n) && n > 0 ? n : undefined;
  };
  return {
    formatName: String(info.format?.format_name ?? demuxer),
    codec: String(a.codec_name ?? "unknown"),
    sampleRate: Number(a.sample_rate ?? 0),
    channels: Number(a.channels ?? 0),
    durationSeconds: num(a.duration) ?? num(info.format?.duration),
    hasVideo: streams.some((s) => s.codec_type === "video"),
  };
}

/**
 * Fetches (or decodes) an audio input, recognises its container, probes it and checks it against the
 * limits, and writes it unchanged to `destPath` (with the container's extension). Throws InputError
 * (loc ["body", field]): `file_download_error` (unreachable, refused address, too many bytes, timeout,
 * HTTP error), `unsupported_audio_format` (not one of the accepted formats, no audio stream, corrupt,
 * a sample rate or channel count beyond what is decoded), `audio_duration_too_long` and
 * `audio_duration_too_short`.
 */
export async function prepareAudio(source: string, opts: PrepareAudioOptions): Promise<CheckedAudio> {
  throwIfAborted(opts.signal);
  if (typeof source !== "string" || source.trim() === "") {
    throw fieldError(opts, String(source), "file_download_error", "The audio URL is empty");
  }
  source = source.trim();
  let bytes: Buffer;
  try {
    ({ bytes } = await readImageSource(source, {
      maxBytes: opts.maxBytes,
      timeoutMs: opts.timeoutMs,
      allowPrivate: opts.allowPrivate ?? false,
      maxRedirects: opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
      signal: opts.signal,
      resolveLocalFile: opts.resolveLocalFile,
      lookup: opts.lookup,
      trustedAddresses: opts.trustedAddresses,
      accept: AUDIO_ACCEPT,
      noun: "an input audio file",
    }));
  } catch (err) {
    throwIfAborted(opts.signal);
    const label = /^data:/i.test(source) ? "the data: URI" : "the audio URL";
    if (err instanceof ImageFetchError) {
      const type = err.reason === "bad_data_uri" ? "unsupported_audio_format" : "file_download_error";
      const lead = /^data:/i.test(source) ? "Could not read the audio" : "Could not download the audio";
      throw fieldError(opts, source, type, `${lead}: ${label} ${err.message}`, err.ctx, err);
    }
    if (err instanceof InputError) throw err;
    throw fieldError(opts, source, "file_download_error", "Could not download the audio", undefined, err);
  }
  throwIfAborted(opts.signal);

  const container = sniffAudioFormat(bytes);
  if (!container) {
    const looksLikeText = /^\s*</.test(bytes.toString("latin1", 0, 64));
    throw fieldError(
      opts,
      source,
      "unsupported_audio_format",
      `Could not load the audio: the data is not ${SUPPORTED}${looksLikeText ? " (it looks like an HTML or XML document)" : ""}`,
    );
  }
  const dest = opts.destPath.replace(/(\.[a-z0-9]+)?$/i, `.${container === "mp4" ? "m4a" : container}`);
  const partial = `${dest}.${process.pid}.partial`;
  try {
    await fsp.mkdir(path.dirname(dest), { recursive: true });
    await fsp.writeFile(partial, bytes);
  } catch (err) {
    await fsp.rm(partial, { force: true }).catch(() => {});
    throw new InfrastructureError(`Could not write the ${opts.field} audio: ${(err as Error).message}`, { requestId: opts.requestId, cause: err });
  }
  try {
    const header = await checkHeader(partial, container, source, opts);
    await fsp.rename(partial, dest);
    return { path: dest, container, durationSeconds: header.durationSeconds!, codec: header.codec, sampleRate: header.sampleRate, channels: header.channels };
  } finally {
    await fsp.rm(partial, { force: true }).catch(() => {});
  }
}

async function checkHeader(file: string, container: AudioContainer, source: string, opts: PrepareAudioOptions): Promise<AudioHeader> {
  const name = container === "mp4" ? "M4A" : container === "aac" ? "AAC" : container.toUpperCase();
  let header: AudioHeader | undefined;
  try {
    header = await probeAudioHeader(file, AUDIO_DEMUXERS[container], { ffprobePath: opts.ffprobePath });
  } catch (err) {
    throwIfAborted(opts.signal);
    const killed = (err as { killed?: boolean }).killed;
    const detail = String((err as { stderr?: string }).stderr ?? "").split("\n").map((l) => l.replace(/^.*?:\s*/, "").trim()).find(Boolean);
    throw fieldError(
      opts,
      source,
      "unsupported_audio_format",
      killed ? `Could not load the audio: reading the ${name} header took too long` : `Could not load the audio: the ${name} data is corrupt or truncated${detail ? ` (${detail.slice(0, 160)})` : ""}`,
      undefined,
      err,
    );
  }
  if (!header) throw fieldError(opts, source, "unsupported_audio_format", `Could not load the audio: the ${name} file has no audio stream`);
  if (!AUDIO_CODECS.has(header.codec) && !header.codec.startsWith("pcm_")) {
    throw fieldError(opts, source, "unsupported_audio_format", `Could not load the audio: its codec ${header.codec} is not accepted (${SUPPORTED})`, { codec: header.codec });
  }
  if (!(header.sampleRate >= 1) || !(header.channels >= 1)) {
    throw fieldError(opts, source, "unsupported_audio_format", `Could not load the audio: the ${name} header gives no sample rate or channel count`);
  }
  if (header.sampleRate > MAX_AUDIO_SAMPLE_RATE || header.channels > MAX_AUDIO_CHANNELS) {
    throw fieldError(
      opts,
      source,
      "unsupported_audio_format",
      `The audio has ${header.channels} channels at ${header.sampleRate} Hz; at most ${MAX_AUDIO_CHANNELS} channels at ${MAX_AUDIO_SAMPLE_RATE} Hz are accepted`,
      { max_sample_rate: MAX_AUDIO_SAMPLE_RATE, max_channels: MAX_AUDIO_CHANNELS, sample_rate: header.sampleRate, channels: header.channels },
    );
  }
  if (header.durationSeconds === undefined) {
    // No length in the header: decode, but never past the longest accepted length (plus a little).
    let measured: number;
    try {
      measured = await decodedSeconds(file, AUDIO_DEMUXERS[container], opts.maxSeconds + 0.25, opts);
    } catch (err) {
      throwIfAborted(opts.signal);
      throw fieldError(opts, source, "unsupported_audio_format", `Could not load the audio: the ${name} data could not be decoded`, undefined, err);
    }
    header.durationSeconds = measured;
  }
  if (header.durationSeconds > opts.maxSeconds) {
    throw fieldError(
      opts,
      source,
      "audio_duration_too_long",
      `The audio lasts ${formatSeconds(header.durationSeconds)}; the longest accepted audio lasts ${formatSeconds(opts.maxSeconds)}`,
      { max_duration: opts.maxSeconds, duration: Math.round(header.durationSeconds * 1000) / 1000 },
    );
  }
  if (header.durationSeconds < 0.01) {
    throw fieldError(opts, source, "audio_duration_too_short", "The audio is empty (shorter than 10 ms)", { duration: header.durationSeconds });
  }
  return header;
}

/**
 * Decodes at most `capSeconds` of the first audio stream (8 kHz mono: cheap) and returns how many
 * seconds there were; `capSeconds` itself means "at least that long".
 */
export function decodedSeconds(file: string, demuxer: string, capSeconds: number, opts: { ffmpegPath?: string; signal?: AbortSignal } = {}): Promise<number> {
  const bin = ffmpegBinary(opts.ffmpegPath).path;
  const rate = 8000;
  const args = [
    "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error", "-protocol_whitelist", "file",
    "-f", demuxer, "-t", capSeconds.toFixed(3), "-i", file, "-map", "0:a:0", "-vn", "-ac", "1", "-ar", String(rate), "-f", "s16le", "pipe:1",
  ];
  return new Promise<number>((resolve, reject) => {
    const proc = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    let bytes = 0;
    let stderr = "";
    const timer = setTimeout(() => proc.kill("SIGKILL"), PROBE_TIMEOUT_MS);
    const onAbort = () => proc.kill("SIGKILL");
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    proc.stdout!.on("data", (chunk: Buffer) => (bytes += chunk.length));
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-2048)));
    proc.on("error", reject);
    proc.on("close", (code, sig) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener("abort", onAbort);
      if (code !== 0) return reject(new Error(`ffmpeg exit ${code ?? sig}: ${stderr.trim().split("\n").pop() ?? ""}`));
      resolve(Math.min(capSeconds, bytes / 2 / rate));
    });
  });
}

function formatSeconds(s: number): string {
  if (s >= 3600) return `${(s / 3600).toFixed(1)} h`;
  if (s >= 60) return `${(s / 60).toFixed(1)} min`;
  return `${s.toFixed(2)} s`;
}

/** The demuxer for a file written by prepareAudio, from its extension. */
export function demuxerOfPath(file: string): string | undefined {
  const ext = path.extname(file).slice(1).toLowerCase();
  const container = (ext === "m4a" ? "mp4" : ext) as AudioContainer;
  return AUDIO_DEMUXERS[container];
}
