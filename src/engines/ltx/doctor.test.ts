// Unit tests of the ltx doctor's weights checks on temporary folders laid out like LTX_MODEL_DIR.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { weightsLines } from "./doctor.js";

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
    expect(lines).toHaveLength(4);
    for (const line of lines) expect(line).toMatch(/^weights: ok - /);
  });
});
