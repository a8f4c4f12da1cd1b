// TEST DOUBLE of Lightricks' hosted LTX API (api.ltx.video), written from the contract in
// docs/ltx-hosted-api.md because the real service cannot be reached from CI. It is NOT the
// real API: it serves real MP4s made by ffmpeg (testsrc + sine) of the requested size, fps, duration
// and audio, on the three async endpoints image-to-video, text-to-video and audio-to-video (whose clip
// is 25 fps, lasts as long as the uploaded audio and carries it), and lets each test script failures (429 + Retry-After, 5xx, 401, 402, 422 safety filter,
// jobs that fail or never finish). Where the real behaviour is unknown (ltx-hosted-api.md section 3) it is strict.
import { execFile } from "node:child_process";
import crypto from "node:crypto";
import { EventEmitter } from "node:events";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { ffmpegBinary, ffprobeBinary } from "../../src/media/ffmpeg.js";

const run = promisify(execFile);

export type DoubleRoute = "upload-slot" | "upload-put" | "submit" | "status" | "download";

/** The v2 endpoints the double serves; submit and status calls of each share the routes "submit" and "status". */
export const HOSTED_ENDPOINTS = ["image-to-video", "text-to-video", "audio-to-video"] as const;
export type HostedEndpointName = (typeof HOSTED_ENDPOINTS)[number];

/** One scripted answer, used instead of the normal handling for the next call to its route. */
export interface ScriptedAnswer {
  status: number;
  /** `error.type` of the body; default derived from the status (ltx-hosted-api.md 1.7). */
  errorType?: string;
  message?: string;
  /** Retry-After header value (seconds or an HTTP date). */
  retryAfter?: string;
  /** Never answer: exercises the client's per-call timeout. */
  hang?: boolean;
  /** Close the connection without answering: exercises network-error retries. */
  drop?: boolean;
}

/** How the next accepted submit behaves. */
export interface JobScript {
  /** Default "complete". "never" stays `processing` for ever. */
  outcome?: "complete" | "fail" | "never";
  /** For outcome "fail": the job document's `error`. Default api_error. */
  error?: { type: string; message: string };
  /** Polls answered `pending`, then `processing`; defaults from the double's options. */
  pendingPolls?: number;
  processingPolls?: number;
  /** Serve a video that differs from the request in these properties (to test output checks). */
  videoOverride?: Partial<VideoSpec>;
}

export interface VideoSpec {
  width: number;
  height: number;
  fps: number;
  durationSeconds: number;
  audio: boolean;
}

export interface RecordedCall {
  route: DoubleRoute | "unknown";
  method: string;
  path: string;
  status: number;
  /** Date.now() when the call arrived. */
  at: number;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body of submits. */
  json?: unknown;
  /** The v2 endpoint of submit and status calls. */
  endpoint?: HostedEndpointName;
  requestId: string;
}

export interface UploadedFile {
  storageUri: string;
  contentType?: string;
  bytes?: Buffer;
  /** PNG size read from the IHDR chunk, when the bytes are a PNG. */
  width?: number;
  height?: number;
  /** Length of an uploaded audio file (ffprobe), read at the first submit that uses it. */
  audioSeconds?: number;
  /** The uploaded bytes on disk, for ffprobe and ffmpeg. */
  file?: string;
}

export interface DoubleJob {
  id: string;
  endpoint: HostedEndpointName;
  body: Record<string, unknown>;
  createdAt: string;
  completedAt?: string;
  status: "pending" | "processing" | "completed" | "failed";
  polls: number;
  script: JobScript;
  video?: string;
  renderError?: string;
}

export interface LtxApiDoubleOptions {
  /** The only key accepted. Default "ltx-double-key". */
  apiKey?: string;
  host?: string;
  /** Default 0 (an ephemeral port). */
  port?: number;
  /** Unfinished jobs per account before 429 concurrency_limit_error (ltx-hosted-api.md 1.8). Default 2. */
  concurrencyLimit?: number;
  /** Retry-After (seconds) of that 429. Default 1. */
  concurrencyRetryAfterSeconds?: number;
  /** Polls answered `pending` before `processing`. Default 1. */
  pendingPolls?: number;
  /** Polls answered `processing` before the outcome (and until the video is rendered). Default 1. */
  processingPolls?: number;
  ffmpegPath?: string;
}

