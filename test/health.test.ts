// /health reports the database's real state; /readyz says whether this process can take work.
import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startTestService, type TestService } from "./helpers/service.js";

let svc: TestService | undefined;
afterEach(async () => {
  await svc?.close();
  svc = undefined;
});

async function get(url: string) {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, any> };
}

describe("/health and /readyz", () => {
  it("answer without a key and say all is well on a healthy service", async () => {
    svc = await startTestService();
    const health = await get(`${svc.url}/health`);
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: "ok", database: { ok: true } });
    const ready = await get(`${svc.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(ready.body).toMatchObject({ ready: true, checks: { database: { ok: true }, storage: { ok: true }, engines: { ok: true } } });
  });

  it("report a database that cannot be read, without a 500", async () => {
    svc = await startTestService();
    svc.service.db.close();
    const health = await get(`${svc.url}/health`);
    expect(health.status).toBe(503);
    expect(health.body.status).toBe("degraded");
    expect(health.body.database.ok).toBe(false);
    expect(health.body.database.error).toMatch(/database/i);
    const ready = await get(`${svc.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({ ready: false, checks: { database: { ok: false } } });
  });

  it("/readyz reports storage that cannot be written", async () => {
    svc = await startTestService();
    const files = path.join(svc.dataDir, "files");
    fs.rmSync(files, { recursive: true, force: true });
    fs.writeFileSync(files, "not a folder");
    const ready = await get(`${svc.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body.ready).toBe(false);
    expect(ready.body.checks.storage.ok).toBe(false);
    expect(ready.body.checks.database.ok).toBe(true);
    expect(JSON.stringify(ready.body)).not.toContain(svc.dataDir);
  });
});
