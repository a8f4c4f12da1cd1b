// `ltx-serve result <request-id> [-o out.mp4]`: a finished request's output (the video URL and its
// properties), optionally downloaded. A failed request prints its error with the field errors and
// exits 2 or 5; one that has not finished exits 7.
import path from "node:path";
import type { Command } from "commander";
import { EXIT } from "../lib/exit-codes.js";
import { CliError } from "../lib/errors.js";
import { callJson, downloadTo, requestPaths } from "../lib/http.js";
import { appOf, checkRequestId, resolveEndpoint, resolveServer, withEndpointOption, withServerOptions, type ServerOptions } from "../lib/options.js";
import { formatBytes, runCommand } from "../lib/output.js";

interface ResultBody {
  video?: { url: string; file_size?: number; width?: number; height?: number; fps?: number; duration?: number; num_frames?: number };
  seed?: number;
}

export function registerResultCommand(program: Command): void {
  const cmd = program
    .command("result")
    .argument("<request-id>", "the id printed by generate --async")
    .option("-o, --output <file>", "download the video here")
    .description("show a finished request's video (and download it with -o)");
  withEndpointOption(withServerOptions(cmd));
  cmd.action(async (id: string, opts: ServerOptions & { endpoint?: string; output?: string }) => {
    await runCommand(opts, async (out) => {
      const server = resolveServer(opts);
      const paths = requestPaths(appOf(resolveEndpoint(opts.endpoint)), checkRequestId(id));
      const { body } = await callJson<ResultBody>(server, "GET", paths.result, { phase: "result", requestId: id });
      const v = body.video;
      if (!v?.url) throw new CliError("the result has no video URL", { exitCode: EXIT.generationFailed, requestId: id });
      let saved: string | undefined;
      let size: number | undefined;
      if (opts.output) {
        saved = path.resolve(opts.output);
        size = await downloadTo(v.url, saved, { requestId: id });
      }
      out.result({ request_id: id, ...body, ...(saved ? { output_path: saved } : {}) });
      out.line(saved ?? v.url);
      out.note(
        `${v.width}x${v.height}, ${v.fps} fps, ${v.duration} s, ${v.num_frames} frames` +
          `${body.seed !== undefined ? `, seed ${body.seed}` : ""}${size !== undefined || v.file_size ? ` · ${formatBytes(size ?? v.file_size!)}` : ""}`,
      );
    }, () => ({ phase: "result", requestId: id }));
  });
}
