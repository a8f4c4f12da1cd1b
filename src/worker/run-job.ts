// Runs one request: fetches and decodes its images, checks its input audio, resolves the exact output,
// lets the engine make the MP4, checks the file with ffprobe against what was asked, and stores it
// with a thumbnail.
import fsp from "node:fs/promises";
import path from "node:path";
import type { Config } from "../config.js";
import { AUDIO_DURATION_MARGIN_SECONDS, RESOLUTION_SIZES, findEndpoint, priceOf, resolveOutputSpec } from "../endpoints.js";
import { EngineError, InfrastructureError, InputError, isNoSpaceError } from "../errors.js";
import type { PreparedAudio, PreparedImage } from "../engines/types.js";
import { prepareAudio } from "../media/audio-input.js";
import { prepareImage } from "../media/image.js";
import { probeVideo } from "../media/probe.js";
import { differences } from "../media/verify.js";
import { writeThumbnail } from "../media/thumbnail.js";
import type { JobContext, RunJob } from "../queue/dispatcher.js";
import type { Completion, RunnableRequest } from "../queue/store.js";
import type { FileStore } from "../storage/files.js";
import { outputExpiry } from "../storage/retention.js";

export interface VideoOutput {
  url: string;
  content_type: "video/mp4";
  file_name: string;
  file_size: number;
  width: number;
  height: number;
  fps: number;
  duration: number;
  num_frames: number;
}

