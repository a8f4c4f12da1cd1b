// Unit tests of the ltx engine's settings as loadConfig reads them from the environment (LTX_RENDER_SCALE).
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../config.js";

describe("LTX_RENDER_SCALE", () => {
  it("defaults to 1, rendering at the full output size", () => {
    expect(loadConfig({}).ltxRenderScale).toBe(1);
  });

  it("accepts any fraction in (0, 1]", () => {
    for (const value of ["1", "0.5", "0.75", "0.0625", "0.001"]) {
      expect(loadConfig({ LTX_RENDER_SCALE: value }).ltxRenderScale).toBe(Number(value));
    }
  });

  it("stops the service at start with a message naming the setting for anything else", () => {
    for (const value of ["0", "-0.5", "1.01", "2"]) {
      expect(() => loadConfig({ LTX_RENDER_SCALE: value })).toThrow(/LTX_RENDER_SCALE must be a fraction in \(0, 1\]/);
    }
    for (const value of ["half", "Infinity"]) {
      expect(() => loadConfig({ LTX_RENDER_SCALE: value })).toThrow(/LTX_RENDER_SCALE must be a number/);
    }
  });
});

describe("LTX_PROMPT_CACHE_BYTES", () => {
  it("is unset by default (the worker's 4 GiB) and read as bytes when given", () => {
    expect(loadConfig({}).ltxPromptCacheBytes).toBeUndefined();
    expect(loadConfig({ LTX_PROMPT_CACHE_BYTES: "1073741824" }).ltxPromptCacheBytes).toBe(2 ** 30);
    expect(() => loadConfig({ LTX_PROMPT_CACHE_BYTES: "lots" })).toThrow(/LTX_PROMPT_CACHE_BYTES must be a number/);
  });
});
