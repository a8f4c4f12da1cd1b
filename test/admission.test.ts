// Submits that must not become new billed work: Idempotency-Key replays, the clients' automatic
// retries, rate and queue limits, spend caps and start deadlines.
import { ApiError } from "@fal-ai/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENDPOINT, falClient, smallInput } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

let svc: TestService;
let capKey: string;
const APP = "fal-ai/ltx-2.3";

beforeAll(async () => {
  svc = await startTestService({ env: { RATE_LIMIT_PER_MINUTE: "0", MAX_QUEUED_PER_KEY: "2" } });
  capKey = svc.service.keys.create("capped", 0.5).key;
});
afterAll(async () => {
  await svc?.close();
});

const post = (body: unknown, headers: Record<string, string> = {}, key = svc.key) =>
  fetch(`${svc.url}/queue.fal.run/${ENDPOINT}`, {
    method: "POST",
    headers: { authorization: `Key ${key}`, "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

async function waitStatus(id: string, want: string, key = svc.key) {
  for (let i = 0; i < 600; i++) {
    const s = (await (await fetch(`${svc.url}/queue.fal.run/${APP}/requests/${id}/status`, { headers: { authorization: `Key ${key}` } })).json()) as {
      status: string;
    };
    if (s.status === want || s.status === "COMPLETED") return s;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`request ${id} never reached ${want}`);
}

describe("idempotent submit", () => {
  it("replays the original for a repeated Idempotency-Key and refuses a different body with 422", async () => {
    const input = await smallInput({ seed: 11 });
    const first = await post(input, { "idempotency-key": "abc-1" });
    const again = await post(input, { "idempotency-key": "abc-1" });
    const a = (await first.json()) as { request_id: string };
    const b = (await again.json()) as { request_id: string };
    expect(b.request_id).toBe(a.request_id);
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    const other = await post({ ...input, seed: 12 }, { "idempotency-key": "abc-1" });
    expect(other.status).toBe(422);
    expect(((await other.json()) as { detail: { loc: string[] }[] }).detail[0].loc).toEqual(["header", "idempotency-key"]);
    await waitStatus(a.request_id, "COMPLETED");
  });

  it("answers an identical retried submit without a key with the first request, so it is billed once", async () => {
    const input = await smallInput({ seed: 21 });
    const ids = new Set<string>();
    for (let i = 0; i < 3; i++) ids.add(((await (await post(input)).json()) as { request_id: string }).request_id);
    expect(ids.size).toBe(1);
    const [id] = [...ids];
    await waitStatus(id, "COMPLETED");
    const list = (await (await fetch(`${svc.url}/api/requests?limit=100`, { headers: { authorization: `Key ${svc.key}` } })).json()) as {
      requests: { seed: number }[];
    };
    expect(list.requests.filter((r) => r.seed === 21)).toHaveLength(1);
    // A different body is new work.
    const other = (await (await post({ ...input, seed: 22 })).json()) as { request_id: string };
    expect(other.request_id).not.toBe(id);
    await waitStatus(other.request_id, "COMPLETED");
  });
});

describe("limits", () => {
  it("refuses a request that would pass the key's spend cap with 402, before queueing it", async () => {
    const fal = falClient(svc.url, capKey);
    await fal.subscribe(ENDPOINT, { input: await smallInput({ seed: 31 }), pollInterval: 100 }); // $0.36
    const err = await fal.queue.submit(ENDPOINT, { input: await smallInput({ seed: 32 }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError<{ detail: string }>).status).toBe(402);
    expect((err as ApiError<{ detail: string }>).body.detail).toMatch(/Spend cap of \$0\.50/);
    const list = (await (await fetch(`${svc.url}/api/requests`, { headers: { authorization: `Key ${capKey}` } })).json()) as { requests: unknown[] };
    expect(list.requests).toHaveLength(1);
  });

  it("answers 429 with Retry-After when a key has too many queued requests", async () => {
    const long = (seed: number) => smallInput({ seed, duration: 10 });
    const first = (await (await post(await long(41))).json()) as { request_id: string };
    await waitStatus(first.request_id, "IN_PROGRESS");
    const second = await post(await long(42));
    const third = await post(await long(43));
    expect([second.status, third.status]).toEqual([200, 200]);
    const refused = await post(await long(44));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    const fal = falClient(svc.url, svc.key);
    for (const r of [first, (await second.json()) as { request_id: string }, (await third.json()) as { request_id: string }]) {
      await fal.queue.cancel(ENDPOINT, { requestId: r.request_id });
    }
  });

  it("ends a request that did not start before x-fal-request-timeout with a 504 user timeout", async () => {
    const fal = falClient(svc.url, svc.key);
    const blocker = await fal.queue.submit(ENDPOINT, { input: await smallInput({ seed: 51, duration: 10, fps: 50 }) });
    const late = await fal.queue.submit(ENDPOINT, { input: await smallInput({ seed: 52 }), startTimeout: 2 });
    const s = (await waitStatus(late.request_id, "COMPLETED")) as { status: string; error_type?: string };
    expect(s.error_type).toBe("request_timeout");
    const err = await fal.queue.result(ENDPOINT, { requestId: late.request_id }).catch((e: unknown) => e);
    expect((err as ApiError<unknown>).status).toBe(504);
    expect((err as ApiError<unknown>).timeoutType).toBe("user");
    await fal.queue.cancel(ENDPOINT, { requestId: blocker.request_id });
  });
});

describe("rate limit", () => {
  it("answers 429 with Retry-After past the per-minute submit rate", async () => {
    const limited = await startTestService({ env: { RATE_LIMIT_PER_MINUTE: "3" } });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 4; i++) {
        const res = await fetch(`${limited.url}/queue.fal.run/${ENDPOINT}`, {
          method: "POST",
          headers: { authorization: `Key ${limited.key}`, "content-type": "application/json" },
          body: JSON.stringify(await smallInput({ seed: 60 + i })),
        });
        statuses.push(res.status);
        if (res.status === 429) expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await limited.close();
    }
  });
});