export interface LtxApiDouble {
  url: string;
  apiKey: string;
  /** Queues answers for the next calls to `route`, used before any normal handling. */
  script(route: DoubleRoute, ...answers: ScriptedAnswer[]): void;
  /** Queues behaviours for the next accepted submits. */
  scriptJobs(...scripts: JobScript[]): void;
  readonly calls: RecordedCall[];
  callsTo(route: DoubleRoute): RecordedCall[];
  readonly jobs: Map<string, DoubleJob>;
  /** Uploaded files by storage_uri. */
  readonly uploads: Map<string, UploadedFile>;
  /** Most unfinished jobs seen at once. */
  maxActiveJobs(): number;
  /** Resolves with the first call (already made or future) that matches. */
  waitForCall(match: (c: RecordedCall) => boolean, timeoutMs?: number): Promise<RecordedCall>;
  close(): Promise<void>;
}

/** Default `error.type` per status (ltx-hosted-api.md 1.7). */
const ERROR_TYPE_OF_STATUS: Record<number, string> = {
  400: "invalid_request_error",
  401: "authentication_error",
  402: "insufficient_funds_error",
  404: "not_found_error",
  413: "request_too_large",
  422: "content_filtered_error",
  429: "rate_limit_error",
  500: "api_error",
  503: "service_unavailable",
  529: "overloaded_error",
};

const CAMERA_MOTIONS = ["dolly_in", "dolly_out", "dolly_left", "dolly_right", "jib_up", "jib_down", "static", "focus_shift"];
const REQUEST_FIELDS = ["image_uri", "prompt", "model", "duration", "resolution", "fps", "generate_audio", "last_frame_uri", "camera_motion"];
/** TextToVideoRequest: ImageToVideoRequest minus the images (ltx-hosted-api.md 1.3). */
const T2V_FIELDS = REQUEST_FIELDS.filter((f) => f !== "image_uri" && f !== "last_frame_uri");
/** AudioToVideoRequest (OpenAPI; docs.ltx.video "Generate video from audio"). */
const A2V_FIELDS = ["audio_uri", "image_uri", "prompt", "resolution", "guidance_scale", "model"];
const A2V_RESOLUTIONS = ["1920x1080", "1080x1920"];
/** Audio-to-video output is 25 fps; its audio must last 2 to 20 s. */
export const A2V_FPS = 25;
const A2V_AUDIO_SECONDS = { min: 2, max: 20 };
/** Upload content types the double takes: the images of [INPUT], and WAV/MP3/MP4/OGG audio. */
const UPLOAD_TYPES = /^(image\/(png|jpeg|webp)|audio\/(wav|x-wav|wave|mpeg|mp4|ogg))$/;
const RESOLUTION_LABEL: Record<string, string> = {
  "1920x1080": "1080p", "1080x1920": "1080p",
  "2560x1440": "1440p", "1440x2560": "1440p",
  "3840x2160": "2160p", "2160x3840": "2160p",
};

/** Allowed durations for a model, resolution label and fps (ltx-hosted-api.md 1.9, Desktop's v1.0.5 table). */
export function allowedDurations(model: string, label: string, fps: number): number[] {
  const short = [6, 8, 10];
  if (model === "ltx-2-3-pro") return short;
  if (model === "ltx-2-3-fast") return label === "1080p" && (fps === 24 || fps === 25) ? [6, 8, 10, 12, 14, 16, 18, 20] : short;
  return [];
}

const DATA_URI = { image: /^data:image\/(png|jpeg|webp);base64,/, audio: /^data:audio\/(wav|x-wav|wave|mpeg|mp4|ogg);base64,/ };

