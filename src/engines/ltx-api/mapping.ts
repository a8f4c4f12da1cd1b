// Turns a resolved engine job into the hosted API's image-to-video request body (docs/
// ltx-hosted-api.md 1.3 and section 2): model from the endpoint, "WxH" resolution, fps always sent.
import type { CameraMotion } from "../../endpoints.js";
import { EngineError } from "../../errors.js";
import type { EngineJob } from "../types.js";

export const LTX_MODELS = ["ltx-2-3-pro", "ltx-2-3-fast"] as const;
export type LtxModel = (typeof LTX_MODELS)[number];

/** Our endpoint ids and the hosted model each forwards to. */
export const LTX_MODEL_BY_ENDPOINT: Readonly<Record<string, LtxModel>> = {
  "fal-ai/ltx-2.3/image-to-video": "ltx-2-3-pro",
  "fal-ai/ltx-2.3/image-to-video/fast": "ltx-2-3-fast",
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

export function modelForEndpoint(endpoint: string): LtxModel {
  const model = LTX_MODEL_BY_ENDPOINT[endpoint];
  if (!model) throw new EngineError(`The ltx-api engine does not serve endpoint ${endpoint}; it serves ${Object.keys(LTX_MODEL_BY_ENDPOINT).join(", ")}`);
  return model;
}

/** "1920x1080" from the job's exact output size (orientation is already resolved from the image). */
export function resolutionString(width: number, height: number): string {
  return `${width}x${height}`;
}

export type MappedJob = Pick<EngineJob, "endpoint" | "prompt" | "width" | "height" | "fps" | "durationSeconds" | "generateAudio" | "cameraMotion">;

/** The request body for a job whose images were uploaded as `imageUri` (and `lastFrameUri`). */
export function buildImageToVideoRequest(job: MappedJob, uris: { imageUri: string; lastFrameUri?: string }): ImageToVideoRequest {
  if (!Number.isInteger(job.durationSeconds)) {
    throw new EngineError(`The hosted LTX API takes whole seconds; got duration ${job.durationSeconds}`);
  }
  const body: ImageToVideoRequest = {
    image_uri: uris.imageUri,
    prompt: job.prompt,
    model: modelForEndpoint(job.endpoint),
    duration: job.durationSeconds,
    resolution: resolutionString(job.width, job.height),
    // Always sent: LTX defaults to 24 fps, fal to 25 (ltx-hosted-api.md section 2).
    fps: job.fps,
    // Sent explicitly although both sides default to true.
    generate_audio: job.generateAudio,
  };
  if (uris.lastFrameUri !== undefined) body.last_frame_uri = uris.lastFrameUri;
  // Omitted when unset, as Desktop does for "none" (ltx-hosted-api.md 1.3).
  if (job.cameraMotion !== undefined) body.camera_motion = job.cameraMotion;
  return body;
}
