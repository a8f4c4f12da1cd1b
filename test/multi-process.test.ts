// Several processes on one DATA_DIR: a write that checks before it writes (admission, completion)
// holds the database's write lock from its first read, waits for another process's lock instead of
// failing, and two real servers taking concurrent capped submits and finishing renders side by side
// keep the spend cap and every video.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDb, retryWhileBusy } from "../src/db.js";
import { ENDPOINTS } from "../src/endpoints.js";
import { probeVideo } from "../src/media/probe.js";
import { createKeyStore } from "../src/keys.js";
import { createRequestStore } from "../src/queue/store.js";
import { ENDPOINT, smallInput } from "./helpers/fal.js";
import { startServerProcess } from "./helpers/server-process.js";
import { freePort } from "./helpers/service.js";

const KEY = "multi-process-key";
const APP = "fal-ai/ltx-2.3";
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-multi-"));
  dirs.push(d);
  return d;
}

/** Another process that takes the database's write lock, says "locked", holds it for `ms`, then commits. */
async function holdWriteLock(dataDir: string, ms: number): Promise<{ done: Promise<void> }> {
  const script = `
    const Database = require("better-sqlite3");
    const db = new Database(process.argv[1] + "/ltx-serve.sqlite");
    db.pragma("busy_timeout = 5000");
    db.exec("BEGIN IMMEDIATE");
    db.prepare("UPDATE requests SET priority = priority WHERE 0").run();
    process.stdout.write("locked\\n");
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Number(process.argv[2]));
    db.exec("COMMIT");
  `;
  const child = spawn(process.execPath, ["-e", script, dataDir, String(ms)], { stdio: ["ignore", "pipe", "inherit"] });
  children.push(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (d: Buffer) => d.toString().includes("locked") && resolve());
    child.once("exit", (code) => reject(new Error(`lock holder exited early (${code})`)));
  });
  return { done: new Promise((resolve) => child.once("exit", () => resolve())) };
}

describe("write transactions across processes", () => {
  it("records a finished render while another process holds the write lock, instead of failing with SQLITE_BUSY", async () => {
    const dataDir = tempDir();
    const db = openDb(dataDir);
    const store = createRequestStore({ db });
    const endpoint = ENDPOINTS[0];
    const input = endpoint.schema.parse({ image_url: "https://example.com/a.png", prompt: "p" });
    const r = store.create({ app: endpoint.app, endpoint: endpoint.id, keyId: "k", priority: 0, input, headers: {}, webhookUrl: null, seed: 1, startDeadlineAt: null });
    expect(store.claimNext([endpoint.id], "owner", 60_000)?.id).toBe(r.id);
    const lock = await holdWriteLock(dataDir, 400);
    const recorded = store.succeed(r.id, "owner", {
      result: { video: {} },
      inferenceTime: 1,
      metrics: {},
      model: "m",
      outputFileId: "f",
      thumbnailFileId: null,
      charge: { resolution: "1080p", seconds: 6, costUsd: 0.36 },
    });
    await lock.done;
    expect(recorded).toBe(true);
    expect(store.get(r.id)?.state).toBe("succeeded");
    expect(store.usage("k", 0, Date.now() + 1).costUsd).toBe(0.36);
    db.close();
  });

  it("keeps retrying a completion while another process holds the lock past the busy timeout", async () => {
    const dataDir = tempDir();
    const db = openDb(dataDir, { busyTimeoutMs: 50 });
    const store = createRequestStore({ db });
    const endpoint = ENDPOINTS[0];
    const input = endpoint.schema.parse({ image_url: "https://example.com/a.png", prompt: "p" });
    const r = store.create({ app: endpoint.app, endpoint: endpoint.id, keyId: "k", priority: 0, input, headers: {}, webhookUrl: null, seed: 1, startDeadlineAt: null });
    store.claimNext([endpoint.id], "owner", 60_000);
    const lock = await holdWriteLock(dataDir, 500);
    let busy = 0;
    const completion = { result: { video: {} }, inferenceTime: 1, metrics: {}, model: "m", outputFileId: "f", thumbnailFileId: null, charge: { resolution: "1080p", seconds: 6, costUsd: 0.36 } };
    const recorded = await retryWhileBusy(() => store.succeed(r.id, "owner", completion), { delayMs: 50, onBusy: () => busy++ });
    await lock.done;
    expect(busy).toBeGreaterThan(0);
    expect(recorded).toBe(true);
    expect(store.get(r.id)?.state).toBe("succeeded");
    db.close();
  });
});

