// The service's typed errors. Each carries the HTTP status and fal-style body it maps to and,
// once known, the request id. `toWireError` is the one place that turns any thrown value into
// what goes on the wire; `isRetryable` is the one place that decides what a retry may fix. Messages
// are cleaned of absolute paths, process ids and stack traces when the error is made, so neither
// the wire, the request's logs nor the stored failure ever show them; `internalMessage` keeps the
// original text for the server's own log.

/** A FastAPI-style validation entry (fal-wire-protocol.md section 5). */
export interface FieldError {
  loc: (string | number)[];
  msg: string;
  type: string;
  input?: unknown;
  url?: string;
  /** Machine-readable context, e.g. {"max_size": 25000000} (docs.fal.ai/errors). */
  ctx?: Record<string, unknown>;
}

/** What a failed request answers on its result URL, and what a sync run answers at once. */
export interface WireError {
  status: number;
  body: Record<string, unknown>;
  /** error_type in the status body and X-Fal-Error-Type header. */
  errorType: string;
  /** Human message for the status body's `error`. */
  message: string;
  headers?: Record<string, string>;
}

/** A stack frame of Node (`    at fn (file:1:2)`) or Python (`  File "x.py", line 3, in f`). */
const FRAME_LINE = /^\s+(at\s|File\s+"[^"]*",\s+line\s+\d+)/;
const TRACEBACK = /Traceback \(most recent call last\):?/g;
/** Two or more `/segment`s starting the path (not inside a URL: no `:` or `/` or word character before). */
const POSIX_PATH = /(^|[\s'"`(\[=,])(?:\/[^\s'"`()[\],;:/]+){2,}\/?/g;
const WINDOWS_PATH = /(^|[\s'"`(\[=,])[A-Za-z]:\\[^\s'"`()[\],;]*/g;
const PID = /\bpid\b\s*[=:]?\s*\d+/gi;

/**
 * Removes what tells an outsider about the host: stack frames (and the source lines Python prints
 * under them), absolute file paths and process ids. The kind of failure and its exception line stay.
 */
export function redactInternals(text: string): string {
  const kept: string[] = [];
  let inPythonFrame = false;
  for (const line of text.split("\n")) {
    if (FRAME_LINE.test(line)) {
      inPythonFrame = /^\s+File\s/.test(line);
      continue;
    }
    // Python prints each frame's source line indented under it.
    if (inPythonFrame && /^\s{3,}\S/.test(line)) continue;
    inPythonFrame = false;
    kept.push(line);
  }
  return kept
    .join("\n")
    .replace(TRACEBACK, "")
    .replace(POSIX_PATH, "$1<path>")
    .replace(WINDOWS_PATH, "$1<path>")
    .replace(PID, "pid")
    .replace(/[ \t]+\n/g, "\n")
    .replace(/\n{2,}/g, "\n")
    .trim();
}

export abstract class ServiceError extends Error {
  abstract readonly status: number;
  abstract readonly errorType: string;
  requestId?: string;
  /** The message as it was raised, paths and traces included: for the server's log only. */
  readonly internalMessage: string;
  constructor(message: string, options?: { requestId?: string; cause?: unknown }) {
    super(redactInternals(message), options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.internalMessage = message;
    this.name = new.target.name;
    this.requestId = options?.requestId;
  }
  body(): Record<string, unknown> {
    return { detail: this.message, error_type: this.errorType };
  }
  headers(): Record<string, string> {
    return {};
  }
  toWire(): WireError {
    return { status: this.status, body: this.body(), errorType: this.errorType, message: this.message, headers: this.headers() };
  }
}

/** Bad input: 422 with `detail` naming each field. */
export class InputError extends ServiceError {
  readonly status = 422;
  readonly errorType: string;
  readonly detail: FieldError[];
  constructor(detail: FieldError[], options?: { requestId?: string; cause?: unknown }) {
    super(detail.map((d) => `${d.loc.filter((l) => l !== "body").join(".") || "body"}: ${d.msg}`).join("; "), options);
    this.detail = detail.map((d) => ({ ...d, msg: redactInternals(d.msg) }));
    this.errorType = detail[0]?.type ?? "value_error";
  }
  static field(field: string, msg: string, type = "value_error", extra: Partial<FieldError> = {}): InputError {
    return new InputError([{ loc: ["body", field], msg, type, ...extra }]);
  }
  body() {
    return { detail: this.detail };
  }
}

/** A malformed request that is not about one input field (bad JSON, wrong content type). */
export class BadRequestError extends ServiceError {
  readonly status: number;
  readonly errorType = "bad_request";
  constructor(message: string, status = 400, options?: { requestId?: string }) {
    super(message, options);
    this.status = status;
  }
}

export class UnauthorizedError extends ServiceError {
  readonly status = 401;
  readonly errorType = "unauthorized";
  constructor(message = "Unauthorized") {
    super(message);
  }
}

export class NotFoundError extends ServiceError {
  readonly status = 404;
  readonly errorType = "not_found";
  constructor(message = "Request not found", options?: { requestId?: string }) {
    super(message, options);
  }
}

/** The request exists but has no result yet; 400 so that clients do not retry it. */
export class NotReadyError extends ServiceError {
  readonly status = 400;
  readonly errorType = "not_ready";
  constructor(requestId: string) {
    super("Request is still in progress", { requestId });
  }
}

export class CancelledError extends ServiceError {
  readonly status = 400;
  readonly errorType = "request_cancelled";
  constructor(requestId?: string, message = "Request was cancelled") {
    super(message, { requestId });
  }
}

/** A start deadline (x-fal-request-timeout) passed before the request ran: 504, not retried by clients. */
export class RequestTimeoutError extends ServiceError {
  readonly status = 504;
  readonly errorType = "request_timeout";
  constructor(requestId?: string, message = "Request timed out") {
    super(message, { requestId });
  }
  headers() {
    return { "x-fal-request-timeout-type": "user" };
  }
}

export class RateLimitedError extends ServiceError {
  readonly status = 429;
  readonly errorType = "rate_limited";
  constructor(message: string, readonly retryAfterSeconds: number) {
    super(message);
  }
  headers() {
    return { "retry-after": String(Math.max(1, Math.ceil(this.retryAfterSeconds))) };
  }
}

/** The key's spend cap would be exceeded: 402, refused before anything is queued. */
export class SpendCapError extends ServiceError {
  readonly status = 402;
  readonly errorType = "spend_cap_reached";
}

/** The engine could not make the video (a model error, a broken encoder). */
export class EngineError extends ServiceError {
  readonly status = 500;
  readonly errorType = "engine_error";
}

/** Something outside the input failed (disk, a worker process); a retry on a fresh runner may succeed. */
export class InfrastructureError extends ServiceError {
  readonly status = 503;
  readonly errorType: string;
  constructor(message: string, options?: { requestId?: string; cause?: unknown; errorType?: string }) {
    super(message, options);
    this.errorType = options?.errorType ?? "runner_disconnected";
  }
}

/** Maps any thrown value to the wire; unknown errors become a 500 that says nothing internal. */
export function toWireError(err: unknown): WireError {
  if (err instanceof ServiceError) return err.toWire();
  return { status: 500, body: { detail: "Internal server error", error_type: "internal_error" }, errorType: "internal_error", message: "Internal server error" };
}

/** Whether running the same request again might succeed: never for input errors or cancellations. */
export function isRetryable(err: unknown): boolean {
  return err instanceof InfrastructureError;
}

/** The operation conflicts with the resource's state (e.g. a PUT to an upload that was already finalised): 409. */
export class ConflictError extends ServiceError {
  readonly status = 409;
  readonly errorType = "conflict";
}

/** Not enough storage for this: the key's storage quota or the disk's free-space floor (507). */
export class InsufficientStorageError extends ServiceError {
  readonly status = 507;
  readonly errorType = "insufficient_storage";
}

/** Whether an error (or one of its causes) is a full disk or quota: ENOSPC/EDQUOT, or a tool that printed so. */
export function isNoSpaceError(err: unknown): boolean {
  for (let e = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOSPC" || code === "EDQUOT") return true;
    const text = `${(e as ServiceError).internalMessage ?? ""} ${(e as Error).message ?? ""}`;
    if (/\bENOSPC\b|No space left on device|Errno 28\b|Disk quota exceeded/i.test(text)) return true;
  }
  return false;
}
