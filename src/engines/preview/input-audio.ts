// The preview engine's handling of an input audio track (audio-to-video): decodes the checked file with
// its demuxer forced and only local file access, resampled to 48 kHz stereo 16-bit, trimmed or padded
// with silence to exactly the clip's length. Never decodes more than the clip needs (plus half a
// second), whatever the file claims, and gives up after a minute.
import { spawn } from "node:child_process";
import { ffmpegBinary } from "../../media/ffmpeg.js";
import { AUDIO_SAMPLE_RATE } from "./audio.js";

/** Time the decode may take, ms (a 20 s clip decodes in well under a second). */
const DECODE_TIMEOUT_MS = 60_000;

export interface ConformAudioOptions {
  inputPath: string;
  /** ffmpeg demuxer of the file (see AUDIO_DEMUXERS in src/media/audio-input.ts). */
  demuxer: string;
  /** Exact length wanted, in samples per channel at 48 kHz. */
  samples: number;
  ffmpegPath?: string;
  signal?: AbortSignal;
}

/** The ffmpeg arguments: raw interleaved s16le stereo 48 kHz of exactly `samples` frames on stdout. */
export function conformArgs(o: Pick<ConformAudioOptions, "inputPath" | "demuxer" | "samples">): string[] {
  const seconds = o.samples / AUDIO_SAMPLE_RATE;
  return [
    "-hide_banner", "-nostdin", "-nostats", "-loglevel", "error",
    "-protocol_whitelist", "file",
    "-f", o.demuxer, "-t", (seconds + 0.5).toFixed(3), "-i", o.inputPath,
    "-map", "0:a:0", "-vn", "-sn", "-dn",
    "-af", `aresample=${AUDIO_SAMPLE_RATE},aformat=sample_fmts=s16:sample_rates=${AUDIO_SAMPLE_RATE}:channel_layouts=stereo,apad=whole_len=${o.samples},atrim=end_sample=${o.samples}`,
    "-fflags", "+bitexact", "-flags:a", "+bitexact",
    "-c:a", "pcm_s16le", "-f", "s16le", "pipe:1",
  ];
}

/** Decodes the input audio to exactly `samples` stereo frames of 16-bit PCM at 48 kHz (interleaved, little-endian). */
export function conformInputAudio(o: ConformAudioOptions): Promise<Buffer> {
  const bin = ffmpegBinary(o.ffmpegPath).path;
  const want = o.samples * 4;
  return new Promise<Buffer>((resolve, reject) => {
    const proc = spawn(bin, conformArgs(o), { stdio: ["ignore", "pipe", "pipe"] });
    const parts: Buffer[] = [];
    let got = 0;
    let stderr = "";
    const timer = setTimeout(() => proc.kill("SIGKILL"), DECODE_TIMEOUT_MS);
    const onAbort = () => proc.kill("SIGKILL");
    o.signal?.addEventListener("abort", onAbort, { once: true });
    proc.stdout!.on("data", (chunk: Buffer) => {
      if (got < want) parts.push(chunk);
      got += chunk.length;
    });
    proc.stderr!.setEncoding("utf8");
    proc.stderr!.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-4096);
    });
    proc.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    proc.on("close", (code, sig) => {
      clearTimeout(timer);
      o.signal?.removeEventListener("abort", onAbort);
      if (o.signal?.aborted) return reject(o.signal.reason ?? new Error("aborted"));
      if (code !== 0) return reject(new Error(`could not decode the input audio (ffmpeg exit ${code ?? sig}): ${stderr.trim().split("\n").slice(-3).join(" ") || "no output"}`));
      const pcm = Buffer.concat(parts).subarray(0, want);
      // apad/atrim make the length exact; pad here too should a decoder stop short.
      resolve(pcm.length === want ? pcm : Buffer.concat([pcm, Buffer.alloc(want - pcm.length)]));
    });
  });
}
