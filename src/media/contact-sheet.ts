// Writes a contact sheet: a PNG grid of evenly spaced frames of a video (first and last included), so a
// reviewer can see the motion without a player. Frame count comes from ffprobe, the grid from ffmpeg.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { ffmpegBinary, ffprobeBinary } from "./ffmpeg.js";

const run = promisify(execFile);

export interface ContactSheetOptions {
  /** Frames on the sheet. Default 8. */
  frames?: number;
  /** Frames per row. Default 4 (so 8 frames make a 4 x 2 grid). */
  columns?: number;
  /** Width of each frame on the sheet in pixels (height follows the video's aspect ratio). Default 480. */
  tileWidth?: number;
  ffmpegPath?: string;
  ffprobePath?: string;
}

export interface ContactSheet {
  path: string;
  /** Indices of the frames shown, in order. */
  frameIndices: number[];
  columns: number;
  rows: number;
}

/** Counts a video's frames: the container's count when it has one, else by decoding. */
async function frameCount(videoPath: string, ffprobePath?: string): Promise<number> {
  const bin = ffprobeBinary(ffprobePath).path;
  const probe = async (extra: string[], field: string) => {
    const { stdout } = await run(bin, ["-v", "error", ...extra, "-select_streams", "v:0", "-show_entries", `stream=${field}`, "-of", "csv=p=0", videoPath], { timeout: 120_000 });
    return Number(stdout.trim().split("\n")[0]);
  };
  const n = await probe([], "nb_frames");
  return Number.isFinite(n) && n > 0 ? n : probe(["-count_frames"], "nb_read_frames");
}

/** Evenly spaced frame indices from the first to the last frame. */
export function evenlySpaced(total: number, count: number): number[] {
  if (total <= 0) return [];
  const k = Math.min(count, total);
  if (k === 1) return [0];
  return Array.from({ length: k }, (_, i) => Math.round((i * (total - 1)) / (k - 1)));
}

export async function writeContactSheet(videoPath: string, outPng: string, opts: ContactSheetOptions = {}): Promise<ContactSheet> {
  const total = await frameCount(videoPath, opts.ffprobePath);
  const frameIndices = evenlySpaced(total, opts.frames ?? 8);
  if (frameIndices.length === 0) throw new Error(`${videoPath} has no video frames`);
  const columns = Math.min(opts.columns ?? 4, frameIndices.length);
  const rows = Math.ceil(frameIndices.length / columns);
  const tileWidth = opts.tileWidth ?? 480;
  const select = frameIndices.map((i) => `eq(n\\,${i})`).join("+");
  const filter = [
    `select='${select}'`,
    `scale=${tileWidth}:-2:flags=lanczos`,
    `tile=${columns}x${rows}:margin=8:padding=8:color=0x202020`,
  ].join(",");
  await run(
    ffmpegBinary(opts.ffmpegPath).path,
    ["-v", "error", "-nostdin", "-i", videoPath, "-vf", filter, "-fps_mode", "passthrough", "-frames:v", "1", "-update", "1", "-y", outPng],
    { timeout: 300_000 },
  );
  return { path: outPng, frameIndices, columns, rows };
}
