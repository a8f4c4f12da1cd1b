// Unit tests of the engine's side of the worker protocol: line parsing and metric flattening.
import { describe, expect, it } from "vitest";
import { flattenMetrics } from "./index.js";
import { parseWorkerLine } from "./protocol.js";

describe("ltx worker protocol", () => {
  it("parses protocol events and ignores anything that is not a JSON object with a type", () => {
    expect(parseWorkerLine('{"type":"progress","id":"a","stage":"denoise-1","step":2,"total":30}')).toEqual({
      type: "progress",
      id: "a",
      stage: "denoise-1",
      step: 2,
      total: 30,
    });
    expect(parseWorkerLine("Loading pipeline components...: 100%")).toBeUndefined();
    expect(parseWorkerLine('{"no_type":1}')).toBeUndefined();
    expect(parseWorkerLine("{broken json")).toBeUndefined();
    expect(parseWorkerLine("[1,2]")).toBeUndefined();
  });

  it("flattens worker metrics into numeric request metrics with an ltx_ prefix and drops non-numbers", () => {
    const flat = flattenMetrics(
      {
        timings: { stage1: 12.5, stage2: 3.25, total: 20 },
        peak_gpu_memory_bytes: null,
        peak_rss_bytes: 1024,
        frames_generated: 153,
        note: "text",
      },
      95.5,
    );
    expect(flat).toEqual({
      ltx_stage1_seconds: 12.5,
      ltx_stage2_seconds: 3.25,
      ltx_total_seconds: 20,
      ltx_peak_rss_bytes: 1024,
      ltx_frames_generated: 153,
      ltx_model_load_seconds: 95.5,
    });
  });
});
