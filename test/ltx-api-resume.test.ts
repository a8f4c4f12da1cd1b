// Hosted jobs survive restarts: the service runs as its own process with the ltx-api engine pointed at
// the TEST DOUBLE of Lightricks' hosted API; it is killed (kill -9, then SIGTERM) while it polls, and the
// next process resumes polling the same hosted jobs instead of submitting (and paying for) new ones.
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDb } from "../src/db.js";
import { startLtxApiDouble, type LtxApiDouble } from "./doubles/ltx-hosted-api.js";
import { ENDPOINT, falClient, smallInput } from "./helpers/fal.js";
import { startServerProcess, statusOf, waitCompleted } from "./helpers/server-process.js";
import { freePort } from "./helpers/service.js";

const KEY = "ltx-api-resume-key";
const APP = "fal-ai/ltx-2.3";
const children: ChildProcess[] = [];
let double: LtxApiDouble;

beforeAll(async () => {
  // Each job stays `processing` for 20 polls (4 s at 200 ms), long enough to kill the server mid-poll.
  double = await startLtxApiDouble({ pendingPolls: 1, processingPolls: 20 });
});
afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  await double?.close();
});

function startServer(dataDir: string, port: number): Promise<ChildProcess> {
  return startServerProcess(children, {
    dataDir,
    port,
    key: KEY,
    env: { LTX_API_KEY: double.apiKey, LTX_API_URL: double.url, LTX_API_POLL_INTERVAL_MS: "200", LTX_API_CONCURRENCY: "2" },
  });
}

function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill(signal);
  });
}


/** Hosted job ids that were submitted since `since` and polled at least `polls` times each. */
async function waitPolled(since: number, jobs: number, polls: number): Promise<string[]> {
  for (let i = 0; i < 300; i++) {
    const submitted = double.callsTo("submit").filter((c) => c.at >= since && c.status === 202);
    const ids = [...double.jobs.values()].filter((j) => Date.parse(j.createdAt) >= since - 1000).map((j) => j.id);
    const counts = ids.map((id) => double.callsTo("status").filter((c) => c.path.endsWith(`/${id}`)).length);
    if (submitted.length >= jobs && ids.length >= jobs && counts.every((n) => n >= polls)) return ids;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("the hosted jobs were never polled");
}

describe("ltx-api engine across restarts", () => {
  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    it(`after ${signal === "SIGKILL" ? "kill -9" : "SIGTERM"} mid-poll, the next process resumes each hosted job: one submission per request`, async () => {
      const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-api-resume-"));
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      const since = Date.now();
      const submitsBefore = double.callsTo("submit").length;
      const uploadsBefore = double.callsTo("upload-slot").length;
      let server = await startServer(dataDir, port);
      const fal = falClient(base, KEY);
      const ids: string[] = [];
      for (let i = 0; i < 2; i++) ids.push((await fal.queue.submit(ENDPOINT, { input: await smallInput() })).request_id);

      const hostedIds = await waitPolled(since, 2, 2);
      await stop(server, signal);
      // Both hosted jobs were still running on the hosted side when the server went away.
      for (const h of hostedIds) expect(double.jobs.get(h)?.status).toBe("processing");
      const db = openDb(dataDir);
      const saved = (db.prepare("SELECT engine_state_json FROM requests ORDER BY seq").all() as { engine_state_json: string | null }[]).map(
        (r) => (r.engine_state_json ? (JSON.parse(r.engine_state_json) as { hostedJobId: string }).hostedJobId : null),
      );
      db.close();
      expect([...saved].sort()).toEqual([...hostedIds].sort());

      server = await startServer(dataDir, port);
      const done = await waitCompleted(base, APP, KEY, ids, 120_000);
      for (const id of ids) {
        const out = await fal.queue.result(ENDPOINT, { requestId: id });
        expect((out.data as { video: { url: string } }).video.url).toContain("/files/");
      }

      // Exactly one hosted submission (and one image upload) per request, none after the restart.
      expect(double.callsTo("submit").length - submitsBefore).toBe(2);
      expect(double.callsTo("upload-slot").length - uploadsBefore).toBe(2);
      for (const [id, s] of done) {
        const messages = (s.logs ?? []).map((l) => l.message);
        const started = messages.filter((m) => m.startsWith("Started on engine ltx-api"));
        expect(started, id).toHaveLength(2);
        const resumed = messages.find((m) => m.startsWith("Resuming hosted LTX job "));
        expect(resumed, id).toBeDefined();
        expect(hostedIds.some((h) => resumed!.includes(h))).toBe(true);
      }
      await stop(server, "SIGKILL");
      fs.rmSync(dataDir, { recursive: true, force: true });
    }, 180_000);
  }

  it("a text-to-video job killed mid-poll is resumed on /v2/text-to-video, not submitted again", async () => {
    const T2V: string = "fal-ai/ltx-2.3/text-to-video";
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-api-resume-t2v-"));
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const since = Date.now();
    const submitsBefore = double.callsTo("submit").length;
    let server = await startServer(dataDir, port);
    const fal = falClient(base, KEY);
    const id = (await fal.queue.submit(T2V, { input: { prompt: "a quiet harbour", duration: 6, fps: 24, generate_audio: false } })).request_id;
    const [hostedId] = await waitPolled(since, 1, 2);
    await stop(server, "SIGKILL");
    expect(double.jobs.get(hostedId)).toMatchObject({ endpoint: "text-to-video", status: "processing" });

    const killedAt = double.calls.length;
    server = await startServer(dataDir, port);
    const done = await waitCompleted(base, APP, KEY, [id], 120_000);
    expect(((await fal.queue.result(T2V, { requestId: id })).data as { video: { url: string } }).video.url).toContain("/files/");
    expect(double.callsTo("submit").length - submitsBefore).toBe(1);
    const polls = double.calls.slice(killedAt).filter((c) => c.route === "status");
    expect(polls.length).toBeGreaterThan(0);
    expect(polls.every((c) => c.path === `/v2/text-to-video/${hostedId}`)).toBe(true);
    const messages = (done.get(id)?.logs ?? []).map((l) => l.message);
    expect(messages.some((m) => m.startsWith(`Resuming hosted LTX job ${hostedId}`))).toBe(true);
    await stop(server, "SIGKILL");
    fs.rmSync(dataDir, { recursive: true, force: true });
  }, 180_000);
});
