// Cancellation belongs to whoever created the request: a sync caller that hangs up cancels only its
// own request (after a short grace period in which a retry re-attaches), never one it was merged into
// by the duplicate rule or an Idempotency-Key; the duplicate rule never returns a request being cancelled.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENDPOINT, smallInput } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

let svc: TestService;
const APP = "fal-ai/ltx-2.3";
const GRACE_MS = 800;

beforeAll(async () => {
  svc = await startTestService({ env: { RATE_LIMIT_PER_MINUTE: "0", SYNC_HANGUP_GRACE_MS: String(GRACE_MS) } });
});
afterAll(async () => {
  await svc?.close();
});

const headers = (extra: Record<string, string> = {}) => ({ authorization: `Key ${svc.key}`, "content-type": "application/json", ...extra });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function queueSubmit(body: unknown, extra: Record<string, string> = {}) {
  const res = await fetch(`${svc.url}/queue.fal.run/${ENDPOINT}`, { method: "POST", headers: headers(extra), body: JSON.stringify(body) });
  expect(res.status).toBe(200);
  return ((await res.json()) as { request_id: string }).request_id;
}

async function status(id: string) {
  const res = await fetch(`${svc.url}/queue.fal.run/${APP}/requests/${id}/status`, { headers: headers() });
  return (await res.json()) as { status: string; error_type?: string };
}

async function waitStatus(id: string, want: string) {
  for (let i = 0; i < 1200; i++) {
    const s = await status(id);
    if (s.status === want || s.status === "COMPLETED") return s;
    await sleep(50);
  }
  throw new Error(`request ${id} never reached ${want}`);
}

/** The newest request ids of this key, newest first. */
async function history(): Promise<string[]> {
  const res = await fetch(`${svc.url}/api/requests?limit=20`, { headers: headers() });
  return ((await res.json()) as { requests: { request_id: string }[] }).requests.map((r) => r.request_id);
}

/**
 * Starts a sync run on a raw connection and hangs up once `ready` says so; resolves with the
 * request id the server stored for it (from the history) and never reads an answer.
 */
async function syncThenHangUp(body: unknown, ready: () => Promise<boolean>, extra: Record<string, string> = {}): Promise<void> {
  const payload = JSON.stringify(body);
  const u = new URL(`${svc.url}/fal.run/${ENDPOINT}`);
  const req = http.request({ host: u.hostname, port: u.port, path: u.pathname, method: "POST", headers: { ...headers(extra), "content-length": Buffer.byteLength(payload) } });
  req.on("error", () => undefined);
  req.end(payload);
  for (let i = 0; i < 400 && !(await ready()); i++) await sleep(25);
  req.destroy();
}

describe("sync hang-up", () => {
  it("does not cancel a queued request that the sync caller was merged into by the duplicate rule", async () => {
    const input = await smallInput();
    const id = await queueSubmit(input);
    // The sync run of the identical body is answered with the queue caller's request; give it time to attach.
    const before = Date.now();
    await syncThenHangUp(input, async () => Date.now() - before > 300);
    await sleep(GRACE_MS + 400);
    const done = await waitStatus(id, "COMPLETED");
    expect(done.error_type).toBeUndefined();
    const result = await fetch(`${svc.url}/queue.fal.run/${APP}/requests/${id}`, { headers: headers() });
    expect(result.status).toBe(200);
  });

  it("does not cancel a request the sync caller reached through an Idempotency-Key replay", async () => {
    const input = await smallInput();
    const id = await queueSubmit(input, { "idempotency-key": "owned-by-queue" });
    const before = Date.now();
    await syncThenHangUp(input, async () => Date.now() - before > 300, { "idempotency-key": "owned-by-queue" });
    await sleep(GRACE_MS + 400);
    const done = await waitStatus(id, "COMPLETED");
    expect(done.error_type).toBeUndefined();
  });

  it("re-attaches a client that retries within the grace period, and marks the answer as replayed", async () => {
    const input = await smallInput();
    const created = await hangUpOnceCreated(input);
    const retry = await fetch(`${svc.url}/fal.run/${ENDPOINT}`, { method: "POST", headers: headers(), body: JSON.stringify(input) });
    expect(retry.status).toBe(200);
    expect(retry.headers.get("x-fal-request-id")).toBe(created);
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(((await retry.json()) as { video: { url: string } }).video.url).toMatch(/\.mp4$/);
  });

  it("cancels the caller's own request when it does not come back within the grace period", async () => {
    const input = await smallInput({ duration: 10 });
    const created = await hangUpOnceCreated(input);
    const s = await waitStatus(created, "COMPLETED");
    expect(s.error_type).toBe("request_cancelled");
  });
});

/** Sends a sync run, hangs up once the request it created is in the history, and returns its id. */
async function hangUpOnceCreated(input: Record<string, unknown>): Promise<string> {
  const known = new Set(await history());
  let created: string | undefined;
  await syncThenHangUp(input, async () => {
    created = (await history()).find((id) => !known.has(id));
    return created !== undefined;
  });
  expect(created).toBeDefined();
  return created!;
}

describe("duplicate rule", () => {
  it("answers a resubmit right after a cancel with new work, not the request being cancelled", async () => {
    const input = await smallInput({ duration: 10 });
    const id = await queueSubmit(input);
    await waitStatus(id, "IN_PROGRESS");
    const cancel = await fetch(`${svc.url}/queue.fal.run/${APP}/requests/${id}/cancel`, { method: "PUT", headers: headers() });
    expect(cancel.status).toBe(202);
    const again = await queueSubmit(input);
    expect(again).not.toBe(id);
    await fetch(`${svc.url}/queue.fal.run/${APP}/requests/${again}/cancel`, { method: "PUT", headers: headers() });
    expect((await waitStatus(id, "COMPLETED")).error_type).toBe("request_cancelled");
  });
});
