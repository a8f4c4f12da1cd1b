// Exit codes and error text of the client commands, from the HTTP answers the server gives.
import { describe, expect, it } from "vitest";
import { CliError, errorJson, exitCodeForHttp, formatError, httpError, toCliError, type Phase } from "./errors.js";
import { EXIT } from "./exit-codes.js";

describe("exitCodeForHttp", () => {
  it.each<[number, string | undefined, Phase, string | undefined, number]>([
    [422, undefined, "submit", undefined, EXIT.inputRejected],
    [422, undefined, "result", undefined, EXIT.inputRejected],
    [400, "bad_request", "submit", undefined, EXIT.inputRejected],
    [401, "unauthorized", "status", undefined, EXIT.auth],
    [403, undefined, "upload", undefined, EXIT.auth],
    [404, "not_found", "status", undefined, EXIT.notFound],
    [410, undefined, "result", undefined, EXIT.notFound],
    [429, "rate_limited", "submit", undefined, EXIT.limited],
    [402, "spend_cap_reached", "submit", undefined, EXIT.limited],
    [400, "request_cancelled", "result", undefined, EXIT.generationFailed],
    [500, "engine_error", "result", undefined, EXIT.generationFailed],
    [504, "request_timeout", "result", undefined, EXIT.generationFailed],
    [400, "not_ready", "result", undefined, EXIT.wrongState],
    [400, undefined, "cancel", "ALREADY_COMPLETED", EXIT.wrongState],
    [500, "internal_error", "status", undefined, EXIT.usage],
  ])("maps HTTP %i (%s) while doing %s to the documented exit code", (status, type, phase, bodyStatus, code) => {
    expect(exitCodeForHttp(status, type, phase, bodyStatus)).toBe(code);
  });
});

describe("httpError and formatError", () => {
  it("show the request id, the HTTP status and every field error with its loc and flag", () => {
    const e = httpError(
      422,
      { detail: [{ loc: ["body", "duration"], msg: "Input should be one of 6, 8, 10", type: "enum" }, { loc: ["body", "image_url"], msg: "Could not download the image", type: "file_download_error" }] },
      { phase: "result", requestId: "req-1" },
    );
    const text = formatError(e, { flags: { duration: "--duration", image_url: "--image" } }).join("\n");
    expect(text).toContain("request id:  req-1");
    expect(text).toContain("HTTP status: 422");
    expect(text).toContain("field body.duration (--duration): Input should be one of 6, 8, 10 [enum]");
    expect(text).toContain("field body.image_url (--image): Could not download the image [file_download_error]");
    expect(text).toContain("exit code:   2");
    expect(errorJson(e)).toMatchObject({ error: { request_id: "req-1", http_status: 422, exit_code: 2 } });
  });

  it("reads a string detail as the message", () => {
    const e = httpError(404, { detail: "Request not found", error_type: "not_found" }, { phase: "status", requestId: "r" });
    expect(e.message).toBe("not found: Request not found");
    expect(e.errorType).toBe("not_found");
  });
});

describe("toCliError", () => {
  it("keeps the status, body and request id of the official client's errors", () => {
    const apiError = Object.assign(new Error("Unauthorized"), { name: "ApiError", status: 401, body: { detail: "Invalid API key" }, requestId: "" });
    const e = toCliError(apiError, { phase: "submit", requestId: "from-context" });
    expect(e.exitCode).toBe(EXIT.auth);
    expect(e.httpStatus).toBe(401);
    expect(e.requestId).toBe("from-context");
  });

  it("treats a refused connection as unreachable (exit 6)", () => {
    const refused = new TypeError("fetch failed", { cause: Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }) });
    const e = toCliError(refused, { url: "http://127.0.0.1:9" });
    expect(e.exitCode).toBe(EXIT.unreachable);
    expect(e.message).toContain("(ECONNREFUSED)");
  });

  it("passes a CliError through and fills in a missing request id", () => {
    const original = new CliError("x", { exitCode: EXIT.generationFailed });
    expect(toCliError(original, { requestId: "abc" })).toBe(original);
    expect(original.requestId).toBe("abc");
  });
});
