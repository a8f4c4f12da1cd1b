// Unit tests of the ltx doctor's weights checks on temporary folders laid out like LTX_MODEL_DIR, and of its
// memory lines (python/ltx_worker/memory.py doctor_rows, tested in python/tests/test_memory_plan.py).
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { ltxLineCheck } from "../../cli/commands/doctor.js";
import { cudaLine, manifestLines, MANIFEST_NAME, memoryLines, MODEL_VERSION, parseDriverCuda, weightsLines, type MemoryRow } from "./doctor.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-doctor-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("ltx doctor weights checks", () => {
  it("says the engine is off when LTX_MODEL_DIR is unset", () => {
    expect(weightsLines(undefined)).toEqual([expect.stringMatching(/LTX_MODEL_DIR is not set/)]);
  });

  it("names each missing part of an empty model folder", () => {
    const lines = weightsLines(tempDir()).join("\n");
    expect(lines).toMatch(/MISSING - .*model_index\.json/);
    expect(lines).toMatch(/MISSING - latent_upsampler/);
    expect(lines).toMatch(/MISSING - distilled\/transformer/);
  });

  it("reports a complete layout as ok and lists components a partial pipeline lacks", () => {
    const dir = tempDir();
    fs.writeFileSync(path.join(dir, "model_index.json"), "{}");
    for (const c of ["transformer", "vae", "audio_vae", "text_encoder", "tokenizer", "connectors", "vocoder"]) fs.mkdirSync(path.join(dir, c));
    expect(weightsLines(dir)[0]).toMatch(/INCOMPLETE - .* lacks scheduler/);
    fs.mkdirSync(path.join(dir, "scheduler"));
    fs.mkdirSync(path.join(dir, "latent_upsampler"));
    fs.writeFileSync(path.join(dir, "latent_upsampler", "config.json"), "{}");
    fs.mkdirSync(path.join(dir, "distilled_lora"));
    fs.writeFileSync(path.join(dir, "distilled_lora", "lora.safetensors"), "");
    fs.mkdirSync(path.join(dir, "distilled", "transformer"), { recursive: true });
    fs.writeFileSync(path.join(dir, "distilled", "transformer", "config.json"), "{}");
    const lines = weightsLines(dir);
    expect(lines).toHaveLength(5);
    for (const line of lines.slice(0, 4)) expect(line).toMatch(/^weights: ok - /);
    expect(lines[4]).toMatch(/no ltx_models_manifest\.json.*models download/);
  });

  it("accepts the nested upsampler layout of a plain `hf download`", () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, "latent_upsampler", "latent_upsampler"), { recursive: true });
    fs.writeFileSync(path.join(dir, "latent_upsampler", "latent_upsampler", "config.json"), "{}");
    expect(weightsLines(dir).join("\n")).toMatch(/ok - x2 latent upsampler \(latent_upsampler\/latent_upsampler\/\)/);
  });

  it("checks the manifest: missing file, truncated file, wrong version, each with the command to run", () => {
    const dir = tempDir();
    fs.mkdirSync(path.join(dir, "vae"));
    fs.writeFileSync(path.join(dir, "vae", "w.safetensors"), "x".repeat(10));
    fs.writeFileSync(path.join(dir, "model_index.json"), "{}");
    const write = (m: object) => fs.writeFileSync(path.join(dir, MANIFEST_NAME), JSON.stringify(m));
    const comps = {
      base: { repo: "diffusers/LTX-2.3-Diffusers", files: { "model_index.json": 2, "vae/w.safetensors": 10 } },
      distilled_transformer: { repo: "rootonchair/LTX-2.3-Distilled-v1.1-Diffusers", files: {} },
    };
    write({ format: 1, version: MODEL_VERSION, flows: ["fast"], components: comps });
    expect(manifestLines(dir)).toEqual([expect.stringMatching(/^weights: ok - manifest ltx-2.3\/distilled-1.1: 2 files/)]);
    fs.writeFileSync(path.join(dir, "vae", "w.safetensors"), "x".repeat(4));
    fs.rmSync(path.join(dir, "model_index.json"));
    const bad = manifestLines(dir).join("\n");
    expect(bad).toMatch(/MISSING - model_index\.json .*npx ltx-serve models download --dir/);
    expect(bad).toMatch(/FAILED - vae\/w\.safetensors is truncated \(4 of 10 bytes\)/);
    write({ format: 1, version: "ltx-2.3/distilled-1.0", components: { ...comps, distilled_transformer: { repo: "dg845/LTX-2.3-Distilled-Diffusers", files: {} } } });
    const old = manifestLines(dir).join("\n");
    expect(old).toMatch(/WRONG VERSION - the manifest says "ltx-2.3\/distilled-1.0"/);
    expect(old).toMatch(/WRONG VERSION - distilled_transformer came from dg845/);
  });
});

