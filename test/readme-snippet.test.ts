// The README's official-client example, taken from README.md as it stands and run unchanged with
// Node against a started server: it uploads a local photo, prints each log line once, and the
// video it names is a real MP4.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeVideo } from "../src/media/probe.js";
import { testImagePng } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

const REPO = path.resolve(import.meta.dirname, "..");

/** The first ```js block under the README heading "Using it with the official client". */
export function readmeClientSnippet(readme: string): string {
  const section = readme.split(/^## /m).find((s) => s.startsWith("Using it with the official client"));
  const block = section && /```js\n([\s\S]*?)```/.exec(section);
  if (!block) throw new Error("README.md has no ```js block under 'Using it with the official client'");
  return block[1];
}

let svc: TestService;
let dir: string;
beforeAll(async () => {
  svc = await startTestService();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-readme-"));
  // The example imports @fal-ai/client as an installed package; this project's node_modules serves.
  fs.symlinkSync(path.join(REPO, "node_modules"), path.join(dir, "node_modules"), "dir");
  await sharp(await testImagePng(480, 270)).jpeg().toFile(path.join(dir, "photo.jpg"));
});
afterAll(async () => {
  await svc?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("README official-client example", () => {
  it("runs as written: uploads photo.jpg, prints each log line once and names a real MP4", async () => {
    const file = path.join(dir, "example.mjs");
    fs.writeFileSync(file, readmeClientSnippet(fs.readFileSync(path.join(REPO, "README.md"), "utf8")));
    const { stdout } = await promisify(execFile)(process.execPath, [file], {
      cwd: dir,
      env: { ...process.env, LTX_SERVE_URL: svc.url, LTX_SERVE_KEY: svc.key, FAL_KEY: "" },
      timeout: 300_000,
    });
    const lines = stdout.trim().split("\n");
    const [requestId, videoUrl] = lines.at(-1)!.split(" ");
    const logLines = lines.slice(0, -1);
    expect(logLines.length).toBeGreaterThan(3);
    expect(logLines).toContain("Request queued");
    expect(logLines.filter((l, i) => logLines.indexOf(l) !== i)).toEqual([]);
    // The lines are the request's log, in order, each once.
    const status = (await (await fetch(`${svc.url}/queue.fal.run/fal-ai/ltx-2.3/requests/${requestId}/status?logs=1`, { headers: { authorization: `Key ${svc.key}` } })).json()) as {
      logs: { message: string }[];
    };
    expect(logLines).toEqual(status.logs.map((l) => l.message).slice(0, logLines.length));
    // The image came from the upload: the request's input names this server's file URL.
    const history = (await (await fetch(`${svc.url}/api/requests`, { headers: { authorization: `Key ${svc.key}` } })).json()) as {
      requests: { request_id: string; input: { image_url: string } }[];
    };
    expect(history.requests.find((r) => r.request_id === requestId)?.input.image_url.startsWith(`${svc.url}/files/`)).toBe(true);
    expect(videoUrl.startsWith(`${svc.url}/files/`)).toBe(true);
    const mp4 = path.join(dir, "out.mp4");
    fs.writeFileSync(mp4, Buffer.from(await (await fetch(videoUrl)).arrayBuffer()));
    const probe = await probeVideo(mp4);
    expect([probe.video.width, probe.video.height]).toEqual([1920, 1080]);
  }, 300_000);
});
