// Spawns ffmpeg to turn raw yuv420p frames (piped in as they are made) and an optional WAV file into an
// H.264/AAC MP4 with the service's fixed settings; the benchmark runs the same arguments bare.
import { spawn, type ChildProcess } from "node:child_process";
import fsp from "node:fs/promises";
import os from "node:os";
import { ffmpegBinary } from "./ffmpeg.js";

export interface EncodeSettings {
  width: number;
  height: number;
  /** Integer frames per second of input and output. */
  fps: number;
  /** x264 preset, e.g. veryfast. */
  preset: string;
  /** x264 constant rate factor. Default 19. */
  crf?: number;
  /** Keyframe interval in seconds. Default 2. */
  keyframeSeconds?: number;
  /** AAC bit rate in bit/s. Default 192_000. */
  audioBitRate?: number;
  /** A WAV file (48 kHz stereo s16 from writeWav) to mux as AAC; no audio stream when absent. */
  audioPath?: string;
  outputPath: string;
}

/** What ffmpeg reported about itself when it finished (-benchmark). */
export interface EncoderStats {
  /** Peak resident memory of the ffmpeg process in bytes: VmHWM sampled every 100 ms where /proc exists, else ffmpeg's own report. */
  maxRssBytes: number;
  /** CPU seconds in user space. */
  userSeconds: number;
  /** CPU seconds in the kernel. */
  systemSeconds: number;
  /** Wall seconds ffmpeg measured for itself. */
  realSeconds: number;
}

/** A RIFF/WAVE header plus samples: interleaved little-endian 16-bit PCM. */
export function wavFile(pcm: Uint8Array, sampleRate: number, channels: number): Buffer {
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "latin1");
  header.writeUInt32LE(36 + pcm.length, 4);
  header.write("WAVE", 8, "latin1");
  header.write("fmt ", 12, "latin1");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20); // PCM
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * channels * 2, 28);
  header.writeUInt16LE(channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36, "latin1");
  header.writeUInt32LE(pcm.length, 40);
  return Buffer.concat([header, pcm]);
}