/** Starts `ltx-serve serve` as its own process on this file's key. */
function startServer(dataDir: string, port: number): Promise<ChildProcess> {
  return startServerProcess(children, { dataDir, port, key: KEY, env: { MAX_QUEUED_PER_KEY: "0" } });
}

describe("two servers on one DATA_DIR", () => {
  it("keep a key's spend cap under concurrent submits to both and lose no finished video", { timeout: 240_000 }, async () => {
    const dataDir = tempDir();
    const setup = openDb(dataDir);
    const capped = createKeyStore({ db: setup, envKeys: [] }).create("capped", 1.0).key;
    setup.close();
    const ports = [await freePort(), await freePort()];
    await Promise.all(ports.map((p) => startServer(dataDir, p)));
    const bases = ports.map((p) => `http://127.0.0.1:${p}`);
    const submit = async (base: string, key: string, input: unknown) => {
      const res = await fetch(`${base}/queue.fal.run/${ENDPOINT}`, {
        method: "POST",
        headers: { authorization: `Key ${key}`, "content-type": "application/json" },
        body: JSON.stringify(input),
      });
      return { status: res.status, id: res.ok ? ((await res.json()) as { request_id: string }).request_id : null };
    };

    // Each small request costs $0.36: at most two fit under the $1.00 cap, whichever server takes them.
    const inputs = await Promise.all(Array.from({ length: 16 }, () => smallInput()));
    const uncapped = await Promise.all(Array.from({ length: 4 }, () => smallInput()));
    const [cappedAnswers, plainAnswers] = await Promise.all([
      Promise.all(inputs.map((input, i) => submit(bases[i % 2], capped, input))),
      Promise.all(uncapped.map((input, i) => submit(bases[i % 2], KEY, input))),
    ]);
    const accepted = cappedAnswers.filter((a) => a.status === 200);
    expect(cappedAnswers.filter((a) => a.status !== 200 && a.status !== 402)).toEqual([]);
    expect(accepted.length).toBeLessThanOrEqual(2);
    expect(plainAnswers.map((a) => a.status)).toEqual([200, 200, 200, 200]);

    const all = [...accepted, ...plainAnswers].map((a) => ({ id: a.id!, key: a.id && accepted.includes(a) ? capped : KEY }));
    for (const { id, key } of all) {
      let body: { status: string; error?: string } = { status: "" };
      for (let i = 0; i < 2400 && body.status !== "COMPLETED"; i++) {
        body = (await (await fetch(`${bases[i % 2]}/queue.fal.run/${APP}/requests/${id}/status`, { headers: { authorization: `Key ${key}` } })).json()) as typeof body;
        if (body.status !== "COMPLETED") await new Promise((r) => setTimeout(r, 100));
      }
      expect(body, `request ${id}`).toEqual(expect.objectContaining({ status: "COMPLETED" }));
      expect(body.error, `request ${id}`).toBeUndefined();
      const result = await fetch(`${bases[0]}/queue.fal.run/${APP}/requests/${id}`, { headers: { authorization: `Key ${key}` } });
      expect(result.status).toBe(200);
      const { video } = (await result.json()) as { video: { url: string } };
      const file = path.join(dataDir, "files", new URL(video.url).pathname.split("/")[2]);
      const mp4 = fs.readdirSync(file).find((n) => n.endsWith(".mp4"))!;
      expect((await probeVideo(path.join(file, mp4))).video.width).toBeGreaterThan(0);
    }

    const usage = (await (await fetch(`${bases[1]}/api/usage`, { headers: { authorization: `Key ${capped}` } })).json()) as { cost_usd: number };
    expect(usage.cost_usd).toBeLessThanOrEqual(1.0);
    expect(usage.cost_usd).toBeCloseTo(accepted.length * 0.36, 6);
  });
});
