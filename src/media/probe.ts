// Reads what an MP4 really contains with ffprobe: used to check engine output before it is
// reported as done, and by the tests, so neither trusts the code that wrote the file.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { ffprobeBinary } from "./ffmpeg.js";

const run = promisify(execFile);

export interface VideoProbe {
  formatName: string;
  durationSeconds: number;
  sizeBytes: number;
  video: {
    codec: string;
    profile?: string;
    pixFmt: string;
    width: number;
    height: number;
    /** Frames per second from r_frame_rate. */
    fps: number;
    /** Counted by decoding (-count_frames). */
    frames: number;
    colorPrimaries?: string;
    colorTransfer?: string;
    colorSpace?: string;
  };
  audio?: { codec: string; sampleRate: number; channels: number; durationSeconds: number };
  /** True when the moov atom precedes mdat (faststart). */
  moovFirst: boolean;
}

function rate(r: string): number {
  const [n, d] = r.split("/").map(Number);
  return d ? n / d : n;
}

export async function probeVideo(file: string, opts: { ffprobePath?: string } = {}): Promise<VideoProbe> {
  const bin = ffprobeBinary(opts.ffprobePath).path;
  const { stdout } = await run(
    bin,
    ["-v", "error", "-count_frames", "-show_streams", "-show_format", "-print_format", "json", file],
    { maxBuffer: 16 * 1024 * 1024, timeout: 120_000 },
  );
  const info = JSON.parse(stdout) as {
    streams: Record<string, string | number | undefined>[];
    format: Record<string, string | undefined>;
  };
  const v = info.streams.find((s) => s.codec_type === "video");
  if (!v) throw new Error(`no video stream in ${file}`);
  const a = info.streams.find((s) => s.codec_type === "audio");
  return {
    formatName: String(info.format.format_name),
    durationSeconds: Number(info.format.duration),
    sizeBytes: Number(info.format.size),
    video: {
      codec: String(v.codec_name),
      profile: v.profile as string | undefined,
      pixFmt: String(v.pix_fmt),
      width: Number(v.width),
      height: Number(v.height),
      fps: rate(String(v.r_frame_rate)),
      frames: Number(v.nb_read_frames ?? v.nb_frames),
      colorPrimaries: v.color_primaries as string | undefined,
      colorTransfer: v.color_transfer as string | undefined,
      colorSpace: v.color_space as string | undefined,
    },
    audio: a
      ? { codec: String(a.codec_name), sampleRate: Number(a.sample_rate), channels: Number(a.channels), durationSeconds: Number(a.duration) }
      : undefined,
    moovFirst: await moovBeforeMdat(file),
  };
}

/** Walks the top-level MP4 boxes and tells whether `moov` comes before `mdat`. */
async function moovBeforeMdat(file: string): Promise<boolean> {
  const { open } = await import("node:fs/promises");
  const fh = await open(file, "r");
  try {
    const { size } = await fh.stat();
    let offset = 0;
    const header = Buffer.alloc(16);
    while (offset + 8 <= size) {
      await fh.read(header, 0, 16, offset);
      let boxSize = header.readUInt32BE(0);
      const type = header.toString("latin1", 4, 8);
      if (type === "moov") return true;
      if (type === "mdat") return false;
      if (boxSize === 1) boxSize = Number(header.readBigUInt64BE(8));
      if (boxSize < 8) return false;
      offset += boxSize;
    }
    return false;
  } finally {
    await fh.close();
  }
}
