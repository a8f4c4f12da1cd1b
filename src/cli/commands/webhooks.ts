// `ltx-serve webhooks list|redeliver` (over HTTP, with a key) and `webhooks rotate-key|keys|retire-key`
// (local: the signing keys under DATA_DIR). See docs/webhooks.md.
import type { Command } from "commander";
import { loadConfig } from "../../config.js";
import { createSigningKeyStore, JWKS_PATH, toJwk } from "../../webhooks/signing.js";
import { resolveServer, withServerOptions, type ServerOptions } from "../lib/options.js";

type HttpOptions = ServerOptions;

interface WireAttempt {
  attempt: number;
  started_at: string;
  duration_ms: number;
  status_code: number | null;
  outcome: string;
  error: string | null;
}

interface WireDelivery {
  id: number;
  url: string;
  state: string;
  attempt_count: number;
  created_at: string;
  next_attempt_at: string | null;
  delivered_at: string | null;
  attempts: WireAttempt[];
}

/** Calls the server; prints the error (with request id and status) and sets the exit code on failure. */
async function call(opts: HttpOptions, method: "GET" | "POST", path: string): Promise<Record<string, unknown> | undefined> {
  const server = resolveServer(opts);
  const res = await fetch(`${server.url}${path}`, { method, headers: { authorization: `Key ${server.key}` } });
  const text = await res.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    body = { detail: text.slice(0, 500) };
  }
  if (!res.ok) {
    const id = res.headers.get("x-fal-request-id");
    process.stderr.write(`HTTP ${res.status}${id ? ` (request ${id})` : ""}: ${typeof body.detail === "string" ? body.detail : JSON.stringify(body)}\n`);
    process.exitCode = res.status === 404 ? 2 : 3;
    return undefined;
  }
  return body;
}

function printDelivery(d: WireDelivery, maxAttempts?: number): void {
  const when = d.state === "delivered" ? `delivered ${d.delivered_at}` : d.state === "pending" ? `next attempt ${d.next_attempt_at}` : d.state;
  process.stdout.write(`delivery ${d.id}  ${d.state.toUpperCase()}  ${d.attempt_count}${maxAttempts ? `/${maxAttempts}` : ""} attempts  ${when}\n  to ${d.url}\n`);
  for (const a of d.attempts) {
    const answer = a.status_code === null ? "no answer" : `HTTP ${a.status_code}`;
    const detail = a.outcome === "failed" && a.error ? `  ${a.error}` : "";
    process.stdout.write(`  #${a.attempt}  ${a.started_at}  ${a.outcome.padEnd(11)}  ${answer}  ${a.duration_ms} ms${detail}\n`);
  }
}

function withKeyStore<T>(fn: (keys: ReturnType<typeof createSigningKeyStore>) => T): T {
  return fn(createSigningKeyStore({ dataDir: loadConfig().dataDir }));
}

export function registerWebhooksCommand(program: Command): void {
  const webhooks = program.command("webhooks").description("webhook deliveries and signing keys");
  // Read at action time: a default taken from the environment would print the key in --help.
  const httpOptions = withServerOptions;

  httpOptions(
    webhooks
      .command("list")
      .argument("<request-id>", "the request whose webhook deliveries to show")
      .description("show a request's webhook deliveries and every attempt"),
  ).action(async (requestId: string, opts: HttpOptions) => {
    const body = await call(opts, "GET", `/api/requests/${encodeURIComponent(requestId)}/webhooks`);
    if (!body) return;
    if (opts.json || !process.stdout.isTTY) return void process.stdout.write(`${JSON.stringify(body)}\n`);
    const deliveries = body.deliveries as WireDelivery[];
    process.stdout.write(`request ${String(body.request_id)}  ${String(body.status)}  webhook ${String(body.webhook_url ?? "none")}\n`);
    if (deliveries.length === 0) process.stdout.write(body.webhook_url ? "no delivery yet (sent when the request completes)\n" : "submitted without fal_webhook\n");
    for (const d of deliveries) printDelivery(d, body.max_attempts as number | undefined);
  });

  httpOptions(
    webhooks
      .command("redeliver")
      .argument("<request-id>", "the request whose webhook to send again")
      .description("queue a fresh delivery of a completed request's webhook (same body, new signature)"),
  ).action(async (requestId: string, opts: HttpOptions) => {
    const body = await call(opts, "POST", `/api/requests/${encodeURIComponent(requestId)}/webhooks/redeliver`);
    if (!body) return;
    if (opts.json || !process.stdout.isTTY) return void process.stdout.write(`${JSON.stringify(body)}\n`);
    const d = body.delivery as WireDelivery;
    process.stdout.write(`queued delivery ${d.id} of request ${String(body.request_id)} to ${d.url}\n`);
  });

  webhooks
    .command("rotate-key")
    .option("--json", "print JSON")
    .description(`add a new signing key (DATA_DIR/webhook-keys); older keys stay published at ${JWKS_PATH}`)
    .action((opts: { json?: boolean }) => {
      const { key, published } = withKeyStore((s) => ({ key: s.rotate(), published: s.all().map((k) => k.kid) }));
      if (opts.json) return void process.stdout.write(`${JSON.stringify({ kid: key.kid, jwk: toJwk(key), published })}\n`);
      process.stdout.write(`new signing key ${key.kid}\npublished: ${published.join(", ")}\n(a running server signs with it from its next attempt)\n`);
    });

  webhooks
    .command("keys")
    .option("--json", "print JSON")
    .description("list the signing keys (newest signs; all are published)")
    .action((opts: { json?: boolean }) => {
      const jwks = withKeyStore((s) => s.jwks());
      if (opts.json) return void process.stdout.write(`${JSON.stringify(jwks)}\n`);
      jwks.keys.forEach((k, i) => process.stdout.write(`${k.kid}  x=${k.x}${i === 0 ? "  (signing)" : ""}\n`));
    });

  webhooks
    .command("retire-key")
    .argument("<kid>", "an older key id (from `webhooks keys`)")
    .description("stop publishing an older key (wait 24 h after rotating: receivers cache the JWKS)")
    .action((kid: string) => {
      if (!withKeyStore((s) => s.retire(kid))) {
        process.stderr.write(`no webhook key ${kid}\n`);
        process.exitCode = 2;
        return;
      }
      process.stdout.write(`retired ${kid}\n`);
    });
}
