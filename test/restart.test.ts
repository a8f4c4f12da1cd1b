// A restart keeps everything accepted: finished results stay readable, and queued and running
// requests complete after the service comes back on the same data folder.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ENDPOINT, falClient, smallInput } from "./helpers/fal.js";
import { freePort, startTestService, type TestService } from "./helpers/service.js";

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-restart-"));
let svc: TestService | undefined;
afterAll(async () => {
  await svc?.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe("restart", () => {
  it("loses nothing: finished stay finished, running and queued requests complete after the restart", async () => {
    const port = await freePort();
    const config = { port, publicUrl: `http://127.0.0.1:${port}` };
    svc = await startTestService({ dataDir, config, env: { API_KEYS: "restart-key" } });
    const fal = () => falClient(svc!.url, "restart-key");

    const finished = await fal().subscribe(ENDPOINT, { input: await smallInput(), pollInterval: 100 });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await fal().queue.submit(ENDPOINT, { input: await smallInput({ duration: 8 }) })).request_id);
    for (let i = 0; i < 100; i++) {
      if ((await fal().queue.status(ENDPOINT, { requestId: ids[0] })).status === "IN_PROGRESS") break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect((await fal().queue.status(ENDPOINT, { requestId: ids[0] })).status).toBe("IN_PROGRESS");
    expect((await fal().queue.status(ENDPOINT, { requestId: ids[2] })).status).toBe("IN_QUEUE");
    await svc.close({ keepData: true });

    svc = await startTestService({ dataDir, config, env: { API_KEYS: "restart-key" } });
    const old = await fal().queue.result(ENDPOINT, { requestId: finished.requestId });
    expect(old.data).toEqual(finished.data);
    for (const id of ids) {
      let s = await fal().queue.status(ENDPOINT, { requestId: id });
      for (let i = 0; i < 600 && s.status !== "COMPLETED"; i++) {
        await new Promise((r) => setTimeout(r, 100));
        s = await fal().queue.status(ENDPOINT, { requestId: id });
      }
      const result = await fal().queue.result(ENDPOINT, { requestId: id });
      expect((result.data as { video: { url: string } }).video.url).toContain("/files/");
    }
    const usage = (await (await fetch(`${svc.url}/api/usage`, { headers: { authorization: "Key restart-key" } })).json()) as { requests: number };
    expect(usage.requests).toBe(4);
  }, 600_000);
});
