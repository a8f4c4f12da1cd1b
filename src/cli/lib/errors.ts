// Errors of the client commands: one typed error (CliError) that carries the exit code, the
// request id, the HTTP status and the 422 field errors, built from whatever failed (an HTTP answer,
// the official client's ApiError, a refused connection), and printed the same way by every command.
import { EXIT, type ExitCode } from "./exit-codes.js";

/** One FastAPI-style entry of a 422 `detail` list (fal-wire-protocol.md section 5). */
export interface FieldProblem {
  loc: (string | number)[];
  msg: string;
  type?: string;
}

/**
 * What was being done when the server answered with an error. It changes the meaning of a status:
 * a 500 on the result URL is the generation's own failure (exit 5), a 500 elsewhere is unexpected.
 */
export type Phase = "health" | "upload" | "submit" | "status" | "result" | "cancel" | "download" | "local";

export class CliError extends Error {
  readonly exitCode: ExitCode;
  requestId?: string;
  readonly httpStatus?: number;
  readonly errorType?: string;
  readonly fieldErrors: FieldProblem[];
  /** One line telling the user what to do next, if there is something useful to say. */
  hint?: string;
  constructor(
    message: string,
    opts: { exitCode: ExitCode; requestId?: string; httpStatus?: number; errorType?: string; fieldErrors?: FieldProblem[]; hint?: string; cause?: unknown },
  ) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = "CliError";
    this.exitCode = opts.exitCode;
    this.requestId = opts.requestId || undefined;
    this.httpStatus = opts.httpStatus;
    this.errorType = opts.errorType;
    this.fieldErrors = opts.fieldErrors ?? [];
    this.hint = opts.hint;
  }
}

/** Error codes of Node's fetch (undici) and sockets that mean "the server is not there". */
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "ECONNRESET", "EHOSTUNREACH", "ENETUNREACH", "EPIPE",
  "UND_ERR_CONNECT_TIMEOUT", "UND_ERR_SOCKET", "UND_ERR_HEADERS_TIMEOUT", "UND_ERR_CLOSED",
]);

function errorCode(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (typeof e.code === "string") return e.code;
    if (e.cause && typeof e.cause === "object" && "errors" in e.cause) {
      // AggregateError from happy-eyeballs connects: every address refused.
      const first = (e.cause as { errors: { code?: string }[] }).errors[0];
      if (first?.code) return first.code;
    }
  }
  return undefined;
}

/** True when a thrown value means the server could not be reached at all. */
export function isUnreachable(err: unknown): boolean {
  const code = errorCode(err);
  if (code && UNREACHABLE_CODES.has(code)) return true;
  const name = (err as { name?: string } | undefined)?.name;
  if (name === "TimeoutError") return true;
  return err instanceof TypeError && /fetch failed/i.test(err.message);
}

/** The fields of an HTTP error answer that matter to a user, from any of the body shapes we serve. */
export function describeBody(body: unknown): { message?: string; errorType?: string; fieldErrors: FieldProblem[] } {
  if (!body || typeof body !== "object") return { message: typeof body === "string" && body ? body.slice(0, 500) : undefined, fieldErrors: [] };
  const b = body as Record<string, unknown>;
  const fieldErrors: FieldProblem[] = Array.isArray(b.detail)
    ? (b.detail as unknown[])
        .filter((d): d is Record<string, unknown> => !!d && typeof d === "object")
        .map((d) => ({ loc: Array.isArray(d.loc) ? (d.loc as (string | number)[]) : [], msg: String(d.msg ?? ""), type: typeof d.type === "string" ? d.type : undefined }))
    : [];
  const message =
    (typeof b.message === "string" && b.message) ||
    (typeof b.detail === "string" && b.detail) ||
    (typeof b.error === "string" && b.error) ||
    (typeof b.status === "string" && b.status) ||
    undefined;
  return { message, errorType: typeof b.error_type === "string" ? b.error_type : undefined, fieldErrors };
}

/** Exit code for an HTTP error answer, given what was being done (see exit-codes.ts). */
export function exitCodeForHttp(status: number, errorType: string | undefined, phase: Phase, bodyStatus?: string): ExitCode {
  if (status === 422) return EXIT.inputRejected;
  if (status === 401 || status === 403) return EXIT.auth;
  if (status === 404 || status === 410) return EXIT.notFound;
  if (status === 402 || status === 429) return EXIT.limited;
  if (errorType === "request_cancelled") return EXIT.generationFailed;
  if (errorType === "not_ready" || bodyStatus === "ALREADY_COMPLETED") return EXIT.wrongState;
  // The result URL answers a failed generation with the failure's own status (500, 503, 504).
  if (phase === "result") return EXIT.generationFailed;
  if (status === 400 || status === 413) return EXIT.inputRejected;
  return EXIT.usage;
}

function headline(status: number, exitCode: ExitCode, message: string | undefined, errorType?: string): string {
  if (errorType === "request_cancelled") return message ? `cancelled: ${message}` : "cancelled";
  const what: Partial<Record<ExitCode, string>> = {
    [EXIT.inputRejected]: "input rejected",
    [EXIT.auth]: "not authorised",
    [EXIT.notFound]: "not found",
    [EXIT.generationFailed]: "generation failed",
    [EXIT.wrongState]: "not possible now",
    [EXIT.limited]: "refused by a limit",
  };
  const label = what[exitCode] ?? "server error";
  return message ? `${label}: ${message}` : `${label} (HTTP ${status})`;
}

