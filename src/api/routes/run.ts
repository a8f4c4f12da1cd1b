// fal's sync API on the fal.run prefix (fal-wire-protocol.md section 4): the request goes through the same durable
// queue, and the connection is held until it is done. A caller that hangs up cancels the request
// only if the request is its own (not one it was merged into by a replay), and only after a short
// grace period in which a retrying client re-attaches to it instead of starting over.
import type { FastifyInstance } from "fastify";
import { ENDPOINTS, findEndpoint } from "../../endpoints.js";
import { NotFoundError } from "../../errors.js";
import { TERMINAL_STATES, type StoredRequest } from "../../queue/store.js";
import type { ApiDeps } from "../server.js";
import { REPLAYED_HEADER, REQUEST_ID_HEADER, RUN_HOST } from "../wire.js";
import { acceptRequest, replyWithFailure } from "./queue.js";

/** Resolves when the request reaches a terminal state (in-process events, plus a slow re-read). */
export function waitForTerminal(deps: ApiDeps, id: string, signal?: AbortSignal): Promise<StoredRequest> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const r = deps.store.get(id);
      if (r && TERMINAL_STATES.includes(r.state)) {
        cleanup();
        resolve(r);
      }
    };
    const unsubscribe = deps.events.on(id, (e) => e.kind === "state" && check());
    const poll = setInterval(check, 1000);
    const onAbort = () => {
      cleanup();
      reject(signal?.reason);
    };
    function cleanup() {
      unsubscribe();
      clearInterval(poll);
      signal?.removeEventListener("abort", onAbort);
    }
    signal?.addEventListener("abort", onAbort, { once: true });
    check();
  });
}

/**
 * Sync connections waiting on each request, and the requests whose creator hung up. A request is
 * cancelled once its creator has hung up and, a grace period after the last hang-up, nobody waits on it.
 */
function createHangupTracker(deps: ApiDeps) {
  const waiting = new Map<string, number>();
  const ownerGone = new Set<string>();
  return {
    attach(id: string) {
      waiting.set(id, (waiting.get(id) ?? 0) + 1);
    },
    detach(id: string) {
      const n = (waiting.get(id) ?? 1) - 1;
      if (n > 0) waiting.set(id, n);
      else waiting.delete(id);
    },
    hungUp(id: string, owner: boolean) {
      if (owner) ownerGone.add(id);
      if (!ownerGone.has(id)) return;
      const timer = setTimeout(() => {
        if (waiting.has(id) || !ownerGone.delete(id)) return;
        const r = deps.store.get(id);
        if (r && !TERMINAL_STATES.includes(r.state)) {
          deps.dispatcher.cancel(r);
          deps.log.info({ requestId: id }, "sync client hung up and did not come back; request cancelled");
        }
      }, deps.config.syncHangupGraceMs);
      timer.unref();
    },
  };
}

export async function registerRunRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const hangups = createHangupTracker(deps);
  app.post<{ Params: { "*": string } }>(`/${RUN_HOST}/*`, async (req, reply) => {
    const id = req.params["*"].replace(/^\/+|\/+$/g, "");
    if (id.endsWith("/stream")) throw new NotFoundError("Streaming output is not offered for this endpoint; use the queue's status stream");
    const endpoint = findEndpoint(id);
    if (!endpoint) throw new NotFoundError(`Unknown endpoint ${id}; this server serves ${ENDPOINTS.map((e) => e.id).join(", ")}`);
    const { request: accepted, replayed } = await acceptRequest(deps, req, endpoint, { webhook: null });
    const hangup = new AbortController();
    const onClose = () => {
      if (!reply.sent && !reply.raw.writableEnded) hangup.abort(new Error("client closed the connection"));
    };
    req.raw.socket?.on("close", onClose);
    hangups.attach(accepted.id);
    try {
      const r = await waitForTerminal(deps, accepted.id, hangup.signal);
      reply.header(REQUEST_ID_HEADER, r.id);
      if (replayed) reply.header(REPLAYED_HEADER, "true");
      if (r.state === "succeeded" && r.result) return reply.code(200).send(r.result);
      return replyWithFailure(reply, r);
    } catch (err) {
      if (hangup.signal.aborted) {
        deps.log.info({ requestId: accepted.id, replayed }, "sync client hung up");
        hangups.detach(accepted.id);
        hangups.hungUp(accepted.id, !replayed);
        return reply;
      }
      throw err;
    } finally {
      if (!hangup.signal.aborted) hangups.detach(accepted.id);
      req.raw.socket?.off("close", onClose);
    }
  });
}
