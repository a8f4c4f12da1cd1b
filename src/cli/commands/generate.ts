// `ltx-serve generate`: submits a request to any endpoint of the family (--endpoint i2v, i2v-fast,
// t2v, t2v-fast, a2v) with the official @fal-ai/client, after checking the flags against that
// endpoint's schema; uploads local images and audio, shows live progress from the status stream,
// downloads the MP4 and prints its path. `--async` stops after the submit; `--local` runs the whole
// service inside this process.
import path from "node:path";
import type { Command } from "commander";
import { writeContactSheet } from "../../media/contact-sheet.js";
import { checkFlagsForEndpoint, endpointsHelp, findKnownEndpoint, shortNameOf, summaryOf } from "../lib/endpoint-flags.js";
import { CliError, FLAG_OF_FIELD, toCliError, type Phase } from "../lib/errors.js";
import { EXIT } from "../lib/exit-codes.js";
import { falClientFor } from "../lib/fal.js";
import { checkHealth, downloadTo } from "../lib/http.js";
import { audioUrlFor, imageUrlFor, numberOrRaw } from "../lib/inputs.js";
import { startLocalService, type LocalService } from "../lib/local-service.js";
import { appOf, DEFAULT_SERVER_URL, resolveEndpoint, resolveServer, withServerOptions, type Server } from "../lib/options.js";
import { formatBytes, formatElapsed, runCommand, shellArg, type Output } from "../lib/output.js";
import { createProgressView } from "../lib/progress.js";
import { watchRequest } from "../lib/watch.js";

