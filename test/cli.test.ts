// The real `ltx-serve` CLI as a subprocess (node --import tsx src/cli/main.ts) against one real
// server shared by every case: generate with a local PNG, text-to-video with --endpoint t2v and
// --json, --async with status/logs/result, cancel, errors and their exit codes, flags an endpoint
// does not take, usage and endpoints, sheet, doctor and one --local run. Videos are checked with
// ffprobe. Three renders in all (image-to-video, text-to-video, --local): the other cases reuse them.
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeVideo } from "../src/media/probe.js";
import { testImagePng } from "./helpers/fal.js";
import { freePort, startTestService, type TestService } from "./helpers/service.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const MAIN = path.join(ROOT, "src/cli/main.ts");
const TSX = import.meta.resolve("tsx");
/** The machine is shared and slow: a job may wait behind others. No timing is asserted. */
const JOB_TIMEOUT = 10 * 60_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; the environment is ours without any LTX_SERVE_* so each test says what it uses. */
function cli(args: string[], opts: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliRun> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const k of Object.keys(env)) if (k.startsWith("LTX_SERVE_")) delete env[k];
  Object.assign(env, { NO_COLOR: "1" }, opts.env);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", TSX, MAIN, ...args], { cwd: opts.cwd ?? work, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

let svc: TestService;
let work: string;
let t2vRequest: string | undefined;
let image: string;
let server: string[];
let nextSeed = 1000 + Math.floor(Math.random() * 1e6);
/** The cheapest valid job (1080p, 6 s, 24 fps, no audio) with a fresh seed: identical submits are deduplicated. */
const cheapJob = () => ["--duration", "6", "--fps", "24", "--no-audio", "--seed", String(nextSeed++)];

