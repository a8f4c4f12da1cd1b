// `ltx-serve sheet VIDEO.mp4 -o sheet.png`: a PNG grid of evenly spaced frames (first and last
// included), so a reviewer can see the motion without a player. Works on any local video file.
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { writeContactSheet } from "../../media/contact-sheet.js";
import { CliError } from "../lib/errors.js";
import { EXIT } from "../lib/exit-codes.js";
import { runCommand } from "../lib/output.js";

interface SheetOptions {
  output?: string;
  frames: string;
  columns?: string;
  tileWidth?: string;
  json?: boolean;
}

function positiveInt(raw: string | undefined, flag: string, max: number): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new CliError(`${flag} must be a whole number from 1 to ${max}, got ${JSON.stringify(raw)}`, { exitCode: EXIT.usage });
  return n;
}

/** `clip.mp4` -> `clip.sheet.png` beside it. */
export function defaultSheetPath(video: string): string {
  return `${video.replace(/\.[^./\\]+$/, "")}.sheet.png`;
}

export function registerSheetCommand(program: Command): void {
  program
    .command("sheet")
    .argument("<video>", "a video file (e.g. one saved by generate)")
    .option("-o, --output <png>", "where to write the PNG (default: <video>.sheet.png beside the video)")
    .option("--frames <n>", "frames on the sheet, evenly spaced from first to last", "8")
    .option("--columns <n>", "frames per row (default 4)")
    .option("--tile-width <px>", "width of each frame in pixels (default 480)")
    .option("--json", "print one JSON document on stdout")
    .description("write a contact sheet: a PNG grid of evenly spaced frames of a video")
    .action(async (video: string, opts: SheetOptions) => {
      await runCommand(opts, async (out) => {
        const frames = positiveInt(opts.frames, "--frames", 100)!;
        const columns = positiveInt(opts.columns, "--columns", 100);
        const tileWidth = positiveInt(opts.tileWidth, "--tile-width", 4096);
        if (!fs.existsSync(video) || !fs.statSync(video).isFile()) {
          throw new CliError(`${video}: no such file`, { exitCode: EXIT.inputRejected });
        }
        const dest = path.resolve(opts.output ?? defaultSheetPath(video));
        let sheet;
        try {
          sheet = await writeContactSheet(video, dest, { frames, columns, tileWidth });
        } catch (err) {
          const message = (err as Error).message;
          // ffmpeg itself missing is a setup problem; anything else means the file could not be read as video.
          if (/not found: install/.test(message)) throw new CliError(message, { exitCode: EXIT.usage });
          throw new CliError(`could not read frames from ${video}: ${message.split("\n").slice(-2).join(" ").trim()}`, { exitCode: EXIT.inputRejected, cause: err });
        }
        const { default: sharp } = await import("sharp");
        const meta = await sharp(dest).metadata();
        out.result({ path: dest, width: meta.width, height: meta.height, frame_indices: sheet.frameIndices, columns: sheet.columns, rows: sheet.rows });
        out.line(dest);
        out.note(`${sheet.frameIndices.length} frames (${sheet.frameIndices.join(", ")}) in a ${sheet.columns}x${sheet.rows} grid, ${meta.width}x${meta.height} px`);
      });
    });
}
