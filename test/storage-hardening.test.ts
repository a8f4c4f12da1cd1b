// Hostile storage calls: malformed multipart part lists answer 400 (never 500 or a crash), a finalised
// file cannot be replaced (409), bad /api/usage dates are 422, the per-key quota answers 507/413, and
// work folders of attempts that no longer run are swept.
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sweepWorkDirs } from "../src/storage/retention.js";
import { startTestService, type TestService } from "./helpers/service.js";

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { STORAGE_QUOTA_BYTES_PER_KEY: String(64 * 1024), MIN_FREE_DISK_BYTES: "0" } });
});
afterAll(async () => {
  await svc?.close();
});

async function initiate(multipart: boolean): Promise<string> {
  const res = await fetch(`${svc.url}/rest.fal.ai/storage/upload/${multipart ? "initiate-multipart" : "initiate"}`, {
    method: "POST",
    headers: { authorization: `Key ${svc.key}`, "content-type": "application/json" },
    body: JSON.stringify({ content_type: "application/octet-stream", file_name: "x.bin" }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { upload_url: string }).upload_url;
}
const completeUrl = (u: string) => u.replace("?", "/complete?");
const partUrl = (u: string, n: number | string) => u.replace("?", `/${n}?`);

describe("multipart complete", () => {
  it("answers 400 naming the problem for malformed part lists, and the server stays up", async () => {
    const url = await initiate(true);
    const put = await fetch(partUrl(url, 1), { method: "PUT", body: "hello" });
    const { etag } = (await put.json()) as { etag: string };
    const cases: [unknown, RegExp][] = [
      [null, /object/],
      [{ parts: null }, /non-empty list/],
      [{ parts: [null] }, /parts\[0\]/],
      [{ parts: [{ partNumber: "1", etag }] }, /integer/],
      [{ parts: [{ partNumber: 2, etag }] }, /skips part 1/],
      [{ parts: [{ partNumber: 1, etag }, { partNumber: 1, etag }] }, /duplicate/],
      [{ parts: [{ partNumber: 1, etag: null }] }, /etag/],
      [{ parts: [{ partNumber: 1, etag: '"nope"' }] }, /does not match/],
      [{ parts: [{ partNumber: 1, etag }, { partNumber: 2, etag }] }, /Part 2 was not uploaded/],
    ];
    for (const [body, msg] of cases) {
      const res = await fetch(completeUrl(url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
      const text = await res.text();
      expect(res.status, text).toBe(400);
      expect(text).toMatch(msg);
    }
    // Completing an upload with no part on disk used to crash the process (unhandled stream error).
    const empty = await initiate(true);
    const res = await fetch(completeUrl(empty), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ parts: [{ partNumber: 1, etag: '"x"' }] }) });
    expect(res.status).toBe(400);
    await new Promise((r) => setTimeout(r, 200));
    expect((await fetch(`${svc.url}/health`)).status).toBe(200);
    const ok = await fetch(completeUrl(url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ parts: [{ partNumber: 1, etag }] }) });
    expect(ok.status).toBe(200);
    expect((await fetch(completeUrl(url), { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ parts: [{ partNumber: 1, etag }] }) })).status).toBe(409);
    expect((await fetch(partUrl(url, 1), { method: "PUT", body: "again" })).status).toBe(409);
  });
});

describe("finalise once", () => {
  it("a second PUT to a finalised file gets 409 and the served bytes stay the first upload's", async () => {
    const url = await initiate(false);
    const [a, b] = await Promise.all([fetch(url, { method: "PUT", body: "first-body" }), fetch(url, { method: "PUT", body: "second-body" })]);
    const statuses = [a.status, b.status].sort();
    expect(statuses).toEqual([200, 409]);
    const winner = a.status === 200 ? "first-body" : "second-body";
    const { file_url } = (await (a.status === 200 ? a : b).json()) as { file_url: string };
    const late = await fetch(url, { method: "PUT", body: "late-body" });
    expect(late.status).toBe(409);
    expect(await (await fetch(file_url)).text()).toBe(winner);
  });
});

describe("quota", () => {
  it("answers 413 for one file larger than the quota and 507 once the key's quota is used up", async () => {
    const big = await fetch(await initiate(false), { method: "PUT", body: new Uint8Array(65 * 1024) });
    expect(big.status).toBe(413);
    const fill = await fetch(await initiate(false), { method: "PUT", body: new Uint8Array(60 * 1024) });
    expect(fill.status).toBe(200);
    const over = await fetch(await initiate(false), { method: "PUT", body: new Uint8Array(10 * 1024) });
    expect(over.status).toBe(507);
    expect(await over.text()).toMatch(/quota/);
  });
});

describe("/api/usage", () => {
  it("answers 422 naming the field for a bad from or to", async () => {
    for (const [q, field] of [["from=yesterday", "from"], ["to=99999999999999999999", "to"], ["from=1&from=2", "from"], ["from=10&to=5", "to"]]) {
      const res = await fetch(`${svc.url}/api/usage?${q}`, { headers: { authorization: `Key ${svc.key}` } });
      expect(res.status, q).toBe(422);
      expect(((await res.json()) as { detail: { loc: string[] }[] }).detail[0].loc).toEqual(["query", field]);
    }
  });
});

describe("work folders", () => {
  it("removes folders of attempts that no longer run", async () => {
    const root = path.join(svc.dataDir, "work-test");
    fs.mkdirSync(path.join(root, "no-such-request-1"), { recursive: true });
    fs.writeFileSync(path.join(root, "no-such-request-1", "frame.png"), "x");
    expect(await sweepWorkDirs(svc.service.db, root)).toBe(1);
    expect(fs.readdirSync(root)).toEqual([]);
  });
});