export function createJobRunner({ config, files }: { config: Config; files: FileStore }): RunJob {
  return async function runJob(request: RunnableRequest, ctx: JobContext): Promise<Completion> {
    const begin = performance.now();
    const input = request.input;
    const endpoint = findEndpoint(request.endpoint);
    if (!endpoint) throw new EngineError(`Unknown endpoint ${request.endpoint}`, { requestId: request.id });
    const workDir = path.join(config.dataDir, "work", `${request.id}-${request.attempts}`);
    await fsp.mkdir(workDir, { recursive: true });
    try {
      // Our own file URLs are read from disk (a missing or expired one is reported as such).
      const resolveLocalFile = async (url: URL) => {
        const f = files.resolveUrl(url.toString());
        if (f) return f.state === "ready" ? files.pathOf(f) : path.join(config.dataDir, "files", f.id, ".missing");
        return files.isOwnUrl(url.toString()) ? path.join(config.dataDir, "files", ".missing") : undefined;
      };
      const size = RESOLUTION_SIZES[input.resolution];
      const load = async (field: "image_url" | "end_image_url", source: string): Promise<PreparedImage> => {
        ctx.log("INFO", `Loading ${field}`);
        return prepareImage(source, {
          field,
          destPath: path.join(workDir, `${field}.png`),
          maxBytes: config.imageFetchLimitBytes,
          timeoutMs: config.imageFetchTimeoutMs,
          maxPixels: config.maxInputPixels,
          allowPrivate: config.allowPrivateUrls,
          signal: ctx.signal,
          resolveLocalFile,
          // Never decode more than the largest output needs (cover of either orientation).
          maxShortSide: Math.max(size.width, size.height),
          requestId: request.id,
        });
      };
      // The input audio first: its checks are header-only, so a refusal costs no image decode.
      let inputAudio: PreparedAudio | undefined;
      if (input.audio_url) {
        ctx.log("INFO", "Loading audio_url");
        inputAudio = await prepareAudio(input.audio_url, {
          field: "audio_url",
          destPath: path.join(workDir, "audio_url"),
          maxBytes: config.audioFetchLimitBytes,
          timeoutMs: config.audioFetchTimeoutMs,
          maxSeconds: endpoint.maxDuration + AUDIO_DURATION_MARGIN_SECONDS,
          allowPrivate: config.allowPrivateUrls,
          signal: ctx.signal,
          resolveLocalFile,
          ffprobePath: config.ffprobePath,
          ffmpegPath: config.ffmpegPath,
          requestId: request.id,
        });
      }
      const startImage = input.image_url ? await load("image_url", input.image_url) : undefined;
      const endImage = input.end_image_url ? await load("end_image_url", input.end_image_url) : undefined;
      const spec = resolveOutputSpec(input, startImage, inputAudio ? { seconds: inputAudio.durationSeconds, maxDuration: endpoint.maxDuration } : undefined);
      if (inputAudio) {
        ctx.log("INFO", `Input audio: ${inputAudio.codec}, ${inputAudio.sampleRate} Hz, ${inputAudio.channels} ch, ${inputAudio.durationSeconds.toFixed(2)} s`);
      }
      // Audio-to-video always has the input audio as its track; the other kinds follow generate_audio.
      const withAudio = endpoint.kind === "audio-to-video" ? true : (input.generate_audio ?? true);
      ctx.log(
        "INFO",
        `Generating ${spec.width}x${spec.height} (${spec.aspectRatio}), ${spec.numFrames} frames at ${spec.fps} fps, ` +
          `audio ${withAudio ? "on" : "off"}, seed ${request.seed}, engine ${ctx.engine.name}`,
      );
      const outputPath = path.join(workDir, `${request.id}.mp4`);
      const engineResult = await ctx.engine.generate({
        requestId: request.id,
        endpoint: request.endpoint,
        kind: endpoint.kind,
        prompt: input.prompt ?? "",
        startImage,
        endImage,
        width: spec.width,
        height: spec.height,
        fps: spec.fps,
        numFrames: spec.numFrames,
        durationSeconds: spec.durationSeconds,
        generateAudio: withAudio,
        inputAudio,
        guidanceScale: input.guidance_scale,
        seed: request.seed,
        cameraMotion: input.camera_motion,
        outputPath,
        workDir,
        signal: ctx.signal,
        onProgress: ctx.progress,
        log: ctx.log,
        savedState: ctx.engineState,
        saveState: ctx.saveEngineState,
      });
      ctx.signal.throwIfAborted();

      const probe = engineResult.probe ?? (await probeVideo(outputPath, { ffprobePath: config.ffprobePath }));
      const problems = differences(
        probe,
        { width: spec.width, height: spec.height, fps: spec.fps, durationSeconds: spec.durationSeconds, audio: withAudio },
        engineResult.frameTolerance ?? 0,
      );
      if (problems.length) {
        throw new EngineError(`Engine ${ctx.engine.name} produced a video that does not match the request: ${problems.join(", ")}`, { requestId: request.id });
      }
      ctx.log("INFO", `Checked output: ${probe.video.width}x${probe.video.height}, ${probe.video.frames} frames, ${probe.video.fps} fps, audio ${probe.audio ? "yes" : "no"}`);

      const expiresAt = outputExpiry(request.headers["x-fal-object-lifecycle-preference"], config.retentionSeconds, Date.now());
      const thumbPath = path.join(workDir, "thumbnail.jpg");
      let thumbnailFileId: string | null = null;
      try {
        await writeThumbnail(outputPath, thumbPath, 320, config.ffmpegPath);
        thumbnailFileId = (await files.adopt(thumbPath, { keyId: request.keyId, fileName: "thumbnail.jpg", contentType: "image/jpeg", expiresAt })).id;
      } catch (err) {
        ctx.log("WARN", `No thumbnail: ${(err as Error).message}`);
      }
      const stored = await files.adopt(outputPath, { keyId: request.keyId, fileName: `${request.id}.mp4`, contentType: "video/mp4", expiresAt });
      const video: VideoOutput = {
        url: files.urlOf(stored),
        content_type: "video/mp4",
        file_name: stored.fileName,
        file_size: stored.size ?? probe.sizeBytes,
        width: spec.width,
        height: spec.height,
        fps: spec.fps,
        duration: spec.durationSeconds,
        num_frames: probe.video.frames,
      };
      const inferenceTime = Math.round((performance.now() - begin) / 10) / 100;
      return {
        result: { video, seed: request.seed },
        inferenceTime,
        metrics: { ...engineResult.metrics },
        model: engineResult.model,
        outputFileId: stored.id,
        thumbnailFileId,
        charge: { resolution: input.resolution, seconds: spec.durationSeconds, costUsd: priceOf(endpoint, { resolution: input.resolution, duration: spec.durationSeconds }) },
      };
    } catch (err) {
      // A full disk is the host's fault, not the input's or the model's: retryable, elsewhere or later.
      if (isNoSpaceError(err) && !ctx.signal.aborted) {
        throw new InfrastructureError("No space left on the device while rendering", { cause: err, requestId: request.id, errorType: "storage_full" });
      }
      if (err instanceof InputError || err instanceof EngineError) err.requestId = request.id;
      throw err;
    } finally {
      await fsp.rm(workDir, { recursive: true, force: true });
    }
  };
}
