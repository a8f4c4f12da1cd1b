// `ltx-serve doctor` for the ltx engine: says in plain words what the local LTX-2.3 setup lacks
// (Python, venv, packages, CUDA, weights, free GPU memory) and what to run to fix it.
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { Config } from "../../config.js";
import { DEFAULT_PYTHON, DEFAULT_VENV_DIR, PYTHON_DIR, pythonFor } from "./paths.js";

const run = promisify(execFile);

/** Rough resident bf16 need of the pro flow at 1080p (docs/ltx-engine.md, GPU memory table). */
const RESIDENT_GIB_NEEDED = 75;

const PROBE = String.raw`
import json, importlib, sys
out = {"python": sys.version.split()[0], "executable": sys.executable, "packages": {}, "errors": {}}
for name in ["torch", "diffusers", "transformers", "accelerate", "safetensors", "av", "PIL", "numpy"]:
    try:
        mod = importlib.import_module(name)
        out["packages"][name] = getattr(mod, "__version__", "?")
    except Exception as err:
        out["errors"][name] = f"{type(err).__name__}: {err}"
try:
    from diffusers import LTX2ConditionPipeline  # noqa: F401
    from diffusers.pipelines.ltx2 import LTX2LatentUpsamplePipeline  # noqa: F401
    out["ltx2_classes"] = True
except Exception as err:
    out["ltx2_classes"] = False
    out["errors"]["ltx2"] = f"{type(err).__name__}: {err}"
try:
    import torch
    out["cuda"] = bool(torch.cuda.is_available())
    out["cuda_version"] = torch.version.cuda
    out["gpus"] = []
    if out["cuda"]:
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            out["gpus"].append({"index": i, "name": torch.cuda.get_device_name(i), "free": free, "total": total})
except Exception as err:
    out["errors"]["cuda"] = f"{type(err).__name__}: {err}"
print(json.dumps(out))
`;

interface ProbeResult {
  python: string;
  executable: string;
  packages: Record<string, string>;
  errors: Record<string, string>;
  ltx2_classes?: boolean;
  cuda?: boolean;
  cuda_version?: string | null;
  gpus?: { index: number; name: string; free: number; total: number }[];
}

function gib(bytes: number): string {
  return `${(bytes / 2 ** 30).toFixed(1)} GiB`;
}

function pinnedVersions(): Record<string, string> {
  const pins: Record<string, string> = {};
  try {
    for (const line of fs.readFileSync(path.join(PYTHON_DIR, "requirements.txt"), "utf8").split("\n")) {
      const m = /^([A-Za-z0-9_.-]+)==([^\s#]+)/.exec(line.trim());
      if (m) pins[m[1]!.toLowerCase()] = m[2]!;
    }
  } catch {
    // no requirements file: nothing to compare against
  }
  return pins;
}

function folderSize(dir: string): number {
  let total = 0;
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else if (entry.isFile()) total += fs.statSync(p).size;
    }
  };
  try {
    walk(dir);
  } catch {
    // unreadable parts are reported by the component checks
  }
  return total;
}

/** Weights layout checks for LTX_MODEL_DIR (see docs/ltx-engine.md, "Weights"). */
export function weightsLines(modelDir: string | undefined): string[] {
  if (!modelDir) return ["weights: LTX_MODEL_DIR is not set, so the ltx engine is off (see docs/ltx-engine.md to download weights)"];
  if (!fs.existsSync(modelDir)) return [`weights: MISSING - LTX_MODEL_DIR=${modelDir} does not exist`];
  const lines: string[] = [];
  if (!fs.existsSync(path.join(modelDir, "model_index.json"))) {
    lines.push(`weights: MISSING - ${modelDir} has no model_index.json (needs the Diffusers-format LTX-2.3 pipeline)`);
  } else {
    const missing = ["transformer", "vae", "audio_vae", "text_encoder", "tokenizer", "connectors", "vocoder", "scheduler"].filter(
      (c) => !fs.existsSync(path.join(modelDir, c)),
    );
    lines.push(
      missing.length
        ? `weights: INCOMPLETE - ${modelDir} lacks ${missing.join(", ")}`
        : `weights: ok - Diffusers pipeline in ${modelDir} (${gib(folderSize(modelDir))} on disk)`,
    );
  }
  lines.push(
    fs.existsSync(path.join(modelDir, "latent_upsampler", "config.json"))
      ? "weights: ok - x2 latent upsampler (latent_upsampler/)"
      : "weights: MISSING - latent_upsampler/ (the x2 spatial upsampler, needed by both flows)",
  );
  const loraDir = path.join(modelDir, "distilled_lora");
  const lora = fs.existsSync(loraDir) ? fs.readdirSync(loraDir).filter((f) => f.endsWith(".safetensors")) : [];
  lines.push(
    lora.length
      ? `weights: ok - distilled LoRA ${lora[0]} (pro flow stage 2)`
      : "weights: note - no distilled_lora/*.safetensors: pro flow stage 2 runs without the distilled LoRA, so quality differs from the reference",
  );
  lines.push(
    fs.existsSync(path.join(modelDir, "distilled", "transformer", "config.json"))
      ? "weights: ok - distilled transformer (fast flow)"
      : lora.length
        ? "weights: note - no distilled/transformer: the fast flow uses the dev weights with the distilled LoRA"
        : "weights: MISSING - distilled/transformer (the fast flow, image-to-video/fast, cannot run)",
  );
  return lines;
}

