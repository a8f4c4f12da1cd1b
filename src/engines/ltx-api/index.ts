// The `ltx-api` engine (docs/ltx-api-engine.md): forwards a job to Lightricks' hosted LTX API through
// the v2 async flow (upload images or audio, submit, poll, download), then checks the MP4 with ffprobe.
// Image-to-video, text-to-video and audio-to-video go to the hosted endpoint of the same name.
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { CancelledError, EngineError, ServiceError } from "../../errors.js";
import { ffmpegBinary } from "../../media/ffmpeg.js";
import { requireStartImage, type Engine, type EngineJob, type EngineResult } from "../types.js";
import { createLtxApiClient, type CallContext, type HostedJob, type LtxApiClient } from "./client.js";
import { LtxApiCallError, LtxApiDeadlineError, failureOfCallError, mapHostedFailure } from "./errors.js";
import {
  audioToVideoProblem,
  buildAudioToVideoRequest,
  buildImageToVideoRequest,
  buildTextToVideoRequest,
  hostedEndpointFor,
  LTX_MODEL_BY_ENDPOINT,
  modelForEndpoint,
  type HostedEndpoint,
  type HostedRequest,
  type MappedAudioJob,
} from "./mapping.js";
import { sleep } from "./retry.js";
import { createSlots } from "./slots.js";
import { verifyVideo } from "../../media/verify.js";

/** The hosted model's exact frame count per duration is not documented; one frame either way is accepted. */
const HOSTED_FRAME_TOLERANCE = 1;

export const ENGINE_NAME = "ltx-api";
export const DEFAULT_LTX_API_URL = "https://api.ltx.video";

/** Settings of the engine; a loaded Config satisfies it. Defaults are those of src/config.ts. */
export interface LtxApiEngineOptions {
  /** Bearer key of the hosted API. Required. */
  ltxApiKey?: string;
  /** Default https://api.ltx.video. */
  ltxApiUrl?: string;
  /** Jobs in flight against the hosted API at once. Default 2. */
  ltxApiConcurrency?: number;
  /** Pause between status polls in ms. Default 5_000. */
  ltxApiPollIntervalMs?: number;
  /** Total time for one job after it got a slot, in ms. Default 1_200_000. */
  ltxApiJobDeadlineMs?: number;
  /** Retries of one call after 5xx, network errors and timeouts. Default 4. */
  ltxApiMaxRetries?: number;
  /** Time allowed for one API call in ms. Default 60_000. */
  ltxApiRequestTimeoutMs?: number;
  ffprobePath?: string;
  /** ffmpeg used to turn an audio-to-video input into the WAV that is uploaded. */
  ffmpegPath?: string;
  /** First backoff wait in ms, doubled each retry (never below Retry-After). Default 1_000. */
  retryBaseMs?: number;
  /** Time allowed for one download of the finished video in ms. Default 600_000. */
  downloadTimeoutMs?: number;
}

/** Progress is coarse: the hosted API reports states, not percentages. */
const STEPS = { uploaded: 1, submitted: 2, processing: 3, completed: 4, downloaded: 5, verified: 6 } as const;
const TOTAL_STEPS = 6;
export const PROGRESS_STAGE = "hosted";

