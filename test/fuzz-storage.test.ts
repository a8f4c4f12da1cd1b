// Property-based fuzzing of the storage routes (initiate, PUT, parts, complete) and /api/* query
// strings: every answer is below 500 and the server stays up.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestService, type TestService } from "./helpers/service.js";

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { STORAGE_QUOTA_BYTES_PER_KEY: String(1024 * 1024), MIN_FREE_DISK_BYTES: "0" } });
});
afterAll(async () => {
  await svc?.close();
});

const partList = fc.oneof(
  fc.jsonValue(),
  fc.array(fc.oneof(fc.constant(null), fc.record({ partNumber: fc.oneof(fc.integer({ min: -2, max: 4 }), fc.string(), fc.double()), etag: fc.oneof(fc.string(), fc.constant(null), fc.integer()) }, { requiredKeys: [] })), { maxLength: 5 }).map((parts) => ({ parts })),
);

describe("fuzzed storage calls", () => {
  it("never answer 5xx across initiate, PUT, parts and complete", async () => {
    const seen = new Map<number, number>();
    const check = async (res: Response, what: string) => {
      const text = await res.text();
      seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
      if (res.status >= 500) throw new Error(`${res.status} for ${what}: ${text.slice(0, 200)}`);
    };
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.oneof(fc.jsonValue().map((v) => JSON.stringify(v)), fc.string()),
        fc.oneof(fc.constant(undefined), fc.string(), fc.constant('{"expiration_duration_seconds": 5}')),
        fc.array(fc.tuple(fc.oneof(fc.integer({ min: 0, max: 4 }), fc.constantFrom("x", "-1", "1.5", "10001")), fc.uint8Array({ maxLength: 64 })), { maxLength: 4 }),
        partList,
        fc.constantFrom("", "?token=wrong", "?token=a&token=b", "&token=x"),
        async (multipart, initBody, lifecycle, parts, complete, tokenTail) => {
          const headers: Record<string, string> = { authorization: `Key ${svc.key}`, "content-type": "application/json" };
          if (lifecycle !== undefined) headers["x-fal-object-lifecycle"] = lifecycle;
          const init = await fetch(`${svc.url}/rest.fal.ai/storage/upload/${multipart ? "initiate-multipart" : "initiate"}`, { method: "POST", headers, body: initBody });
          if (init.status !== 200) return check(init, `initiate ${initBody}`);
          const { upload_url } = (await init.json()) as { upload_url: string };
          const url = tokenTail.startsWith("&") ? upload_url + tokenTail : tokenTail ? upload_url.split("?")[0] + tokenTail : upload_url;
          await check(await fetch(url, { method: "PUT", body: parts[0]?.[1] ?? new Uint8Array() }), "PUT");
          for (const [n, bytes] of parts) await check(await fetch(url.replace("?", `/${n}?`), { method: "PUT", body: bytes }), `part ${n}`);
          await check(await fetch(url.replace("?", "/complete?"), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(complete) }), `complete ${JSON.stringify(complete)}`);
        },
      ),
      { numRuns: 250 },
    );
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
    console.log(`storage fuzz statuses ${JSON.stringify(Object.fromEntries(seen))}`);
  });

  it("never answer 5xx for fuzzed /api/* query strings", async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom("/api/usage", "/api/requests", "/api/endpoints"), fc.array(fc.tuple(fc.constantFrom("from", "to", "limit", "x", "from[]"), fc.string()), { maxLength: 4 }), async (route, pairs) => {
        const qs = pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join("&");
        const res = await fetch(`${svc.url}${route}?${qs}`, { headers: { authorization: `Key ${svc.key}` } });
        const text = await res.text();
        if (res.status >= 500) throw new Error(`${res.status} for ${route}?${qs}: ${text.slice(0, 200)}`);
      }),
      { numRuns: 300 },
    );
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
  });
});
