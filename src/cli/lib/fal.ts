// The official @fal-ai/client pointed at an ltx-serve: every call to a fal host
// (queue.fal.run, fal.run, rest.fal.ai) is rewritten to `${url}/${host}${path}${search}`
// (fal-wire-protocol.md section 9, the requestMiddleware style).
import { createFalClient, type FalClient } from "@fal-ai/client";

const FAL_HOST = /^(?:[a-z0-9-]+\.)*fal\.(?:run|ai)$/;

export function falClientFor(url: string, key: string): FalClient {
  return createFalClient({
    credentials: key,
    requestMiddleware: async (req) => {
      const u = new URL(req.url);
      return FAL_HOST.test(u.host) ? { ...req, url: `${url}/${u.host}${u.pathname}${u.search}` } : req;
    },
  });
}
