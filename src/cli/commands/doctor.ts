// `ltx-serve doctor`: checks in plain words what `ltx-serve serve` needs here (Node, ffmpeg and
// ffprobe, a writable data folder, keys, the configured engines, and the local LTX-2.3 setup via the
// ltx engine's own doctor) and exits 9 when something needed is missing.
import fs from "node:fs";
import path from "node:path";
import type { Command } from "commander";
import { loadConfig, type Config } from "../../config.js";
import { ENDPOINTS } from "../../endpoints.js";
import { engineNameFor } from "../../engines/index.js";
import { ffmpegBinary, ffprobeBinary } from "../../media/ffmpeg.js";
import { CliError } from "../lib/errors.js";
import { EXIT } from "../lib/exit-codes.js";
import { callJson, checkHealth } from "../lib/http.js";
import { keyFromEnv, serverUrl } from "../lib/options.js";
import { runCommand } from "../lib/output.js";
import { pythonClientEnv } from "../../api/tls.js";

export type CheckStatus = "ok" | "note" | "missing";

export interface Check {
  /** What was checked, e.g. "ffmpeg". */
  check: string;
  status: CheckStatus;
  detail: string;
  /** Whether a "missing" here stops the service from working (else it is advice). */
  needed: boolean;
}

function nodeCheck(): Check {
  const major = Number(process.versions.node.split(".")[0]);
  return major >= 20
    ? { check: "node", status: "ok", detail: `Node ${process.versions.node}`, needed: true }
    : { check: "node", status: "missing", detail: `Node ${process.versions.node}; ltx-serve needs Node 20 or newer`, needed: true };
}

function binaryCheck(name: "ffmpeg" | "ffprobe", config: Config): Check {
  try {
    const b = name === "ffmpeg" ? ffmpegBinary(config.ffmpegPath) : ffprobeBinary(config.ffprobePath);
    return { check: name, status: "ok", detail: `${name} ${b.version} (${b.source}: ${b.path})`, needed: true };
  } catch (err) {
    return { check: name, status: "missing", detail: (err as Error).message, needed: true };
  }
}

/** The data folder is writable now, or its nearest existing parent is (it is created at start). */
export function dataDirCheck(dataDir: string): Check {
  if (fs.existsSync(dataDir)) {
    const probe = path.join(dataDir, `.doctor-${process.pid}`);
    try {
      fs.writeFileSync(probe, "ok");
      fs.rmSync(probe);
      return { check: "data dir", status: "ok", detail: `${dataDir} is writable`, needed: true };
    } catch (err) {
      return { check: "data dir", status: "missing", detail: `${dataDir} is not writable (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); set DATA_DIR to a writable folder`, needed: true };
    }
  }
  let parent = path.dirname(dataDir);
  while (!fs.existsSync(parent) && path.dirname(parent) !== parent) parent = path.dirname(parent);
  try {
    fs.accessSync(parent, fs.constants.W_OK);
    return { check: "data dir", status: "ok", detail: `${dataDir} does not exist yet; it will be created (${parent} is writable)`, needed: true };
  } catch {
    return { check: "data dir", status: "missing", detail: `${dataDir} does not exist and ${parent} is not writable; set DATA_DIR to a writable folder`, needed: true };
  }
}

async function keysCheck(config: Config): Promise<Check> {
  let stored = 0;
  if (fs.existsSync(path.join(config.dataDir, "ltx-serve.sqlite"))) {
    try {
      const [{ openDb }, { createKeyStore }] = await Promise.all([import("../../db.js"), import("../../keys.js")]);
      const db = openDb(config.dataDir);
      try {
        stored = createKeyStore({ db }).count();
      } finally {
        db.close();
      }
    } catch (err) {
      return { check: "API keys", status: "missing", detail: `cannot read the key database in ${config.dataDir}: ${(err as Error).message}`, needed: true };
    }
  }
  const total = stored + config.apiKeys.length;
  if (total === 0) {
    return { check: "API keys", status: "note", detail: "none yet: `ltx-serve serve` creates one at first start, or run `ltx-serve keys create NAME`", needed: false };
  }
  return { check: "API keys", status: "ok", detail: `${stored} stored, ${config.apiKeys.length} from API_KEYS`, needed: false };
}

/** Reads one line of ltxDoctor ("venv: MISSING - ...") as a check. */
export function ltxLineCheck(line: string, inUse: boolean): Check {
  const m = /^([^:]+):\s*(.*)$/.exec(line);
  const check = `ltx ${m ? m[1] : "engine"}`;
  const detail = m ? m[2] : line;
  const bad = /^(MISSING|FAILED|WRONG VERSION|NOT |ERROR)/i.test(detail) || /\bMISSING\b|\bFAILED\b/.test(detail);
  if (!bad) return { check, status: /^ok\b/i.test(detail) ? "ok" : "note", detail, needed: inUse };
  return { check, status: inUse ? "missing" : "note", detail, needed: inUse };
}

