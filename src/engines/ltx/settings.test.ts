// Unit tests of the ltx engine's settings as loadConfig reads them from the environment (LTX_RENDER_SCALE per
// resolution, LTX_MEMORY_BUDGET_GB, LTX_PROMPT_CACHE_BYTES) and as the worker receives them.
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../config.js";
import { workerArguments, workerEnvironment } from "./index.js";
import { DEFAULT_RENDER_SCALE_SPEC, formatRenderScales, renderScaleFor } from "./render-scale.js";

describe("LTX_RENDER_SCALE", () => {
  it("defaults to 1440p=0.75 and 2160p=0.5 (both on the 1080p grid), 1 for every other size", () => {
    const scales = loadConfig({}).ltxRenderScale;
    expect(formatRenderScales(scales)).toBe(DEFAULT_RENDER_SCALE_SPEC);
    expect(renderScaleFor(scales, 1920, 1080)).toBe(1);
    expect(renderScaleFor(scales, 1080, 1920)).toBe(1);
    expect(renderScaleFor(scales, 2560, 1440)).toBe(0.75);
    expect(renderScaleFor(scales, 3840, 2160)).toBe(0.5);
    expect(renderScaleFor(scales, 2160, 3840)).toBe(0.5);
  });

  it("a single number still applies to every size", () => {
    for (const value of ["1", "0.5", "0.75", "0.0625", "0.001"]) {
      const scales = loadConfig({ LTX_RENDER_SCALE: value }).ltxRenderScale;
      expect(scales.byResolution).toEqual([]);
      for (const [w, h] of [[128, 120], [1920, 1080], [3840, 2160]] as const) expect(renderScaleFor(scales, w, h)).toBe(Number(value));
    }
  });

  it("per-resolution entries replace the defaults; a job takes the largest entry its short side reaches", () => {
    const scales = loadConfig({ LTX_RENDER_SCALE: "2160p=0.5,1440p=0.75" }).ltxRenderScale;
    expect(scales).toEqual({ default: 1, byResolution: [{ shortSide: 2160, scale: 0.5 }, { shortSide: 1440, scale: 0.75 }] });
    expect(renderScaleFor(scales, 3840, 2160)).toBe(0.5);
    expect(renderScaleFor(scales, 2560, 1440)).toBe(0.75);
    expect(renderScaleFor(scales, 1920, 1080)).toBe(1);
    const only = loadConfig({ LTX_RENDER_SCALE: "0.9, 2160P=0.25" }).ltxRenderScale;
    expect(renderScaleFor(only, 2560, 1440)).toBe(0.9);
    expect(renderScaleFor(only, 3840, 2160)).toBe(0.25);
    expect(formatRenderScales(only)).toBe("0.9,2160p=0.25");
  });

  it("stops the service at start with a message naming the setting for anything else", () => {
    for (const value of ["0", "-0.5", "1.01", "2", "2160p=0", "2160p=1.5"]) {
      expect(() => loadConfig({ LTX_RENDER_SCALE: value })).toThrow(/LTX_RENDER_SCALE must be a fraction in \(0, 1\]/);
    }
    for (const value of ["half", "Infinity", "2160p=half"]) {
      expect(() => loadConfig({ LTX_RENDER_SCALE: value })).toThrow(/LTX_RENDER_SCALE must be a number/);
    }
    expect(() => loadConfig({ LTX_RENDER_SCALE: "4k=0.5" })).toThrow(/LTX_RENDER_SCALE entries look like 2160p=0.5/);
    expect(() => loadConfig({ LTX_RENDER_SCALE: "2160p=0.5,2160p=0.25" })).toThrow(/LTX_RENDER_SCALE gives 2160p twice/);
    expect(() => loadConfig({ LTX_RENDER_SCALE: "0.5,0.25" })).toThrow(/LTX_RENDER_SCALE has more than one bare scale/);
  });
});

describe("LTX_MEMORY_BUDGET_GB", () => {
  it("is unset by default and must be a positive number of GiB", () => {
    expect(loadConfig({}).ltxMemoryBudgetGb).toBeUndefined();
    expect(loadConfig({ LTX_MEMORY_BUDGET_GB: "79.5" }).ltxMemoryBudgetGb).toBe(79.5);
    expect(() => loadConfig({ LTX_MEMORY_BUDGET_GB: "0" })).toThrow(/LTX_MEMORY_BUDGET_GB must be a positive number of GiB/);
    expect(() => loadConfig({ LTX_MEMORY_BUDGET_GB: "lots" })).toThrow(/LTX_MEMORY_BUDGET_GB must be a number/);
  });
});

describe("the worker's command line and environment", () => {
  it("passes the render-scale spec and the memory budget to the worker", () => {
    const config = loadConfig({ LTX_MODEL_DIR: "/m", LTX_RENDER_SCALE: "2160p=0.5,1440p=0.75", LTX_MEMORY_BUDGET_GB: "80" });
    const args = workerArguments(config);
    expect(args[args.indexOf("--render-scale") + 1]).toBe("1,1440p=0.75,2160p=0.5");
    expect(args[args.indexOf("--memory-budget-gb") + 1]).toBe("80");
    expect(workerArguments({ ...config, ltxRenderScale: 0.5, ltxMemoryBudgetGb: undefined })).not.toContain("--memory-budget-gb");
  });

  it("sets PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True unless the operator set it", () => {
    const config = loadConfig({});
    expect(workerEnvironment(config, {}).PYTORCH_CUDA_ALLOC_CONF).toBe("expandable_segments:True");
    expect(workerEnvironment(config, { PYTORCH_CUDA_ALLOC_CONF: "max_split_size_mb:512" }).PYTORCH_CUDA_ALLOC_CONF).toBe("max_split_size_mb:512");
  });
});

describe("LTX_PROMPT_CACHE_BYTES", () => {
  it("is unset by default (the worker's 4 GiB) and read as bytes when given", () => {
    expect(loadConfig({}).ltxPromptCacheBytes).toBeUndefined();
    expect(loadConfig({ LTX_PROMPT_CACHE_BYTES: "1073741824" }).ltxPromptCacheBytes).toBe(2 ** 30);
    expect(() => loadConfig({ LTX_PROMPT_CACHE_BYTES: "lots" })).toThrow(/LTX_PROMPT_CACHE_BYTES must be a number/);
  });
});