/** Reasons a `*_uri` field is unusable, as `[field, message]`. */
function uriProblem(field: string, uri: unknown, uploads: Map<string, UploadedFile>, kind: "image" | "audio"): [string, string] | undefined {
  if (typeof uri !== "string") return [field, `${field} is required`];
  if (uri.startsWith("ltx://uploads/")) {
    const up = uploads.get(uri);
    if (!up?.bytes) return [field, `${field} names an upload that was never completed`];
    if (!up.contentType?.startsWith(`${kind}/`)) return [field, `${field} names an upload of type ${up.contentType}, not ${kind}`];
  } else if (!DATA_URI[kind].test(uri) && !uri.startsWith("https://")) {
    return [field, `${field} must be an https URL, a data: URI or a storage_uri`];
  }
  return undefined;
}

/** Reasons the body is not a valid AudioToVideoRequest, as `[field, message]`; the audio's length is checked at submit. */
function validateAudioToVideo(body: Record<string, unknown>, uploads: Map<string, UploadedFile>): [string, string] | undefined {
  for (const key of Object.keys(body)) if (!A2V_FIELDS.includes(key)) return [key, `Unknown field ${key}`];
  const { prompt, resolution, guidance_scale: guidance, model } = body;
  const audio = uriProblem("audio_uri", body.audio_uri, uploads, "audio");
  if (audio) return audio;
  if (body.image_uri !== undefined) {
    const image = uriProblem("image_uri", body.image_uri, uploads, "image");
    if (image) return image;
  }
  if (prompt !== undefined && (typeof prompt !== "string" || prompt.length > 5000)) return ["prompt", "prompt must be a string of at most 5000 characters"];
  if (body.image_uri === undefined && (typeof prompt !== "string" || prompt === "")) return ["prompt", "prompt is required if image_uri is not provided"];
  if (resolution !== undefined && !A2V_RESOLUTIONS.includes(resolution as string)) return ["resolution", `Unsupported resolution ${JSON.stringify(resolution)}`];
  if (guidance !== undefined && (typeof guidance !== "number" || guidance < 1 || guidance > 50)) return ["guidance_scale", "guidance_scale must be a number from 1 to 50"];
  // ltx-2-pro is in the enum but was removed on 2026-08-15 (ltx-hosted-api.md 1.10).
  if (model !== undefined && model !== "ltx-2-3-pro") return ["model", `Unsupported model ${JSON.stringify(model)}`];
  return undefined;
}

/** Reasons the body is not a valid ImageToVideoRequest (or TextToVideoRequest), as `[field, message]` (ltx-hosted-api.md 1.3). */
function validateRequest(body: Record<string, unknown>, uploads: Map<string, UploadedFile>, endpoint: HostedEndpointName = "image-to-video"): [string, string] | undefined {
  if (endpoint === "audio-to-video") return validateAudioToVideo(body, uploads);
  const fields = endpoint === "text-to-video" ? T2V_FIELDS : REQUEST_FIELDS;
  // Unknown fields (e.g. seed) are rejected: whether the real API ignores them is unknown (ltx-hosted-api.md section 3).
  for (const key of Object.keys(body)) if (!fields.includes(key)) return [key, `Unknown field ${key}`];
  const { prompt, model, duration, resolution, fps, generate_audio: audio, camera_motion: motion } = body;
  if (typeof prompt !== "string" || prompt.length === 0 || prompt.length > 5000) return ["prompt", "prompt must be a string of 1 to 5000 characters"];
  if (model !== "ltx-2-3-pro" && model !== "ltx-2-3-fast") return ["model", `Unsupported model ${JSON.stringify(model)}`];
  if (typeof resolution !== "string" || !RESOLUTION_LABEL[resolution]) return ["resolution", `Unsupported resolution ${JSON.stringify(resolution)}`];
  if (fps !== undefined && ![24, 25, 48, 50].includes(fps as number)) return ["fps", `Unsupported fps ${JSON.stringify(fps)}`];
  if (typeof duration !== "number" || !Number.isInteger(duration)) return ["duration", "duration must be an integer"];
  const allowed = allowedDurations(model, RESOLUTION_LABEL[resolution], (fps as number | undefined) ?? 24);
  if (!allowed.includes(duration)) return ["duration", `duration ${duration} is not supported for ${model} at ${resolution} and ${fps ?? 24} fps`];
  if (audio !== undefined && typeof audio !== "boolean") return ["generate_audio", "generate_audio must be a boolean"];
  if (motion !== undefined && !CAMERA_MOTIONS.includes(motion as string)) return ["camera_motion", `Unsupported camera_motion ${JSON.stringify(motion)}`];
  if (endpoint === "text-to-video") return undefined;
  for (const field of ["image_uri", "last_frame_uri"] as const) {
    if (body[field] === undefined && field === "last_frame_uri") continue;
    const problem = uriProblem(field, body[field], uploads, "image");
    if (problem) return problem;
  }
  return undefined;
}

