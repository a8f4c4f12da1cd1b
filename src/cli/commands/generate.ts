// `ltx-serve generate`: uploads local images, submits an image-to-video request with the official
// @fal-ai/client, shows live progress from the status stream, downloads the MP4 and prints its path.
// `--async` stops after the submit; `--local` runs the whole service inside this process.
import path from "node:path";
import type { Command } from "commander";
import { findEndpoint, priceOf } from "../../endpoints.js";
import { writeContactSheet } from "../../media/contact-sheet.js";
import { CliError, FLAG_OF_FIELD, toCliError, type Phase } from "../lib/errors.js";
import { EXIT } from "../lib/exit-codes.js";
import { falClientFor } from "../lib/fal.js";
import { checkHealth, downloadTo } from "../lib/http.js";
import { imageUrlFor, numberOrRaw } from "../lib/inputs.js";
import { startLocalService, type LocalService } from "../lib/local-service.js";
import { appOf, DEFAULT_SERVER_URL, resolveEndpoint, resolveServer, withServerOptions, type Server } from "../lib/options.js";
import { formatBytes, formatElapsed, runCommand, shellArg, type Output } from "../lib/output.js";
import { createProgressView } from "../lib/progress.js";
import { watchRequest } from "../lib/watch.js";

interface GenerateOptions {
  image: string;
  endImage?: string;
  prompt: string;
  duration?: string;
  resolution?: string;
  aspectRatio?: string;
  fps?: string;
  audio: boolean;
  seed?: string;
  cameraMotion?: string;
  endpoint?: string;
  output?: string;
  sheet?: string;
  async?: boolean;
  local?: boolean;
  dataDir?: string;
  url?: string;
  key?: string;
  json?: boolean;
}

interface VideoResult {
  video: { url: string; content_type?: string; file_name?: string; file_size?: number; width?: number; height?: number; fps?: number; duration?: number; num_frames?: number };
  seed?: number;
}

/** The endpoint input from the flags; only what was given is sent, so server defaults apply. */
export function inputFromOptions(opts: GenerateOptions, images: { image: string; endImage?: string }): Record<string, unknown> {
  const input: Record<string, unknown> = { image_url: images.image, prompt: opts.prompt };
  if (images.endImage !== undefined) input.end_image_url = images.endImage;
  if (opts.duration !== undefined) input.duration = numberOrRaw(opts.duration);
  if (opts.resolution !== undefined) input.resolution = opts.resolution;
  if (opts.aspectRatio !== undefined) input.aspect_ratio = opts.aspectRatio;
  if (opts.fps !== undefined) input.fps = numberOrRaw(opts.fps);
  if (opts.audio === false) input.generate_audio = false;
  if (opts.seed !== undefined) input.seed = numberOrRaw(opts.seed);
  if (opts.cameraMotion !== undefined) input.camera_motion = opts.cameraMotion;
  return input;
}

/** "1080p, 6 s, 24 fps, est. $0.36" from the endpoint's own schema (defaults applied); the server has the last word. */
function summary(endpoint: string, input: Record<string, unknown>): string {
  const def = findEndpoint(endpoint);
  const parsed = def?.schema.safeParse(input);
  if (!def || !parsed?.success) return "input checked by the server";
  const v = parsed.data;
  const parts = [v.resolution, `${v.duration} s`, `${v.fps} fps`, v.generate_audio ? "audio" : "no audio"];
  return `${parts.join(", ")}, est. $${priceOf(def, v).toFixed(2)}`;
}

export function registerGenerateCommand(program: Command): void {
  const cmd = program
    .command("generate")
    .description("make a video from an image and a prompt, with live progress, and save it")
    .requiredOption("--image <path|url>", "start image: a local file (uploaded), an http(s) URL or a data: URI")
    .option("--end-image <path|url>", "end image: the video ends on it (a transition)")
    .requiredOption("--prompt <text>", "what happens in the video")
    .option("--duration <seconds>", "6, 8 or 10 (fast: up to 20) (server default 6)")
    .option("--resolution <res>", "1080p, 1440p or 2160p (server default 1080p)")
    .option("--aspect-ratio <ratio>", "auto, 16:9 or 9:16 (server default auto)")
    .option("--fps <n>", "24, 25, 48 or 50 (server default 25)")
    .option("--no-audio", "no audio track (default: audio on)")
    .option("--seed <n>", "seed for a reproducible video (default: drawn by the server, shown in the result)")
    .option("--camera-motion <preset>", "dolly_in, dolly_out, dolly_left, dolly_right, jib_up, jib_down, static, focus_shift")
    .option("--endpoint <id>", "endpoint id, or pro|fast", "fal-ai/ltx-2.3/image-to-video")
    .option("-o, --output <file>", "where to save the MP4 (default: ./<request id>.mp4)")
    .option("--sheet <png>", "also write a contact sheet (8 evenly spaced frames) of the video here")
    .option("--async", "submit and print the request id (and the commands to follow it); do not wait")
    .option("--local", "no server needed: run the service inside this process for this one job")
    .option("--data-dir <dir>", "with --local: keep the service's data here (default: a temporary folder, removed after)");
  withServerOptions(cmd);
  cmd.addHelpText(
    "after",
    `
Output: the saved path on stdout (with --async the request id; with --json one JSON document);
progress and notes on stderr. Exit codes: see \`ltx-serve --help\` or docs/cli.md.

Examples:
  ltx-serve generate --image photo.jpg --prompt "slow push in, rain on the window" -o rain.mp4
  ltx-serve generate --local --image photo.jpg --prompt "pan left" --duration 6 --no-audio
  id=$(ltx-serve generate --async --image https://example.com/a.png --prompt "...")`,
  );
  cmd.action(async (opts: GenerateOptions) => {
    const ctx: { phase: Phase; requestId?: string; url?: string } = { phase: "health" };
    await runCommand({ json: opts.json, flags: FLAG_OF_FIELD }, (out) => generate(opts, out, ctx), () => ctx);
  });
}

