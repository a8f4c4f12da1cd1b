// Starts `ltx-serve serve` as its own process (the real CLI, from source) for tests that kill,
// restart or run several servers; each test file keeps its children to kill them at the end.
import { spawn, type ChildProcess } from "node:child_process";

export async function startServerProcess(
  children: ChildProcess[],
  opts: { dataDir: string; port: number; key: string; env?: Record<string, string>; ready?: () => Promise<boolean> },
): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve"], {
    env: {
      ...process.env,
      PORT: String(opts.port),
      DATA_DIR: opts.dataDir,
      API_KEYS: opts.key,
      ALLOW_PRIVATE_URLS: "1",
      LOG_LEVEL: "warn",
      RATE_LIMIT_PER_MINUTE: "0",
      ...opts.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  for (let i = 0; i < 300; i++) {
    try {
      if (opts.ready ? await opts.ready() : (await fetch(`http://127.0.0.1:${opts.port}/health`)).ok) return child;
    } catch {
      // not up yet
    }
    if (child.exitCode !== null) throw new Error(`server exited: ${out}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server did not start: ${out}`);
}

/** A request's status as the queue API answers it (with its log lines). */
export interface QueueStatus {
  status: string;
  error?: string;
  error_type?: string;
  logs?: { message: string }[];
}

/** GET the status (with logs) of one request on `base` (the server's origin). */
export async function statusOf(base: string, app: string, key: string, id: string): Promise<QueueStatus> {
  const res = await fetch(`${base}/queue.fal.run/${app}/requests/${id}/status?logs=1`, { headers: { authorization: `Key ${key}` } });
  return (await res.json()) as QueueStatus;
}

/** Polls each request until COMPLETED; throws naming the first one still unfinished at the deadline. */
export async function waitCompleted(base: string, app: string, key: string, ids: string[], timeoutMs: number): Promise<Map<string, QueueStatus>> {
  const deadline = Date.now() + timeoutMs;
  const out = new Map<string, QueueStatus>();
  for (const id of ids) {
    for (;;) {
      const s = await statusOf(base, app, key, id);
      if (s.status === "COMPLETED") {
        out.set(id, s);
        break;
      }
      if (Date.now() > deadline) throw new Error(`request ${id} still ${s.status}`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return out;
}
