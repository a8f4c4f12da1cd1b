// Webhooks against the running service and the official client: retries, a restart between
// attempts, signatures checked with nothing but the served JWKS, attempts through the HTTP route
// and the real CLI, key rotation, redelivery and its rate limit, cancelled requests, the key's random user id, and
// the private-address guard at submit.
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { ENDPOINT, falClient, smallInput } from "./helpers/fal.js";
import { startReceiver, verifyWithJwks, type Jwk } from "./helpers/webhook-receiver.js";
import { freePort, startTestService, type TestService } from "./helpers/service.js";

const run = promisify(execFile);
const KEY = "webhook-key";
const OTHER_KEY = "webhook-other-key";
/** Ten attempts; enough budget after the second failure for a slow restart on a busy machine. */
const RETRY_DELAYS_MS = "200,1000,1000,1000,1000,2000,2000,2000,2000";
const REPO = path.resolve(import.meta.dirname, "..");

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 300_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface WireDeliveries {
  request_id: string;
  webhook_url: string | null;
  max_attempts: number;
  deliveries: {
    id: number;
    state: string;
    attempt_count: number;
    body: Record<string, unknown>;
    attempts: { attempt: number; started_at: string; status_code: number | null; outcome: string; error: string | null }[];
  }[];
}

async function deliveriesOf(base: string, id: string, key = KEY): Promise<WireDeliveries> {
  const res = await fetch(`${base}/api/requests/${id}/webhooks`, { headers: { authorization: `Key ${key}` } });
  expect(res.status).toBe(200);
  return (await res.json()) as WireDeliveries;
}

async function cli(args: string[], env: Record<string, string> = {}): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, ["--import", "tsx", "src/cli/main.ts", ...args], { cwd: REPO, env: { ...process.env, ...env }, timeout: 60_000 });
}

const envKeyId = (key: string) => `env-${createHash("sha256").update(key).digest("hex").slice(0, 12)}`;