async function getJson<T>(route: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${svc.url}${route}`, { headers: { authorization: `Key ${svc.key}` } });
  return { status: res.status, body: (await res.json()) as T };
}

beforeAll(async () => {
  // Identical submits within the window are answered with the first request; every case sends a fresh
  // seed (cheapJob) except the --json replay of the async text-to-video request, which relies on it.
  svc = await startTestService({ env: { DEDUPE_WINDOW_SECONDS: "3600" } });
  work = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-cli-test-"));
  image = path.join(work, "start.png");
  fs.writeFileSync(image, await testImagePng(640, 360, 200));
  server = ["--url", svc.url, "--key", svc.key];
});

afterAll(async () => {
  await svc?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe("ltx-serve generate", () => {
  let saved: string;

  it("uploads a local PNG, shows progress, saves the MP4 to -o and prints its path", { timeout: JOB_TIMEOUT }, async () => {
    const out = path.join(work, "out.mp4");
    const run = await cli(["generate", ...server, "--image", image, "--prompt", "a slow push in on a calm scene", ...cheapJob(), "-o", out]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe(out);
    expect(run.stderr).toMatch(/uploaded .*start\.png/);
    expect(run.stderr).toMatch(/submitted [0-9a-f-]{36}/);
    // Not a TTY: plain progress lines with stage and percentage.
    expect(run.stderr).toMatch(/\[\d+:\d\d\] \S+ \d+\/\d+ \(\d+%\)/);
    expect(run.stderr).toMatch(/completed/);
    const probe = await probeVideo(out);
    expect(probe.video).toMatchObject({ codec: "h264", width: 1920, height: 1080, fps: 24, frames: 144 });
    expect(probe.audio).toBeUndefined();
    saved = out;
  });

  it("writes a contact sheet of a generated video as a PNG grid", { timeout: JOB_TIMEOUT }, async () => {
    expect(saved, "needs the video of the first test").toBeTruthy();
    const sheet = path.join(work, "sheet.png");
    const run = await cli(["sheet", saved, "-o", sheet]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout.trim()).toBe(sheet);
    expect(run.stderr).toMatch(/8 frames \(0, .*, 143\) in a 4x2 grid/);
    const meta = await sharp(sheet).metadata();
    expect(meta.format).toBe("png");
    // Four 480-pixel tiles of 16:9 frames across, two down, plus thin margins.
    expect(meta.width).toBeGreaterThanOrEqual(4 * 480);
    expect(meta.width).toBeLessThan(4 * 480 + 120);
    expect(meta.height).toBeGreaterThanOrEqual(2 * 270);
    expect(meta.height).toBeLessThan(2 * 270 + 120);

    const small = path.join(work, "small.png");
    const json = await cli(["sheet", saved, "-o", small, "--frames", "4", "--columns", "2", "--tile-width", "200", "--json"]);
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as { frame_indices: number[]; columns: number; rows: number; width: number; height: number };
    expect(doc.frame_indices).toEqual([0, 48, 95, 143]);
    expect([doc.columns, doc.rows]).toEqual([2, 2]);
    const smallMeta = await sharp(small).metadata();
    expect([smallMeta.width, smallMeta.height]).toEqual([doc.width, doc.height]);
    expect(smallMeta.width).toBeGreaterThanOrEqual(400);
    expect(smallMeta.width).toBeLessThan(400 + 80);
  });

  it("names the rejected field with the HTTP status and exits 2 on a 422", async () => {
    const run = await cli(["generate", ...server, "--image", image, "--prompt", "x", "--duration", "7", "--seed", String(nextSeed++)]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/HTTP status: 422/);
    expect(run.stderr).toMatch(/field body\.duration \(--duration\): Input should be one of 6, 8, 10/);
    expect(run.stdout).toBe("");

    const json = await cli(["generate", ...server, "--json", "--image", image, "--prompt", "x", "--resolution", "720p", "--seed", String(nextSeed++)]);
    expect(json.code).toBe(2);
    const doc = JSON.parse(json.stdout) as { error: { http_status: number; exit_code: number; field_errors: { loc: string[]; msg: string }[] } };
    expect(doc.error.http_status).toBe(422);
    expect(doc.error.exit_code).toBe(2);
    expect(doc.error.field_errors.map((f) => f.loc)).toEqual([["body", "resolution"]]);
    // --json: the local image was uploaded, but no note says so.
    expect(json.stderr).not.toMatch(/uploaded|submitted/);
  });

  it("refuses a flag the endpoint does not take before sending anything, naming the flag and the field", async () => {
    const before = (await getJson<{ requests: unknown[] }>("/api/requests?limit=100")).body.requests.length;
    const run = await cli(["generate", ...server, "--endpoint", "t2v", "--image", image, "--prompt", "x"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/field body\.image_url \(--image\): not an input of fal-ai\/ltx-2\.3\/text-to-video \(t2v\), which takes --prompt/);
    expect(run.stderr).not.toMatch(/uploaded/);
    const json = await cli(["generate", ...server, "--json", "--endpoint", "a2v", "--audio", "https://example.com/a.mp3", "--no-audio", "--duration", "6"]);
    expect(json.code).toBe(2);
    const doc = JSON.parse(json.stdout) as { error: { exit_code: number; field_errors: { loc: string[]; type: string }[] } };
    expect(doc.error.field_errors.map((f) => [f.loc.at(-1), f.type])).toEqual([["duration", "extra_forbidden"], ["generate_audio", "extra_forbidden"]]);
    const unknown = await cli(["generate", ...server, "--endpoint", "t2x", "--prompt", "x"]);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/"t2x" is not an endpoint/);
    expect((await getJson<{ requests: unknown[] }>("/api/requests?limit=100")).body.requests.length).toBe(before);
  });

  it("exits 3 with HTTP 401 when the key is wrong, and 3 before any request when there is none", async () => {
    const wrong = await cli(["generate", "--url", svc.url, "--key", "not-a-key", "--image", image, "--prompt", "x"]);
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/HTTP status: 401/);
    const none = await cli(["status", "11111111-2222-3333-4444-555555555555", "--url", svc.url]);
    expect(none.code).toBe(3);
    expect(none.stderr).toMatch(/no API key/);
  });

  it("exits 2 for a local image that does not exist", async () => {
    const run = await cli(["generate", ...server, "--image", path.join(work, "missing.png"), "--prompt", "x"]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/missing\.png: no such file/);
  });

  it("exits 6 when no server answers at --url", async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const run = await cli(["generate", "--url", url, "--key", "k", "--image", image, "--prompt", "x"]);
    expect(run.code).toBe(6);
    expect(run.stderr).toMatch(/cannot reach the server at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\)/);
  });
});

describe("ltx-serve generate --async, status, logs, result and cancel; usage and endpoints", () => {
  it("follows an async text-to-video request (--endpoint t2v) to its video, and cancels one that waits behind it", { timeout: JOB_TIMEOUT }, async () => {
    const env = { LTX_SERVE_URL: svc.url, LTX_SERVE_KEY: svc.key };
    const t2vArgs = ["--endpoint", "t2v", "--prompt", "a lighthouse at dusk, waves below", ...cheapJob()];
    const first = await cli(["generate", "--async", ...t2vArgs], { env });
    expect(first.code, first.stderr).toBe(0);
    const a = first.stdout.trim();
    expect(a).toMatch(UUID);
    // The estimate names the endpoint and uses its price: 6 s at text-to-video's $0.08/s.
    expect(first.stderr).toContain("submitted (t2v, 1080p, 6 s, 24 fps, no audio, est. $0.48)");
    expect(first.stderr).toContain(`ltx-serve status ${a}`);
    expect(first.stderr).toContain(`ltx-serve result ${a} -o ${a}.mp4`);

    // The preview engine runs one job at a time, so B waits behind A.
    const second = await cli(["generate", "--async", "--json", "--image", image, "--prompt", "a pull out", ...cheapJob()], { env });
    expect(second.code, second.stderr).toBe(0);
    const b = (JSON.parse(second.stdout) as { request_id: string }).request_id;
    expect(b).toMatch(UUID);

    const early = await cli(["result", b], { env });
    expect(early.code).toBe(7);
    expect(early.stderr).toContain(`request id:  ${b}`);
    expect(early.stderr).toMatch(/HTTP status: 400 \(not_ready\)/);

    const cancel = await cli(["cancel", b], { env });
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toContain(`${b}  CANCELLATION_REQUESTED`);

    const statusA = await cli(["status", a], { env });
    expect(statusA.code, statusA.stderr).toBe(0);
    expect(statusA.stdout).toMatch(new RegExp(`^${a}  (IN_QUEUE|IN_PROGRESS|COMPLETED)`));

    const follow = await cli(["logs", a, "--follow"], { env });
    expect(follow.code, follow.stderr).toBe(0);
    expect(follow.stdout).toMatch(/INFO\s+Generating 1920x1080 \(16:9\), 144 frames at 24 fps, audio off/);
    expect(follow.stdout).not.toMatch(/Loading image_url/);
    expect(follow.stdout).toMatch(/Completed in/);

    const logs = await cli(["logs", a, "--json"], { env });
    expect(logs.code).toBe(0);
    const logDoc = JSON.parse(logs.stdout) as { status: string; logs: { message: string }[] };
    expect(logDoc.status).toBe("COMPLETED");
    expect(logDoc.logs.length).toBeGreaterThan(2);

    const out = path.join(work, "async.mp4");
    const result = await cli(["result", a, "-o", out], { env });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe(out);
    const probe = await probeVideo(out);
    expect(probe.video).toMatchObject({ codec: "h264", width: 1920, height: 1080, fps: 24, frames: 144 });
    expect(probe.audio).toBeUndefined();

    // The same text-to-video request, waited for with --json: one JSON document and no progress. Its
    // body is identical (no upload), so the server answers it with request A instead of rendering again.
    const jsonOut = path.join(work, "t2v.mp4");
    const json = await cli(["generate", "--json", ...t2vArgs, "-o", jsonOut], { env });
    expect(json.code, json.stderr).toBe(0);
    const doc = JSON.parse(json.stdout) as { request_id: string; endpoint: string; output_path: string; video: { width: number; height: number }; seed: number };
    expect(doc).toMatchObject({ request_id: a, endpoint: "fal-ai/ltx-2.3/text-to-video", output_path: jsonOut, video: { width: 1920, height: 1080 } });
    expect(typeof doc.seed).toBe("number");
    expect(json.stderr).not.toMatch(/%|uploaded|submitted/);
    expect(fs.readFileSync(jsonOut).equals(fs.readFileSync(out))).toBe(true);
    t2vRequest = a;

    const statusJson = await cli(["status", a, "--json"], { env });
    expect(JSON.parse(statusJson.stdout)).toMatchObject({ status: "COMPLETED", request_id: a });

    // B was cancelled: its status says so, its result exits 5 and a second cancel exits 7.
    const statusB = await cli(["status", b], { env });
    expect(statusB.stdout).toMatch(/COMPLETED {2}failed: .*\(request_cancelled\)/);
    const resultB = await cli(["result", b], { env });
    expect(resultB.code).toBe(5);
    expect(resultB.stderr).toContain(`request id:  ${b}`);
    expect(resultB.stderr).toMatch(/cancelled/);
    const again = await cli(["cancel", b], { env });
    expect(again.code).toBe(7);
  });

  it("shows usage per endpoint with its short name, and lists the routed endpoints with their prices", async () => {
    expect(t2vRequest, "needs the t2v video of the async test").toBeTruthy();
    const usage = await cli(["usage", ...server]);
    expect(usage.code, usage.stderr).toBe(0);
    // 1080p, 6 s: $0.06/s for image-to-video, $0.08/s for text-to-video.
    expect(usage.stdout).toMatch(/fal-ai\/ltx-2\.3\/image-to-video \(i2v\) 1080p: 1 requests, 6 s, \$0\.36/);
    expect(usage.stdout).toMatch(/fal-ai\/ltx-2\.3\/text-to-video \(t2v\) 1080p: 1 requests, 6 s, \$0\.48/);

    const list = await cli(["endpoints", "--url", svc.url, "--json"]);
    expect(list.code, list.stderr).toBe(0);
    const { endpoints } = JSON.parse(list.stdout) as { endpoints: { id: string; short_name: string; engine: string; price_per_second: Record<string, number> }[] };
    const { body: served } = await getJson<{ id: string }[]>("/api/endpoints");
    expect(endpoints.map((e) => e.id)).toEqual(served.map((e) => e.id));
    expect(endpoints.find((e) => e.short_name === "t2v")).toMatchObject({ id: "fal-ai/ltx-2.3/text-to-video", engine: "preview", price_per_second: { "1080p": 0.08 } });
    const human = await cli(["endpoints", "--url", svc.url]);
    expect(human.stdout).toMatch(/^t2v-fast +fal-ai\/ltx-2\.3\/text-to-video\/fast +\(engine preview\)$/m);
    expect(human.stdout).toContain("ltx-serve generate --endpoint t2v --prompt [--duration]");
  });

  it("exits 4 for a request id the server does not know", async () => {
    const run = await cli(["status", "11111111-2222-3333-4444-555555555555", ...server]);
    expect(run.code).toBe(4);
    expect(run.stderr).toMatch(/HTTP status: 404/);
    expect(run.stderr).toContain("request id:  11111111-2222-3333-4444-555555555555");
  });
});

describe("ltx-serve generate --local", () => {
  it("runs a job without any server and leaves no temporary data behind", { timeout: JOB_TIMEOUT }, async () => {
    const tmp = fs.mkdtempSync(path.join(work, "tmp-"));
    const out = path.join(work, "local.mp4");
    // LTX_SERVE_URL points nowhere: --local must not use it.
    const env = { LTX_SERVE_URL: `http://127.0.0.1:${await freePort()}`, TMPDIR: tmp };
    const run = await cli(["generate", "--local", "--image", image, "--prompt", "a locked-off static shot", ...cheapJob(), "-o", out], { env });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/started a local ltx-serve at http:\/\/127\.0\.0\.1:\d+ \(engine preview\)/);
    expect(run.stdout.trim()).toBe(out);
    expect((await probeVideo(out)).video).toMatchObject({ codec: "h264", width: 1920, height: 1080, frames: 144 });
    // (tsx keeps its compile cache in TMPDIR too; only the service's own folder matters here.)
    expect(fs.readdirSync(tmp).filter((f) => f.startsWith("ltx-serve-local-"))).toEqual([]);
  });
});

