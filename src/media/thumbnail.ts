// Writes a small JPEG of a video's first frame, shown in request history.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { ffmpegBinary } from "./ffmpeg.js";

const run = promisify(execFile);

export async function writeThumbnail(videoPath: string, outPath: string, width = 320, ffmpegPath?: string): Promise<void> {
  await run(
    ffmpegBinary(ffmpegPath).path,
    ["-v", "error", "-y", "-i", videoPath, "-frames:v", "1", "-vf", `scale=${width}:-2`, "-q:v", "4", outPath],
    { timeout: 60_000 },
  );
}
