// `ltx-serve doctor` for the ltx engine: says in plain words what the local LTX-2.3 setup lacks
// (Python, venv, packages, CUDA, weights, free GPU memory), which resolutions fit the GPU's memory at
// the configured render scale (or run lowered, or are refused), and what to run or set to fix it.
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import type { Config } from "../../config.js";
import { DEFAULT_PYTHON, DEFAULT_VENV_DIR, PYTHON_DIR, pythonFor } from "./paths.js";
import { formatRenderScales } from "./render-scale.js";

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
try:
    import os
    from ltx_worker import memory as M
    budget = os.environ.get("LTX_MEMORY_BUDGET_GB")
    limits = [(int(float(budget) * M.GIB), f"LTX_MEMORY_BUDGET_GB={budget}")] if budget else [
        (int(g["total"] * (1 - M.HEADROOM_FRACTION)), f"GPU {g['index']} ({g['total'] / M.GIB:.0f} GiB)") for g in out.get("gpus") or []]
    out["memory"] = [M.doctor_rows(b, src, os.environ.get("LTX_OFFLOAD") or "none", os.environ.get("LTX_RENDER_SCALE"),
                                   os.environ.get("LTX_DOCTOR_BOTH_FLOWS") == "1") for b, src in limits]
except Exception as err:
    out["memory_error"] = f"{type(err).__name__}: {err}"
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
  /** Per limit (LTX_MEMORY_BUDGET_GB, else each GPU): python/ltx_worker/memory.py doctor_rows. */
  memory?: MemoryRow[][];
  memory_error?: string;
}

/** What a pro request of one resolution would do under the memory estimate (docs/ltx-engine.md, "Memory estimate before a job"). */
export interface MemoryRow {
  resolution: string;
  fps: number;
  seconds: number;
  configured_scale: number;
  estimate_bytes: number;
  limit_bytes: number;
  limit_source: string;
  scale: number | null;
  used_estimate_bytes?: number | null;
  status: "fits" | "lowered" | "refused";
  message?: string;
}

/** One line per resolution and fps: fits, runs at a lower render scale, or is refused with a 422 (and what to change). */
export function memoryLines(rows: MemoryRow[], offload: string): string[] {
  return rows.map((r) => {
    const head = `memory ${r.resolution} @ ${r.fps} fps, ${r.seconds} s, pro`;
    const where = `${r.limit_source}, LTX_OFFLOAD=${offload}`;
    const at = `render scale ${r.configured_scale}`;
    if (r.status === "fits") return `${head}: ok - ${at}, estimated ${gib(r.estimate_bytes)} of ${gib(r.limit_bytes)} (${where})`;
    if (r.status === "lowered") {
      return `${head}: note - at ${at} it needs an estimated ${gib(r.estimate_bytes)}, more than ${gib(r.limit_bytes)} (${where}); such requests run at render scale ${r.scale} (${gib(r.used_estimate_bytes ?? 0)}), fewer generated pixels; add ${r.resolution}=${r.scale} to LTX_RENDER_SCALE to make it explicit, or set LTX_OFFLOAD=model`;
    }
    return `${head}: NOT POSSIBLE - needs an estimated ${gib(r.estimate_bytes)} at ${at}, more than the ${gib(r.limit_bytes)} limit (${where}) even at the lowest render scale; such requests fail at once with a 422 naming the limit. Set LTX_OFFLOAD=model, use a larger card, or send shorter clips`;
  });
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
  const nested = path.join(modelDir, "latent_upsampler", "latent_upsampler", "config.json");
  lines.push(
    fs.existsSync(nested) || fs.existsSync(path.join(modelDir, "latent_upsampler", "config.json"))
      ? `weights: ok - x2 latent upsampler (${fs.existsSync(nested) ? "latent_upsampler/latent_upsampler/" : "latent_upsampler/"})`
      : `weights: MISSING - latent_upsampler/ (the x2 spatial upsampler, needed by both flows); run \`npx ltx-serve models download --dir ${modelDir}\``,
  );
  const loraDir = path.join(modelDir, "distilled_lora");
  const lora = fs.existsSync(loraDir) ? fs.readdirSync(loraDir, { recursive: true }).map(String).filter((f) => f.endsWith(".safetensors")) : [];
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
  lines.push(...manifestLines(modelDir));
  return lines;
}

/** The release `ltx-serve models download` fetches (python/ltx_worker/models.py MODEL_VERSION). */
export const MODEL_VERSION = "ltx-2.3/distilled-1.1";
export const MANIFEST_NAME = "ltx_models_manifest.json";

interface Manifest {
  format?: number;
  version?: string;
  tiny?: boolean;
  flows?: string[];
  components?: Record<string, { repo?: string; files?: Record<string, number> }>;
}