async function generate(opts: GenerateOptions, out: Output, ctx: { phase: Phase; requestId?: string; url?: string }): Promise<void> {
  if (opts.local && opts.async) throw new CliError("--async cannot be used with --local (the local service stops when the command ends)", { exitCode: EXIT.usage });
  if (opts.dataDir && !opts.local) throw new CliError("--data-dir only applies with --local", { exitCode: EXIT.usage });
  const endpoint = resolveEndpoint(opts.endpoint);
  const app = appOf(endpoint);
  const started = Date.now();
  const view = out.json ? undefined : createProgressView({ startedAt: started });
  const note = (text: string) => (view ? view.note(text) : undefined);

  let local: LocalService | undefined;
  let server: Server;
  let engine: string | undefined;
  const onSigint = () => {
    view?.stop();
    const stopLocal = local ? local.close() : Promise.resolve();
    if (ctx.requestId && !local) {
      process.stderr.write(
        `\ninterrupted: request ${ctx.requestId} keeps running on the server\n` +
          `  follow it: ltx-serve status ${ctx.requestId}\n  stop it:   ltx-serve cancel ${ctx.requestId}\n`,
      );
    } else {
      process.stderr.write("\ninterrupted\n");
    }
    void stopLocal.finally(() => process.exit(EXIT.interrupted));
  };
  process.once("SIGINT", onSigint);
  try {
    if (opts.local) {
      ctx.phase = "local";
      local = await startLocalService({ dataDir: opts.dataDir });
      server = { url: local.url, key: local.key };
      engine = local.engines[endpoint];
      note(`started a local ltx-serve at ${local.url}${engine ? ` (engine ${engine})` : ""}`);
    } else {
      server = resolveServer(opts);
      ctx.url = server.url;
      const health = await checkHealth(server.url);
      engine = health.endpoints?.find((e) => e.id === endpoint)?.engine;
      note(`${endpoint} on ${server.url}${engine ? ` (engine ${engine})` : ""}`);
    }
    ctx.url = server.url;
    const fal = falClientFor(server.url, server.key);

    ctx.phase = "upload";
    const onUpload = (u: { file: string; bytes: number }) => note(`uploaded ${u.file} (${formatBytes(u.bytes)})`);
    const image = await imageUrlFor(fal, opts.image, "--image", onUpload);
    const endImage = opts.endImage !== undefined ? await imageUrlFor(fal, opts.endImage, "--end-image", onUpload) : undefined;
    const input = inputFromOptions(opts, { image, endImage });

    ctx.phase = "submit";
    const submitted = await fal.queue.submit(endpoint, { input });
    const requestId = submitted.request_id;
    ctx.requestId = requestId;

    if (opts.async) {
      view?.stop();
      out.result({ ...submitted, endpoint });
      out.line(requestId);
      const urlFlag = server.url !== (process.env.LTX_SERVE_URL || DEFAULT_SERVER_URL).replace(/\/+$/, "") ? ` --url ${shellArg(server.url)}` : "";
      const dest = opts.output ? shellArg(opts.output) : `${requestId}.mp4`;
      out.note(`submitted (${summary(endpoint, input)}); ${submitted.queue_position ?? 0} ahead in the queue`);
      out.note(`next:  ltx-serve status ${requestId}${urlFlag}`);
      out.note(`       ltx-serve result ${requestId}${urlFlag} -o ${dest}`);
      out.note(`       ltx-serve logs ${requestId}${urlFlag} --follow    (or: ltx-serve cancel ${requestId}${urlFlag})`);
      return;
    }
    note(`submitted ${requestId} (${summary(endpoint, input)})`);

    ctx.phase = "status";
    await watchRequest({ fal, server, endpoint, app, requestId }, (e) => view?.update(e));
    view?.stop();

    // The result URL answers a failure with its own status and body (422 field errors, 500, cancel).
    ctx.phase = "result";
    const { data } = await fal.queue.result(endpoint, { requestId });
    const result = data as VideoResult;
    if (!result?.video?.url) throw new CliError("the result has no video URL", { exitCode: EXIT.generationFailed, requestId });

    ctx.phase = "download";
    const dest = path.resolve(opts.output ?? `${requestId}.mp4`);
    const size = await downloadTo(result.video.url, dest, { requestId });
    let sheet: string | undefined;
    if (opts.sheet) {
      sheet = path.resolve(opts.sheet);
      await writeContactSheet(dest, sheet);
    }
    const elapsedSeconds = Math.round((Date.now() - started) / 100) / 10;
    const v = result.video;
    out.note(
      `done in ${formatElapsed(Date.now() - started)} · ${v.width}x${v.height}, ${v.fps} fps, ${v.duration} s` +
        `${result.seed !== undefined ? `, seed ${result.seed}` : ""} · ${formatBytes(size)}`,
    );
    if (sheet) out.note(`contact sheet: ${sheet}`);
    out.line(dest);
    out.result({ request_id: requestId, endpoint, output_path: dest, ...(sheet ? { sheet_path: sheet } : {}), elapsed_seconds: elapsedSeconds, ...result });
  } catch (err) {
    view?.stop();
    throw toCliError(err, ctx);
  } finally {
    process.removeListener("SIGINT", onSigint);
    await local?.close();
  }
}
