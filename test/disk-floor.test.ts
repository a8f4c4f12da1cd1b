// The free-space floor on a real small disk: a 20 MiB tmpfs under DATA_DIR/files (needs root to mount;
// skipped with the reason otherwise). An upload that would go below MIN_FREE_DISK_BYTES, and a submit
// while below it, answer 507; the disk never fills.
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ENDPOINT, smallInput } from "./helpers/fal.js";
import { startTestService } from "./helpers/service.js";

function tryMount(dir: string): string | undefined {
  if (process.getuid?.() !== 0) return "not root: cannot mount a tmpfs";
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=20m", "tmpfs", dir], { stdio: "pipe" });
    return undefined;
  } catch (err) {
    return `mount -t tmpfs failed: ${(err as Error).message.split("\n")[0]}`;
  }
}

describe("free-space floor on a 20 MiB tmpfs", () => {
  it("answers 507 to an upload that would go below the floor and to submits while below it", async (ctx) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-floor-"));
    const filesDir = path.join(dataDir, "files");
    fs.mkdirSync(filesDir);
    const why = tryMount(filesDir);
    if (why) {
      console.warn(`[skip] disk-floor test: ${why}`);
      fs.rmSync(dataDir, { recursive: true, force: true });
      ctx.skip();
    }
    const svc = await startTestService({ dataDir, env: { MIN_FREE_DISK_BYTES: String(12 * 1024 * 1024), STORAGE_QUOTA_BYTES_PER_KEY: "0" } });
    try {
      const initiate = async () =>
        ((await (await fetch(`${svc.url}/rest.fal.ai/storage/upload/initiate`, { method: "POST", headers: { authorization: `Key ${svc.key}`, "content-type": "application/json" }, body: "{}" })).json()) as { upload_url: string }).upload_url;
      expect((await fetch(await initiate(), { method: "PUT", body: new Uint8Array(6 * 1024 * 1024) })).status).toBe(200);
      const over = await fetch(await initiate(), { method: "PUT", body: new Uint8Array(4 * 1024 * 1024) });
      expect(over.status).toBe(507);
      expect(await over.text()).toMatch(/MIN_FREE_DISK_BYTES/);
      // Fill the disk below the floor from outside: submits are refused with 507.
      fs.writeFileSync(path.join(filesDir, "filler"), new Uint8Array(4 * 1024 * 1024));
      const submit = await fetch(`${svc.url}/queue.fal.run/${ENDPOINT}`, { method: "POST", headers: { authorization: `Key ${svc.key}`, "content-type": "application/json" }, body: JSON.stringify(await smallInput({ seed: 1 })) });
      expect(submit.status).toBe(507);
    } finally {
      await svc.close({ keepData: true });
      execFileSync("umount", [filesDir]);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("a render on a full disk", () => {
  it("fails as a retryable storage_full infrastructure error, not engine_error", async (ctx) => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-enospc-"));
    const workDir = path.join(dataDir, "work");
    fs.mkdirSync(workDir);
    const why = tryMount(workDir);
    if (why) {
      console.warn(`[skip] full-disk render test: ${why}`);
      fs.rmSync(dataDir, { recursive: true, force: true });
      ctx.skip();
    }
    const svc = await startTestService({ dataDir, env: { MIN_FREE_DISK_BYTES: "0" } });
    try {
      try {
        fs.writeFileSync(path.join(workDir, "filler"), new Uint8Array(20 * 1024 * 1024));
      } catch {
        // the tmpfs is now full
      }
      const auth = { authorization: `Key ${svc.key}` };
      const res = await fetch(`${svc.url}/fal.run/${ENDPOINT}`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify(await smallInput({ seed: 2 })) });
      const body = (await res.json()) as { error_type?: string; detail?: unknown };
      expect(res.status, JSON.stringify(body)).toBe(503);
      expect(res.headers.get("x-fal-error-type")).toBe("storage_full");
    } finally {
      await svc.close({ keepData: true });
      execFileSync("umount", [workDir]);
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