/** Escapes a value for a filter option inside an ffmpeg filtergraph (both quoting levels). */
export function filtergraphValue(value: string): string {
  const optionLevel = value.replace(/[\\':]/g, (c) => `\\${c}`);
  return optionLevel.replace(/[\\'[\],;]/g, (c) => `\\${c}`);
}

/**
 * x264 options that bound the encoder's memory, which grows with frames in flight (about 35 MB per frame
 * at 2160p). Measured on this project's 2-core machine, ffmpeg peak RSS at 2160p: default veryfast
 * 900 MB; with the options used above 1080p 383 MB (two sliced threads, so no frame-thread delay;
 * rc-lookahead 2; one B-frame), with a file within 1 % of the default's size at CRF 19 and less CPU.
 * `sync-lookahead=0` never changes the output. Threads are capped at every size so that a job stays under
 * 600 MB on any machine; the values are fixed per machine, so output stays reproducible.
 */
export function x264MemoryParams(width: number, height: number, cpus = os.availableParallelism()): string {
  if (width * height > 1920 * 1088) return "sliced-threads=1:threads=2:sync-lookahead=0:rc-lookahead=2:bframes=1";
  const autoThreads = Math.max(1, Math.floor((cpus * 3) / 2));
  return `threads=${Math.min(autoThreads, 6)}:sync-lookahead=0`;
}

/** The ffmpeg arguments for the settings: frames on stdin, MP4 out (H.264 High, yuv420p, BT.709, faststart, bit-exact). */
export function encoderArgs(s: EncodeSettings): string[] {
  const crf = s.crf ?? 19;
  const gop = Math.max(1, Math.round(s.fps * (s.keyframeSeconds ?? 2)));
  const args = [
    "-hide_banner", "-nostdin", "-nostats", "-loglevel", "info", "-benchmark",
    // Video: raw yuv420p frames at exactly fps; colour tags so ffmpeg does not guess.
    "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s:v", `${s.width}x${s.height}`, "-framerate", String(s.fps),
    "-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
    "-i", "pipe:0",
  ];
  if (s.audioPath) {
    // The audio is read by a source filter, not as a second input: a second input makes ffmpeg 5.1 run
    // input threads whose queues hold whole raw frames (+110 MB at 2160p, measured).
    args.push("-filter_complex", `amovie=${filtergraphValue(s.audioPath)}[audio]`, "-map", "0:v:0", "-map", "[audio]");
  } else {
    args.push("-map", "0:v:0");
  }
  args.push(
    "-c:v", "libx264", "-preset", s.preset, "-crf", String(crf), "-profile:v", "high", "-pix_fmt", "yuv420p",
    "-g", String(gop), "-keyint_min", String(Math.max(1, Math.round(gop / 2))),
    "-x264-params", x264MemoryParams(s.width, s.height),
    "-color_range", "tv", "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709",
    "-r", String(s.fps),
  );
  if (s.audioPath) args.push("-c:a", "aac", "-b:a", String(s.audioBitRate ?? 192_000), "-ar", "48000", "-ac", "2");
  args.push(
    // Reproducible bytes: no encoder/version strings, no creation times, no copied metadata.
    "-map_metadata", "-1", "-map_chapters", "-1",
    "-fflags", "+bitexact", "-flags:v", "+bitexact", "-flags:a", "+bitexact",
    "-movflags", "+faststart",
    "-f", "mp4", "-y", s.outputPath,
  );
  return args;
}

export class EncoderFailedError extends Error {
  constructor(message: string, readonly stderrTail: string, readonly exitCode: number | null, readonly signal: NodeJS.Signals | null) {
    super(message);
    this.name = "EncoderFailedError";
  }
}

export interface FrameEncoder {
  readonly process: ChildProcess;
  /** Queues one frame; resolves once ffmpeg's pipe has taken it, after which the buffer may be reused. */
  write(frame: Uint8Array): Promise<void>;
  /** Closes stdin and waits for the MP4; rejects with EncoderFailedError when ffmpeg fails. */
  end(): Promise<EncoderStats>;
  /** Kills ffmpeg at once (SIGKILL). */
  kill(): void;
}

const STDERR_KEEP = 16 * 1024;

/** A process's own peak resident memory (VmHWM) in bytes from /proc, or undefined where there is none. */
export async function peakRssOf(pid: number | "self"): Promise<number | undefined> {
  try {
    const status = await fsp.readFile(`/proc/${pid}/status`, "utf8");
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    return kb ? Number(kb) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Follows a child process's peak memory by reading VmHWM every `intervalMs` until it exits. Needed
 * because getrusage's maxrss (and so ffmpeg's -benchmark figure) also counts the memory of the process
 * that spawned it, copied at fork time before exec.
 */
export function watchPeakRss(proc: ChildProcess, intervalMs = 100): { stop(): number | undefined } {
  let peak: number | undefined;
  const sample = () => {
    if (proc.pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    void peakRssOf(proc.pid).then((v) => {
      if (v !== undefined) peak = Math.max(peak ?? 0, v);
    });
  };
  sample();
  const timer = setInterval(sample, intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return peak;
    },
  };
}

/** Starts ffmpeg with `encoderArgs(settings)`. */
export function startEncoder(settings: EncodeSettings, opts: { ffmpegPath?: string } = {}): FrameEncoder {
  const bin = ffmpegBinary(opts.ffmpegPath).path;
  const proc = spawn(bin, encoderArgs(settings), { stdio: ["pipe", "ignore", "pipe"] });
  let stderr = "";
  proc.stderr!.setEncoding("utf8");
  proc.stderr!.on("data", (chunk: string) => {
    stderr += chunk;
    if (stderr.length > 2 * STDERR_KEEP) stderr = stderr.slice(-STDERR_KEEP);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on("close", (code, signal) => resolve({ code, signal }));
  });
  let spawnError: Error | undefined;
  proc.on("error", (err) => {
    spawnError = err;
  });
  // EPIPE after ffmpeg died is reported through end(); do not crash the process on it.
  proc.stdin!.on("error", () => {});
  const memory = watchPeakRss(proc);

  const failure = (what: string, code: number | null, signal: NodeJS.Signals | null) => {
    const tail = stderr.split("\n").filter((l) => l && !l.startsWith("bench:")).slice(-12).join("\n");
    return new EncoderFailedError(`${what} (exit ${code ?? signal}): ${tail || spawnError?.message || "no output"}`, tail, code, signal);
  };

  return {
    process: proc,
    write(frame) {
      return new Promise<void>((resolve, reject) => {
        if (proc.exitCode !== null || proc.signalCode !== null || spawnError) {
          reject(failure("ffmpeg stopped before all frames were written", proc.exitCode, proc.signalCode));
          return;
        }
        proc.stdin!.write(frame, (err) => {
          if (err) {
            void exited.then(({ code, signal }) => reject(failure("ffmpeg stopped before all frames were written", code, signal)));
          } else resolve();
        });
      });
    },
    async end() {
      proc.stdin!.end();
      const { code, signal } = await exited;
      const polledPeak = memory.stop();
      if (spawnError) throw new EncoderFailedError(`ffmpeg did not start: ${spawnError.message}`, "", null, null);
      if (code !== 0) throw failure("ffmpeg failed", code, signal);
      const num = (re: RegExp) => Number(re.exec(stderr)?.[1] ?? 0);
      return {
        maxRssBytes: polledPeak ?? num(/bench: maxrss=(\d+)kB/) * 1024,
        userSeconds: num(/bench: utime=([\d.]+)s/),
        systemSeconds: num(/stime=([\d.]+)s/),
        realSeconds: num(/rtime=([\d.]+)s/),
      };
    },
    kill() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
    },
  };
}
