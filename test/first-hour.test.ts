// What a newcomer meets in the first hour: the start banner ends with the next step, a taken port
// says how to pick another, access logs stay out of the way at the default level, no --help shows
// a key, and the key variable has one documented name (LTX_SERVE_KEY, FAL_KEY accepted).
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Command } from "commander";
import { afterAll, describe, expect, it } from "vitest";
import { KEY_VARIABLE, resolveServer } from "../src/cli/lib/options.js";
import { buildProgram } from "../src/cli/program.js";
import { freePort } from "./helpers/service.js";

const REPO = path.resolve(import.meta.dirname, "..");
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

function serve(dataDir: string, port: number) {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), DATA_DIR: dataDir };
  delete env.LOG_LEVEL;
  delete env.API_KEYS;
  const child = spawn(process.execPath, ["--import", "tsx", "src/cli/main.ts", "serve"], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  const out = { stdout: "", stderr: "" };
  child.stdout!.on("data", (d) => (out.stdout += d));
  child.stderr!.on("data", (d) => (out.stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, out, exited };
}

async function until(what: string, probe: () => boolean, exited: Promise<unknown>): Promise<void> {
  let gone = false;
  void exited.then(() => (gone = true));
  for (let i = 0; i < 1200 && !probe(); i++) {
    if (gone) throw new Error(`process exited before ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!probe()) throw new Error(`timed out waiting for ${what}`);
}

function allCommands(cmd: Command): Command[] {
  return [cmd, ...cmd.commands.flatMap(allCommands)];
}

describe("the first hour", () => {
  it("prints the next step last, keeps access logs out at the default level, and explains a taken port", async () => {
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-first-hour-"));
    dirs.push(dataDir);
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const first = serve(dataDir, port);
    await until("the banner", () => first.out.stdout.includes("or open the playground"), first.exited);
    const banner = first.out.stdout.trimEnd().split("\n");
    const key = /created an API key \(shown once, keep it\): (\S+)/.exec(first.out.stdout)?.[1];
    expect(key).toBeDefined();
    // The last three lines: export the key, one generate command, the playground.
    expect(banner.slice(-3)).toEqual([
      `  export ${KEY_VARIABLE}=${key}`,
      `  npx ltx-serve generate --url ${url} --image photo.jpg --prompt "slow push in" -o clip.mp4`,
      `or open the playground: ${url}/`,
    ]);
    expect(first.out.stdout).toMatch(/PORT=8788 npm start/);

    // Polls and page loads write nothing at the default level.
    for (let i = 0; i < 5; i++) expect((await fetch(`${url}/health`)).status).toBe(200);
    expect((await fetch(`${url}/api/requests`, { headers: { authorization: `Key ${key}` } })).status).toBe(200);
    expect((await fetch(`${url}/no-such-route`)).status).toBe(404);

    // A second server on the same port says how to pick another one and exits 1.
    const second = serve(dataDir, port);
    expect(await second.exited).toBe(1);
    expect(second.out.stderr).toContain(`cannot listen on 127.0.0.1:${port}: the port is already in use`);
    expect(second.out.stderr).toContain(`PORT=${port + 1} npm start`);
    expect(second.out.stderr).not.toMatch(/\n\s+at\s/);

    first.child.kill("SIGTERM");
    expect(await first.exited).toBe(0);
    expect(first.out.stdout).not.toMatch(/incoming request|request completed|"msg":"request"/);
    // Nothing but the shutdown line follows the banner.
    const after = first.out.stdout.slice(first.out.stdout.indexOf("or open the playground")).split("\n").slice(1).filter(Boolean);
    expect(after.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(["shutting down"]);
  }, 180_000);

  it("no --help prints the API key, whichever variable holds it", () => {
    const saved = { a: process.env.LTX_SERVE_KEY, b: process.env.FAL_KEY };
    process.env.LTX_SERVE_KEY = "ltx_secret_in_env_1";
    process.env.FAL_KEY = "ltx_secret_in_env_2";
    try {
      const commands = allCommands(buildProgram());
      expect(commands.length).toBeGreaterThan(15);
      for (const c of commands) {
        const help = c.helpInformation();
        expect(help, `ltx-serve ${c.name()} --help`).not.toContain("ltx_secret_in_env");
      }
    } finally {
      process.env.LTX_SERVE_KEY = saved.a;
      process.env.FAL_KEY = saved.b;
      if (saved.a === undefined) delete process.env.LTX_SERVE_KEY;
      if (saved.b === undefined) delete process.env.FAL_KEY;
    }
  });

  it("reads the key from LTX_SERVE_KEY, falls back to FAL_KEY, and --key wins over both", () => {
    expect(resolveServer({}, { LTX_SERVE_KEY: "a", FAL_KEY: "b" }).key).toBe("a");
    expect(resolveServer({}, { FAL_KEY: "b" }).key).toBe("b");
    expect(resolveServer({ key: "c" }, { LTX_SERVE_KEY: "a", FAL_KEY: "b" }).key).toBe("c");
    expect(() => resolveServer({}, {})).toThrow(/set LTX_SERVE_KEY/);
  });

  it("every document and snippet names the key variable LTX_SERVE_KEY", () => {
    const texts = ["README.md", "docs/cli.md", "docs/webhooks.md", "src/web/assets/snippets.js"].map((f) => [f, fs.readFileSync(path.join(REPO, f), "utf8")] as const);
    for (const [file, text] of texts) {
      expect(text, file).not.toMatch(/export FAL_KEY="your key"|process\.env\.FAL_KEY|\$FAL_KEY\b/);
    }
    expect(fs.readFileSync(path.join(REPO, "src/web/assets/snippets.js"), "utf8")).toContain("LTX_SERVE_KEY");
  });
});

describe("documented commands", () => {
  it("every curl example in the README and docs/ uses a route that exists", async () => {
    const { startTestService } = await import("./helpers/service.js");
    const svc = await startTestService();
    try {
      const files = ["README.md", ...fs.readdirSync(path.join(REPO, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`)];
      const calls: { file: string; method: string; route: string }[] = [];
      for (const file of files) {
        const text = fs.readFileSync(path.join(REPO, file), "utf8").replace(/\\\n/g, " ");
        for (const line of text.split("\n")) {
          const m = /\bcurl\b.*?https?:\/\/127\.0\.0\.1:8787(\/[^\s"'$]*)/.exec(line);
          if (!m) continue;
          const method = /-X\s+(\w+)/.exec(line)?.[1] ?? (/\s-d\s|--data/.test(line) ? "POST" : "GET");
          calls.push({ file, method, route: m[1] });
        }
      }
      expect(calls.length).toBeGreaterThan(0);
      for (const c of calls) {
        const res = await fetch(`${svc.url}${c.route}`, { method: c.method, headers: { authorization: `Key ${svc.key}`, "content-type": "application/json" }, body: c.method === "GET" ? undefined : "{}" });
        const body = await res.text();
        expect(body, `${c.file}: ${c.method} ${c.route}`).not.toMatch(/No route for/);
      }
    } finally {
      await svc.close();
    }
  });
});
