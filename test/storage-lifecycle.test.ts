// Stored files over time: outputs expire by the lifecycle preference and are deleted, and a failure
// to store the output ends the request with an error and no file.
import fs from "node:fs";
import path from "node:path";
import { ApiError } from "@fal-ai/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENDPOINT, falClient, smallInput } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { RETENTION_SWEEP_MS: "200" } });
});
afterAll(async () => {
  await svc?.close();
});

describe("retention", () => {
  it("deletes an output when its lifecycle preference runs out: the file answers 410, the result says so", async () => {
    const fal = falClient(svc.url, svc.key);
    // storageSettings makes the client send x-fal-object-lifecycle-preference {"expiration_duration_seconds": 2}.
    const result = await fal.subscribe(ENDPOINT, { input: await smallInput({ seed: 1 }), storageSettings: { expiresIn: 2 }, pollInterval: 100 });
    const url = (result.data as { video: { url: string } }).video.url;
    expect((await fetch(url, { method: "HEAD" })).status).toBe(200);
    const onDisk = path.join(svc.dataDir, "files", new URL(url).pathname.split("/")[2]);
    expect(fs.existsSync(onDisk)).toBe(true);
    await new Promise((r) => setTimeout(r, 3000));
    expect((await fetch(url)).status).toBe(410);
    expect(fs.existsSync(onDisk)).toBe(false);
    const err = await fal.queue.result(ENDPOINT, { requestId: result.requestId }).catch((e: unknown) => e);
    expect((err as ApiError<unknown>).status).toBe(410);
    const list = (await (await fetch(`${svc.url}/api/requests`, { headers: { authorization: `Key ${svc.key}` } })).json()) as {
      requests: { request_id: string; files_expired_at: string | null }[];
    };
    expect(list.requests.find((r) => r.request_id === result.requestId)?.files_expired_at).toBeTruthy();
  });

  it("keeps outputs for the default retention", async () => {
    const fal = falClient(svc.url, svc.key);
    const result = await fal.subscribe(ENDPOINT, { input: await smallInput({ seed: 2 }), pollInterval: 100 });
    await new Promise((r) => setTimeout(r, 600));
    expect((await fetch((result.data as { video: { url: string } }).video.url, { method: "HEAD" })).status).toBe(200);
  });
});

describe("storage failures", () => {
  it("completes with an error and serves no partial file when the output cannot be written", async () => {
    const broken = await startTestService();
    try {
      const filesDir = path.join(broken.dataDir, "files");
      fs.rmSync(filesDir, { recursive: true, force: true });
      fs.writeFileSync(filesDir, "not a folder"); // every write under files/ now fails
      const fal = falClient(broken.url, broken.key);
      const err = await fal.subscribe(ENDPOINT, { input: await smallInput({ seed: 3 }), pollInterval: 100 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiError);
      expect((err as ApiError<{ error_type?: string }>).status).toBe(503);
      expect((err as ApiError<{ error_type?: string }>).body.error_type).toBe("storage_error");
      const ready = broken.service.db.prepare("SELECT COUNT(*) AS n FROM files WHERE state = 'ready'").get() as { n: number };
      expect(ready.n).toBe(0);
      fs.rmSync(filesDir, { force: true });
    } finally {
      await broken.close();
    }
  });
});
