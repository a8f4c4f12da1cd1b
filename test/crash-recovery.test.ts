// Crash recovery with real processes: kill -9 of the server with 10 requests queued and running,
// kill -9 of a job's engine process, and a request that kills its runner twice.
import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openDb } from "../src/db.js";
import { ENDPOINT, falClient, smallInput } from "./helpers/fal.js";
import { startServerProcess, statusOf, waitCompleted } from "./helpers/server-process.js";
import { freePort } from "./helpers/service.js";

const KEY = "crash-test-key";
const APP = "fal-ai/ltx-2.3";
const children: ChildProcess[] = [];

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

/** Starts `ltx-serve serve` as its own process on this file's key. */
function startServer(dataDir: string, port: number, env: Record<string, string> = {}): Promise<ChildProcess> {
  return startServerProcess(children, { dataDir, port, key: KEY, env });
}

function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}

/** Direct children of a server whose command line names the preview engine (its job processes). */
function engineProcesses(pid: number): number[] {
  let pids: number[];
  try {
    pids = execFileSync("pgrep", ["-P", String(pid)], { encoding: "utf8" }).split("\n").filter(Boolean).map(Number);
  } catch {
    return [];
  }
  return pids.filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, "utf8").includes("engines/preview");
    } catch {
      return false;
    }
  });
}


/** Requests in flight at the kill -9: more than the two slots, so some are queued and some running. */
const REQUESTS = 10;