async function engineChecks(config: Config): Promise<Check[]> {
  const checks: Check[] = [];
  const names = new Map<string, string[]>();
  for (const e of ENDPOINTS) {
    try {
      const name = engineNameFor(config, e.id);
      names.set(name, [...(names.get(name) ?? []), e.id]);
    } catch (err) {
      checks.push({ check: "engines", status: "missing", detail: (err as Error).message, needed: true });
    }
  }
  for (const [name, endpoints] of names) {
    const used = `${name} serves ${endpoints.join(", ")}`;
    if (name === "preview") checks.push({ check: "engine", status: "ok", detail: `${used} (CPU preview engine: animates the image, not the LTX-2.3 model)`, needed: true });
    if (name === "ltx-api") {
      checks.push(
        config.ltxApiKey
          ? { check: "engine", status: "ok", detail: `${used} (hosted LTX API at ${config.ltxApiUrl}, LTX_API_KEY set)`, needed: true }
          : { check: "engine", status: "missing", detail: `${used} but LTX_API_KEY is not set`, needed: true },
      );
    }
    if (name === "ltx") checks.push({ check: "engine", status: config.ltxModelDir ? "ok" : "missing", detail: `${used}${config.ltxModelDir ? ` (LTX_MODEL_DIR=${config.ltxModelDir})` : " but LTX_MODEL_DIR is not set"}`, needed: true });
  }

  // The local LTX-2.3 setup: needed only when the ltx engine serves an endpoint, advice otherwise.
  const ltxInUse = names.has("ltx");
  let ltxDoctor: ((c: Config) => Promise<string[]>) | undefined;
  try {
    ({ ltxDoctor } = (await import("../../engines/ltx/doctor.js")) as { ltxDoctor: (c: Config) => Promise<string[]> });
  } catch {
    checks.push({ check: "ltx engine", status: "note", detail: "skipped: this build has no ltx engine doctor", needed: false });
  }
  if (ltxDoctor) {
    if (!ltxInUse) checks.push({ check: "ltx engine", status: "note", detail: "not in use (set LTX_MODEL_DIR to use the local LTX-2.3 model); its checks below are advice", needed: false });
    for (const line of await ltxDoctor(config)) checks.push(ltxLineCheck(line, ltxInUse));
  }
  return checks;
}

/** With --url (or LTX_SERVE_URL): is that server there, and does it accept the key? */
async function serverChecks(url: string, key: string | undefined): Promise<Check[]> {
  const checks: Check[] = [];
  try {
    const health = await checkHealth(url);
    checks.push({ check: "server", status: "ok", detail: `${url} answers (${(health.endpoints ?? []).map((e) => `${e.id}: ${e.engine}`).join(", ")})`, needed: true });
  } catch (err) {
    return [{ check: "server", status: "missing", detail: (err as Error).message, needed: true }];
  }
  if (!key) {
    checks.push({ check: "server key", status: "note", detail: "no --key or LTX_SERVE_KEY to try", needed: false });
    return checks;
  }
  try {
    await callJson({ url, key }, "GET", "/api/usage", { phase: "status" });
    checks.push({ check: "server key", status: "ok", detail: "the key is accepted", needed: true });
  } catch (err) {
    checks.push({ check: "server key", status: "missing", detail: err instanceof CliError ? err.message : String(err), needed: true });
  }
  return checks;
}

/** `--client python`: fal_client's environment for this server (its PUBLIC_URL, or --url, and the local CA). */
function clientEnvLines(client: string, config: Config, url: string | undefined): string[] {
  if (client !== "python") throw new CliError(`--client must be python, got ${JSON.stringify(client)}`, { exitCode: EXIT.usage });
  const caFile = config.tls === "self-signed" && !config.tlsCertFile ? path.join(config.dataDir, "tls", "ca.pem") : undefined;
  const publicUrl = (url || config.publicUrl).replace(/\/+$/, "");
  const lines = pythonClientEnv({ publicUrl, caFile });
  lines.push(`# uploads: import fal_client.client as fc; fc.REST_URL = "${publicUrl}/rest.fal.ai"; fc.CDN_URL = "${publicUrl}/v3.fal.media"`);
  return lines;
}

export function registerDoctorCommand(program: Command): void {
  program
    .command("doctor")
    .description("check what the service needs here: ffmpeg, data folder, keys, engines (exit 9 if something needed is missing)")
    .option("--url <url>", "also check a running server (default: LTX_SERVE_URL if set)")
    .option("--key <key>", "key to try against that server (default: LTX_SERVE_KEY, else FAL_KEY)")
    .option("--json", "print one JSON document on stdout")
    .option("--client <name>", "also print the environment a client needs for this server (python: fal_client)")
    .action(async (opts: { url?: string; key?: string; json?: boolean; client?: string }) => {
      await runCommand(opts, async (out) => {
        const config = loadConfig();
        const checks: Check[] = [nodeCheck(), binaryCheck("ffmpeg", config), binaryCheck("ffprobe", config), dataDirCheck(config.dataDir)];
        checks.push(await keysCheck(config));
        checks.push(...(await engineChecks(config)));
        if (opts.url || process.env.LTX_SERVE_URL) checks.push(...(await serverChecks(serverUrl(opts), opts.key || keyFromEnv())));
        const missing = checks.filter((c) => c.status === "missing" && c.needed);
        const clientEnv = opts.client ? clientEnvLines(opts.client, config, opts.url || process.env.LTX_SERVE_URL) : undefined;
        out.result({ ok: missing.length === 0, checks, ...(clientEnv ? { client_env: clientEnv } : {}) });
        const label: Record<CheckStatus, string> = { ok: "ok", note: "note", missing: "MISSING" };
        for (const c of checks) out.line(`${label[c.status].padEnd(8)} ${c.check}: ${c.detail}`);
        out.line("");
        out.line(missing.length === 0 ? "Everything needed is here." : `${missing.length} needed ${missing.length === 1 ? "part is" : "parts are"} missing: ${missing.map((c) => c.check).join(", ")}`);
        if (clientEnv) {
          out.line("");
          out.line(`${opts.client} client, set before \`import fal_client\`:`);
          for (const l of clientEnv) out.line(`  ${l}`);
        }
        if (missing.length) process.exitCode = EXIT.setupIncomplete;
      });
    });
}