/** Checks LTX_MODEL_DIR against the manifest `models download` wrote: missing, truncated, wrong version. */
export function manifestLines(modelDir: string): string[] {
  const fix = `run \`npx ltx-serve models download --dir ${modelDir}\` (it resumes and keeps complete files)`;
  let manifest: Manifest;
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(modelDir, MANIFEST_NAME), "utf8")) as Manifest;
  } catch {
    return [`weights: note - no ${MANIFEST_NAME}: sizes and versions cannot be checked; ${fix}`];
  }
  const lines: string[] = [];
  if (manifest.version !== MODEL_VERSION) {
    lines.push(`weights: WRONG VERSION - the manifest says ${JSON.stringify(manifest.version)}, the worker needs ${MODEL_VERSION}; ${fix}`);
  }
  const expectedRepo: Record<string, string> = {
    base: "diffusers/LTX-2.3-Diffusers",
    upsampler: "rootonchair/LTX-2.3-spatial-upscaler-x2-v1.1-Diffusers",
    distilled_lora: "Lightricks/LTX-2.3",
    distilled_transformer: "rootonchair/LTX-2.3-Distilled-v1.1-Diffusers",
  };
  let files = 0;
  let bytes = 0;
  for (const [name, comp] of Object.entries(manifest.components ?? {})) {
    if (!manifest.tiny && expectedRepo[name] && comp.repo !== expectedRepo[name]) {
      lines.push(`weights: WRONG VERSION - ${name} came from ${comp.repo}, expected ${expectedRepo[name]}; ${fix}`);
    }
    for (const [rel, size] of Object.entries(comp.files ?? {})) {
      files += 1;
      bytes += size;
      const p = path.join(modelDir, rel);
      if (!fs.existsSync(p)) lines.push(`weights: MISSING - ${rel} (${name}); ${fix}`);
      else if (fs.statSync(p).size !== size) lines.push(`weights: FAILED - ${rel} is truncated (${fs.statSync(p).size} of ${size} bytes); ${fix}`);
    }
  }
  if (!lines.length) lines.push(`weights: ok - manifest ${manifest.version}${manifest.tiny ? " (tiny test model)" : ""}: ${files} files, ${gib(bytes)}, flows ${(manifest.flows ?? []).join(",")}`);
  return lines;
}

/** Plain-language lines about everything the ltx engine needs. Never throws. */
export async function ltxDoctor(
  config: Pick<Config, "ltxModelDir" | "ltxPython" | "ltxDevice" | "ltxOffload"> & Partial<Pick<Config, "ltxRenderScale" | "ltxMemoryBudgetGb">>,
): Promise<string[]> {
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
      env: {
        ...process.env,
        HF_HUB_OFFLINE: "1",
        PYTHONPATH: PYTHON_DIR,
        LTX_OFFLOAD: config.ltxOffload,
        LTX_RENDER_SCALE: config.ltxRenderScale ? formatRenderScales(config.ltxRenderScale) : (process.env.LTX_RENDER_SCALE ?? ""),
        LTX_MEMORY_BUDGET_GB: config.ltxMemoryBudgetGb !== undefined ? String(config.ltxMemoryBudgetGb) : "",
        LTX_DOCTOR_BOTH_FLOWS: config.ltxModelDir && fs.existsSync(path.join(config.ltxModelDir, "distilled", "transformer")) ? "1" : "0",
      },
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
      lines.push(cudaLine({ torch: probe.packages.torch, torchCuda: probe.cuda_version ?? null, driverCuda: await driverCudaVersion(), device: config.ltxDevice }));
    }
  }
  if (probe?.memory) for (const rows of probe.memory) lines.push(...memoryLines(rows, config.ltxOffload));
  if (probe?.memory_error) lines.push(`memory: FAILED - cannot compute the memory estimate: ${probe.memory_error}`);
  lines.push(...weightsLines(config.ltxModelDir));
  return lines;
}

/** The "CUDA Version" nvidia-smi prints (the newest CUDA the driver runs), "" when there is no driver. */
export function parseDriverCuda(nvidiaSmi: string): string | null {
  const m = /CUDA Version\s*:\s*(\d+\.\d+)/.exec(nvidiaSmi);
  return m ? m[1]! : null;
}

async function driverCudaVersion(): Promise<string | null> {
  try {
    const { stdout } = await run("nvidia-smi", [], { timeout: 30_000 });
    return parseDriverCuda(stdout) ?? "unknown";
  } catch {
    return null;
  }
}

function versionLess(a: string, b: string): boolean {
  const [a1 = 0, a2 = 0] = a.split(".").map(Number);
  const [b1 = 0, b2 = 0] = b.split(".").map(Number);
  return a1 < b1 || (a1 === b1 && a2 < b2);
}

/**
 * Why torch sees no GPU, told apart: no NVIDIA driver at all, a driver older than torch's CUDA build
 * (torch 2.13.0 from PyPI is CUDA 13.0 and needs R580+), or a CPU-only torch on a GPU host.
 */
export function cudaLine(p: { torch?: string; torchCuda: string | null; driverCuda: string | null; device: string }): string {
  const torch = `torch ${p.torch ?? "?"}`;
  const rerun = "run `npm run setup:ltx` again (it picks the build from nvidia-smi; docs/ltx-engine.md)";
  if (p.driverCuda === null) {
    return p.device === "cpu"
      ? `cuda: note - no NVIDIA driver (nvidia-smi not found); LTX_DEVICE=cpu is practical only for tiny test models`
      : `cuda: NOT AVAILABLE - no NVIDIA GPU or driver on this host (nvidia-smi not found); install the NVIDIA driver, or set LTX_DEVICE=cpu for tiny test models only`;
  }
  if (p.torchCuda === null) {
    return `cuda: FAILED - ${torch} is a CPU-only build on a host with an NVIDIA driver (CUDA ${p.driverCuda}); ${rerun}`;
  }
  if (p.driverCuda !== "unknown" && versionLess(p.driverCuda, p.torchCuda)) {
    return `cuda: FAILED - driver/build mismatch: ${torch} is built for CUDA ${p.torchCuda} but the driver supports CUDA ${p.driverCuda} at most; ${rerun}, or upgrade the driver (R580+ for CUDA 13)`;
  }
  return `cuda: FAILED - ${torch} (CUDA ${p.torchCuda}) and the driver (CUDA ${p.driverCuda}) match but torch sees no GPU; check \`nvidia-smi\`, CUDA_VISIBLE_DEVICES and the device permissions`;
}
