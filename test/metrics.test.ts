// /metrics (Prometheus text from a real service after a real job through @fal-ai/client, METRICS_TOKEN),
// /healthz and /readyz answers.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENDPOINT, falClient, smallInput } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

const TOKEN = "metrics-test-token";
let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { METRICS_TOKEN: TOKEN } });
});
afterAll(async () => {
  await svc?.close();
});

/** Parses Prometheus text: one entry per sample, labels as an object. */
function parse(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  const out: { name: string; labels: Record<string, string>; value: number }[] = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}

const sample = (s: ReturnType<typeof parse>, name: string, labels: Record<string, string> = {}) =>
  s.find((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))?.value;

describe("/metrics", () => {
  it("requires METRICS_TOKEN when set", async () => {
    expect((await fetch(`${svc.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${svc.url}/metrics`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
    const ok = await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(ok.status).toBe(200);
    expect(ok.headers.get("content-type")).toMatch(/text\/plain/);
  });

  it("counts a real job, its stages, the HTTP routes and the database gauges", async () => {
    const fal = falClient(svc.url, svc.key);
    const done = await fal.subscribe(ENDPOINT, { input: await smallInput(), pollInterval: 100 });
    expect(done.requestId).toBeTruthy();
    const res = await fetch(`${svc.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const s = parse(await res.text());
    expect(sample(s, "ltx_serve_jobs_finished_total", { engine: "preview", outcome: "succeeded" })).toBe(1);
    expect(sample(s, "ltx_serve_job_duration_seconds_count", { engine: "preview", outcome: "succeeded" })).toBe(1);
    expect(sample(s, "ltx_serve_job_queue_wait_seconds_count", { engine: "preview" })).toBe(1);
    expect(s.some((x) => x.name === "ltx_serve_engine_stage_duration_seconds_count" && x.labels.engine === "preview" && x.value >= 1)).toBe(true);
    expect(sample(s, "ltx_serve_requests", { state: "succeeded" })).toBe(1);
    expect(sample(s, "ltx_serve_queue_depth", { endpoint: ENDPOINT, engine: "preview" })).toBe(0);
    expect(sample(s, "ltx_serve_queue_oldest_age_seconds", { endpoint: ENDPOINT })).toBe(0);
    expect(sample(s, "ltx_serve_worker_ready", { engine: "preview" })).toBe(1);
    expect(sample(s, "ltx_serve_worker_slots_free", { engine: "preview" })).toBe(1);
    expect(sample(s, "ltx_serve_storage_bytes", { state: "ready" })).toBeGreaterThan(0);
    expect(sample(s, "ltx_serve_webhook_deliveries", { state: "failed" })).toBe(0);
    // The route pattern, not the request's URL (no request id in any label).
    const http = s.filter((x) => x.name === "ltx_serve_http_request_duration_seconds_count");
    expect(http.some((x) => x.labels.method === "POST" && x.labels.status === "200" && x.value >= 1)).toBe(true);
    expect(http.some((x) => x.labels.route?.includes(done.requestId))).toBe(false);
    expect(http.some((x) => x.labels.route === "/metrics" && x.labels.status === "401")).toBe(true);
    expect(s.some((x) => x.name.startsWith("nodejs_eventloop_lag"))).toBe(true);
  }, 60_000);
});

describe("/healthz and /readyz", () => {
  it("answer without a key, report slots, and give 4xx for bad query strings", async () => {
    const h = await fetch(`${svc.url}/healthz?x=%zz&x=1`);
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ ok: true });
    const r = await fetch(`${svc.url}/readyz`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as any;
    expect(body).toMatchObject({ ready: true, checks: { database: { ok: true }, storage: { ok: true }, engines: { ok: true }, slots: { ok: true } } });
    expect(body.checks.slots.engines).toContainEqual({ engine: "preview", slots: 1, busy: 0, free: 1 });
    expect((await fetch(`${svc.url}/readyz?slots=1`)).status).toBe(200);
    for (const q of ["slots=2", "slots=1&slots=1", "slots=%zz"]) {
      const bad = await fetch(`${svc.url}/readyz?${q}`);
      expect(bad.status, q).toBeGreaterThanOrEqual(400);
      expect(bad.status, q).toBeLessThan(500);
    }
  });
});