function positiveInt(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${value}`);
  return value;
}

export function createLtxApiEngine(opts: LtxApiEngineOptions): Engine {
  if (!opts.ltxApiKey) {
    throw new Error("The ltx-api engine needs LTX_API_KEY (a key from https://console.ltx.video); unset ENGINES entries naming ltx-api or set the key");
  }
  const concurrency = positiveInt("LTX_API_CONCURRENCY", opts.ltxApiConcurrency ?? 2);
  const pollMs = opts.ltxApiPollIntervalMs ?? 5_000;
  const deadlineMs = positiveInt("LTX_API_JOB_DEADLINE_MS", opts.ltxApiJobDeadlineMs ?? 20 * 60_000);
  const maxRetries = opts.ltxApiMaxRetries ?? 4;
  const client = createLtxApiClient({
    baseUrl: opts.ltxApiUrl || DEFAULT_LTX_API_URL,
    apiKey: opts.ltxApiKey,
    maxRetries,
    retryBaseMs: opts.retryBaseMs ?? 1_000,
    requestTimeoutMs: opts.ltxApiRequestTimeoutMs ?? 60_000,
    downloadTimeoutMs: opts.downloadTimeoutMs ?? 600_000,
  });
  const slots = createSlots(concurrency);

  return {
    name: ENGINE_NAME,
    concurrency,
    serves: Object.keys(LTX_MODEL_BY_ENDPOINT),
    async generate(job) {
      const model = modelForEndpoint(job.endpoint);
      const hosted = hostedEndpointFor(job.endpoint);
      // Audio-to-video inputs the hosted API cannot make are refused before a slot, an upload or a bill.
      if (hosted === "audio-to-video") {
        const problem = audioToVideoProblem(audioJobOf(job));
        if (problem) throw problem;
      }
      if (slots.inUse() >= concurrency) job.log("INFO", `Waiting for one of ${concurrency} LTX API slots (LTX_API_CONCURRENCY)`);
      let release: () => void;
      try {
        release = await slots.acquire(job.signal);
      } catch {
        throw cancellationOf(job);
      }
      try {
        return await runHostedJob(job, model, hosted, { client, pollMs, deadlineMs, maxRetries, ffprobePath: opts.ffprobePath, ffmpegPath: opts.ffmpegPath });
      } finally {
        release();
      }
    },
  };
}

/** The error a cancelled job rejects with: the dispatcher's own reason when typed, else CancelledError. */
function cancellationOf(job: EngineJob): ServiceError {
  const reason: unknown = job.signal.reason;
  return reason instanceof ServiceError ? reason : new CancelledError(job.requestId);
}

interface RunSettings {
  client: LtxApiClient;
  pollMs: number;
  deadlineMs: number;
  maxRetries: number;
  ffprobePath?: string;
  ffmpegPath?: string;
}

const run = promisify(execFile);

/** What the audio-to-video mapping needs of a job. */
function audioJobOf(job: EngineJob): MappedAudioJob {
  if (!job.inputAudio) throw new EngineError(`${job.endpoint} needs an input audio track`, { requestId: job.requestId });
  return {
    endpoint: job.endpoint,
    prompt: job.prompt,
    width: job.width,
    height: job.height,
    fps: job.fps,
    guidanceScale: job.guidanceScale,
    audioSeconds: job.inputAudio.durationSeconds,
    hasImage: job.startImage !== undefined,
  };
}

/**
 * The input audio as a 48 kHz stereo 16-bit WAV cut to the clip's length: a format every LTX input
 * list names, and a length the hosted clip then follows exactly (it lasts as long as its audio).
 */
async function audioForUpload(job: EngineJob, signal: AbortSignal, ffmpegPath?: string): Promise<string> {
  const out = path.join(job.workDir, "ltx-api-audio.wav");
  const args = ["-hide_banner", "-v", "error", "-y", "-i", job.inputAudio!.path, "-vn", "-t", job.durationSeconds.toFixed(6)];
  args.push("-ac", "2", "-ar", "48000", "-c:a", "pcm_s16le", out);
  try {
    await run(ffmpegBinary(ffmpegPath).path, args, { timeout: 120_000, signal });
  } catch (err) {
    signal.throwIfAborted();
    const e = err as { stderr?: string; message?: string };
    throw new EngineError(`Could not convert the input audio to WAV for the hosted LTX API: ${(e.stderr || e.message || String(err)).trim().slice(0, 300)}`, {
      requestId: job.requestId,
    });
  }
  return out;
}

async function runHostedJob(job: EngineJob, model: string, hosted: HostedEndpoint, s: RunSettings): Promise<EngineResult> {
  const begin = performance.now();
  const seconds = (from: number) => Math.round((performance.now() - from) / 10) / 100;
  const state = { hostedId: undefined as string | undefined, status: "not submitted", retries: 0 };

  // One signal for every request and wait of this job: fires on cancellation or at the deadline.
  const abort = new AbortController();
  const onCancel = () => {
    if (state.hostedId && cancellationOf(job) instanceof CancelledError) {
      job.log("WARN", `Stopped polling hosted LTX job ${state.hostedId}; the hosted API has no cancel call, so it may still finish and be billed`);
    } else if (state.hostedId) {
      job.log("INFO", `Stopped polling hosted LTX job ${state.hostedId}; its id stays on the request, so the next attempt resumes it`);
    }
    abort.abort(cancellationOf(job));
  };
  if (job.signal.aborted) onCancel();
  else job.signal.addEventListener("abort", onCancel, { once: true });
  const deadline = setTimeout(() => {
    const limit = s.deadlineMs >= 120_000 ? `${Math.round(s.deadlineMs / 600) / 100} min` : `${s.deadlineMs / 1000} s`;
    abort.abort(
      new LtxApiDeadlineError(
        state.hostedId
          ? `Hosted LTX job ${state.hostedId} did not finish within ${limit} (LTX_API_JOB_DEADLINE_MS); last state: ${state.status}. ` +
              "It may still finish on the LTX side and be billed there."
          : `The hosted LTX API did not accept the job within ${limit} (LTX_API_JOB_DEADLINE_MS); last state: ${state.status}`,
        { requestId: job.requestId },
      ),
    );
  }, s.deadlineMs);

  const ctx: CallContext = {
    signal: abort.signal,
    onRetry(n) {
      state.retries += 1;
      const what = n.status !== undefined ? `HTTP ${n.status}${n.errorType ? ` ${n.errorType}` : ""}` : "no answer";
      const rid = n.requestId ? `, x-request-id ${n.requestId}` : "";
      job.log(
        "WARN",
        `LTX API ${n.call}: ${what} (${n.reason}${rid}); retrying in ${(n.waitMs / 1000).toFixed(1)} s` +
          (n.counted ? ` (counts towards the limit of ${s.maxRetries} retries)` : " (rate or capacity limit: waits until the job deadline)"),
      );
    },
  };
  const progress = (step: number) => job.onProgress({ stage: PROGRESS_STAGE, step, total: TOTAL_STEPS });
  const callError = (err: unknown, fieldHint?: string) =>
    err instanceof LtxApiCallError ? mapHostedFailure({ ...failureOfCallError(err, fieldHint), jobId: state.hostedId }) : err;

  try {
    job.log(
      "INFO",
      `Forwarding to the hosted LTX API ${hosted}: model ${model}, ${job.width}x${job.height}, ${job.fps} fps, ${job.durationSeconds} s, ` +
        (hosted === "audio-to-video"
          ? `input audio${job.startImage ? ", with first frame" : ""}${job.guidanceScale !== undefined ? `, guidance ${job.guidanceScale}` : ""}`
          : `audio ${job.generateAudio ? "on" : "off"}${job.cameraMotion ? `, camera ${job.cameraMotion}` : ""}${job.endImage ? ", with end image" : ""}`),
    );
    job.log("INFO", `Seed ${job.seed} is not passed: the hosted LTX API has no seed input, so the same seed will not give the same video`);
    if (job.cameraMotion && model === "ltx-2-3-fast") {
      job.log("INFO", "camera_motion is passed through, but may have no effect on ltx-2-3-fast (LTX Desktop offers it for Pro only)");
    }

    // 0. A job an earlier attempt submitted (before a crash or restart) is resumed, not submitted again.
    let hostedId: string | undefined;
    let resumedDoc: HostedJob | undefined;
    const resumeId = savedHostedJobId(job.savedState, model, hosted);
    if (resumeId) {
      try {
        resumedDoc = await s.client.getJob(hosted, resumeId, ctx);
        hostedId = resumeId;
        state.hostedId = resumeId;
        job.log("INFO", `Resuming hosted LTX job ${resumeId} submitted by an earlier attempt (not submitting, or paying for, a new one)`);
      } catch (err) {
        if (!(err instanceof LtxApiCallError && err.status === 404)) throw callError(err);
        job.log("WARN", `Hosted LTX job ${resumeId} of an earlier attempt is unknown to the hosted API (expired?); submitting a new one`);
        await saveHostedJob(job, null);
      }
    }

    let uploadSeconds = 0;
    if (!hostedId) {
      // 1. Upload the images (and the audio); storage URIs stay valid 24 h (ltx-hosted-api.md 1.5).
      // Text-to-video has nothing to upload.
      const uploadBegin = performance.now();
      const upload = async (field: "image_url" | "end_image_url" | "audio_url", file: string, contentType: string) => {
        try {
          const { storageUri } = await s.client.uploadFile(file, contentType, ctx);
          job.log("DEBUG", `Uploaded ${field} to the hosted API as ${storageUri}`);
          return storageUri;
        } catch (err) {
          throw callError(err, field);
        }
      };
      let body: HostedRequest;
      if (hosted === "text-to-video") {
        body = buildTextToVideoRequest(job);
      } else if (hosted === "audio-to-video") {
        const wav = await audioForUpload(job, abort.signal, s.ffmpegPath);
        const audioUri = await upload("audio_url", wav, "audio/wav");
        const imageUri = job.startImage ? await upload("image_url", job.startImage.path, "image/png") : undefined;
        body = buildAudioToVideoRequest(audioJobOf(job), { audioUri, imageUri });
      } else {
        const imageUri = await upload("image_url", requireStartImage(job).path, "image/png");
        const lastFrameUri = job.endImage ? await upload("end_image_url", job.endImage.path, "image/png") : undefined;
        body = buildImageToVideoRequest(job, { imageUri, lastFrameUri });
      }
      uploadSeconds = seconds(uploadBegin);
      progress(STEPS.uploaded);

      // 2. Submit to the v2 async API, and store the job id on the request at once so that a restarted
      // or replacement worker resumes this job (step 0) instead of paying for another.
      const submitted = await s.client.submit(hosted, body, ctx).catch((err) => {
        throw callError(err);
      });
      hostedId = submitted.id;
      state.hostedId = submitted.id;
      state.status = "submitted";
      await saveHostedJob(job, { engine: ENGINE_NAME, model, hostedEndpoint: hosted, hostedJobId: submitted.id });
      job.log("INFO", `Hosted LTX job ${submitted.id} submitted${submitted.requestId ? ` (x-request-id ${submitted.requestId})` : ""}`);
    }
    const generationBegin = performance.now();
    const submittedId = hostedId;
    progress(STEPS.submitted);

    // 3. Poll at the configured pace until a terminal state (ltx-hosted-api.md 1.6: every 5 s).
    let polls = 0;
    let done: HostedJob | undefined;
    while (!done) {
      let doc = resumedDoc;
      resumedDoc = undefined;
      if (!doc) {
        await sleep(s.pollMs, abort.signal);
        doc = await s.client.getJob(hosted, submittedId, ctx).catch((err) => {
          throw callError(err);
        });
      }
      polls += 1;
      if (doc.status !== state.status) {
        state.status = doc.status;
        job.log(doc.status === "failed" ? "WARN" : "INFO", `Hosted LTX job ${submittedId}: ${doc.status}`);
        if (doc.status === "processing") progress(STEPS.processing);
      }
      if (doc.status === "completed" || doc.status === "failed") done = doc;
    }
    const generationSeconds = seconds(generationBegin);
    if (done.status === "failed") {
      // A retry of this request must submit anew: this job will stay failed.
      await saveHostedJob(job, null);
      throw mapHostedFailure({
        call: "job",
        jobId: submittedId,
        errorType: done.error?.type,
        message: done.error?.message ?? "no error message",
      });
    }
    const videoUrl = done.result?.video_url;
    if (typeof videoUrl !== "string" || videoUrl === "") {
      throw new EngineError(`Hosted LTX job ${submittedId} completed without result.video_url`, { requestId: job.requestId });
    }
    progress(STEPS.completed);

    // 4. Download the signed result URL into our storage path.
    const downloadBegin = performance.now();
    const bytes = await s.client.download(videoUrl, job.outputPath, ctx).catch((err) => {
      throw callError(err);
    });
    const downloadSeconds = seconds(downloadBegin);
    job.log("INFO", `Downloaded the video of hosted LTX job ${submittedId} (${bytes} bytes)`);
    progress(STEPS.downloaded);

    // 5. Check it against what was asked before reporting success.
    let checked: Awaited<ReturnType<typeof verifyVideo>>;
    try {
      checked = await verifyVideo(
        job.outputPath,
        { width: job.width, height: job.height, fps: job.fps, durationSeconds: job.durationSeconds, audio: job.generateAudio },
        { ffprobePath: s.ffprobePath, frameTolerance: HOSTED_FRAME_TOLERANCE },
      );
    } catch (err) {
      abort.signal.throwIfAborted();
      throw new EngineError(`The file downloaded from hosted LTX job ${submittedId} is not a readable MP4: ${(err as Error).message}`, {
        requestId: job.requestId,
      });
    }
    if (checked.problems.length) {
      throw new EngineError(`Hosted LTX job ${submittedId} returned a video that does not match the request: ${checked.problems.join("; ")}`, {
        requestId: job.requestId,
      });
    }
    const p = checked.probe;
    job.log(
      "INFO",
      `Checked the hosted video: ${p.video.width}x${p.video.height}, ${p.video.frames} frames at ${p.video.fps} fps, audio ${p.audio ? p.audio.codec : "none"}`,
    );
    progress(STEPS.verified);
    return {
      model,
      probe: p,
      frameTolerance: HOSTED_FRAME_TOLERANCE,
      metrics: {
        ltx_api_upload_seconds: uploadSeconds,
        ltx_api_generation_seconds: generationSeconds,
        ltx_api_download_seconds: downloadSeconds,
        ltx_api_total_seconds: seconds(begin),
        ltx_api_polls: polls,
        ltx_api_resumed: resumeId && resumeId === submittedId ? 1 : 0,
        ltx_api_retries: state.retries,
        ltx_api_output_bytes: bytes,
        ltx_api_output_frames: p.video.frames,
      },
    };
  } catch (err) {
    // Cancellation and the deadline win over whatever error the aborted call produced.
    if (abort.signal.aborted) throw abort.signal.reason;
    throw err;
  } finally {
    clearTimeout(deadline);
    job.signal.removeEventListener("abort", onCancel);
  }
}

/** The hosted job id an earlier attempt of this request saved, when it was for this engine, model and hosted endpoint. */
function savedHostedJobId(saved: Record<string, unknown> | null | undefined, model: string, hosted: HostedEndpoint): string | undefined {
  if (!saved || saved.engine !== ENGINE_NAME || saved.model !== model) return undefined;
  // States saved before text- and audio-to-video existed carry no endpoint: they were image-to-video.
  if ((saved.hostedEndpoint ?? "image-to-video") !== hosted) return undefined;
  return typeof saved.hostedJobId === "string" && saved.hostedJobId !== "" ? saved.hostedJobId : undefined;
}

/** Stores (or clears) the hosted job of the request; a failure to store only costs the ability to resume. */
async function saveHostedJob(job: EngineJob, state: Record<string, unknown> | null): Promise<void> {
  if (!job.saveState) return;
  try {
    if (!(await job.saveState(state))) job.log("WARN", "Could not store the hosted LTX job id on the request: its lease is gone");
  } catch (err) {
    job.log("WARN", `Could not store the hosted LTX job id on the request (${(err as Error).message}); a restart now would submit it again`);
  }
}
