// Property-based fuzzing of submit and sync run with generated bodies: every answer is a 2xx or a
// 4xx with a JSON body, never a 5xx, and the server stays up.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENDPOINT } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

let svc: TestService;
beforeAll(async () => {
  // Real URL policy (no private addresses), no rate limit, so every case reaches validation.
  svc = await startTestService({ env: { RATE_LIMIT_PER_MINUTE: "0", MAX_QUEUED_PER_KEY: "0" }, config: { allowPrivateUrls: false, imageFetchTimeoutMs: 2000 } });
});
afterAll(async () => {
  await svc?.close();
});

const nearlyValid = fc.record(
  {
    image_url: fc.oneof(fc.string(), fc.webUrl(), fc.constant("data:image/png;base64,AAAA"), fc.constant("http://127.0.0.1/x.png"), fc.integer()),
    end_image_url: fc.oneof(fc.string(), fc.constant(null), fc.webUrl()),
    prompt: fc.oneof(fc.string({ maxLength: 50 }), fc.constant(""), fc.integer(), fc.string({ minLength: 5000, maxLength: 5100 })),
    duration: fc.oneof(fc.constantFrom(6, 8, 10, "6", "8", "10", 7, -1, 1e309, "ten"), fc.double(), fc.string()),
    resolution: fc.oneof(fc.constantFrom("1080p", "1440p", "2160p", "720p"), fc.string()),
    aspect_ratio: fc.oneof(fc.constantFrom("auto", "16:9", "9:16", "4:3"), fc.string()),
    fps: fc.oneof(fc.constantFrom(24, 25, 48, 50, "25", 30), fc.double(), fc.boolean()),
    generate_audio: fc.oneof(fc.boolean(), fc.string(), fc.integer()),
    seed: fc.oneof(fc.integer(), fc.double(), fc.string(), fc.bigInt().map(String)),
    camera_motion: fc.oneof(fc.constantFrom("dolly_in", "static", "orbit"), fc.string()),
  },
  { requiredKeys: [] },
);

const anyBody = fc.oneof(
  nearlyValid.map((v) => JSON.stringify(v)),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
  fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b).toString("latin1")),
);

const contentType = fc.oneof(
  { arbitrary: fc.constantFrom("application/json", "application/json; charset=utf-8"), weight: 8 },
  { arbitrary: fc.constantFrom("text/plain", "application/x-www-form-urlencoded", "", "application/vnd.api+json"), weight: 2 },
);

describe("fuzzed bodies", () => {
  it("never answer 5xx on submit or sync run (1,000+ generated cases)", async () => {
    let cases = 0;
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(anyBody, contentType, fc.constantFrom("queue.fal.run", "fal.run"), async (body, type, host) => {
        cases++;
        const headers: Record<string, string> = { authorization: `Key ${svc.key}` };
        if (type) headers["content-type"] = type;
        const res = await fetch(`${svc.url}/${host}/${ENDPOINT}`, { method: "POST", headers, body });
        const text = await res.text();
        seen.set(res.status, (seen.get(res.status) ?? 0) + 1);
        if (res.status >= 500) throw new Error(`${res.status} for ${JSON.stringify(body).slice(0, 200)}: ${text.slice(0, 200)}`);
        if (res.status >= 400) expect(() => JSON.parse(text)).not.toThrow();
      }),
      { numRuns: 1100 },
    );
    expect(cases).toBeGreaterThanOrEqual(1000);
    const health = await fetch(`${svc.url}/health`);
    expect(health.status).toBe(200);
    console.log(`fuzz: ${cases} cases, statuses ${JSON.stringify(Object.fromEntries(seen))}`);
  });

  it("answers a body over the size limit with 413 JSON", async () => {
    const small = await startTestService({ config: { bodyLimitBytes: 1024 * 1024 } });
    try {
      const res = await fetch(`${small.url}/queue.fal.run/${ENDPOINT}`, {
        method: "POST",
        headers: { authorization: `Key ${small.key}`, "content-type": "application/json" },
        body: JSON.stringify({ prompt: "x".repeat(2 * 1024 * 1024) }),
      });
      expect(res.status).toBe(413);
      expect(await res.json()).toHaveProperty("detail");
    } finally {
      await small.close();
    }
  });
});
