// The outbox dispatcher against a real SQLite file and a real HTTP receiver on 127.0.0.1: retries,
// signatures, the give-up rule, redirects, timeouts, the SSRF guard, claims shared by two
// processes' connections, crash take-over and redelivery.
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { Config } from "../config.js";
import { openDb, type Db } from "../db.js";
import type { VideoInput } from "../endpoints.js";
import { createRequestStore } from "../queue/store.js";
import { RateLimitedError } from "../errors.js";
import { createKeyStore, webhookUserIdOf } from "../keys.js";
import { REDELIVERIES_PER_WINDOW, REDELIVERY_WINDOW_MS, createWebhookDispatcher, webhookRefusal, type WebhookDispatcher } from "./outbox.js";
import { verifyWebhook } from "./signing.js";

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

type Answer = (req: Received, n: number) => { status: number; headers?: Record<string, string> } | "hang";

const log = pino({ level: "silent" });
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function receiver(answer: Answer): Promise<{ url: string; port: number; received: Received[] }> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const r = { path: req.url ?? "/", headers: req.headers, body: Buffer.concat(parts) };
      received.push(r);
      const a = answer(r, received.length);
      if (a === "hang") return;
      res.writeHead(a.status, a.headers).end(a.status >= 400 ? "receiver says no" : "");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/hook`, port, received };
}

function tempDb(): { db: Db; dataDir: string } {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-outbox-"));
  const db = openDb(dataDir);
  cleanups.push(() => {
    db.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });
  return { db, dataDir };
}

type OutboxConfig = Pick<Config, "dataDir" | "allowPrivateUrls" | "webhookRetryDelaysMs" | "webhookTimeoutMs">;

function dispatcher(db: Db, config: OutboxConfig, clock?: () => number): WebhookDispatcher {
  const d = createWebhookDispatcher({ db, config, log, clock, pollMs: 50 });
  cleanups.push(() => d.stop());
  return d;
}

/** A request of key `key_test` that completed with an error, whose webhook row the store wrote. */
function cancelledRequest(db: Db, webhookUrl: string): string {
  const store = createRequestStore({ db });
  const r = store.create({
    app: "fal-ai/ltx-2.3",
    endpoint: "fal-ai/ltx-2.3/image-to-video",
    keyId: "key_test",
    priority: 0,
    input: { prompt: "p", image_url: "data:," } as unknown as VideoInput,
    headers: {},
    webhookUrl,
    seed: 1,
    startDeadlineAt: null,
  });
  const error = { status: 400, body: { detail: "Request was cancelled" }, errorType: "request_cancelled", message: "Request was cancelled" };
  expect(store.cancelQueued(r.id, error)).toBe(true);
  return r.id;
}

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const base = (dataDir: string, extra: Partial<OutboxConfig> = {}): OutboxConfig => ({
  dataDir,
  allowPrivateUrls: true,
  webhookRetryDelaysMs: [30, 30, 30],
  webhookTimeoutMs: 5_000,
  ...extra,
});

describe("webhook outbox", () => {
  it("retries after two 500s, re-signs every attempt with a fresh timestamp, and records all three attempts", async () => {
    const { db, dataDir } = tempDb();
    let offsetMs = 0;
    const clock = () => Date.now() + offsetMs;
    const rx = await receiver((_r, n) => {
      offsetMs += 10_000; // each attempt happens "10 s later", so timestamps must differ
      return n <= 2 ? { status: 500 } : { status: 204 };
    });
    const id = cancelledRequest(db, rx.url);
    const d = dispatcher(db, base(dataDir), clock);
    d.start();
    const [delivery] = await waitFor("delivery", () => d.listForRequest(id).find((x) => x.state === "delivered") && d.listForRequest(id));

    expect(rx.received).toHaveLength(3);
    const stored = delivery.body;
    for (const r of rx.received) {
      expect(r.body.toString("utf8")).toBe(stored);
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.headers["x-fal-webhook-request-id"]).toBe(id);
      expect(r.headers["x-fal-webhook-user-id"]).toBe(webhookUserIdOf(db, "key_test"));
      expect(verifyWebhook(d.jwks(), r.headers, r.body, Number(r.headers["x-fal-webhook-timestamp"]))).toBeNull();
    }
    const stamps = rx.received.map((r) => Number(r.headers["x-fal-webhook-timestamp"]));
    expect(stamps[1] - stamps[0]).toBeGreaterThanOrEqual(10);
    expect(stamps[2] - stamps[1]).toBeGreaterThanOrEqual(10);
    expect(rx.received[0].headers["x-fal-webhook-signature"]).not.toBe(rx.received[1].headers["x-fal-webhook-signature"]);

    expect(JSON.parse(stored)).toEqual({
      request_id: id,
      gateway_request_id: id,
      status: "ERROR",
      error: "Invalid status code: 400",
      payload: { detail: "Request was cancelled" },
    });
    expect(delivery.attempts).toBe(3);
    expect(delivery.deliveredAt).not.toBeNull();
    expect(delivery.attemptLog.map((a) => [a.attempt, a.statusCode, a.outcome])).toEqual([
      [1, 500, "failed"],
      [2, 500, "failed"],
      [3, 204, "delivered"],
    ]);
    expect(delivery.attemptLog[0].error).toBe("HTTP 500: receiver says no");
  });

  it("gives up after one attempt more than there are retry delays", async () => {
    const { db, dataDir } = tempDb();
    const rx = await receiver(() => ({ status: 503 }));
    const id = cancelledRequest(db, rx.url);
    const d = dispatcher(db, base(dataDir, { webhookRetryDelaysMs: [20, 20] }));
    expect(d.maxAttempts).toBe(3);
    d.start();
    const [delivery] = await waitFor("failure", () => d.listForRequest(id).find((x) => x.state === "failed") && d.listForRequest(id));
    expect(delivery.attempts).toBe(3);
    expect(delivery.nextAttemptAt).toBeNull();
    expect(delivery.attemptLog.map((a) => a.statusCode)).toEqual([503, 503, 503]);
    expect(rx.received).toHaveLength(3);
  });

  it("does not follow redirects: a 302 is a failed attempt and the target is never called", async () => {
    const { db, dataDir } = tempDb();
    const rx = await receiver((r) => (r.path === "/hook" ? { status: 302, headers: { location: "/elsewhere" } } : { status: 200 }));
    const id = cancelledRequest(db, rx.url);
    const d = dispatcher(db, base(dataDir, { webhookRetryDelaysMs: [20] }));
    d.start();
    const [delivery] = await waitFor("failure", () => d.listForRequest(id).find((x) => x.state === "failed") && d.listForRequest(id));
    expect(delivery.attemptLog.map((a) => a.statusCode)).toEqual([302, 302]);
    expect(delivery.attemptLog[0].error).toContain("not followed");
    expect(rx.received.map((r) => r.path)).toEqual(["/hook", "/hook"]);
  });

  it("counts a receiver that does not answer within the timeout as a failed attempt", async () => {
    const { db, dataDir } = tempDb();
    const rx = await receiver(() => "hang");
    const id = cancelledRequest(db, rx.url);
    const d = dispatcher(db, base(dataDir, { webhookRetryDelaysMs: [], webhookTimeoutMs: 300 }));
    d.start();
    const [delivery] = await waitFor("failure", () => d.listForRequest(id).find((x) => x.state === "failed") && d.listForRequest(id));
    expect(delivery.attemptLog).toHaveLength(1);
    expect(delivery.attemptLog[0]).toMatchObject({ statusCode: null, outcome: "failed", error: "no answer within 300 ms" });
    expect(rx.received).toHaveLength(1);
  });

  it.each([
    ["a literal loopback address", (port: number) => `http://127.0.0.1:${port}/hook`],
    ["a name that resolves to loopback", (port: number) => `http://localhost:${port}/hook`],
    ["an IPv4-mapped IPv6 loopback", (port: number) => `http://[::ffff:127.0.0.1]:${port}/hook`],
  ])("refuses %s when private addresses are not allowed, without retrying", async (_name, urlOf) => {
    const { db, dataDir } = tempDb();
    const rx = await receiver(() => ({ status: 200 }));
    const id = cancelledRequest(db, urlOf(rx.port));
    const d = dispatcher(db, base(dataDir, { allowPrivateUrls: false }));
    d.start();
    const [delivery] = await waitFor("refusal", () => d.listForRequest(id).find((x) => x.state === "failed") && d.listForRequest(id));
    expect(delivery.attemptLog).toHaveLength(1);
    expect(delivery.attemptLog[0].error).toMatch(/^refused: .*loopback/);
    expect(rx.received).toHaveLength(0);
  });

  it("never sends one attempt twice when two processes' dispatchers share the database", async () => {
    const { db, dataDir } = tempDb();
    const other = openDb(dataDir);
    cleanups.push(() => void other.close());
    const rx = await receiver(() => ({ status: 200 }));
    const ids = Array.from({ length: 30 }, () => cancelledRequest(db, rx.url));
    const a = dispatcher(db, base(dataDir));
    const b = dispatcher(other, base(dataDir));
    a.start();
    b.start();
    await waitFor("all delivered", () => ids.every((id) => a.listForRequest(id)[0]?.state === "delivered"));
    expect(rx.received).toHaveLength(30);
    expect(new Set(rx.received.map((r) => r.headers["x-fal-webhook-request-id"])).size).toBe(30);
    expect(ids.every((id) => a.listForRequest(id)[0].attempts === 1)).toBe(true);
  });

  it("takes over a delivery whose sender died mid-attempt, without using up the retry budget", async () => {
    const { db, dataDir } = tempDb();
    const rx = await receiver((_r, n) => (n === 1 ? { status: 500 } : { status: 200 }));
    const id = cancelledRequest(db, rx.url);
    // What a process that claimed the delivery and was then killed leaves behind (lease run out).
    const now = Date.now();
    db.prepare("UPDATE webhook_deliveries SET state = 'sending', attempts = 1, next_attempt_at = ? WHERE request_id = ?").run(now - 1, id);
    const deliveryId = (db.prepare("SELECT id FROM webhook_deliveries WHERE request_id = ?").get(id) as { id: number }).id;
    db.prepare("INSERT INTO webhook_attempts (delivery_id, attempt, started_at, duration_ms) VALUES (?, 1, ?, 0)").run(deliveryId, now - 20_000);

    // Two attempts allowed: the interrupted one must not count, so a 500 then a 200 still delivers.
    const d = dispatcher(db, base(dataDir, { webhookRetryDelaysMs: [20] }));
    expect(d.listForRequest(id)[0].attemptLog[0].outcome).toBe("in_progress");
    d.start();
    const [delivery] = await waitFor("an outcome", () => {
      const found = d.listForRequest(id);
      return ["delivered", "failed"].includes(found[0].state) && found;
    });
    expect(delivery.attemptLog.map((a) => [a.attempt, a.statusCode, a.outcome])).toEqual([
      [1, null, "failed"],
      [2, 500, "failed"],
      [3, 200, "delivered"],
    ]);
    expect(delivery.attemptLog[0].error).toMatch(/^interrupted:/);
    expect(rx.received).toHaveLength(2);
  });

  it("cuts an attempt short on stop and lets the next dispatcher send it at once", async () => {
    const { db, dataDir } = tempDb();
    const rx = await receiver((_r, n) => (n === 1 ? "hang" : { status: 200 }));
    const id = cancelledRequest(db, rx.url);
    const first = createWebhookDispatcher({ db, config: base(dataDir, { webhookRetryDelaysMs: [60_000] }), log, pollMs: 50 });
    first.start();
    await waitFor("first attempt to arrive", () => rx.received.length === 1);
    await first.stop();
    const afterStop = first.listForRequest(id)[0];
    expect(afterStop.state).toBe("pending");
    expect(afterStop.attemptLog[0].error).toMatch(/^interrupted: the server shut down/);

    const second = dispatcher(db, base(dataDir, { webhookRetryDelaysMs: [60_000] }));
    second.start();
    const [delivery] = await waitFor("delivery", () => second.listForRequest(id).find((x) => x.state === "delivered") && second.listForRequest(id));
    expect(delivery.attempts).toBe(2);
    expect(rx.received).toHaveLength(2);
  });

  it("redelivers the same body as a new delivery with its own attempts", async () => {
    const { db, dataDir } = tempDb();
    const rx = await receiver(() => ({ status: 200 }));
    const id = cancelledRequest(db, rx.url);
    const d = dispatcher(db, base(dataDir));
    expect(d.redeliver("no-such-request")).toBeUndefined();
    d.start();
    await waitFor("first delivery", () => d.listForRequest(id)[0]?.state === "delivered");
    const again = d.redeliver(id)!;
    expect(again.state).toBe("pending");
    await waitFor("second delivery", () => d.listForRequest(id)[1]?.state === "delivered");
    const [one, two] = d.listForRequest(id);
    expect(two.id).toBe(again.id);
    expect(two.id).not.toBe(one.id);
    expect(two.body).toBe(one.body);
    expect(rx.received).toHaveLength(2);
    expect(rx.received[1].body.equals(rx.received[0].body)).toBe(true);
    for (const r of rx.received) expect(verifyWebhook(d.jwks(), r.headers, r.body)).toBeNull();
  });

  it("limits redeliveries of one request per window and says when the next one is allowed", async () => {
    const { db, dataDir } = tempDb();
    const rx = await receiver(() => ({ status: 200 }));
    const id = cancelledRequest(db, rx.url);
    const other = cancelledRequest(db, rx.url);
    let now = 1_000_000;
    const d = dispatcher(db, base(dataDir), () => now);
    for (let i = 0; i < REDELIVERIES_PER_WINDOW; i++) expect(d.redeliver(id)?.state).toBe("pending");
    now += 1_000;
    let refused: unknown;
    try {
      d.redeliver(id);
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(RateLimitedError);
    expect((refused as RateLimitedError).retryAfterSeconds).toBe((REDELIVERY_WINDOW_MS - 1_000) / 1000);
    expect(d.listForRequest(id)).toHaveLength(1 + REDELIVERIES_PER_WINDOW);
    // Another request is not held back by this one.
    expect(d.redeliver(other)?.state).toBe("pending");
    now += REDELIVERY_WINDOW_MS;
    expect(d.redeliver(id)?.state).toBe("pending");
  });

  it("signs with a random user id per key that is stable and not derived from the key", async () => {
    const { db, dataDir } = tempDb();
    const rx = await receiver(() => ({ status: 200 }));
    const keys = createKeyStore({ db, envKeys: ["secret-one"] });
    const id = cancelledRequest(db, rx.url);
    const d = dispatcher(db, base(dataDir));
    d.start();
    await waitFor("first delivery", () => d.listForRequest(id)[0]?.state === "delivered");
    d.redeliver(id);
    await waitFor("second delivery", () => d.listForRequest(id)[1]?.state === "delivered");
    const ids = rx.received.map((r) => String(r.headers["x-fal-webhook-user-id"]));
    expect(ids[0]).toMatch(/^usr_[0-9a-f]{32}$/);
    expect(ids[1]).toBe(ids[0]);
    expect(ids[0]).not.toContain("key_test");
    expect(keys.webhookUserId("key_test")).toBe(ids[0]);
    // Env keys get their own random id, stable across restarts (a second store on the same database).
    const envId = keys.authenticate("secret-one")!;
    const first = keys.webhookUserId(envId);
    expect(first).toMatch(/^usr_[0-9a-f]{32}$/);
    expect(createKeyStore({ db, envKeys: ["secret-one"] }).webhookUserId(envId)).toBe(first);
    expect(first).not.toBe(ids[0]);
  });

  it.each([
    ["http://127.0.0.1:9/hook", /127\.0\.0\.1 is a loopback address/],
    ["http://[::ffff:10.0.0.1]/hook", /private network address/],
    ["http://169.254.169.254/latest", /cloud metadata/],
    ["http://localhost:8080/hook", /localhost is a loopback name/],
    ["http://api.localhost/hook", /loopback name/],
    ["ftp://example.com/hook", /ftp: URLs/],
  ])("judges %s refused when private addresses are not allowed", (url, why) => {
    expect(webhookRefusal(new URL(url), false)).toMatch(why);
    if (!url.startsWith("ftp")) expect(webhookRefusal(new URL(url), true)).toBeUndefined();
  });

  it("lets public names and addresses through (their DNS answers are checked when sending)", () => {
    expect(webhookRefusal(new URL("https://hooks.example.com/x"), false)).toBeUndefined();
    expect(webhookRefusal(new URL("http://93.184.216.34/x"), false)).toBeUndefined();
  });
});
