// Throwaway PostgreSQL clusters for tests: initdb in a temporary folder (as the `postgres` user when
// the tests run as root, since the server refuses root), the server started as a child process on a
// loopback port below 32768, durability off for speed; stop() shuts it down and removes the folder.
// Binaries: PG_BIN, else Debian's /usr/lib/postgresql/<N>/bin (newest), else `postgres` on PATH.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import pg from "pg";
import { lowPort, unavailable, type Availability } from "./availability.js";

export interface PgCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** Creates an empty database and returns its URL (one per test file or test keeps them apart). */
  createDatabase(name?: string): Promise<string>;
  stop(): Promise<void>;
}

function hasServer(dir: string): boolean {
  return fs.existsSync(path.join(dir, "initdb")) && fs.existsSync(path.join(dir, "postgres"));
}

/** The folder holding initdb and postgres, or undefined. */
export function postgresBinDir(): string | undefined {
  if (process.env.PG_BIN) return hasServer(process.env.PG_BIN) ? process.env.PG_BIN : undefined;
  const debian = "/usr/lib/postgresql";
  if (fs.existsSync(debian)) {
    const versions = fs.readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    for (const v of versions) if (hasServer(path.join(debian, v, "bin"))) return path.join(debian, v, "bin");
  }
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) if (dir && hasServer(dir)) return dir;
  return undefined;
}

/** The uid/gid to run the server as: the `postgres` user when we are root, else ourselves. */
function serverUser(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  try {
    const uid = Number(execFileSync("id", ["-u", "postgres"], { encoding: "utf8" }).trim());
    const gid = Number(execFileSync("id", ["-g", "postgres"], { encoding: "utf8" }).trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

export function postgresAvailability(): Availability {
  if (!postgresBinDir()) {
    return unavailable("PostgreSQL server binaries not found (install Debian's postgresql-15, or set PG_BIN to the folder with initdb and postgres)");
  }
  if (process.getuid?.() === 0 && !serverUser()) return unavailable("running as root but there is no `postgres` user to run the server as");
  return { run: true };
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function killOnExit(child: ChildProcess): void {
  live.add(child);
  child.once("exit", () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // SIGQUIT = immediate shutdown; keeps a crashed test process from leaving a server behind.
  process.once("exit", () => {
    for (const c of live) c.kill("SIGQUIT");
  });
}

export async function startPostgres(): Promise<PgCluster> {
  const bin = postgresBinDir();
  if (!bin) throw new Error("PostgreSQL binaries not found");
  const user = serverUser();
  // Under the system temp folder, not TMPDIR: the tests' TMPDIR is root's 0700 folder, which the
  // postgres user cannot enter.
  const dir = fs.mkdtempSync(path.join(process.env.PG_TEST_TMP ?? "/tmp", "ltx-serve-pg-"));
  if (user) fs.chownSync(dir, user.uid, user.gid);
  const data = path.join(dir, "data");
  const asUser = user ? { uid: user.uid, gid: user.gid } : {};
  try {
    execFileSync(path.join(bin, "initdb"), ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"], {
      ...asUser,
      cwd: dir,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LC_ALL: "C.UTF-8" },
    });
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    const e = err as { stderr?: Buffer };
    throw new Error(`initdb failed: ${e.stderr?.toString() ?? String(err)}`);
  }
  let lastLog = "";
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await lowPort();
    const child = spawn(
      path.join(bin, "postgres"),
      ["-D", data, "-p", String(port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"],
      { ...asUser, cwd: dir, stdio: ["ignore", "pipe", "pipe"] },
    );
    killOnExit(child);
    let log = "";
    child.stdout!.on("data", (d) => (log += d));
    child.stderr!.on("data", (d) => (log += d));
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    const ready = await waitReady(url, child);
    if (!ready) {
      lastLog = log;
      child.kill("SIGQUIT");
      continue;
    }
    let dbCount = 0;
    return {
      url,
      port,
      async createDatabase(name?: string) {
        const db = name ?? `t_${process.pid}_${++dbCount}`;
        if (!/^[a-z_][a-z0-9_]*$/.test(db)) throw new Error(`database name must be a plain identifier, got ${db}`);
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        try {
          await c.query(`CREATE DATABASE ${db}`);
        } finally {
          await c.end();
        }
        return `postgres://postgres@127.0.0.1:${port}/${db}`;
      },
      async stop() {
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((r) => child.once("exit", r));
          child.kill("SIGINT"); // fast shutdown
          await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
          if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
        }
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  fs.rmSync(dir, { recursive: true, force: true });
  throw new Error(`PostgreSQL did not start after 5 ports: ${lastLog}`);
}

async function waitReady(url: string, child: ChildProcess): Promise<boolean> {
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1000 });
    c.on("error", () => {});
    try {
      await c.connect();
      await c.query("SELECT 1");
      await c.end();
      return true;
    } catch {
      await c.end().catch(() => {});
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return false;
}
