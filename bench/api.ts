// API benchmark (`npm run bench:api`): starts the service (API and worker in one process, the preview
// engine, the embedded store) and, in the same run, a bare route of the same fastify version
// (bench/api/bare-server.ts), each as its own process, and loads them from this process with autocannon.
// Prints status_vs_bare_ratio, submit_p99_ms (200 submits/s for 10 s while real preview jobs render and
// complete), sse_streams_held with the server's RSS and the status p99 while they are fed, and the
// server's event-loop delay p99 (measured inside it by bench/api/probe.ts).
//
// Options: --cpu-prof (writes the service's V8 CPU profile to bench/api/profiles/), --streams N
// (default 1000), --status-seconds S (default 5 per round), --submit-rate R (default 200),
// --submit-seconds S (default 10).
import autocannon from "autocannon";
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freeLoopbackPort } from "../src/cli/lib/local-service.js";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const APP = "fal-ai/ltx-2.3";
const ENDPOINT = `${APP}/image-to-video`;
const KEY = "bench-api-key";

function option(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}
const CPU_PROF = process.argv.includes("--cpu-prof");
const STREAMS = option("streams", 1000);
const STATUS_SECONDS = option("status-seconds", 5);
const SUBMIT_RATE = option("submit-rate", 200);
const SUBMIT_SECONDS = option("submit-seconds", 10);

interface Sample {
  eldP50Ms: number;
  eldP99Ms: number;
  eldMaxMs: number;
  rssMb: number;
  /** CPU time (user + system) of the process since the previous sample. */
  cpuMs: number;
}

const children: ChildProcess[] = [];
process.on("exit", () => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
});

