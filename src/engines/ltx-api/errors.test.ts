// Unit tests of the hosted-failure -> wire error mapping (ltx-hosted-api.md 1.7).
import { describe, expect, it } from "vitest";
import { EngineError, InfrastructureError, InputError, isRetryable, toWireError } from "../../errors.js";
import {
  LTX_API_JOB_FAILED,
  LTX_API_UNAVAILABLE,
  LtxApiAuthenticationError,
  LtxApiCallError,
  LtxApiInsufficientFundsError,
  failureOfCallError,
  falFieldOf,
  mapHostedFailure,
  type HostedFailure,
} from "./errors.js";

const submit = (over: Partial<HostedFailure>): HostedFailure => ({ call: "submit", message: "x", ...over });

describe("hosted error mapping", () => {
  it.each([
    ["image_uri", "anything", "image_url"],
    ["last_frame_uri", "anything", "end_image_url"],
    ["body.duration", "anything", "duration"],
    [undefined, "prompt contains disallowed content", "prompt"],
    [undefined, "The last frame image is too small", "end_image_url"],
    [undefined, "resolution 1920x1081 is not supported", "resolution"],
    [undefined, "image could not be decoded", "image_url"],
    [undefined, "fps must be one of 24, 25, 48, 50", "fps"],
    [undefined, "audio_uri: audio duration must be between 2 and 20 seconds", "audio_url"],
    ["guidance_scale", "anything", "guidance_scale"],
    [undefined, "Request rejected", undefined],
  ])("finds the fal field from param %s and message %j", (param, message, field) => {
    expect(falFieldOf(param, message)).toBe(field);
  });

  it("maps the safety filter to 422 content_policy_violation, by type or by a bare 422", () => {
    for (const f of [submit({ status: 422, errorType: "content_filtered_error" }), submit({ status: 422 }), { call: "job" as const, errorType: "content_filtered_error", message: "x" }]) {
      const err = mapHostedFailure(f);
      expect(err).toBeInstanceOf(InputError);
      expect(toWireError(err).status).toBe(422);
      expect((err as InputError).detail[0].type).toBe("content_policy_violation");
      expect((err as InputError).detail[0].loc).toEqual(["body"]);
    }
  });

  it("uses the field of the failing upload when the message names none", () => {
    const err = mapHostedFailure(submit({ call: "upload-put", status: 413, errorType: "request_too_large", message: "too big", fieldHint: "end_image_url" }));
    expect((err as InputError).detail[0].loc).toEqual(["body", "end_image_url"]);
  });

  it("maps invalid_request_error to a 422 value_error", () => {
    const err = mapHostedFailure(submit({ status: 400, errorType: "invalid_request_error", message: "duration 7 is not supported" }));
    expect(toWireError(err)).toMatchObject({ status: 422, body: { detail: [{ loc: ["body", "duration"], type: "value_error" }] } });
  });

  it("maps 401 and 402 to non-retryable operator errors that say what to fix", () => {
    const auth = mapHostedFailure(submit({ status: 401, errorType: "authentication_error", requestId: "r1" }));
    expect(auth).toBeInstanceOf(LtxApiAuthenticationError);
    expect(auth.message).toMatch(/LTX_API_KEY.*/);
    expect(auth.message).toContain("x-request-id r1");
    const funds = mapHostedFailure({ call: "job", jobId: "j1", errorType: "insufficient_funds_error", message: "Required: 36 cents" });
    expect(funds).toBeInstanceOf(LtxApiInsufficientFundsError);
    expect(funds.message).toMatch(/top up/);
    for (const e of [auth, funds]) {
      expect(e).toBeInstanceOf(EngineError);
      expect(isRetryable(e)).toBe(false);
      expect(toWireError(e).status).toBe(500);
    }
  });

  it("maps exhausted retries and unanswered calls to a retryable ltx_api_unavailable", () => {
    for (const f of [submit({ status: 500, retriesExhausted: true }), submit({ status: undefined, retriesExhausted: true })]) {
      const err = mapHostedFailure(f);
      expect(err).toBeInstanceOf(InfrastructureError);
      expect(err.errorType).toBe(LTX_API_UNAVAILABLE);
      expect(isRetryable(err)).toBe(true);
    }
  });

  it("maps a job failed with api_error to a retryable ltx_api_job_failed naming the job", () => {
    const err = mapHostedFailure({ call: "job", jobId: "abc", errorType: "api_error", message: "oops" });
    expect(err.errorType).toBe(LTX_API_JOB_FAILED);
    expect(err.message).toContain("hosted job abc failed (api_error: oops)");
    expect(isRetryable(err)).toBe(true);
  });

  it("maps other answers (an expired job's 404) to a non-retryable engine error", () => {
    const err = mapHostedFailure(submit({ call: "status", status: 404, errorType: "not_found_error", jobId: "j9" }));
    expect(err).toBeInstanceOf(EngineError);
    expect(err.message).toContain("job j9");
    expect(isRetryable(err)).toBe(false);
  });

  it("carries the call, status, type and request id of a call error into the mapping", () => {
    const callErr = new LtxApiCallError("submit", 422, "content_filtered_error", "prompt flagged", { requestId: "rq" });
    expect(callErr.message).toBe("LTX API submit failed: HTTP 422 content_filtered_error: prompt flagged (x-request-id rq)");
    const f = failureOfCallError(callErr, "image_url");
    expect(f).toMatchObject({ call: "submit", status: 422, errorType: "content_filtered_error", requestId: "rq", fieldHint: "image_url" });
    expect((mapHostedFailure(f) as InputError).detail[0].loc).toEqual(["body", "prompt"]);
  });
});
