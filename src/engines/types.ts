// The interface every engine implements. The worker hands an engine a fully resolved job
// (decoded input images and audio on disk, exact output size and frame count, seed) and the engine
// writes one MP4 to `outputPath`, reporting progress as it goes. Jobs are modality-neutral: a start
// image and an input audio track are each optional, and `kind` says which endpoint family the job is.
// Each engine declares the endpoint ids it serves. Engines know nothing of HTTP or the queue.
import type { CameraMotion, EndpointKind } from "../endpoints.js";
import type { VideoProbe } from "../media/probe.js";

/** An input image, already fetched, EXIF-rotated and written as PNG in the job's folder. */
export interface PreparedImage {
  path: string;
  width: number;
  height: number;
}

/** An input audio track, already fetched, checked and probed with ffprobe (in its original format). */
export interface PreparedAudio {
  path: string;
  /** Length from the container/stream header (ffprobe), in seconds. */
  durationSeconds: number;
  codec: string;
  sampleRate: number;
  channels: number;
}

export type LogLevel = "DEBUG" | "INFO" | "WARN" | "ERROR";

export interface EngineProgress {
  /** Short stage name, e.g. "render", "encode", "denoise-1". */
  stage: string;
  step: number;
  total: number;
}

export interface EngineJob {
  requestId: string;
  endpoint: string;
  /** What the endpoint makes: image-to-video always has startImage; text-to-video has no input media; audio-to-video has inputAudio. */
  kind?: EndpointKind;
  /** Empty when the endpoint's prompt is optional and none was given. */
  prompt: string;
  startImage?: PreparedImage;
  endImage?: PreparedImage;
  /** Exact output size in pixels. */
  width: number;
  height: number;
  fps: number;
  /** Exactly durationSeconds x fps. */
  numFrames: number;
  durationSeconds: number;
  /** Whether the output has an audio track (audio-to-video: always, the input audio). */
  generateAudio: boolean;
  /** The input audio of audio-to-video, to lay under the clip (trimmed or padded to it). */
  inputAudio?: PreparedAudio;
  /** Classifier-free guidance scale, where the endpoint takes one (audio-to-video). */
  guidanceScale?: number;
  /** Always set: the user's seed or one drawn for the request. */
  seed: number;
  cameraMotion?: CameraMotion;
  /** Where the finished MP4 must be written. */
  outputPath: string;
  /** A private folder for the job's temporary files; removed after the job. */
  workDir: string;
  /** Aborted when the request is cancelled or the server shuts down. */
  signal: AbortSignal;
  onProgress(progress: EngineProgress): void;
  log(level: LogLevel, message: string): void;
  /** What this engine saved on the request on an earlier attempt (before a crash or restart), if anything. */
  savedState?: Record<string, unknown> | null;
  /** Saves state on the request durably, for a later attempt to resume from; null clears it. */
  saveState?(state: Record<string, unknown> | null): Promise<boolean>;
}

export interface EngineResult {
  /** Model that made the video, shown in logs and stored on the request. */
  model: string;
  /** Extra timings or figures (seconds, bytes) to record in the request's metrics. */
  metrics?: Record<string, number>;
  /** The output's ffprobe reading, when the engine already made one (saves probing twice). */
  probe?: VideoProbe;
  /** Frames the output may differ from duration x fps; 0 (exact) unless the engine cannot control it. */
  frameTolerance?: number;
}

export interface Engine {
  /** Engine name as used in configuration (`preview`, `ltx-api`, `ltx`). */
  readonly name: string;
  /** Jobs this engine runs at once in this process. */
  readonly concurrency: number;
  /** Endpoint ids this engine can serve; configuring it for any other is refused at start. */
  readonly serves: readonly string[];
  generate(job: EngineJob): Promise<EngineResult>;
  /** Releases processes and connections on shutdown. */
  close?(): Promise<void>;
  /** Why the engine cannot take a job right now (shown by /readyz), or undefined when it can. */
  notReadyReason?(): string | undefined;
}

/** The job's start image, for engines (and paths) that need one; a job without one is refused, not a 500. */
export function requireStartImage(job: EngineJob): PreparedImage {
  if (!job.startImage) throw new Error(`${job.endpoint} needs a start image on this engine`);
  return job.startImage;
}

/** Why `engine` cannot serve `endpoint`, or undefined when it declares it. */
export function servesProblem(engine: Pick<Engine, "name" | "serves">, endpoint: string): string | undefined {
  if (engine.serves.includes(endpoint)) return undefined;
  return `engine ${engine.name} cannot serve ${endpoint} (it serves ${engine.serves.join(", ") || "nothing"}); map that endpoint to another engine in ENGINES`;
}