describe("ltx-serve doctor", () => {
  it("reports ffmpeg and the data folder, and exits 9 when ffmpeg is missing", { timeout: JOB_TIMEOUT }, async () => {
    const dataDir = path.join(work, "doctor-data");
    const ok = await cli(["doctor", "--json"], { env: { DATA_DIR: dataDir } });
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const doc = JSON.parse(ok.stdout) as { ok: boolean; checks: { check: string; status: string }[] };
    expect(doc.ok).toBe(true);
    expect(doc.checks.find((c) => c.check === "ffmpeg")?.status).toBe("ok");
    expect(doc.checks.find((c) => c.check === "data dir")?.status).toBe("ok");

    // The second run needs no Python probe again (it imports torch): an LTX_PYTHON that is not there fails
    // it at once, and the ltx engine is not in use, so only ffmpeg decides the exit code.
    const broken = await cli(["doctor"], { env: { DATA_DIR: dataDir, FFMPEG_PATH: path.join(work, "no-ffmpeg"), LTX_PYTHON: path.join(work, "no-python") } });
    expect(broken.code).toBe(9);
    expect(broken.stdout).toMatch(/MISSING\s+ffmpeg/);
    expect(broken.stdout).toMatch(/1 needed part is missing: ffmpeg$/m);
  });
});
