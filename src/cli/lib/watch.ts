// Follows a request to its end: the server's SSE status stream through the official client
// (each event carries only new log lines), falling back to polling the status URL if the stream
// breaks, so a dropped connection or a server restart does not lose the request.
import type { FalClient } from "@fal-ai/client";
import { CliError, isUnreachable, toCliError, unreachableError } from "./errors.js";
import { callJson, requestPaths } from "./http.js";
import { EXIT } from "./exit-codes.js";
import type { Server } from "./options.js";
import type { StatusEvent } from "./progress.js";

/** Pause between polls after the stream broke, in ms. Default 1_000. */
const POLL_INTERVAL_MS = 1_000;
/** How long the server may stay unreachable while polling before we give up, in ms. Default 60_000. */
const UNREACHABLE_GRACE_MS = 60_000;

export interface WatchTarget {
  fal: FalClient;
  server: Server;
  endpoint: string;
  app: string;
  requestId: string;
}

/** Calls `onEvent` for every status event (logs: only new lines) and resolves with the COMPLETED one. */
export async function watchRequest(target: WatchTarget, onEvent: (e: StatusEvent) => void): Promise<StatusEvent> {
  let logsSeen = 0;
  let last: StatusEvent | undefined;
  const deliver = (e: StatusEvent) => {
    logsSeen += e.logs?.length ?? 0;
    last = e;
    onEvent(e);
  };
  try {
    const stream = await target.fal.queue.streamStatus(target.endpoint, { requestId: target.requestId, logs: true });
    stream.on("data", (data: unknown) => deliver(data as StatusEvent));
    await stream.done();
    if (last?.status === "COMPLETED") return last;
  } catch (err) {
    const e = toCliError(err, { phase: "status", requestId: target.requestId, url: target.server.url });
    // An HTTP answer (401, 404, ...) is final; only a broken connection is worth polling through.
    if (e.httpStatus !== undefined && e.httpStatus !== 500 && e.httpStatus !== 502 && e.httpStatus !== 503) throw e;
  }
  return pollUntilCompleted(target, (e) => {
    // Polled bodies carry every log line so far: pass on only the ones not yet shown.
    const fresh = (e.logs ?? []).slice(logsSeen);
    deliver({ ...e, logs: fresh });
  });
}

async function pollUntilCompleted(target: WatchTarget, onEvent: (e: StatusEvent) => void): Promise<StatusEvent> {
  const paths = requestPaths(target.app, target.requestId);
  let unreachableSince: number | undefined;
  for (;;) {
    try {
      const { body } = await callJson<StatusEvent>(target.server, "GET", `${paths.status}?logs=1`, { phase: "status", requestId: target.requestId });
      unreachableSince = undefined;
      onEvent(body);
      if (body.status === "COMPLETED") return body;
    } catch (err) {
      if (!(err instanceof CliError && err.exitCode === EXIT.unreachable) && !isUnreachable(err)) throw err;
      unreachableSince ??= Date.now();
      if (Date.now() - unreachableSince > UNREACHABLE_GRACE_MS) {
        const e = unreachableError(target.server.url, err);
        e.requestId = target.requestId;
        throw e;
      }
    }
    await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
  }
}
