// Runs Debian's nginx as a throwaway process with the documented site config (docs/examples/nginx.conf),
// its two addresses replaced, for reverse-proxy tests. Missing nginx skips locally and fails in CI.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { lowPort, unavailable, type Availability } from "./availability.js";

/** nginx binary; NGINX_PATH overrides the Debian location. */
export const NGINX_PATH = process.env.NGINX_PATH ?? "/usr/sbin/nginx";
export const EXAMPLE_CONFIG = path.resolve(import.meta.dirname, "../../docs/examples/nginx.conf");

export function nginxAvailability(): Availability {
  if (existsSync(NGINX_PATH)) return { run: true };
  return unavailable(`nginx not found at ${NGINX_PATH} (install Debian's nginx, or set NGINX_PATH)`);
}

export interface TestNginx {
  /** http://127.0.0.1:PORT, the proxy's origin. */
  origin: string;
  port: number;
  /** The site config as nginx runs it. */
  site: string;
  close(): Promise<void>;
}

/** Replaces `from` by `to`, exactly once: a change to the documented file must fail the test, not be skipped. */
function replaceOnce(text: string, from: string, to: string): string {
  const count = text.split(from).length - 1;
  if (count !== 1) throw new Error(`docs/examples/nginx.conf: expected "${from}" once, found it ${count} times`);
  return text.replace(from, to);
}

/** Starts nginx with the example site, listening on a free loopback port and proxying to `upstreamPort`. */
export async function startNginx(upstreamPort: number, port?: number): Promise<TestNginx> {
  port ??= await lowPort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-nginx-"));
  let site = fs.readFileSync(EXAMPLE_CONFIG, "utf8");
  site = replaceOnce(site, "listen 80;", `listen 127.0.0.1:${port};`);
  site = replaceOnce(site, "http://127.0.0.1:8787/", `http://127.0.0.1:${upstreamPort}/`);
  fs.writeFileSync(path.join(dir, "site.conf"), site);
  const temp = ["client_body", "proxy", "fastcgi", "uwsgi", "scgi"].map((t) => `  ${t}_temp_path ${path.join(dir, t)};`).join("\n");
  fs.writeFileSync(
    path.join(dir, "nginx.conf"),
    `${process.getuid?.() === 0 ? "user root;\n" : ""}daemon off;
worker_processes 1;
pid ${path.join(dir, "nginx.pid")};
error_log ${path.join(dir, "error.log")} warn;
events { worker_connections 256; }
http {
  access_log off;
${temp}
  include ${path.join(dir, "site.conf")};
}
`,
  );
  const child: ChildProcess = spawn(NGINX_PATH, ["-p", dir, "-c", path.join(dir, "nginx.conf"), "-e", path.join(dir, "error.log")], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout!.on("data", (d) => (out += d));
  child.stderr!.on("data", (d) => (out += d));
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${out}${readLog(dir)}`);
    try {
      await fetch(`${origin}/`);
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
    if (i === 99) throw new Error(`nginx did not start: ${out}${readLog(dir)}`);
  }
  return {
    origin,
    port,
    site,
    async close() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGQUIT");
        await exited;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function readLog(dir: string): string {
  const file = path.join(dir, "error.log");
  return existsSync(file) ? `\n${fs.readFileSync(file, "utf8")}` : "";
}
