// Turns a resolved engine job into the hosted API's request body (docs/ltx-hosted-api.md 1.3
// and section 2): image-to-video and text-to-video take the model from the endpoint, a "WxH"
// resolution and fps always sent; audio-to-video takes the audio, an optional first frame, and is
// 1080p at 25 fps only on the hosted side.
import type { CameraMotion, EndpointKind } from "../../endpoints.js";
import { EngineError, InputError } from "../../errors.js";
import type { EngineJob } from "../types.js";

export const LTX_MODELS = ["ltx-2-3-pro", "ltx-2-3-fast"] as const;
export type LtxModel = (typeof LTX_MODELS)[number];

/** Our endpoint ids and the hosted model each forwards to. */
export const LTX_MODEL_BY_ENDPOINT: Readonly<Record<string, LtxModel>> = {
  "fal-ai/ltx-2.3/image-to-video": "ltx-2-3-pro",
  "fal-ai/ltx-2.3/image-to-video/fast": "ltx-2-3-fast",
  "fal-ai/ltx-2.3/text-to-video": "ltx-2-3-pro",
  "fal-ai/ltx-2.3/text-to-video/fast": "ltx-2-3-fast",
  // The hosted audio-to-video takes only ltx-2-3-pro (OpenAPI AudioToVideoRequestModel).
  "fal-ai/ltx-2.3/audio-to-video": "ltx-2-3-pro",
};

/** The hosted path segment of each endpoint kind: POST /v2/{segment}, GET /v2/{segment}/{id} (ltx-hosted-api.md 1.2). */
export type HostedEndpoint = "image-to-video" | "text-to-video" | "audio-to-video";

const KIND_BY_ENDPOINT: Readonly<Record<string, EndpointKind>> = {
  "fal-ai/ltx-2.3/image-to-video": "image-to-video",
  "fal-ai/ltx-2.3/image-to-video/fast": "image-to-video",
  "fal-ai/ltx-2.3/text-to-video": "text-to-video",
  "fal-ai/ltx-2.3/text-to-video/fast": "text-to-video",
  "fal-ai/ltx-2.3/audio-to-video": "audio-to-video",
};

/** Body of POST /v2/image-to-video (OpenAPI ImageToVideoRequest). No seed: the API has none. */
export interface ImageToVideoRequest {
  image_uri: string;
  prompt: string;
  model: LtxModel;
  /** Whole seconds; the schema says integer. */
  duration: number;
  /** "<width>x<height>", portrait is the swapped pair. */
  resolution: string;
  fps: number;
  generate_audio: boolean;
  last_frame_uri?: string;
  camera_motion?: CameraMotion;
}

/** Body of POST /v2/text-to-video (OpenAPI TextToVideoRequest): image-to-video minus the images. */
export type TextToVideoRequest = Omit<ImageToVideoRequest, "image_uri" | "last_frame_uri">;

/** Body of POST /v2/audio-to-video (OpenAPI AudioToVideoRequest). No duration, fps or generate_audio: the clip follows the audio at 25 fps. */
export interface AudioToVideoRequest {
  audio_uri: string;
  image_uri?: string;
  prompt?: string;
  /** Only 1920x1080 or 1080x1920. */
  resolution: string;
  /** 1..50 on the hosted side. */
  guidance_scale?: number;
  model: "ltx-2-3-pro";
}

export type HostedRequest = ImageToVideoRequest | TextToVideoRequest | AudioToVideoRequest;

/** Hosted audio-to-video limits (OpenAPI AudioToVideoRequest, docs.ltx.video "Generate video from audio"). */
export const HOSTED_A2V = {
  fps: 25,
  resolutions: ["1920x1080", "1080x1920"],
  minAudioSeconds: 2,
  maxAudioSeconds: 20,
  guidanceScale: { min: 1, max: 50 },
} as const;

export function modelForEndpoint(endpoint: string): LtxModel {
  const model = LTX_MODEL_BY_ENDPOINT[endpoint];
  if (!model) throw new EngineError(`The ltx-api engine does not serve endpoint ${endpoint}; it serves ${Object.keys(LTX_MODEL_BY_ENDPOINT).join(", ")}`);
  return model;
}

/** The hosted endpoint (path segment) an endpoint of ours forwards to. */
export function hostedEndpointFor(endpoint: string): HostedEndpoint {
  modelForEndpoint(endpoint);
  return KIND_BY_ENDPOINT[endpoint] as HostedEndpoint;
}

/** "1920x1080" from the job's exact output size (orientation is already resolved from the image). */
export function resolutionString(width: number, height: number): string {
  return `${width}x${height}`;
}

export type MappedJob = Pick<EngineJob, "endpoint" | "prompt" | "width" | "height" | "fps" | "durationSeconds" | "generateAudio" | "cameraMotion">;