describe("webhooks", () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-webhooks-"));
  let svc: TestService;
  let port: number;
  let restarted = false;
  let requestId = "";
  const jwksUrl = () => `${svc.url}/.well-known/jwks.json`;
  const start = async () => {
    svc = await startTestService({
      dataDir,
      config: { port, publicUrl: `http://127.0.0.1:${port}` },
      env: { API_KEYS: `${KEY},${OTHER_KEY}`, WEBHOOK_RETRY_DELAYS_MS: RETRY_DELAYS_MS, WEBHOOK_TIMEOUT_MS: "5000" },
    });
  };
  // Fails until the server has been restarted (at least twice), then accepts only what the JWKS verifies.
  const receiverReady = startReceiver(async (d, n) => {
    if (n <= 2 || !restarted) return 500;
    d.verdict = await verifyWithJwks(jwksUrl(), d);
    return d.verdict === null ? 200 : 401;
  });
  afterAll(async () => {
    await svc?.close();
    await (await receiverReady).close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it("delivers a signed OK webhook after failed attempts, across a restart, with the result URL's output as payload", async () => {
    const rx = await receiverReady;
    port = await freePort();
    await start();
    const fal = falClient(svc.url, KEY);
    const { request_id } = await fal.queue.submit(ENDPOINT, { input: await smallInput(), webhookUrl: rx.url });
    requestId = request_id;

    await waitFor("two failed attempts", () => rx.received.filter((d) => d.answered === 500).length >= 2);
    await svc.close({ keepData: true });
    const restartAt = Date.now();
    await start();
    restarted = true;

    const delivered = await waitFor("a verified delivery", () => rx.received.find((d) => d.answered === 200), 60_000);
    expect(delivered.verdict).toBeNull();
    expect(delivered.receivedAt).toBeGreaterThan(restartAt);
    expect(delivered.headers["content-type"]).toBe("application/json");
    expect(delivered.headers["x-fal-webhook-request-id"]).toBe(request_id);
    // The user id is a random id of the key, the same on every attempt, before and after the restart.
    const userId = String(delivered.headers["x-fal-webhook-user-id"]);
    expect(userId).toMatch(/^usr_[0-9a-f]{32}$/);
    expect(userId).not.toBe(envKeyId(KEY));
    expect(userId).not.toContain(createHash("sha256").update(KEY).digest("hex").slice(0, 8));
    expect(new Set(rx.received.map((d) => d.headers["x-fal-webhook-user-id"]))).toEqual(new Set([userId]));

    // Every attempt carries the same bytes, signed at send time (Ed25519 is deterministic, so two
    // attempts within one second share a signature; the unit tests check fresh timestamps).
    expect(new Set(rx.received.map((d) => d.raw.toString("base64"))).size).toBe(1);
    const stamps = rx.received.map((d) => Number(d.headers["x-fal-webhook-timestamp"]));
    expect(stamps).toEqual([...stamps].sort((a, b) => a - b));
    expect(stamps.at(-1)! * 1000).toBeGreaterThanOrEqual(Math.floor(restartAt / 1000) * 1000);

    const resultRes = await fetch(`${svc.url}/queue.fal.run/fal-ai/ltx-2.3/requests/${request_id}`, { headers: { authorization: `Key ${KEY}` } });
    expect(resultRes.status).toBe(200);
    const resultText = await resultRes.text();
    const body = JSON.parse(delivered.raw.toString("utf8")) as Record<string, unknown>;
    expect(body).toMatchObject({ request_id, status: "OK" });
    expect(typeof body.gateway_request_id).toBe("string");
    expect(body.payload).toEqual(JSON.parse(resultText));
    expect(delivered.raw.toString("utf8")).toContain(`"payload":${resultText}`);
    expect((body.payload as { video: { url: string } }).video.url).toContain("/files/");
  });

  it("shows every attempt through the HTTP route and the CLI, only to the key that owns the request", async () => {
    const view = await deliveriesOf(svc.url, requestId);
    expect(view.webhook_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/hook$/);
    expect(view.max_attempts).toBe(10);
    expect(view.deliveries).toHaveLength(1);
    const [d] = view.deliveries;
    expect(d.state).toBe("delivered");
    expect(d.attempts.length).toBe(d.attempt_count);
    expect(d.attempts.length).toBeGreaterThanOrEqual(3);
    expect(d.attempts.at(-1)).toMatchObject({ status_code: 200, outcome: "delivered", error: null });
    // Attempts cut short by the shutdown have no status; every other failure is the receiver's 500.
    for (const a of d.attempts.slice(0, -1)) {
      expect(a.outcome).toBe("failed");
      if (a.status_code !== null) expect(a.status_code).toBe(500);
      else expect(a.error).toMatch(/^interrupted:/);
    }
    expect(d.attempts.filter((a) => a.status_code === 500).length).toBeGreaterThanOrEqual(2);
    expect(d.body).toMatchObject({ request_id: requestId, status: "OK" });

    const { stdout } = await cli(["webhooks", "list", requestId, "--url", svc.url, "--key", KEY, "--json"]);
    expect(JSON.parse(stdout)).toEqual(view);

    const other = await fetch(`${svc.url}/api/requests/${requestId}/webhooks`, { headers: { authorization: `Key ${OTHER_KEY}` } });
    expect(other.status).toBe(404);
    const otherCli = await cli(["webhooks", "list", requestId, "--url", svc.url, "--key", OTHER_KEY]).catch((e: { code: number; stderr: string }) => e);
    expect(otherCli).toMatchObject({ code: 2 });
    expect((otherCli as { stderr: string }).stderr).toContain("HTTP 404");
    expect((await fetch(`${svc.url}/api/requests/${requestId}/webhooks`)).status).toBe(401);
  });

  it("serves the JWKS without a key and signs redeliveries with a key rotated in by the CLI", async () => {
    const rx = await receiverReady;
    const before = (await (await fetch(jwksUrl())).json()) as { keys: Jwk[] };
    expect(before.keys).toHaveLength(1);
    expect(before.keys[0]).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });

    const rotated = JSON.parse((await cli(["webhooks", "rotate-key", "--json"], { DATA_DIR: dataDir })).stdout) as { kid: string };
    const after = (await (await fetch(jwksUrl())).json()) as { keys: Jwk[] };
    expect(after.keys.map((k) => k.kid)).toEqual([rotated.kid, before.keys[0].kid]);

    const seen = rx.received.length;
    const byCli = JSON.parse((await cli(["webhooks", "redeliver", requestId, "--url", svc.url, "--key", KEY, "--json"])).stdout) as {
      delivery: { id: number; state: string };
    };
    expect(byCli.delivery.state).toBe("pending");
    const res = await fetch(`${svc.url}/api/requests/${requestId}/webhooks/redeliver`, { method: "POST", headers: { authorization: `Key ${KEY}` } });
    expect(res.status).toBe(202);

    await waitFor("both redeliveries", () => rx.received.filter((d, i) => i >= seen && d.answered === 200).length === 2, 60_000);
    const fresh = rx.received.slice(seen);
    for (const d of fresh) {
      expect(d.raw.equals(rx.received[0].raw)).toBe(true);
      expect(await verifyWithJwks(jwksUrl(), d, rotated.kid)).toBeNull();
      expect(await verifyWithJwks(jwksUrl(), d, before.keys[0].kid)).not.toBeNull();
    }
    const view = await deliveriesOf(svc.url, requestId);
    expect(view.deliveries.map((d) => d.state)).toEqual(["delivered", "delivered", "delivered"]);
    expect(view.deliveries[1].id).toBe(byCli.delivery.id);
    expect(new Set(fresh.map((d) => d.headers["x-fal-webhook-user-id"]))).toEqual(new Set([rx.received[0].headers["x-fal-webhook-user-id"]]));
  });

  it("rate-limits redeliveries of one request with 429 and Retry-After", async () => {
    const redeliver = () => fetch(`${svc.url}/api/requests/${requestId}/webhooks/redeliver`, { method: "POST", headers: { authorization: `Key ${KEY}` } });
    const statuses: number[] = [];
    let last: Response | undefined;
    for (let i = 0; i < 8; i++) {
      last = await redeliver();
      statuses.push(last.status);
      if (last.status !== 202) break;
    }
    // Two redeliveries were made by the test before; five fit in the window.
    expect(statuses).toEqual([202, 202, 202, 429]);
    expect(Number(last!.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(last!.headers.get("x-fal-request-id")).toBe(requestId);
    expect(((await last!.json()) as { detail: string }).detail).toMatch(/At most 5 redeliveries of one request/);
    // The accepted ones are sent before the next test looks at what arrives.
    const all = await waitFor("the accepted redeliveries", async () => {
      const v = await deliveriesOf(svc.url, requestId);
      return v.deliveries.every((d) => d.state === "delivered") && v.deliveries;
    }, 60_000);
    expect(all).toHaveLength(6);
  });

  it("sends an ERROR webhook whose payload is the result URL's error when a request is cancelled", async () => {
    const rx = await receiverReady;
    const fal = falClient(svc.url, KEY);
    const seen = rx.received.length;
    const { request_id } = await fal.queue.submit(ENDPOINT, { input: await smallInput({ prompt: "to be cancelled" }), webhookUrl: rx.url });
    await fal.queue.cancel(ENDPOINT, { requestId: request_id });

    const d = await waitFor("the cancellation webhook", () => rx.received.find((x, i) => i >= seen && x.answered === 200), 60_000);
    expect(d.verdict).toBeNull();
    const result = await fetch(`${svc.url}/queue.fal.run/fal-ai/ltx-2.3/requests/${request_id}`, { headers: { authorization: `Key ${KEY}` } });
    expect(result.status).toBeGreaterThanOrEqual(400);
    const body = JSON.parse(d.raw.toString("utf8")) as Record<string, unknown>;
    expect(body).toMatchObject({ request_id, status: "ERROR", error: `Invalid status code: ${result.status}` });
    expect(body.payload).toEqual(await result.json());

    // A request submitted without fal_webhook has nothing to redeliver.
    const plain = await fal.queue.submit(ENDPOINT, { input: await smallInput({ prompt: "no webhook" }) });
    await fal.queue.cancel(ENDPOINT, { requestId: plain.request_id });
    const none = await fetch(`${svc.url}/api/requests/${plain.request_id}/webhooks/redeliver`, { method: "POST", headers: { authorization: `Key ${KEY}` } });
    expect(none.status).toBe(400);
    expect((await deliveriesOf(svc.url, plain.request_id)).deliveries).toEqual([]);
  });
});

describe("webhooks to private addresses", () => {
  it("are refused at submit with 422 naming fal_webhook when ALLOW_PRIVATE_URLS is off, and nothing is queued", async () => {
    const svc = await startTestService({ config: { allowPrivateUrls: false } });
    try {
      const input = await smallInput();
      for (const hook of ["http://127.0.0.1:9/hook", "http://[::ffff:192.168.1.1]/hook", "http://localhost:9/hook"]) {
        const res = await fetch(`${svc.url}/queue.fal.run/${ENDPOINT}?fal_webhook=${encodeURIComponent(hook)}`, {
          method: "POST",
          headers: { authorization: `Key ${svc.key}`, "content-type": "application/json" },
          body: JSON.stringify(input),
        });
        expect(res.status).toBe(422);
        const body = (await res.json()) as { detail: { loc: string[]; msg: string }[] };
        expect(body.detail[0].loc).toEqual(["query", "fal_webhook"]);
        expect(body.detail[0].msg).toMatch(/fal_webhook is refused: .*(loopback|private)/);
      }
      const fal = falClient(svc.url, svc.key);
      const refused = await fal.queue.submit(ENDPOINT, { input, webhookUrl: "http://10.0.0.7/hook" }).catch((e: { status: number }) => e);
      expect(refused).toMatchObject({ status: 422 });
      const history = (await (await fetch(`${svc.url}/api/requests`, { headers: { authorization: `Key ${svc.key}` } })).json()) as { requests: unknown[] };
      expect(history.requests).toHaveLength(0);
    } finally {
      await svc.close();
    }
  });
});