function pngSize(bytes: Buffer): { width: number; height: number } | undefined {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (bytes.length < 24 || !bytes.subarray(0, 8).equals(signature)) return undefined;
  return { width: bytes.readUInt32BE(16), height: bytes.readUInt32BE(20) };
}

// Rendered videos are shared by every double in this process: identical specs are rendered once.
let renderDir: string | undefined;
const renders = new Map<string, Promise<string>>();

function ensureRenderDir(): string {
  if (!renderDir) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-api-double-"));
    renderDir = dir;
    process.once("exit", () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return renderDir;
}

/** Renders (once per spec) a real H.264 MP4 with ffmpeg's testsrc, plus a 440 Hz AAC tone when audio is on. */
export function renderVideo(spec: VideoSpec, ffmpegPath?: string): Promise<string> {
  const key = `${spec.width}x${spec.height}-${spec.fps}fps-${spec.durationSeconds}s-${spec.audio ? "audio" : "silent"}`;
  let pending = renders.get(key);
  if (!pending) {
    const out = path.join(ensureRenderDir(), `${key}.mp4`);
    const args = ["-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", `testsrc=size=${spec.width}x${spec.height}:rate=${spec.fps}`];
    if (spec.audio) args.push("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000");
    args.push("-t", String(spec.durationSeconds), "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p");
    if (spec.audio) args.push("-c:a", "aac", "-b:a", "64k");
    args.push("-movflags", "+faststart", out);
    pending = run(ffmpegBinary(ffmpegPath).path, args, { timeout: 300_000 }).then(() => out);
    pending.catch(() => renders.delete(key));
    renders.set(key, pending);
  }
  return pending;
}

/**
 * Renders (once per size, length and audio content) a real MP4 for an audio-to-video job: testsrc at
 * 25 fps for as long as the audio, which it carries as AAC.
 */
export function renderAudioVideo(spec: { width: number; height: number; audioFile: string; seconds: number }, ffmpegPath?: string): Promise<string> {
  const audioHash = crypto.createHash("sha256").update(fs.readFileSync(spec.audioFile)).digest("hex").slice(0, 16);
  const key = `a2v-${spec.width}x${spec.height}-${spec.seconds.toFixed(6)}s-${audioHash}`;
  let pending = renders.get(key);
  if (!pending) {
    const out = path.join(ensureRenderDir(), `${key}.mp4`);
    const args = ["-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", `testsrc=size=${spec.width}x${spec.height}:rate=${A2V_FPS}`, "-i", spec.audioFile];
    args.push("-t", spec.seconds.toFixed(6), "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p");
    args.push("-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", out);
    pending = run(ffmpegBinary(ffmpegPath).path, args, { timeout: 300_000 }).then(() => out);
    pending.catch(() => renders.delete(key));
    renders.set(key, pending);
  }
  return pending;
}

/** Length in seconds of an uploaded audio file, by ffprobe; undefined when it is not readable audio. */
async function audioSecondsOf(file: string): Promise<number | undefined> {
  try {
    const { stdout } = await run(ffprobeBinary().path, ["-v", "error", "-select_streams", "a:0", "-show_entries", "format=duration:stream=codec_type", "-of", "json", file]);
    const json = JSON.parse(stdout) as { streams?: { codec_type?: string }[]; format?: { duration?: string } };
    const seconds = Number(json.format?.duration);
    return json.streams?.length && Number.isFinite(seconds) ? seconds : undefined;
  } catch {
    return undefined;
  }
}

export async function startLtxApiDouble(opts: LtxApiDoubleOptions = {}): Promise<LtxApiDouble> {
  const apiKey = opts.apiKey ?? "ltx-double-key";
  const concurrencyLimit = opts.concurrencyLimit ?? 2;
  const scripts = new Map<DoubleRoute, ScriptedAnswer[]>();
  const jobScripts: JobScript[] = [];
  const calls: RecordedCall[] = [];
  const jobs = new Map<string, DoubleJob>();
  const uploads = new Map<string, UploadedFile>();
  const renderDone = new Set<string>();
  const events = new EventEmitter();
  const hanging = new Set<http.ServerResponse>();
  let maxActive = 0;
  let requestCounter = 0;
  let baseUrl = "";

  const activeJobs = () => [...jobs.values()].filter((j) => j.status === "pending" || j.status === "processing").length;

  function routeOf(method: string, pathname: string): { route: DoubleRoute | "unknown"; id?: string; endpoint?: HostedEndpointName } {
    if (method === "POST" && pathname === "/v1/upload") return { route: "upload-slot" };
    let m = /^\/uploads\/([\w-]+)$/.exec(pathname);
    if (method === "PUT" && m) return { route: "upload-put", id: m[1] };
    m = /^\/v2\/(image-to-video|text-to-video|audio-to-video)$/.exec(pathname);
    if (method === "POST" && m) return { route: "submit", endpoint: m[1] as HostedEndpointName };
    m = /^\/v2\/(image-to-video|text-to-video|audio-to-video)\/([\w-]+)$/.exec(pathname);
    if (method === "GET" && m) return { route: "status", id: m[2], endpoint: m[1] as HostedEndpointName };
    m = /^\/files\/([\w-]+)\.mp4$/.exec(pathname);
    if (method === "GET" && m) return { route: "download", id: m[1] };
    return { route: "unknown" };
  }

  /** Advances a job by one poll: pending -> processing -> outcome (once its video is rendered). */
  function advance(job: DoubleJob) {
    if (job.status === "completed" || job.status === "failed") return;
    job.polls += 1;
    const pendingPolls = job.script.pendingPolls ?? opts.pendingPolls ?? 1;
    const processingPolls = job.script.processingPolls ?? opts.processingPolls ?? 1;
    if (job.polls <= pendingPolls) return;
    job.status = "processing";
    const outcome = job.script.outcome ?? "complete";
    if (outcome === "never" || job.polls <= pendingPolls + processingPolls) return;
    if (outcome === "fail" || job.renderError) {
      job.status = "failed";
    } else if (renderDone.has(job.id)) {
      job.status = "completed";
    } else {
      return;
    }
    job.completedAt = new Date().toISOString();
  }

  function jobDocument(job: DoubleJob): Record<string, unknown> {
    const doc: Record<string, unknown> = { id: job.id, status: job.status, created_at: job.createdAt };
    if (job.completedAt) doc.completed_at = job.completedAt;
    if (job.status === "completed") doc.result = { video_url: `${baseUrl}/files/${job.id}.mp4?sig=${signature(job.id)}` };
    if (job.status === "failed") {
      doc.error = job.renderError
        ? { type: "api_error", message: `test double could not render: ${job.renderError}` }
        : job.script.error ?? { type: "api_error", message: "Generation failed" };
    }
    return doc;
  }

  const secret = crypto.randomBytes(16).toString("hex");
  const signature = (id: string) => crypto.createHmac("sha256", secret).update(id).digest("hex").slice(0, 32);

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://double");
    const method = req.method ?? "GET";
    const { route, id, endpoint } = routeOf(method, url.pathname);
    const requestId = `req_${++requestCounter}`;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks);
    const call: RecordedCall = { route, method, path: url.pathname, status: 0, at: Date.now(), headers: req.headers, requestId, endpoint };

    const send = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
      call.status = status;
      calls.push(call);
      const payload = body === undefined ? "" : JSON.stringify(body);
      res.writeHead(status, { "x-request-id": requestId, ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers });
      res.end(payload);
      events.emit("call", call);
    };
    const fail = (status: number, message: string, errorType = ERROR_TYPE_OF_STATUS[status] ?? "api_error", headers: Record<string, string> = {}) =>
      send(status, { type: "error", error: { type: errorType, message } }, headers);

    const scripted = route !== "unknown" ? scripts.get(route)?.shift() : undefined;
    if (scripted) {
      if (scripted.hang) {
        call.status = -1;
        calls.push(call);
        events.emit("call", call);
        hanging.add(res);
        return;
      }
      if (scripted.drop) {
        call.status = -2;
        calls.push(call);
        events.emit("call", call);
        req.socket.destroy();
        return;
      }
      return fail(
        scripted.status,
        scripted.message ?? `scripted ${scripted.status}`,
        scripted.errorType ?? ERROR_TYPE_OF_STATUS[scripted.status] ?? "api_error",
        scripted.retryAfter !== undefined ? { "retry-after": scripted.retryAfter } : {},
      );
    }

    // Pre-signed storage URLs take no bearer header; sending one would leak the key to storage.
    const presigned = route === "upload-put" || route === "download";
    if (presigned) {
      if (req.headers.authorization) return fail(400, "pre-signed URLs must not carry an Authorization header", "invalid_request_error");
      if (url.searchParams.get("sig") !== signature(id ?? "")) return fail(403, "signature mismatch", "authentication_error");
    } else if (route !== "unknown" && req.headers.authorization !== `Bearer ${apiKey}`) {
      return fail(401, "Invalid or missing API key");
    }

    switch (route) {
      case "upload-slot": {
        const uploadId = crypto.randomUUID();
        const storageUri = `ltx://uploads/${uploadId}`;
        uploads.set(storageUri, { storageUri });
        return send(200, {
          upload_url: `${baseUrl}/uploads/${uploadId}?sig=${signature(uploadId)}`,
          storage_uri: storageUri,
          expires_at: new Date(Date.now() + 3600_000).toISOString(),
          required_headers: { "x-ms-blob-type": "BlockBlob" },
        });
      }
      case "upload-put": {
        const entry = uploads.get(`ltx://uploads/${id}`);
        if (!entry) return fail(404, "unknown upload");
        if (req.headers["x-ms-blob-type"] !== "BlockBlob") return fail(400, "missing required header x-ms-blob-type", "invalid_request_error");
        const contentType = req.headers["content-type"];
        if (!contentType || !UPLOAD_TYPES.test(contentType)) return fail(400, `unsupported content type ${contentType}`, "invalid_request_error");
        entry.bytes = raw;
        entry.contentType = contentType;
        Object.assign(entry, pngSize(raw));
        if (contentType.startsWith("audio/")) {
          entry.file = path.join(ensureRenderDir(), `upload-${id}`);
          fs.writeFileSync(entry.file, raw);
        }
        return send(201);
      }
      case "submit": {
        if (!/^application\/json/.test(req.headers["content-type"] ?? "")) return fail(400, "Content-Type must be application/json");
        let body: Record<string, unknown>;
        try {
          body = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
        } catch {
          return fail(400, "body is not JSON");
        }
        call.json = body;
        if (typeof body !== "object" || body === null || Array.isArray(body)) return fail(400, "body must be a JSON object");
        const invalid = validateRequest(body, uploads, endpoint);
        if (invalid) return fail(400, `${invalid[0]}: ${invalid[1]}`);
        let audio: { file: string; seconds: number } | undefined;
        if (endpoint === "audio-to-video") {
          const up = uploads.get(body.audio_uri as string);
          // Only uploaded audio can be read here; an https URL would be fetched by the real service.
          if (!up?.file) return fail(400, "audio_uri: the test double reads uploaded audio (storage_uri) only");
          up.audioSeconds ??= await audioSecondsOf(up.file);
          const seconds = up.audioSeconds;
          if (seconds === undefined) return fail(400, "audio_uri: the file is not readable audio");
          if (seconds < A2V_AUDIO_SECONDS.min || seconds > A2V_AUDIO_SECONDS.max) {
            return fail(400, `audio_uri: audio duration must be between ${A2V_AUDIO_SECONDS.min} and ${A2V_AUDIO_SECONDS.max} seconds, got ${seconds.toFixed(2)}`);
          }
          audio = { file: up.file, seconds };
        }
        if (activeJobs() >= concurrencyLimit) {
          return fail(429, `At most ${concurrencyLimit} generations may run at once`, "concurrency_limit_error", {
            "retry-after": String(opts.concurrencyRetryAfterSeconds ?? 1),
          });
        }
        const job: DoubleJob = {
          id: crypto.randomUUID(),
          endpoint: endpoint ?? "image-to-video",
          body,
          createdAt: new Date().toISOString(),
          status: "pending",
          polls: 0,
          script: jobScripts.shift() ?? {},
        };
        jobs.set(job.id, job);
        maxActive = Math.max(maxActive, activeJobs());
        const rendered = (file: string) => {
          job.video = file;
          renderDone.add(job.id);
        };
        const renderFailed = (err: Error) => {
          job.renderError = err.message;
        };
        if ((job.script.outcome ?? "complete") === "complete" && audio) {
          // Omitted resolution: portrait images give 1080x1920, landscape images and no image 1920x1080.
          const image = body.image_uri !== undefined ? uploads.get(body.image_uri as string) : undefined;
          const resolution = (body.resolution as string | undefined) ?? (image?.height && image.width && image.height > image.width ? "1080x1920" : "1920x1080");
          const [width, height] = resolution.split("x").map(Number);
          const o = job.script.videoOverride ?? {};
          renderAudioVideo({ width: o.width ?? width, height: o.height ?? height, audioFile: audio.file, seconds: o.durationSeconds ?? audio.seconds }, opts.ffmpegPath).then(
            rendered,
            renderFailed,
          );
        } else if ((job.script.outcome ?? "complete") === "complete") {
          const [width, height] = (body.resolution as string).split("x").map(Number);
          const spec: VideoSpec = {
            width,
            height,
            fps: (body.fps as number | undefined) ?? 24,
            durationSeconds: body.duration as number,
            audio: (body.generate_audio as boolean | undefined) ?? true,
            ...job.script.videoOverride,
          };
          renderVideo(spec, opts.ffmpegPath).then(rendered, renderFailed);
        }
        return send(202, { id: job.id, created_at: job.createdAt });
      }
      case "status": {
        const job = jobs.get(id ?? "");
        // A job is polled under the endpoint it was submitted to (ltx-hosted-api.md 1.2).
        if (!job || job.endpoint !== endpoint) return fail(404, "Job not found");
        advance(job);
        return send(200, jobDocument(job));
      }
      case "download": {
        const job = jobs.get(id ?? "");
        if (!job?.video) return fail(404, "no such file");
        const size = fs.statSync(job.video).size;
        call.status = 200;
        calls.push(call);
        events.emit("call", call);
        res.writeHead(200, { "content-type": "video/mp4", "content-length": String(size), "x-request-id": requestId });
        fs.createReadStream(job.video).pipe(res);
        return;
      }
      default:
        return fail(404, `No route ${method} ${url.pathname}`, "not_found_error");
    }
  });

  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", resolve));
  const address = server.address() as AddressInfo;
  baseUrl = `http://${opts.host ?? "127.0.0.1"}:${address.port}`;

  return {
    url: baseUrl,
    apiKey,
    script(route, ...answers) {
      scripts.set(route, [...(scripts.get(route) ?? []), ...answers]);
    },
    scriptJobs(...more) {
      jobScripts.push(...more);
    },
    calls,
    callsTo: (route) => calls.filter((c) => c.route === route),
    jobs,
    uploads,
    maxActiveJobs: () => maxActive,
    waitForCall(match, timeoutMs = 60_000) {
      const found = calls.find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          events.off("call", listener);
          reject(new Error(`the LTX API double saw no matching call within ${timeoutMs} ms`));
        }, timeoutMs);
        const listener = (c: RecordedCall) => {
          if (!match(c)) return;
          clearTimeout(timer);
          events.off("call", listener);
          resolve(c);
        };
        events.on("call", listener);
      });
    },
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
