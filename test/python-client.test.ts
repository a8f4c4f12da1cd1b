// The Python client suite (python/client_tests, the real fal_client from PyPI) against a running
// ltx-serve with TLS=self-signed, configured only by the environment the README's Python recipe gives.
import { spawn, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { pythonClientEnv } from "../src/api/tls.js";
import { describeIfAvailable, unavailable, type Availability } from "./helpers/availability.js";
import { startTestService, type TestService } from "./helpers/service.js";

const REPO = path.resolve(import.meta.dirname, "..");
const PYTHON = path.join(REPO, "python/.venv/bin/python");
const SUITE = path.join(REPO, "python/client_tests");

function pythonAvailability(): Availability {
  if (!fs.existsSync(PYTHON)) return unavailable(`${PYTHON} is missing: run npm run setup:ltx`);
  const probe = spawnSync(PYTHON, ["-c", "import fal_client, pytest, PIL"], { encoding: "utf8" });
  if (probe.status !== 0) return unavailable(`fal_client, pytest or pillow missing in python/.venv (npm run setup:ltx): ${probe.stderr.trim().split("\n").at(-1)}`);
  return { run: true };
}

/** Counts from pytest's last summary line, e.g. "9 passed, 1 failed in 36.75s". */
function pytestSummary(output: string): Record<string, number> {
  const line = output.trimEnd().split("\n").reverse().find((l) => / in [\d.]+s/.test(l) && /\d+ (passed|failed|error)/.test(l)) ?? "";
  const counts: Record<string, number> = {};
  for (const m of line.matchAll(/(\d+) (passed|failed|errors?|skipped|deselected|xfailed|xpassed)/g)) counts[m[2].replace(/s$/, "")] = Number(m[1]);
  return counts;
}

function runPytest(env: NodeJS.ProcessEnv, basetemp: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(PYTHON, ["-m", "pytest", "-q", "-rfE", `--basetemp=${basetemp}`, SUITE], { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    child.on("close", (code) => resolve({ code, output }));
  });
}

describeIfAvailable("fal_client (Python) against the built-in TLS server", pythonAvailability(), () => {
  let svc: TestService;
  beforeAll(async () => {
    svc = await startTestService({ env: { TLS: "self-signed" } });
  });
  afterAll(async () => {
    await svc?.close();
  });

  it("passes the Python client suite with FAL_KEY, FAL_RUN_HOST, FAL_QUEUE_RUN_HOST and SSL_CERT_FILE only", async () => {
    expect(svc.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    // The exact lines the start banner and `ltx-serve doctor --client python` print.
    const lines = pythonClientEnv({ publicUrl: svc.url, caFile: path.join(svc.dataDir, "tls", "ca.pem"), key: svc.key });
    const clientEnv = Object.fromEntries(lines.map((l) => /^export (\w+)=(.*)$/.exec(l)!.slice(1, 3)));
    expect(Object.keys(clientEnv)).toEqual(["FAL_KEY", "FAL_RUN_HOST", "FAL_QUEUE_RUN_HOST", "SSL_CERT_FILE"]);
    const env: NodeJS.ProcessEnv = { ...process.env, ...clientEnv, PYTHONDONTWRITEBYTECODE: "1" };
    // Nothing else may steer the client: no proxies, no other CA settings.
    for (const name of ["SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "FAL_KEY_ID", "FAL_KEY_SECRET"]) delete env[name];
    const { code, output } = await runPytest(env, path.join(svc.dataDir, "pytest"));
    const counts = pytestSummary(output);
    if (code !== 0 || !counts.passed || counts.failed || counts.error) console.error(output);
    expect({ code, failed: counts.failed ?? 0, error: counts.error ?? 0 }, output.slice(-4000)).toEqual({ code: 0, failed: 0, error: 0 });
    expect(counts.passed).toBeGreaterThanOrEqual(10);
    expect(counts.skipped ?? 0).toBe(0);
  }, 240_000);
});