describe("crash recovery", () => {
  it(`completes all ${REQUESTS} requests after kill -9 of the server, none lost and none charged twice`, async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-crash-"));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let server = await startServer(dataDir, port, { PREVIEW_CONCURRENCY: "2" });
    const fal = falClient(base, KEY);
    const ids: string[] = [];
    for (let i = 0; i < REQUESTS; i++) ids.push((await fal.queue.submit(ENDPOINT, { input: await smallInput({ seed: 1000 + i }) })).request_id);
    // Let some run (and maybe finish) before the crash.
    for (let i = 0; i < 100; i++) {
      const states = await Promise.all(ids.slice(0, 4).map((id) => statusOf(base, APP, KEY, id)));
      if (states.filter((s) => s.status !== "IN_QUEUE").length >= 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const runningBefore = (await Promise.all(ids.map((id) => statusOf(base, APP, KEY, id)))).filter((s) => s.status === "IN_PROGRESS").length;
    expect(runningBefore).toBeGreaterThan(0);
    await kill9(server);

    server = await startServer(dataDir, port, { PREVIEW_CONCURRENCY: "2" });
    const results = await waitCompleted(base, APP, KEY, ids, 240_000);
    expect([...results.values()].filter((s) => s.error)).toEqual([]);
    for (const id of ids) {
      const out = await fal.queue.result(ENDPOINT, { requestId: id });
      expect((out.data as { video: { url: string } }).video.url).toContain("/files/");
    }
    // Charged once: the key's total is exactly REQUESTS charges of one 6 s 1080p clip, both as the usage
    // route reports it and as the requests' own costs add up.
    const price = 6 * 0.06;
    const usage = (await (await fetch(`${base}/api/usage`, { headers: { authorization: `Key ${KEY}` } })).json()) as { requests: number; cost_usd: number };
    expect(usage.requests).toBe(REQUESTS);
    expect(usage.cost_usd).toBeCloseTo(REQUESTS * price, 6);
    await kill9(server);
    const db = openDb(dataDir);
    const costs = db.prepare("SELECT COUNT(*) AS n, SUM(cost_usd) AS total FROM requests WHERE state = 'succeeded'").get() as { n: number; total: number };
    // Each request completed exactly once (a second completion would log a second line; request_logs
    // has no key that prevents it), and its one charge belongs to that completion.
    const completions = db
      .prepare("SELECT request_id, COUNT(*) AS n FROM request_logs WHERE message LIKE 'Completed in %' GROUP BY request_id")
      .all() as { request_id: string; n: number }[];
    const matched = db
      .prepare("SELECT COUNT(*) AS n FROM usage u JOIN requests r ON r.id = u.request_id WHERE u.charged_at = r.finished_at AND u.cost_usd = r.cost_usd")
      .get() as { n: number };
    db.close();
    expect(costs.n).toBe(REQUESTS);
    expect(costs.total).toBeCloseTo(usage.cost_usd, 6);
    expect(completions.map((c) => c.request_id).sort()).toEqual([...ids].sort());
    expect(completions.filter((c) => c.n !== 1)).toEqual([]);
    expect(matched.n).toBe(REQUESTS);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 900_000);

  it("reruns a job whose engine process was killed, and fails one that kills its runner twice", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-crash-job-"));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const server = await startServer(dataDir, port);
    const fal = falClient(base, KEY);

    const killEngineOnce = async (id: string) => {
      for (const by = Date.now() + 90_000; Date.now() < by; ) {
        if ((await statusOf(base, APP, KEY, id)).status === "IN_PROGRESS") {
          const pids = engineProcesses(server.pid!);
          if (pids.length) {
            for (const p of pids) process.kill(p, "SIGKILL");
            return;
          }
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error("job never started");
    };

    const once = (await fal.queue.submit(ENDPOINT, { input: await smallInput({ seed: 7, duration: 10 }) })).request_id;
    await killEngineOnce(once);
    const [recovered] = (await waitCompleted(base, APP, KEY, [once], 120_000)).values();
    expect(recovered.error).toBeUndefined();

    const twice = (await fal.queue.submit(ENDPOINT, { input: await smallInput({ seed: 8, duration: 10 }) })).request_id;
    await killEngineOnce(twice);
    // Wait (up to 90 s, the machine may be busy) for the second attempt to start, then kill it again.
    const attempt2By = Date.now() + 90_000;
    while (!((await statusOf(base, APP, KEY, twice)).logs ?? []).some((l) => /attempt 2\)/.test(l.message))) {
      if (Date.now() > attempt2By) throw new Error("the second attempt never started");
      await new Promise((r) => setTimeout(r, 50));
    }
    await killEngineOnce(twice);
    const [failed] = (await waitCompleted(base, APP, KEY, [twice], 120_000)).values();
    expect(failed.error).toMatch(/runner|process/i);
    expect(failed.error_type).toBe("runner_disconnected");
    await kill9(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 600_000);
  it("on SIGTERM stops taking work, hands the running request back and exits; the next start completes it", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-sigterm-"));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    let server = await startServer(dataDir, port);
    const fal = falClient(base, KEY);
    const id = (await fal.queue.submit(ENDPOINT, { input: await smallInput({ duration: 10 }) })).request_id;
    let before = "";
    for (let i = 0; i < 600 && before !== "IN_PROGRESS"; i++) {
      before = (await statusOf(base, APP, KEY, id)).status;
      if (before !== "IN_PROGRESS") await new Promise((r) => setTimeout(r, 50));
    }
    // Only a job that is running can be handed back.
    expect(before).toBe("IN_PROGRESS");
    const exited = new Promise<number | null>((resolve) => server.once("exit", (code) => resolve(code)));
    server.kill("SIGTERM");
    expect(await exited).toBe(0);
    const db = openDb(dataDir);
    const row = db.prepare("SELECT state, attempts FROM requests WHERE id = ?").get(id) as { state: string; attempts: number };
    const logs = (db.prepare("SELECT message FROM request_logs WHERE request_id = ? ORDER BY seq").all(id) as { message: string }[]).map((l) => l.message);
    db.close();
    expect(row).toEqual({ state: "queued", attempts: 1 });
    expect(logs).toContain("Server shutting down; request returned to the queue");
    server = await startServer(dataDir, port);
    const [done] = (await waitCompleted(base, APP, KEY, [id], 120_000)).values();
    expect(done.error).toBeUndefined();
    const after = (await (await fetch(`${base}/queue.fal.run/${APP}/requests/${id}/status?logs=1`, { headers: { authorization: `Key ${KEY}` } })).json()) as {
      logs: { message: string }[];
    };
    expect(after.logs.map((l) => l.message).filter((m) => m.startsWith("Started on engine"))).toEqual([
      "Started on engine preview (attempt 1)",
      "Started on engine preview (attempt 2)",
    ]);
    await kill9(server);
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 300_000);
});
