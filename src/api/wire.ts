// fal's wire format in one place: header names, the hosts the clients address, and the status
// bodies built from a stored request (fal-wire-protocol.md sections 3 and 6).
import type { LogEntry, Progress, StoredRequest } from "../queue/store.js";

export const REQUEST_ID_HEADER = "x-fal-request-id";
export const ERROR_TYPE_HEADER = "x-fal-error-type";
export const TIMEOUT_TYPE_HEADER = "x-fal-request-timeout-type";
export const TARGET_URL_HEADER = "x-fal-target-url";
export const PRIORITY_HEADER = "x-fal-queue-priority";
export const IDEMPOTENCY_HEADER = "idempotency-key";
/** Set on a submit answered with an earlier request (Idempotency-Key replay or duplicate). */
export const REPLAYED_HEADER = "idempotent-replayed";
export const START_TIMEOUT_HEADERS = ["x-fal-request-timeout", "x-fal-request-start-timeout"] as const;
export const EXPOSED_HEADERS = [REQUEST_ID_HEADER, TIMEOUT_TYPE_HEADER, ERROR_TYPE_HEADER];

export const QUEUE_HOST = "queue.fal.run";
export const RUN_HOST = "fal.run";
/** rest.alpha.fal.ai is what clients 1.0 to 1.9.2 use for storage. */
export const REST_HOSTS = ["rest.fal.ai", "rest.alpha.fal.ai"] as const;
export const FAL_HOSTS = [QUEUE_HOST, RUN_HOST, ...REST_HOSTS] as const;

export type WireStatus = "IN_QUEUE" | "IN_PROGRESS" | "COMPLETED";

export function wireStatusOf(r: Pick<StoredRequest, "state">): WireStatus {
  if (r.state === "queued") return "IN_QUEUE";
  if (r.state === "running") return "IN_PROGRESS";
  return "COMPLETED";
}

export interface RequestUrls {
  response_url: string;
  status_url: string;
  cancel_url: string;
}

/** The owner/alias URLs of a request on this server (fal-wire-protocol.md section 1: status URLs use the app, not the endpoint). */
export function requestUrls(publicUrl: string, r: Pick<StoredRequest, "app" | "id">): RequestUrls {
  const base = `${publicUrl}/${QUEUE_HOST}/${r.app}/requests/${r.id}`;
  return { response_url: base, status_url: `${base}/status`, cancel_url: `${base}/cancel` };
}

export type WireLog = Omit<LogEntry, "seq"> & { source: "USER" };

export function wireLogs(entries: LogEntry[]): WireLog[] {
  return entries.map((e) => ({ message: e.message, level: e.level, source: "USER", timestamp: e.timestamp }));
}

export interface StatusBody extends RequestUrls {
  status: WireStatus;
  request_id: string;
  gateway_request_id?: string;
  queue_position?: number;
  logs?: WireLog[] | null;
  /** ltx-serve extension: the running job's stage and percentage. */
  progress?: Progress | null;
  metrics?: { inference_time: number | null };
  error?: string;
  error_type?: string;
}

/**
 * Status body for polling and streaming. `logs` is null when not requested; polling passes all
 * lines so far, streaming passes only new ones (fal-wire-protocol.md 3.4).
 */
export function statusBody(
  r: StoredRequest,
  opts: { publicUrl: string; logs: LogEntry[] | null; queuePosition: number },
): StatusBody {
  const status = wireStatusOf(r);
  const body: StatusBody = { status, request_id: r.id, ...requestUrls(opts.publicUrl, r) };
  if (r.gatewayRequestId) body.gateway_request_id = r.gatewayRequestId;
  if (status === "IN_QUEUE") body.queue_position = opts.queuePosition;
  body.logs = opts.logs ? wireLogs(opts.logs) : null;
  if (status === "IN_PROGRESS") body.progress = r.progress;
  if (status === "COMPLETED") {
    body.metrics = { inference_time: r.inferenceTime };
    if (r.error) {
      body.error = r.error.message;
      body.error_type = r.error.errorType;
    }
  }
  return body;
}

/** fal sends logs=0|1 (JS) or true|false (Python). */
export function wantsLogs(value: unknown): boolean {
  return value === "1" || value === "true" || value === "True";
}
