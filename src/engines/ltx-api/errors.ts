// Errors of the hosted LTX API engine: a failed API call, the engine's typed errors, and the one function
// mapping a hosted failure onto the service's wire errors (ltx-hosted-api.md 1.7, fal-wire-protocol.md section 5).
import { EngineError, InfrastructureError, InputError, type FieldError, type ServiceError } from "../../errors.js";

/** Which call of the flow failed; named in messages and logs. */
export type LtxApiCall = "upload-slot" | "upload-put" | "submit" | "status" | "download";

/** A call to the hosted API that did not succeed: an HTTP error answer, or no answer at all. */
export class LtxApiCallError extends Error {
  constructor(
    readonly call: LtxApiCall,
    /** HTTP status; undefined when no answer came (network error, timeout). */
    readonly status: number | undefined,
    /** `error.type` of the JSON error body, when there was one. */
    readonly errorType: string | undefined,
    /** `error.message` of the body, or a description of the network failure. */
    readonly apiMessage: string,
    readonly options: {
      /** x-request-id of the answer, to quote to Lightricks' support. */
      requestId?: string;
      /** True when the call was retried maxRetries times and still failed. */
      retriesExhausted?: boolean;
      attempts?: number;
      /** A field named by a structured error body (e.g. `error.param`), in LTX's naming. */
      param?: string;
      cause?: unknown;
    } = {},
  ) {
    super(
      `LTX API ${call} failed: ${status !== undefined ? `HTTP ${status}` : "no answer"}${errorType ? ` ${errorType}` : ""}: ${apiMessage}` +
        (options.requestId ? ` (x-request-id ${options.requestId})` : ""),
      options.cause !== undefined ? { cause: options.cause } : undefined,
    );
    this.name = "LtxApiCallError";
  }
}

/** The operator's LTX_API_KEY was refused (401). Not retried: only a configuration change helps. */
export class LtxApiAuthenticationError extends EngineError {}

/** The operator's LTX account cannot pay for the generation (402). Not retried until topped up. */
export class LtxApiInsufficientFundsError extends EngineError {}

/** The job did not finish within LTX_API_JOB_DEADLINE_MS. Not retried: a new submit is billed again. */
export class LtxApiDeadlineError extends EngineError {}

/** error_type of retryable failures of the hosted API after our own retries ran out. */
export const LTX_API_UNAVAILABLE = "ltx_api_unavailable";
/** error_type of a hosted job that ended `failed` with a server-side error (e.g. api_error). */
export const LTX_API_JOB_FAILED = "ltx_api_job_failed";

/** fal's error type for safety-filter rejections (fal-wire-protocol.md section 5). */
export const CONTENT_POLICY_VIOLATION = "content_policy_violation";

/** LTX request fields and the fal input field each comes from (ltx-hosted-api.md section 2). */
const FAL_FIELD_OF_LTX_FIELD: Record<string, string> = {
  // First: audio-to-video messages about the audio also mention its duration.
  audio_uri: "audio_url",
  last_frame_uri: "end_image_url",
  image_uri: "image_url",
  prompt: "prompt",
  duration: "duration",
  resolution: "resolution",
  fps: "fps",
  generate_audio: "generate_audio",
  camera_motion: "camera_motion",
  guidance_scale: "guidance_scale",
};

/**
 * The fal input field a hosted error is about: a structured `param` when the body has one, else
 * the first field named in the message ("last frame" before "image", which it contains). Undefined
 * when nothing names a field.
 */
export function falFieldOf(param: string | undefined, message: string): string | undefined {
  if (param) {
    const key = param.replace(/^body\./, "");
    if (FAL_FIELD_OF_LTX_FIELD[key]) return FAL_FIELD_OF_LTX_FIELD[key];
  }
  const text = message.toLowerCase();
  if (/last[_ ]frame|end[_ ]image/.test(text)) return "end_image_url";
  for (const [ltx, fal] of Object.entries(FAL_FIELD_OF_LTX_FIELD)) {
    if (text.includes(ltx)) return fal;
  }
  if (/\bimage\b|first[_ ]frame/.test(text)) return "image_url";
  return undefined;
}

