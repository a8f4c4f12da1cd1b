// The HTTP surface without the client: auth, isolation between keys, status codes, CORS, the proxy
// route's checks, body-less requests with a JSON content type, uploads and ranged file reads.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createFalClient } from "@fal-ai/client";
import { ENDPOINT, smallInput } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

let svc: TestService;
let otherKey: string;
const APP = "fal-ai/ltx-2.3";

beforeAll(async () => {
  svc = await startTestService();
  otherKey = svc.service.keys.create("other").key;
});
afterAll(async () => {
  await svc?.close();
});

const auth = (key = svc.key) => ({ authorization: `Key ${key}`, "content-type": "application/json" });

async function submit(input: Record<string, unknown>, key = svc.key) {
  const res = await fetch(`${svc.url}/queue.fal.run/${ENDPOINT}`, { method: "POST", headers: auth(key), body: JSON.stringify(input) });
  return { res, body: (await res.json()) as Record<string, unknown> };
}

async function waitDone(id: string, key = svc.key) {
  for (let i = 0; i < 600; i++) {
    const res = await fetch(`${svc.url}/queue.fal.run/${APP}/requests/${id}/status`, { headers: auth(key) });
    const body = (await res.json()) as { status: string };
    if (body.status === "COMPLETED") return { res, body };
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("request did not complete");
}

describe("authentication and isolation", () => {
  it("answers 401 with JSON for a missing or wrong key", async () => {
    const none = await fetch(`${svc.url}/queue.fal.run/${ENDPOINT}`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    expect(none.status).toBe(401);
    expect(await none.json()).toHaveProperty("detail");
    const wrong = await fetch(`${svc.url}/queue.fal.run/${APP}/requests/x/status`, { headers: auth("nope") });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get("content-type")).toMatch(/application\/json/);
  });

  it("hides one key's requests from another key (404)", async () => {
    const { body } = await submit(await smallInput());
    const id = body.request_id as string;
    for (const path of [`/status`, ``, `/status/stream`]) {
      const res = await fetch(`${svc.url}/queue.fal.run/${APP}/requests/${id}${path}`, { headers: auth(otherKey) });
      expect(res.status).toBe(404);
    }
    const cancel = await fetch(`${svc.url}/queue.fal.run/${APP}/requests/${id}/cancel`, { method: "PUT", headers: auth(otherKey) });
    expect(cancel.status).toBe(404);
    await waitDone(id);
  });
});

describe("queue wire format", () => {
  it("answers submit 200 with absolute URLs on this server, status 202 then 200, and result 400 before completion", async () => {
    const { res, body } = await submit(await smallInput());
    expect(res.status).toBe(200);
    const id = body.request_id as string;
    expect(res.headers.get("x-fal-request-id")).toBe(id);
    expect(body).toMatchObject({
      status: "IN_QUEUE",
      response_url: `${svc.url}/queue.fal.run/${APP}/requests/${id}`,
      status_url: `${svc.url}/queue.fal.run/${APP}/requests/${id}/status`,
      cancel_url: `${svc.url}/queue.fal.run/${APP}/requests/${id}/cancel`,
    });
    expect(typeof body.queue_position).toBe("number");
    const early = await fetch(body.status_url as string, { headers: auth() });
    const earlyBody = (await early.json()) as { status: string };
    if (earlyBody.status !== "COMPLETED") {
      expect(early.status).toBe(202);
      const result = await fetch(body.response_url as string, { headers: auth() });
      expect(result.status).toBe(400);
      expect(result.headers.get("x-fal-request-id")).toBe(id);
    }
    const done = await waitDone(id);
    expect(done.res.status).toBe(200);
    expect(done.body).toMatchObject({ status: "COMPLETED", logs: null, metrics: { inference_time: expect.any(Number) } });
  });

  it("accepts GET and body-less PUT that carry Content-Type: application/json", async () => {
    const res = await fetch(`${svc.url}/queue.fal.run/${APP}/requests/00000000-0000-0000-0000-000000000000/cancel`, {
      method: "PUT",
      headers: auth(),
      body: "",
    });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ status: "NOT_FOUND" });
  });

  it("answers an unknown id with 404 JSON and an unknown endpoint with 404", async () => {
    const res = await fetch(`${svc.url}/queue.fal.run/${APP}/requests/nope`, { headers: auth() });
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ detail: "Request not found" });
    const ep = await fetch(`${svc.url}/queue.fal.run/fal-ai/other-model`, { method: "POST", headers: auth(), body: "{}" });
    expect(ep.status).toBe(404);
  });

  it("returns 422 naming each bad field, for numbers given as strings too", async () => {
    const { res, body } = await submit({ image_url: "ftp://x", prompt: "", duration: "7", fps: "25", resolution: "720p" });
    expect(res.status).toBe(422);
    const fields = (body.detail as { loc: string[] }[]).map((d) => d.loc.at(-1)).sort();
    expect(fields).toEqual(["duration", "image_url", "prompt", "resolution"]);
    const ok = await submit(await smallInput({ duration: "8", fps: "25" }));
    expect(ok.res.status).toBe(200);
    await waitDone(ok.body.request_id as string);
  });

  it("answers invalid JSON, deep nesting and a wrong content type with 4xx JSON, never 5xx", async () => {
    const bad = await fetch(`${svc.url}/queue.fal.run/${ENDPOINT}`, { method: "POST", headers: auth(), body: "{nope" });
    expect(bad.status).toBe(422);
    const deep = await fetch(`${svc.url}/queue.fal.run/${ENDPOINT}`, { method: "POST", headers: auth(), body: "[".repeat(5000) + "]".repeat(5000) });
    expect(deep.status).toBe(422);
    const text = await fetch(`${svc.url}/queue.fal.run/${ENDPOINT}`, { method: "POST", headers: { ...auth(), "content-type": "text/plain" }, body: "hi" });
    expect(text.status).toBe(415);
    expect(await text.json()).toHaveProperty("detail");
  });
});

