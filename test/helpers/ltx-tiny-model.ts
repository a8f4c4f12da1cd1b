// Shared fixture of the LTX worker tests: whether python/.venv is there (skip locally, fail in CI), and
// the tiny random LTX-2.3-shaped model built offline at run time by `python -m ltx_worker.tiny_model`.
import { execFile } from "node:child_process";
import fs from "node:fs";
import { promisify } from "node:util";
import { DEFAULT_PYTHON, PYTHON_DIR } from "../../src/engines/ltx/paths.js";

const run = promisify(execFile);

/** The worker's venv exists (`npm run setup:ltx`). */
export const LTX_VENV_READY = fs.existsSync(DEFAULT_PYTHON);
/** CI is set: a missing venv is then a failure, not a skip. */
export const IN_CI = Boolean(process.env.CI);
/** Run the suite unless the venv is missing outside CI. */
export const RUN_LTX_TESTS = LTX_VENV_READY || IN_CI;

/** Says once, at import, why a suite is skipped; pass the test file's name. */
export function warnIfLtxSkipped(suite: string): void {
  if (!RUN_LTX_TESTS) {
    console.warn(`[${suite}] SKIPPED: ${DEFAULT_PYTHON} is absent. Run \`npm run setup:ltx\` to run the LTX worker tests.`);
  }
}

/** Throws (in beforeAll) when CI is set but the venv is missing: .ci/run must install it first. */
export function requireLtxVenv(): void {
  if (!LTX_VENV_READY) {
    throw new Error(`CI is set but ${DEFAULT_PYTHON} is missing: .ci/run must run \`npm run setup:ltx\` before the tests`);
  }
}

/** Environment for the worker processes of tests: offline, two CPU threads (the machine has two cores). */
export const TINY_WORKER_ENV = { HF_HUB_OFFLINE: "1", OMP_NUM_THREADS: "2" } as const;

/** Writes the tiny random pipeline (with upsampler, distilled transformer and LoRA) to dir; returns dir. */
export async function buildTinyLtxModel(dir: string): Promise<string> {
  await run(DEFAULT_PYTHON, ["-m", "ltx_worker.tiny_model", dir], {
    cwd: PYTHON_DIR,
    env: { ...process.env, ...TINY_WORKER_ENV, PYTHONPATH: PYTHON_DIR },
    timeout: 170_000,
  });
  return dir;
}