export interface GenerateOptions {
  image?: string;
  endImage?: string;
  prompt?: string;
  duration?: string;
  resolution?: string;
  aspectRatio?: string;
  fps?: string;
  /** `--audio <path|url>` gives a string, `--no-audio` gives false (see `given`). */
  audio?: string | boolean;
  guidanceScale?: string;
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

/** Which of `--audio` and `--no-audio` were on the command line (they share one option value). */
export interface AudioFlags {
  audio?: string;
  noAudio?: boolean;
}

interface VideoResult {
  video: { url: string; content_type?: string; file_name?: string; file_size?: number; width?: number; height?: number; fps?: number; duration?: number; num_frames?: number };
  seed?: number;
}

/** field -> the flag that set it, for every input flag on the command line. */
export function givenFields(opts: GenerateOptions, audio: AudioFlags = audioFlagsOf(opts)): Record<string, string> {
  const given: Record<string, string> = {};
  const set = (field: string, flag: string, value: unknown) => {
    if (value !== undefined) given[field] = flag;
  };
  set("image_url", "--image", opts.image);
  set("end_image_url", "--end-image", opts.endImage);
  set("audio_url", "--audio", audio.audio);
  set("prompt", "--prompt", opts.prompt);
  set("duration", "--duration", opts.duration);
  set("resolution", "--resolution", opts.resolution);
  set("aspect_ratio", "--aspect-ratio", opts.aspectRatio);
  set("fps", "--fps", opts.fps);
  set("generate_audio", "--no-audio", audio.noAudio ? false : undefined);
  set("guidance_scale", "--guidance-scale", opts.guidanceScale);
  set("seed", "--seed", opts.seed);
  set("camera_motion", "--camera-motion", opts.cameraMotion);
  return given;
}

/** Without the command line's events, the option value alone: a string is --audio, false is --no-audio. */
function audioFlagsOf(opts: GenerateOptions): AudioFlags {
  return { audio: typeof opts.audio === "string" ? opts.audio : undefined, noAudio: opts.audio === false };
}

/** The endpoint input from the flags; only what was given is sent, so server defaults apply. */
export function inputFromOptions(
  opts: GenerateOptions,
  media: { image?: string; endImage?: string; audio?: string },
  audio: AudioFlags = audioFlagsOf(opts),
): Record<string, unknown> {
  const input: Record<string, unknown> = {};
  if (media.audio !== undefined) input.audio_url = media.audio;
  if (media.image !== undefined) input.image_url = media.image;
  if (media.endImage !== undefined) input.end_image_url = media.endImage;
  if (opts.prompt !== undefined) input.prompt = opts.prompt;
  if (opts.duration !== undefined) input.duration = numberOrRaw(opts.duration);
  if (opts.resolution !== undefined) input.resolution = opts.resolution;
  if (opts.aspectRatio !== undefined) input.aspect_ratio = opts.aspectRatio;
  if (opts.fps !== undefined) input.fps = numberOrRaw(opts.fps);
  if (audio.noAudio) input.generate_audio = false;
  if (opts.guidanceScale !== undefined) input.guidance_scale = numberOrRaw(opts.guidanceScale);
  if (opts.seed !== undefined) input.seed = numberOrRaw(opts.seed);
  if (opts.cameraMotion !== undefined) input.camera_motion = opts.cameraMotion;
  return input;
}

/** What the command does with its parsed flags; tests give their own to read the flags without a server. */
export type GenerateHandler = (opts: GenerateOptions, audio: AudioFlags) => Promise<void>;

export function registerGenerateCommand(program: Command, handler?: GenerateHandler): Command {
  const cmd = program
    .command("generate")
    .description("make a video (from an image, a prompt or an audio track), with live progress, and save it")
    .option("--endpoint <name|id>", "i2v, i2v-fast, t2v, t2v-fast, a2v (also pro, fast) or a full endpoint id", "fal-ai/ltx-2.3/image-to-video")
    .option("--image <path|url>", "start image (i2v: required; a2v: optional first frame): a local file (uploaded), an http(s) URL or a data: URI")
    .option("--end-image <path|url>", "end image (i2v): the video ends on it (a transition)")
    .option("--audio <path|url>", "a2v: the audio track the video follows: a local file (uploaded: mp3, wav, m4a, aac, ogg, opus, flac), an http(s) URL or a data: URI")
    .option("--prompt <text>", "what happens in the video (required except for a2v)")
    .option("--duration <seconds>", "6, 8 or 10 (fast: up to 20) (server default 6)")
    .option("--resolution <res>", "1080p, 1440p or 2160p (server default 1080p)")
    .option("--aspect-ratio <ratio>", "auto, 16:9 or 9:16 (server default auto)")
    .option("--fps <n>", "24, 25, 48 or 50 (server default 25)")
    .option("--no-audio", "i2v, t2v: no audio track (default: audio on)")
    .option("--guidance-scale <n>", "a2v: classifier-free guidance scale, 1 to 20 (server default 3)")
    .option("--seed <n>", "seed for a reproducible video (default: drawn by the server, shown in the result)")
    .option("--camera-motion <preset>", "i2v, t2v: dolly_in, dolly_out, dolly_left, dolly_right, jib_up, jib_down, static, focus_shift")
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

${endpointsHelp()}

Examples:
  ltx-serve generate --image photo.jpg --prompt "slow push in, rain on the window" -o rain.mp4
  ltx-serve generate --endpoint t2v --prompt "a lighthouse at dusk, waves below" --duration 8
  ltx-serve generate --endpoint a2v --audio song.mp3 --image cover.png --prompt "the singer on stage"
  ltx-serve generate --local --image photo.jpg --prompt "pan left" --duration 6 --no-audio
  id=$(ltx-serve generate --async --image https://example.com/a.png --prompt "...")`,
  );
  // --audio <src> and --no-audio share the option value `audio`; the events say which were given.
  const audio: AudioFlags = {};
  cmd.on("option:audio", (value: string) => (audio.audio = value));
  cmd.on("option:no-audio", () => (audio.noAudio = true));
  cmd.action(async (opts: GenerateOptions) => {
    if (handler) return handler(opts, audio);
    const ctx: { phase: Phase; requestId?: string; url?: string } = { phase: "health" };
    await runCommand({ json: opts.json, flags: FLAG_OF_FIELD }, (out) => generate(opts, audio, out, ctx), () => ctx);
  });
  return cmd;
}

async function generate(opts: GenerateOptions, audio: AudioFlags, out: Output, ctx: { phase: Phase; requestId?: string; url?: string }): Promise<void> {
  if (opts.local && opts.async) throw new CliError("--async cannot be used with --local (the local service stops when the command ends)", { exitCode: EXIT.usage });
  if (opts.dataDir && !opts.local) throw new CliError("--data-dir only applies with --local", { exitCode: EXIT.usage });
  const endpoint = resolveEndpoint(opts.endpoint);
  // The endpoint's own schema says which flags it takes; an unknown full id is left to the server.
  const def = findKnownEndpoint(endpoint);
  if (def) checkFlagsForEndpoint(def, givenFields(opts, audio));
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
      note(`${endpoint} (${shortNameOf(endpoint)}) on ${server.url}${engine ? ` (engine ${engine})` : ""}`);
    }
    ctx.url = server.url;
    const fal = falClientFor(server.url, server.key);

    ctx.phase = "upload";
    const onUpload = (u: { file: string; bytes: number }) => note(`uploaded ${u.file} (${formatBytes(u.bytes)})`);
    const media = {
      audio: audio.audio !== undefined ? await audioUrlFor(fal, audio.audio, onUpload) : undefined,
      image: opts.image !== undefined ? await imageUrlFor(fal, opts.image, "--image", onUpload) : undefined,
      endImage: opts.endImage !== undefined ? await imageUrlFor(fal, opts.endImage, "--end-image", onUpload) : undefined,
    };
    const input = inputFromOptions(opts, media, audio);

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
      out.note(`submitted (${summaryOf(endpoint, input)}); ${submitted.queue_position ?? 0} ahead in the queue`);
      out.note(`next:  ltx-serve status ${requestId}${urlFlag}`);
      out.note(`       ltx-serve result ${requestId}${urlFlag} -o ${dest}`);
      out.note(`       ltx-serve logs ${requestId}${urlFlag} --follow    (or: ltx-serve cancel ${requestId}${urlFlag})`);
      return;
    }
    note(`submitted ${requestId} (${summaryOf(endpoint, input)})`);

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