/** A CliError from an HTTP error answer. */
export function httpError(status: number, body: unknown, opts: { phase: Phase; requestId?: string; errorTypeHeader?: string }): CliError {
  const d = describeBody(body);
  const errorType = d.errorType ?? opts.errorTypeHeader ?? undefined;
  const bodyStatus = body && typeof body === "object" ? ((body as { status?: unknown }).status as string | undefined) : undefined;
  const exitCode = exitCodeForHttp(status, errorType, opts.phase, typeof bodyStatus === "string" ? bodyStatus : undefined);
  const message = d.fieldErrors.length ? `${d.fieldErrors.length === 1 ? "one field is" : `${d.fieldErrors.length} fields are`} not valid` : d.message;
  return new CliError(headline(status, exitCode, message, errorType), {
    exitCode,
    requestId: opts.requestId,
    httpStatus: status,
    errorType: errorType ?? (d.fieldErrors[0]?.type || undefined),
    fieldErrors: d.fieldErrors,
    hint: hintFor(exitCode, opts.phase, opts.requestId),
  });
}

function hintFor(exitCode: ExitCode, phase: Phase, requestId: string | undefined): string | undefined {
  if (exitCode === EXIT.auth) return "check --key or LTX_SERVE_KEY (create one with: ltx-serve keys create NAME)";
  if (exitCode === EXIT.wrongState && phase === "result") return `the request has not finished: see \`ltx-serve status ${requestId ?? "ID"}\``;
  return undefined;
}

/** Turns anything thrown by a command into a CliError, keeping what is known about the request. */
export function toCliError(err: unknown, ctx: { phase?: Phase; requestId?: string; url?: string } = {}): CliError {
  if (err instanceof CliError) {
    if (!err.requestId && ctx.requestId) err.requestId = ctx.requestId;
    return err;
  }
  // @fal-ai/client's ApiError and ValidationError: status, body and requestId (from x-fal-request-id).
  const api = err as { name?: string; status?: unknown; body?: unknown; requestId?: unknown };
  if ((api?.name === "ApiError" || api?.name === "ValidationError") && typeof api.status === "number") {
    // The client's own stream errors (no HTTP answer behind them) come as ApiError 500 without a body.
    const msg = (err as Error).message ?? "";
    if (api.body === undefined && api.status === 500 && !msg.startsWith("HTTP ") && /fetch failed|terminated|socket|ECONN|other side closed/i.test(msg)) {
      const e = unreachableError(ctx.url, err);
      e.requestId = (api.requestId as string) || ctx.requestId;
      return e;
    }
    const e = httpError(api.status, api.body ?? (err as Error).message, { phase: ctx.phase ?? "status", requestId: (api.requestId as string) || ctx.requestId });
    return e;
  }
  if (isUnreachable(err)) {
    const e = unreachableError(ctx.url, err);
    e.requestId = ctx.requestId;
    return e;
  }
  const message = err instanceof Error ? err.message : String(err);
  return new CliError(message, { exitCode: EXIT.usage, requestId: ctx.requestId, cause: err });
}

export function unreachableError(url: string | undefined, cause?: unknown): CliError {
  const code = errorCode(cause);
  return new CliError(`cannot reach the server${url ? ` at ${url}` : ""}${code ? ` (${code})` : ""}`, {
    exitCode: EXIT.unreachable,
    hint: "start it with `ltx-serve serve`, pass --url (or LTX_SERVE_URL), or run without a server using --local",
    cause,
  });
}

/** Maps wire field names to the generate flags that set them, so a 422 names the flag to fix. */
export const FLAG_OF_FIELD: Record<string, string> = {
  image_url: "--image",
  end_image_url: "--end-image",
  prompt: "--prompt",
  duration: "--duration",
  resolution: "--resolution",
  aspect_ratio: "--aspect-ratio",
  fps: "--fps",
  generate_audio: "--no-audio",
  seed: "--seed",
  camera_motion: "--camera-motion",
  audio_url: "--audio",
  guidance_scale: "--guidance-scale",
};

/** Human lines for an error: the message, then request id, HTTP status, each field error, a hint. */
export function formatError(e: CliError, opts: { flags?: Record<string, string> } = {}): string[] {
  const lines = [`error: ${e.message}`];
  if (e.requestId) lines.push(`  request id:  ${e.requestId}`);
  if (e.httpStatus !== undefined) lines.push(`  HTTP status: ${e.httpStatus}${e.errorType ? ` (${e.errorType})` : ""}`);
  for (const f of e.fieldErrors) {
    const field = f.loc[f.loc.length - 1];
    const flag = opts.flags && typeof field === "string" ? opts.flags[field] : undefined;
    lines.push(`  field ${f.loc.join(".") || "body"}${flag ? ` (${flag})` : ""}: ${f.msg}${f.type ? ` [${f.type}]` : ""}`);
  }
  if (e.hint) lines.push(`  hint: ${e.hint}`);
  lines.push(`  exit code:   ${e.exitCode}`);
  return lines;
}

/** The JSON form of an error, printed on stdout with --json. */
export function errorJson(e: CliError): Record<string, unknown> {
  return {
    error: {
      message: e.message,
      request_id: e.requestId ?? null,
      http_status: e.httpStatus ?? null,
      error_type: e.errorType ?? null,
      field_errors: e.fieldErrors,
      hint: e.hint ?? null,
      exit_code: e.exitCode,
    },
  };
}