describe("ltx doctor CUDA diagnosis", () => {
  const smi = "| NVIDIA-SMI 570.124.06   Driver Version: 570.124.06   CUDA Version: 12.8   |";
  it("reads the driver's CUDA version", () => {
    expect(parseDriverCuda(smi)).toBe("12.8");
    expect(parseDriverCuda("garbage")).toBeNull();
  });
  it("tells a driver/build mismatch from a missing GPU and a CPU-only build", () => {
    const mismatch = cudaLine({ torch: "2.13.0", torchCuda: "13.0", driverCuda: "12.8", device: "auto" });
    expect(mismatch).toMatch(/driver\/build mismatch: torch 2.13.0 is built for CUDA 13.0 but the driver supports CUDA 12.8.*setup:ltx/);
    expect(cudaLine({ torch: "2.13.0", torchCuda: "13.0", driverCuda: null, device: "auto" })).toMatch(/NOT AVAILABLE - no NVIDIA GPU or driver/);
    expect(cudaLine({ torch: "2.13.0+cpu", torchCuda: null, driverCuda: "13.0", device: "auto" })).toMatch(/CPU-only build on a host with an NVIDIA driver/);
    expect(cudaLine({ torch: "2.13.0", torchCuda: null, driverCuda: null, device: "cpu" })).toMatch(/^cuda: note/);
  });
});

describe("ltx doctor memory lines", () => {
  const GiB = 2 ** 30;
  const row = (over: Partial<MemoryRow>): MemoryRow => ({
    resolution: "2160p", fps: 50, seconds: 10, configured_scale: 1, estimate_bytes: 92.3 * GiB, limit_bytes: 76 * GiB,
    limit_source: "GPU 0 (80 GiB)", scale: 1, used_estimate_bytes: 92.3 * GiB, status: "fits", ...over,
  });

  it("explains each case: fits, runs at a lower render scale, cannot run at all (a 422 naming the limit)", () => {
    const [fits, lowered, refused] = memoryLines(
      [
        row({ resolution: "1080p", fps: 25, estimate_bytes: 50.7 * GiB, status: "fits" }),
        row({ status: "lowered", scale: 0.75, used_estimate_bytes: 70 * GiB }),
        row({ status: "refused", scale: null, limit_source: "LTX_MEMORY_BUDGET_GB=40" }),
      ],
      "model",
    );
    expect(fits).toBe("memory 1080p @ 25 fps, 10 s, pro: ok - render scale 1, estimated 50.7 GiB of 76.0 GiB (GPU 0 (80 GiB), LTX_OFFLOAD=model)");
    expect(lowered).toMatch(/^memory 2160p @ 50 fps, 10 s, pro: note - at render scale 1 it needs an estimated 92\.3 GiB, more than 76\.0 GiB .* run at render scale 0\.75 \(70\.0 GiB\).*2160p=0\.75/);
    expect(refused).toMatch(/^memory 2160p @ 50 fps, 10 s, pro: NOT POSSIBLE - .*LTX_MEMORY_BUDGET_GB=40.*422 naming the limit.*LTX_OFFLOAD=model/);
    // The CLI reads these as checks: ok, note, and a problem.
    expect([fits, lowered, refused].map((l) => ltxLineCheck(l, true).status)).toEqual(["ok", "note", "missing"]);
  });
});
