// The S3-compatible server for tests: moto (moto[s3], pinned in scripts/setup-s3-test.sh) from the
// cached venv .cache/moto-venv (`npm run setup:s3-test` creates it), started as a child process on a
// loopback port below 32768. moto enforces real S3 rules (e.g. EntityTooSmall for parts under 5 MiB)
// but checks no signatures: test presigned-URL expiry and signing in our own code, not against it.
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { lowPort, unavailable, type Availability } from "./availability.js";

/** Venv with moto_server; MOTO_VENV overrides the repository's .cache/moto-venv. */
export const MOTO_VENV = process.env.MOTO_VENV ?? fileURLToPath(new URL("../../.cache/moto-venv", import.meta.url));
const MOTO_SERVER = path.join(MOTO_VENV, "bin", "moto_server");

export interface S3TestServer {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** Environment for a service process using this server (bucket still to be created). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export function s3Availability(): Availability {
  if (fs.existsSync(MOTO_SERVER)) return { run: true };
  return unavailable(`moto S3 server not found at ${MOTO_SERVER} (run \`npm run setup:s3-test\`)`);
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

export async function startS3(): Promise<S3TestServer> {
  let lastLog = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await lowPort();
    const child = spawn(MOTO_SERVER, ["-H", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
    live.add(child);
    child.once("exit", () => live.delete(child));
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once("exit", () => {
        for (const c of live) c.kill("SIGKILL");
      });
    }
    let log = "";
    child.stdout!.on("data", (d) => (log += d));
    child.stderr!.on("data", (d) => (log += d));
    const endpoint = `http://127.0.0.1:${port}`;
    let up = false;
    for (let i = 0; i < 600 && child.exitCode === null; i++) {
      try {
        await fetch(`${endpoint}/`);
        up = true;
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    if (!up) {
      lastLog = log;
      child.kill("SIGKILL");
      continue;
    }
    const creds = { region: "us-east-1", accessKeyId: "test", secretAccessKey: "test" };
    return {
      endpoint,
      ...creds,
      env: {
        S3_ENDPOINT_URL: endpoint,
        S3_FORCE_PATH_STYLE: "1",
        AWS_REGION: creds.region,
        AWS_ACCESS_KEY_ID: creds.accessKeyId,
        AWS_SECRET_ACCESS_KEY: creds.secretAccessKey,
      },
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
        if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      },
    };
  }
  throw new Error(`moto S3 server did not start after 5 ports: ${lastLog}`);
}
