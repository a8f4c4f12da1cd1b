// Webhook routes: the public JWKS receivers verify signatures with, and a key's view of its
// requests' deliveries (every attempt) with manual redelivery. See docs/webhooks.md.
import type { FastifyInstance, FastifyRequest } from "fastify";
import { BadRequestError, NotFoundError } from "../../errors.js";
import type { StoredRequest } from "../../queue/store.js";
import type { WebhookDelivery } from "../../webhooks/outbox.js";
import { JWKS_PATH } from "../../webhooks/signing.js";
import { authenticate, type ApiDeps } from "../server.js";
import { REQUEST_ID_HEADER, wireStatusOf } from "../wire.js";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** A delivery as the HTTP route and the CLI show it (snake_case, ISO times, body as sent). */
export function deliveryToWire(d: WebhookDelivery) {
  return {
    id: d.id,
    url: d.url,
    state: d.state,
    attempt_count: d.attempts,
    created_at: iso(d.createdAt),
    next_attempt_at: iso(d.nextAttemptAt),
    delivered_at: iso(d.deliveredAt),
    body: JSON.parse(d.body) as unknown,
    attempts: d.attemptLog.map((a) => ({
      attempt: a.attempt,
      started_at: iso(a.startedAt),
      duration_ms: a.durationMs,
      status_code: a.statusCode,
      outcome: a.outcome,
      error: a.error,
    })),
  };
}

export async function registerWebhookRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { webhooks } = deps;

  // Public on purpose: receivers fetch it without a key (fal-wire-protocol.md section 8).
  app.get(JWKS_PATH, async (_req, reply) => reply.header("cache-control", "public, max-age=300").send(webhooks.jwks()));

  const find = (req: FastifyRequest<{ Params: { id: string } }>): StoredRequest => {
    const keyId = authenticate(deps.keys, req);
    const r = deps.store.getForKey(req.params.id, keyId);
    if (!r) throw new NotFoundError("Request not found", { requestId: req.params.id });
    req.falRequestId = r.id;
    return r;
  };

  app.get<{ Params: { id: string } }>("/api/requests/:id/webhooks", async (req, reply) => {
    const r = find(req);
    reply.header(REQUEST_ID_HEADER, r.id);
    return {
      request_id: r.id,
      status: wireStatusOf(r),
      webhook_url: r.webhookUrl,
      max_attempts: webhooks.maxAttempts,
      deliveries: webhooks.listForRequest(r.id).map(deliveryToWire),
    };
  });

  app.post<{ Params: { id: string } }>("/api/requests/:id/webhooks/redeliver", async (req, reply) => {
    const r = find(req);
    reply.header(REQUEST_ID_HEADER, r.id);
    if (!r.webhookUrl) throw new BadRequestError("Request was submitted without fal_webhook; there is nothing to redeliver", 400, { requestId: r.id });
    const delivery = webhooks.redeliver(r.id);
    if (!delivery) throw new BadRequestError("Request has not completed yet; its webhook is sent when it does", 409, { requestId: r.id });
    return reply.code(202).send({ request_id: r.id, delivery: deliveryToWire(delivery) });
  });
}