function spawnNode(args: string[], env: Record<string, string>, nodeFlags: string[] = []): ChildProcess {
  const child = spawn(process.execPath, [...nodeFlags, "--import", "tsx", "--import", "./bench/api/probe.ts", ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  child.once("exit", (code, signal) => {
    if (code !== 0 && signal !== "SIGTERM" && signal !== "SIGKILL") process.stderr.write(`child ${args.join(" ")} exited ${code ?? signal}:\n${out.slice(-4000)}\n`);
  });
  return child;
}

async function waitHttp(url: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`${url}: server exited`);
    try {
      if ((await fetch(url)).status < 500) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not come up`);
}

function sample(child: ChildProcess): Promise<Sample> {
  return new Promise((resolve) => {
    const onMessage = (msg: { kind?: string } & Sample) => {
      if (msg.kind !== "sample") return;
      child.off("message", onMessage);
      resolve(msg);
    };
    child.on("message", onMessage);
    child.send("sample");
  });
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill(signal);
  });
}

const auth = { authorization: `Key ${KEY}`, "content-type": "application/json" };

async function submit(base: string, input: Record<string, unknown>): Promise<string> {
  const res = await fetch(`${base}/queue.fal.run/${ENDPOINT}`, { method: "POST", headers: auth, body: JSON.stringify(input) });
  if (res.status !== 200) throw new Error(`submit answered ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { request_id: string }).request_id;
}

async function statusOf(base: string, id: string): Promise<string> {
  const res = await fetch(`${base}/queue.fal.run/${APP}/requests/${id}/status`, { headers: auth });
  return ((await res.json()) as { status: string }).status;
}

async function waitStatus(base: string, id: string, want: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while ((await statusOf(base, id)) !== want) {
    if (Date.now() > deadline) throw new Error(`request ${id} never reached ${want}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function load(opts: autocannon.Options): Promise<autocannon.Result> {
  return autocannon({ connections: 10, pipelining: 1, ...opts });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (n: number, d = 1) => n.toFixed(d);

let seed = 1;

async function main() {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-bench-api-"));
  const profileDir = path.join(ROOT, "bench", "api", "profiles");
  const barePort = await freeLoopbackPort();
  const port = await freeLoopbackPort();
  const base = `http://127.0.0.1:${port}`;
  const bareBase = `http://127.0.0.1:${barePort}`;

  const bare = spawnNode(["bench/api/bare-server.ts"], { PORT: String(barePort) });
  await waitHttp(`${bareBase}/image.png`, bare);
  const serverFlags = CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
  const server = spawnNode(
    ["src/cli/main.ts", "serve"],
    {
      PORT: String(port),
      DATA_DIR: dataDir,
      API_KEYS: KEY,
      ALLOW_PRIVATE_URLS: "1",
      LOG_LEVEL: "warn",
      RATE_LIMIT_PER_MINUTE: "0",
      MAX_QUEUED_PER_KEY: "0",
      PREVIEW_CONCURRENCY: "1",
    },
    serverFlags,
  );
  await waitHttp(`${base}/health`, server);

  // The smallest job the schema allows (1080p, 6 s, 24 fps, no audio), its image on the bare server.
  const input = () => ({ image_url: `${bareBase}/image.png`, prompt: "benchmark scene", duration: 6, fps: 24, generate_audio: false, seed: seed++ });
  const first = await submit(base, input());
  await waitStatus(base, first, "COMPLETED");
  const machine = `${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? "?"}), Node ${process.version}`;
  console.log(`machine: ${machine}, load average ${os.loadavg().map((l) => l.toFixed(1)).join(" ")}`);

  // 1. Status of a completed request against the bare route, alternating, idle worker.
  const statusUrl = `${base}/queue.fal.run/${APP}/requests/${first}/status`;
  const bareUrl = `${bareBase}/bare/${first}/status`;
  const ours: autocannon.Result[] = [];
  const bares: autocannon.Result[] = [];
  await load({ url: bareUrl, duration: 1 });
  await load({ url: statusUrl, duration: 1, headers: auth });
  await sample(server);
  // CPU time per answer, measured inside each server, varies far less with other load on the machine
  // than requests per second do.
  const cpuPerRequest = { ours: [] as number[], bare: [] as number[] };
  let statusEld = 0;
  for (let round = 0; round < 2; round++) {
    await sample(bare);
    const b = await load({ url: bareUrl, duration: STATUS_SECONDS });
    cpuPerRequest.bare.push(((await sample(bare)).cpuMs * 1000) / b.requests.total);
    bares.push(b);
    await sample(server);
    const o = await load({ url: statusUrl, duration: STATUS_SECONDS, headers: auth });
    const s = await sample(server);
    cpuPerRequest.ours.push((s.cpuMs * 1000) / o.requests.total);
    statusEld = Math.max(statusEld, s.eldP99Ms);
    ours.push(o);
  }
  const ratio = median(ours.map((r) => r.requests.average)) / median(bares.map((r) => r.requests.average));
  console.log(
    `status: ${fmt(median(ours.map((r) => r.requests.average)), 0)} req/s (p99 ${median(ours.map((r) => r.latency.p99))} ms), ` +
      `bare: ${fmt(median(bares.map((r) => r.requests.average)), 0)} req/s (p99 ${median(bares.map((r) => r.latency.p99))} ms), ` +
      `non-2xx answers ${ours.reduce((a, r) => a + r.non2xx, 0)}`,
  );
  console.log(`status_vs_bare_ratio: ${fmt(ratio, 2)}`);
  console.log(
    `status_cpu_us_per_request: ${fmt(median(cpuPerRequest.ours), 0)} (bare ${fmt(median(cpuPerRequest.bare), 0)}; ` +
      `bare/ours CPU ratio ${fmt(median(cpuPerRequest.bare) / median(cpuPerRequest.ours), 2)})`,
  );
  console.log(`status_event_loop_delay_p99_ms: ${statusEld}`);

  // 2. SSE: STREAMS streams over 20 requests (one rendering, the others queued) held while the render
  // feeds them progress, log lines and state changes; status is polled meanwhile.
  const sseIds: string[] = [];
  for (let i = 0; i < 20; i++) sseIds.push(await submit(base, input()));
  const holder = spawn(process.execPath, ["--import", "tsx", "bench/api/sse-holder.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      BENCH_KEY: KEY,
      BENCH_SSE_COUNT: String(STREAMS),
      BENCH_SSE_URLS: JSON.stringify(sseIds.map((id) => `${base}/queue.fal.run/${APP}/requests/${id}/status/stream?logs=1`)),
    },
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  children.push(holder);
  const report = () =>
    new Promise<{ started: number; open: number; events: number; failed: number }>((resolve) => {
      const onMessage = (msg: { kind?: string; started: number; open: number; events: number; failed: number }) => {
        if (msg.kind !== "report") return;
        holder.off("message", onMessage);
        resolve(msg);
      };
      holder.on("message", onMessage);
      holder.send("report");
    });
  for (let i = 0; i < 300; i++) {
    const r = await report();
    if (r.started + r.failed >= STREAMS) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  await waitStatus(base, sseIds[0], "IN_PROGRESS").catch(() => undefined);
  const before = await report();
  await sample(server);
  const fedStatus = await load({ url: statusUrl, duration: STATUS_SECONDS, headers: auth });
  const sseSample = await sample(server);
  const after = await report();
  console.log(
    `sse: ${before.open} of ${STREAMS} open at once (${before.failed} refused); ${after.events - before.events} events fed during the ` +
      `${STATUS_SECONDS} s status load; ${before.open - after.open} closed meanwhile because their request completed; ` +
      `status ${fmt(fedStatus.requests.average, 0)} req/s`,
  );
  console.log(`sse_streams_held: ${before.open}`);
  console.log(`sse_server_rss_mb: ${sseSample.rssMb}`);
  console.log(`sse_status_p99_ms: ${fedStatus.latency.p99}`);
  console.log(`sse_event_loop_delay_p99_ms: ${sseSample.eldP99Ms}`);
  console.log(`sse_status_cpu_us_per_request: ${fmt((sseSample.cpuMs * 1000) / Math.max(1, fedStatus.requests.total), 0)} (streams fed meanwhile included)`);
  await stopChild(holder, "SIGKILL");
  for (const id of sseIds) await fetch(`${base}/queue.fal.run/${APP}/requests/${id}/cancel`, { method: "PUT", headers: auth });

  // 3. Submits at SUBMIT_RATE/s for SUBMIT_SECONDS s while the worker renders and completes jobs.
  // Four jobs are queued first so that the worker is busy from the first submit.
  for (let i = 0; i < 4; i++) await submit(base, input());
  await sample(server);
  const completedBefore = await countCompleted(base);
  const submits = await load({
    url: `${base}/queue.fal.run/${ENDPOINT}`,
    connections: 20,
    overallRate: SUBMIT_RATE,
    duration: SUBMIT_SECONDS,
    requests: [
      {
        method: "POST",
        headers: auth,
        setupRequest: (req) => ({ ...req, body: JSON.stringify(input()) }),
      },
    ],
  });
  const submitSample = await sample(server);
  const submitCpuUs = (submitSample.cpuMs * 1000) / Math.max(1, submits.requests.total);
  const completedDuring = (await countCompleted(base)) - completedBefore;
  console.log(
    `submits: ${submits["2xx"]} accepted, ${submits.non2xx} refused, ${fmt(submits.requests.average, 0)}/s, ` +
      `p50 ${submits.latency.p50} ms, p99 ${submits.latency.p99} ms, max ${submits.latency.max} ms; ${completedDuring} jobs completed meanwhile`,
  );
  console.log(`submit_p99_ms: ${submits.latency.p99}`);
  console.log(`submit_cpu_us_per_request: ${fmt(submitCpuUs, 0)} (the server process's CPU, worker included, per submit)`);
  console.log(`event_loop_delay_p99_ms: ${submitSample.eldP99Ms}`);
  console.log(`server_rss_mb: ${submitSample.rssMb}`);

  await stopChild(server);
  await stopChild(bare);
  fs.rmSync(dataDir, { recursive: true, force: true });
  if (CPU_PROF) console.log(`cpu profile: ${profileDir}`);
}

/** Succeeded (charged) requests of the bench key so far. */
async function countCompleted(base: string): Promise<number> {
  const res = await fetch(`${base}/api/usage`, { headers: auth });
  return ((await res.json()) as { requests: number }).requests;
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
