// fal's sync API on the fal.run prefix (section 4): the request goes through the same durable
// queue, and the connection is held until it is done. A client that hangs up cancels its request.
import type { FastifyInstance } from "fastify";
import { ENDPOINTS, findEndpoint } from "../../endpoints.js";
import { NotFoundError } from "../../errors.js";
import { TERMINAL_STATES, type StoredRequest } from "../../queue/store.js";
import type { ApiDeps } from "../server.js";
import { REQUEST_ID_HEADER, RUN_HOST } from "../wire.js";
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

export async function registerRunRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  app.post<{ Params: { "*": string } }>(`/${RUN_HOST}/*`, async (req, reply) => {
    const id = req.params["*"].replace(/^\/+|\/+$/g, "");
    if (id.endsWith("/stream")) throw new NotFoundError("Streaming output is not offered for this endpoint; use the queue's status stream");
    const endpoint = findEndpoint(id);
    if (!endpoint) throw new NotFoundError(`Unknown endpoint ${id}; this server serves ${ENDPOINTS.map((e) => e.id).join(", ")}`);
    const { request: accepted } = acceptRequest(deps, req, endpoint, { webhook: null });
    const hangup = new AbortController();
    const onClose = () => {
      if (!reply.sent && !reply.raw.writableEnded) hangup.abort(new Error("client closed the connection"));
    };
    req.raw.socket?.on("close", onClose);
    try {
      const r = await waitForTerminal(deps, accepted.id, hangup.signal);
      reply.header(REQUEST_ID_HEADER, r.id);
      if (r.state === "succeeded" && r.result) return reply.code(200).send(r.result);
      return replyWithFailure(reply, r);
    } catch (err) {
      if (hangup.signal.aborted) {
        const r = deps.store.get(accepted.id);
        if (r) deps.dispatcher.cancel(r);
        deps.log.info({ requestId: accepted.id }, "sync client hung up; request cancelled");
        return reply;
      }
      throw err;
    } finally {
      req.raw.socket?.off("close", onClose);
    }
  });
}