describe("CORS and the proxy route", () => {
  it("answers preflight with the allowed methods, echoed headers and exposed request id", async () => {
    const res = await fetch(`${svc.url}/api/fal/proxy`, {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "PUT", "access-control-request-headers": "authorization,content-type,x-fal-target-url,x-fal-custom" },
    });
    expect(res.status).toBeLessThan(300);
    expect(res.headers.get("access-control-allow-origin")).toBe("*");
    expect(res.headers.get("access-control-allow-methods")).toMatch(/PUT/);
    expect(res.headers.get("access-control-allow-headers")).toMatch(/x-fal-custom/);
    const get = await fetch(`${svc.url}/health`, { headers: { origin: "https://app.example" } });
    expect(get.headers.get("access-control-expose-headers")).toMatch(/x-fal-request-id/);
  });

  it("refuses targets outside fal's hosts with 400", async () => {
    const res = await fetch(`${svc.url}/api/fal/proxy`, { method: "POST", headers: { ...auth(), "x-fal-target-url": "https://evil.example/x" }, body: "{}" });
    expect(res.status).toBe(400);
    const missing = await fetch(`${svc.url}/api/fal/proxy`, { method: "GET", headers: auth() });
    expect(missing.status).toBe(400);
  });
});

describe("storage", () => {
  it("uploads above 90 MiB in parts through the official client and serves byte ranges", async () => {
    const client = createFalClient({
      credentials: svc.key,
      requestMiddleware: async (req) => {
        const u = new URL(req.url);
        return /fal\.(run|ai)$/.test(u.host) ? { ...req, url: `${svc.url}/${u.host}${u.pathname}${u.search}` } : req;
      },
    });
    const size = 91 * 1024 * 1024;
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i += 4096) bytes[i] = (i / 4096) & 0xff;
    const url = await client.storage.upload(new Blob([bytes], { type: "application/octet-stream" }));
    const head = await fetch(url, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(size));
    const ranged = await fetch(url, { headers: { range: "bytes=40960-40970" } });
    expect(ranged.status).toBe(206);
    const part = new Uint8Array(await ranged.arrayBuffer());
    expect(part.length).toBe(11);
    expect(part[0]).toBe(10);
    expect(ranged.headers.get("content-range")).toBe(`bytes 40960-40970/${size}`);
  });

  it("refuses an upload URL without its token", async () => {
    const init = await fetch(`${svc.url}/rest.fal.ai/storage/upload/initiate?storage_type=fal-cdn-v3`, {
      method: "POST",
      headers: auth(),
      body: JSON.stringify({ content_type: "image/png", file_name: "a.png" }),
    });
    const { upload_url } = (await init.json()) as { upload_url: string };
    const bare = upload_url.split("?")[0];
    expect((await fetch(bare, { method: "PUT", body: "x" })).status).toBe(404);
    expect((await fetch(`${bare}?token=wrong`, { method: "PUT", body: "x" })).status).toBe(404);
    expect((await fetch(upload_url, { method: "PUT", body: "x", headers: { "content-type": "image/png" } })).status).toBe(200);
  });
});

describe("service routes", () => {
  it("serves an OpenAPI 3.1 document generated from the input schema", async () => {
    const doc = (await (await fetch(`${svc.url}/openapi.json`)).json()) as { openapi: string; components: { schemas: Record<string, { properties: Record<string, { default?: unknown }> }> } };
    expect(doc.openapi).toBe("3.1.0");
    const input = Object.values(doc.components.schemas).find((s) => s.properties?.image_url);
    expect(input?.properties.duration.default).toBe(6);
    expect(input?.properties.fps.default).toBe(25);
  });

  it("lists this key's requests and usage charged at the reference rates", async () => {
    const { body } = await submit(await smallInput({ duration: 8, fps: 24 }));
    await waitDone(body.request_id as string);
    const list = (await (await fetch(`${svc.url}/api/requests`, { headers: auth() })).json()) as { requests: { request_id: string; cost_usd: number }[] };
    const mine = list.requests.find((r) => r.request_id === body.request_id);
    expect(mine?.cost_usd).toBeCloseTo(0.48, 6);
    const other = (await (await fetch(`${svc.url}/api/requests`, { headers: auth(otherKey) })).json()) as { requests: unknown[] };
    expect(other.requests).toHaveLength(0);
    const usage = (await (await fetch(`${svc.url}/api/usage`, { headers: auth() })).json()) as { cost_usd: number; requests: number };
    expect(usage.requests).toBeGreaterThanOrEqual(1);
  });
});
