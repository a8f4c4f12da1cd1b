// Large inline inputs cost nothing after submit: a 25 MB data: image_url is moved into file storage
// at admission, and status reads of that request parse as many bytes as for a small one.
// Also the paginated history (/api/requests) and its 422s.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadConfig } from "../src/config.js";
import { startService, type Service } from "../src/service.js";
import { ENDPOINT, falClient, smallInput } from "./helpers/fal.js";
import { freePort } from "./helpers/service.js";

let service: Service;
let dataDir: string;
const key = `test-key-${Math.random().toString(36).slice(2)}`;
const APP = "fal-ai/ltx-2.3";

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-serve-large-"));
  const port = await freePort();
  const config = loadConfig(
    { LOG_LEVEL: "warn", DATA_DIR: dataDir, API_KEYS: key, DEDUPE_WINDOW_SECONDS: "0", RATE_LIMIT_PER_MINUTE: "0", MAX_QUEUED_PER_KEY: "0" },
    { port, host: "127.0.0.1", publicUrl: `http://127.0.0.1:${port}`, allowPrivateUrls: true },
  );
    service = await startService(config);
});
afterAll(async () => {
  await service?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

const auth = { authorization: `Key ${key}`, "content-type": "application/json" };

/** Bytes handed to JSON.parse while `fn` runs (the stored input is JSON: reading it means parsing it). */
async function parsedBytes(fn: () => Promise<unknown>): Promise<{ bytes: number; calls: number }> {
  const real = JSON.parse;
  let bytes = 0;
  let calls = 0;
  const spy = vi.spyOn(JSON, "parse").mockImplementation((text: string, reviver?: Parameters<typeof JSON.parse>[1]) => {
    bytes += String(text).length;
    calls++;
    return real(text, reviver);
  });
  try {
    await fn();
  } finally {
    spy.mockRestore();
  }
  return { bytes, calls };
}

describe("large inline inputs", () => {
  it("status reads cost the same for a 25 MB data: input as for a small one", async () => {
    const fal = falClient(service.url, key);
    const base = await smallInput();
    const big = `data:image/png;base64,${Buffer.alloc(19 * 1024 * 1024, 7).toString("base64")}`;
    const small = `data:image/png;base64,${Buffer.alloc(64, 7).toString("base64")}`;
    const bigId = (await fal.queue.submit(ENDPOINT, { input: { ...base, image_url: big } as never })).request_id;
    const smallId = (await fal.queue.submit(ENDPOINT, { input: { ...base, image_url: small } as never })).request_id;

    // The stored input holds our own file URL, and the file holds the bytes, owned by the key.
    const stored = service.store.loadInput(bigId) as unknown as { image_url: string };
    expect(stored.image_url.startsWith(`${service.url}/files/`)).toBe(true);
    const file = service.files.resolveUrl(stored.image_url)!;
    expect(big.length).toBeGreaterThan(25 * 1024 * 1024);
    expect(file.size).toBe(19 * 1024 * 1024);
    expect(service.store.get(bigId)!.inputBytes).toBeLessThan(4096);

    const poll = (id: string) => async () => {
      for (let i = 0; i < 5; i++) {
        await fal.queue.status(ENDPOINT, { requestId: id, logs: true });
        const res = await fetch(`${service.url}/queue.fal.run/${APP}/requests/${id}/status`, { headers: auth });
        await res.text();
      }
    };
    // Both end the same way (the bytes are no image), so both answers describe the same state.
    for (const id of [bigId, smallId]) {
      for (let i = 0; i < 300 && service.store.get(id)!.finishedAt === null; i++) await new Promise((r) => setTimeout(r, 50));
    }
    // One warm-up round each, so one-time parses (client and route setup) fall outside the measurement.
    await poll(bigId)();
    await poll(smallId)();
    const bigCost = await parsedBytes(poll(bigId));
    const smallCost = await parsedBytes(poll(smallId));
    // Same number of parses; bytes differ only by timestamps and timings in the answer, never by the input.
    expect(bigCost.calls).toBe(smallCost.calls);
    expect(Math.abs(bigCost.bytes - smallCost.bytes)).toBeLessThan(512);
    expect(bigCost.bytes).toBeLessThan(64 * 1024);
  }, 120_000);

  it("a malformed data: URI in any *_url field is a 422 naming the field", async () => {
    const base = await smallInput();
    for (const field of ["image_url", "end_image_url"]) {
      const res = await fetch(`${service.url}/queue.fal.run/${ENDPOINT}`, {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ ...base, [field]: "data:image/png;base64,@@not-base64@@" }),
      });
      expect(res.status).toBe(422);
      const body = (await res.json()) as { detail: { loc: string[] }[] };
      expect(body.detail[0].loc).toContain(field);
    }
  });
});

describe("paginated history", () => {
  it("pages with limit and an opaque cursor, newest first, without repeats", async () => {
    const base = await smallInput();
    for (let i = 0; i < 5; i++) {
      const res = await fetch(`${service.url}/queue.fal.run/${ENDPOINT}`, { method: "POST", headers: auth, body: JSON.stringify({ ...base, seed: 100 + i }) });
      expect(res.status).toBe(200);
    }
    const all: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const q: string = cursor ? `?limit=3&cursor=${encodeURIComponent(cursor)}` : "?limit=3";
      const res = await fetch(`${service.url}/api/requests${q}`, { headers: auth });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { requests: { request_id: string }[]; next_cursor: string | null };
      expect(body.requests.length).toBeLessThanOrEqual(3);
      all.push(...body.requests.map((r) => r.request_id));
      cursor = body.next_cursor;
      pages++;
    } while (cursor && pages < 20);
    const total = service.db.prepare("SELECT COUNT(*) AS n FROM requests").get() as { n: number };
    expect(all.length).toBe(total.n);
    expect(new Set(all).size).toBe(all.length);
    const def = (await (await fetch(`${service.url}/api/requests`, { headers: auth })).json()) as { requests: unknown[] };
    expect(def.requests.length).toBe(Math.min(20, total.n));
  });

  it("bad limit or cursor is a 422 naming the field", async () => {
    for (const [q, field] of [["limit=0", "limit"], ["limit=101", "limit"], ["limit=abc", "limit"], ["cursor=zzz", "cursor"], ["cursor=%00", "cursor"]]) {
      const res = await fetch(`${service.url}/api/requests?${q}`, { headers: auth });
      expect(res.status, q).toBe(422);
      const body = (await res.json()) as { detail: { loc: string[] }[] };
      expect(body.detail[0].loc).toEqual(["query", field]);
    }
  });
});
