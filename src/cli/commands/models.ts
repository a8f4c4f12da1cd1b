// `ltx-serve models download [--flows pro,fast] [--dir DIR]`: fetches the LTX-2.3 weights (the 2.3 dev
// pipeline with the matching 1.1 upsampler, distilled LoRA and distilled transformer) into the layout the
// ltx worker reads, through huggingface_hub in the worker's venv (resumable), and writes the size manifest
// `doctor` checks. `models verify` checks a folder against its manifest. See docs/ltx-engine.md, "Weights".
import { spawn } from "node:child_process";
import path from "node:path";
import type { Command } from "commander";
import { loadConfig } from "../../config.js";
import { PYTHON_DIR, pythonFor } from "../../engines/ltx/paths.js";
import { CliError } from "../lib/errors.js";
import { EXIT } from "../lib/exit-codes.js";

const FLOWS = new Set(["pro", "fast"]);

/** The folder to use: --dir, else LTX_MODEL_DIR, else ./models/ltx-2.3. */
export function modelsDir(dir: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(dir ?? env.LTX_MODEL_DIR ?? path.join("models", "ltx-2.3"));
}

/** Checks --flows ("pro,fast"); throws a usage error naming the option. */
export function parseFlows(text: string | undefined): string[] {
  const flows = (text ?? "pro,fast").split(",").map((f) => f.trim()).filter(Boolean);
  const bad = flows.filter((f) => !FLOWS.has(f));
  if (!flows.length || bad.length) {
    throw new CliError(`--flows must be a comma list of pro, fast; got ${JSON.stringify(text)}`, { exitCode: EXIT.usage });
  }
  return flows;
}

/** The worker-venv command line `models <action>` runs. */
export function modelsArgs(action: "download" | "verify", dir: string, flows: string[] | undefined): string[] {
  return ["-m", "ltx_worker.models", action, "--dir", dir, ...(flows ? ["--flows", flows.join(",")] : [])];
}

function runPython(args: string[]): Promise<number> {
  const python = pythonFor(loadConfig().ltxPython);
  return new Promise((resolve, reject) => {
    const child = spawn(python, args, {
      cwd: PYTHON_DIR,
      stdio: "inherit",
      env: { ...process.env, PYTHONPATH: PYTHON_DIR, HF_HUB_ENABLE_HF_TRANSFER: process.env.HF_HUB_ENABLE_HF_TRANSFER ?? "0" },
    });
    child.on("error", (err) =>
      reject(new CliError(`cannot run ${python}: ${err.message}`, { exitCode: EXIT.setupIncomplete, hint: "run `npm run setup:ltx` first (or set LTX_PYTHON)" })),
    );
    child.on("exit", (code) => resolve(code ?? 1));
  });
}

export function registerModelsCommand(program: Command): void {
  const models = program.command("models").description("download and check the local LTX-2.3 weights (the ltx engine)");
  models
    .command("download")
    .description("fetch the weights of the given flows into DIR (resumes; writes ltx_models_manifest.json)")
    .option("--flows <list>", "pro, fast or pro,fast", "pro,fast")
    .option("--dir <dir>", "target folder (default: LTX_MODEL_DIR, else ./models/ltx-2.3)")
    .action(async (opts: { flows?: string; dir?: string }) => {
      const flows = parseFlows(opts.flows);
      const dir = modelsDir(opts.dir);
      process.stderr.write(`models: downloading ${flows.join(",")} into ${dir} (about 112 GB for both flows)\n`);
      const code = await runPython(modelsArgs("download", dir, flows));
      if (code !== 0) process.exitCode = EXIT.usage;
      else process.stderr.write(`models: done. Start with LTX_MODEL_DIR=${dir} npm start\n`);
    });
  models
    .command("verify")
    .description("check DIR against its manifest: missing files, truncated files, wrong version (exit 9 on problems)")
    .option("--flows <list>", "the flows that must be complete")
    .option("--dir <dir>", "folder (default: LTX_MODEL_DIR, else ./models/ltx-2.3)")
    .action(async (opts: { flows?: string; dir?: string }) => {
      const code = await runPython(modelsArgs("verify", modelsDir(opts.dir), opts.flows ? parseFlows(opts.flows) : undefined));
      if (code !== 0) process.exitCode = EXIT.setupIncomplete;
    });
}