/** Plain-language lines about everything the ltx engine needs. Never throws. */
export async function ltxDoctor(config: Pick<Config, "ltxModelDir" | "ltxPython" | "ltxDevice" | "ltxOffload">): Promise<string[]> {
  const lines: string[] = [];
  const python = pythonFor(config.ltxPython);
  const usingDefault = python === DEFAULT_PYTHON;
  if (usingDefault && !fs.existsSync(DEFAULT_VENV_DIR)) {
    lines.push(`venv: MISSING - ${DEFAULT_VENV_DIR} does not exist; run \`npm run setup:ltx\``);
  } else if (usingDefault) {
    lines.push(`venv: ok - ${DEFAULT_VENV_DIR}`);
  } else {
    lines.push(`venv: using LTX_PYTHON=${python}`);
  }

  let probe: ProbeResult | undefined;
  try {
    const { stdout } = await run(python, ["-c", PROBE], {
      cwd: PYTHON_DIR,
      timeout: 180_000,
      maxBuffer: 4 * 1024 * 1024,
      env: { ...process.env, HF_HUB_OFFLINE: "1", PYTHONPATH: PYTHON_DIR },
    });
    probe = JSON.parse(stdout.trim().split("\n").pop() ?? "{}") as ProbeResult;
  } catch (err) {
    lines.push(`python: FAILED - cannot run ${python}: ${(err as Error).message.split("\n")[0]}; run \`npm run setup:ltx\` or set LTX_PYTHON`);
  }

  if (probe) {
    lines.push(`python: ok - ${probe.python} at ${probe.executable}`);
    const pins = pinnedVersions();
    const aliases: Record<string, string> = { PIL: "pillow" };
    for (const [name, version] of Object.entries(probe.packages)) {
      const pinned = pins[(aliases[name] ?? name).toLowerCase()];
      const base = version.split("+")[0];
      lines.push(
        pinned && base !== pinned
          ? `package: WRONG VERSION - ${name} ${version}, requirements.txt pins ${pinned}; run \`npm run setup:ltx\``
          : `package: ok - ${name} ${version}`,
      );
    }
    for (const [name, error] of Object.entries(probe.errors)) {
      if (name !== "cuda") lines.push(`package: MISSING - ${name} (${error}); run \`npm run setup:ltx\``);
    }
    if (probe.ltx2_classes) lines.push("package: ok - diffusers has the LTX-2 condition and upsample pipelines");
    if (probe.cuda) {
      lines.push(`cuda: ok - CUDA ${probe.cuda_version ?? "?"}, ${probe.gpus?.length ?? 0} GPU(s)`);
      for (const gpu of probe.gpus ?? []) {
        const enough = gpu.free / 2 ** 30 >= RESIDENT_GIB_NEEDED;
        lines.push(
          `gpu ${gpu.index}: ${gpu.name}, ${gib(gpu.free)} free of ${gib(gpu.total)}` +
            (enough || config.ltxOffload !== "none"
              ? ""
              : ` - less than the ~${RESIDENT_GIB_NEEDED} GiB the pro flow needs resident in bf16 at 1080p; set LTX_OFFLOAD=model`),
        );
      }
    } else if (probe.errors.cuda) {
      lines.push(`cuda: FAILED - ${probe.errors.cuda}`);
    } else {
      lines.push(
        config.ltxDevice === "cpu"
          ? `cuda: note - torch ${probe.packages.torch ?? "?"} sees no NVIDIA GPU; LTX_DEVICE=cpu is practical only for tiny test models`
          : `cuda: NOT AVAILABLE - torch ${probe.packages.torch ?? "?"} sees no NVIDIA GPU; install a CUDA build of torch (docs/ltx-engine.md)`,
      );
    }
  }
  lines.push(...weightsLines(config.ltxModelDir));
  return lines;
}