function fieldError(field: string | undefined, msg: string, type: string): FieldError {
  return { loc: field ? ["body", field] : ["body"], msg, type };
}

/** What a hosted failure is, whether from an HTTP answer or from a job that ended `failed`. */
export interface HostedFailure {
  call: LtxApiCall | "job";
  status?: number;
  errorType?: string;
  message: string;
  requestId?: string;
  jobId?: string;
  param?: string;
  retriesExhausted?: boolean;
  /** The fal field the failing call carried (an image upload), used when the body names none. */
  fieldHint?: string;
}

export function failureOfCallError(err: LtxApiCallError, fieldHint?: string): HostedFailure {
  return {
    call: err.call,
    status: err.status,
    errorType: err.errorType,
    message: err.apiMessage,
    requestId: err.options.requestId,
    param: err.options.param,
    retriesExhausted: err.options.retriesExhausted,
    fieldHint,
  };
}

/**
 * Maps a hosted failure to the service error the caller sees:
 * - safety filter (422 / content_filtered_error) -> InputError 422, type content_policy_violation;
 * - invalid input (400 / invalid_request_error, 413) -> InputError 422 naming the field when known;
 * - 401 -> LtxApiAuthenticationError, 402 -> LtxApiInsufficientFundsError (operator problems, not retried);
 * - 429/5xx/no answer after our retries, or a job failed with a server error -> InfrastructureError
 *   (retryable: the dispatcher may run the request once more);
 * - anything else (404 on a job, unexpected 4xx) -> EngineError.
 */
export function mapHostedFailure(f: HostedFailure): ServiceError {
  const where = f.call === "job" ? `hosted job ${f.jobId ?? "?"}` : `${f.call} call`;
  const ref = [f.jobId && f.call !== "job" ? `job ${f.jobId}` : "", f.requestId ? `x-request-id ${f.requestId}` : ""].filter(Boolean).join(", ");
  const suffix = ref ? ` (${ref})` : "";
  const type = f.errorType;
  const field = falFieldOf(f.param, f.message) ?? f.fieldHint;

  // Desktop treats every 422 as a safety rejection [D-CLIENT]; so do we unless the type says otherwise.
  if (type === "content_filtered_error" || (f.status === 422 && type !== "invalid_request_error")) {
    return new InputError([fieldError(field, `Rejected by the hosted LTX API's safety filter: ${f.message}`, CONTENT_POLICY_VIOLATION)]);
  }
  if (type === "invalid_request_error" || f.status === 400) {
    return new InputError([fieldError(field, `The hosted LTX API rejected the request: ${f.message}`, "value_error")]);
  }
  if (f.status === 413 || type === "request_too_large") {
    return new InputError([fieldError(field, `Too large for the hosted LTX API: ${f.message}`, "value_error")]);
  }
  if (type === "authentication_error" || f.status === 401) {
    return new LtxApiAuthenticationError(
      `The hosted LTX API refused this service's API key on the ${where} (401 authentication_error: ${f.message})${suffix}. ` +
        "The operator must set a valid LTX_API_KEY (keys come from https://console.ltx.video).",
    );
  }
  if (type === "insufficient_funds_error" || f.status === 402) {
    return new LtxApiInsufficientFundsError(
      `The hosted LTX API account of this service has insufficient funds (402 insufficient_funds_error: ${f.message})${suffix}. ` +
        "The operator must top up the LTX account's prepaid balance.",
    );
  }
  if (f.call === "job") {
    return new InfrastructureError(`The ${where} failed (${type ?? "unknown error"}: ${f.message})${suffix}`, { errorType: LTX_API_JOB_FAILED });
  }
  if (f.retriesExhausted || f.status === undefined || f.status === 429 || f.status >= 500) {
    return new InfrastructureError(
      `The hosted LTX API is unavailable: the ${where} failed ${f.status !== undefined ? `with HTTP ${f.status}${type ? ` ${type}` : ""}` : "without an answer"} ` +
        `after retries (${f.message})${suffix}`,
      { errorType: LTX_API_UNAVAILABLE },
    );
  }
  return new EngineError(`The hosted LTX API answered the ${where} with HTTP ${f.status}${type ? ` ${type}` : ""}: ${f.message}${suffix}`);
}