function wholeSeconds(job: MappedJob): number {
  if (!Number.isInteger(job.durationSeconds)) {
    throw new EngineError(`The hosted LTX API takes whole seconds; got duration ${job.durationSeconds}`);
  }
  return job.durationSeconds;
}

/** The request body of text-to-video, shared by image-to-video. */
export function buildTextToVideoRequest(job: MappedJob): TextToVideoRequest {
  const body: TextToVideoRequest = {
    prompt: job.prompt,
    model: modelForEndpoint(job.endpoint),
    duration: wholeSeconds(job),
    resolution: resolutionString(job.width, job.height),
    // Always sent: LTX defaults to 24 fps, fal to 25 (ltx-hosted-api.md section 2).
    fps: job.fps,
    // Sent explicitly although both sides default to true.
    generate_audio: job.generateAudio,
  };
  // Omitted when unset, as Desktop does for "none" (ltx-hosted-api.md 1.3).
  if (job.cameraMotion !== undefined) body.camera_motion = job.cameraMotion;
  return body;
}

/** The request body for a job whose images were uploaded as `imageUri` (and `lastFrameUri`). */
export function buildImageToVideoRequest(job: MappedJob, uris: { imageUri: string; lastFrameUri?: string }): ImageToVideoRequest {
  const { camera_motion: cameraMotion, ...rest } = buildTextToVideoRequest(job);
  const body: ImageToVideoRequest = { image_uri: uris.imageUri, ...rest };
  if (uris.lastFrameUri !== undefined) body.last_frame_uri = uris.lastFrameUri;
  if (cameraMotion !== undefined) body.camera_motion = cameraMotion;
  return body;
}

export type MappedAudioJob = Pick<EngineJob, "endpoint" | "prompt" | "width" | "height" | "fps" | "guidanceScale"> & {
  /** Length of the input audio in seconds (ffprobe). */
  audioSeconds: number;
  hasImage: boolean;
};

/**
 * Why an audio-to-video job cannot go to the hosted API, as a 422 naming the fal field, or undefined.
 * Checked before anything is uploaded or billed.
 */
export function audioToVideoProblem(job: MappedAudioJob): InputError | undefined {
  const resolution = resolutionString(job.width, job.height);
  if (!(HOSTED_A2V.resolutions as readonly string[]).includes(resolution)) {
    return InputError.field("resolution", `the ltx-api engine serves audio-to-video at 1080p only (the hosted API makes 1920x1080 or 1080x1920); got ${resolution}`);
  }
  if (job.fps !== HOSTED_A2V.fps) {
    return InputError.field("fps", `the ltx-api engine serves audio-to-video at 25 fps only (the hosted API's audio-to-video output is 25 fps); got ${job.fps}`);
  }
  if (job.audioSeconds < HOSTED_A2V.minAudioSeconds) {
    return InputError.field("audio_url", `the hosted LTX API needs at least ${HOSTED_A2V.minAudioSeconds} s of audio; this audio lasts ${job.audioSeconds.toFixed(2)} s`);
  }
  if (!job.hasImage && job.prompt === "") {
    return InputError.field("prompt", "a prompt is required when no image_url is given (the hosted LTX API needs one of them)");
  }
  const g = job.guidanceScale;
  if (g !== undefined && (g < HOSTED_A2V.guidanceScale.min || g > HOSTED_A2V.guidanceScale.max)) {
    return InputError.field("guidance_scale", `the hosted LTX API takes guidance_scale ${HOSTED_A2V.guidanceScale.min}..${HOSTED_A2V.guidanceScale.max}; got ${g}`);
  }
  return undefined;
}

/** The audio-to-video body for a job whose audio (and image) were uploaded. Throws the 422 of audioToVideoProblem. */
export function buildAudioToVideoRequest(job: MappedAudioJob, uris: { audioUri: string; imageUri?: string }): AudioToVideoRequest {
  const problem = audioToVideoProblem({ ...job, hasImage: job.hasImage || uris.imageUri !== undefined });
  if (problem) throw problem;
  const model = modelForEndpoint(job.endpoint);
  if (model !== "ltx-2-3-pro") throw new EngineError(`The hosted audio-to-video takes ltx-2-3-pro only, not ${model}`);
  const body: AudioToVideoRequest = {
    audio_uri: uris.audioUri,
    // Always sent: the orientation is already resolved from the image (or the request's aspect_ratio).
    resolution: resolutionString(job.width, job.height),
    model,
  };
  if (uris.imageUri !== undefined) body.image_uri = uris.imageUri;
  // Omitted when empty: "Required if image_uri is not provided" (checked above).
  if (job.prompt !== "") body.prompt = job.prompt;
  // Sent when set: the hosted default (5 without image, 9 with) differs from fal's 3.
  if (job.guidanceScale !== undefined) body.guidance_scale = job.guidanceScale;
  return body;
}
