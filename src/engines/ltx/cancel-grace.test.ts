// Unit tests of the cancel grace derived from the observed step and decode times (cancel-grace.ts).
import { describe, expect, it } from "vitest";
import { CancelGraceTracker, GRACE_CAP_MS, computeGraceMs } from "./cancel-grace.js";

function clock() {
  const c = { t: 0, now: () => c.t };
  return c;
}

describe("cancel grace", () => {
  it("is the configured floor before any step was seen", () => {
    const c = clock();
    const g = new CancelGraceTracker(5_000, c.now);
    expect(g.graceMs()).toBe(5_000);
    g.observe({ stage: "denoise-1", step: 0, total: 30 });
    expect(g.graceMs()).toBe(5_000);
  });

  it("grows to twice the longest GPU step plus a second (7 s stage-1 steps give 15 s)", () => {
    const c = clock();
    const g = new CancelGraceTracker(5_000, c.now);
    g.observe({ stage: "denoise-1", step: 0, total: 30 });
    for (let i = 1; i <= 3; i++) {
      c.t += 7_000;
      g.observe({ stage: "denoise-1", step: i, total: 30 });
    }
    expect(g.unitMs("denoise-1")).toBe(7_000);
    expect(g.graceMs()).toBe(15_000);
    c.t += 3_000; // 3 s into the next step: only the rest of it is needed, plus the margin
    expect(g.graceMs()).toBe(12_000);
  });

  it("keeps the floor when steps are faster than it (CPU, tiny model)", () => {
    const c = clock();
    const g = new CancelGraceTracker(5_000, c.now);
    g.observe({ stage: "denoise-2", step: 0, total: 3 });
    c.t += 50;
    g.observe({ stage: "denoise-2", step: 1, total: 3 });
    expect(g.graceMs()).toBe(5_000);
  });

  it("sizes the decode stage from the previous job's decode and learns across jobs", () => {
    const c = clock();
    const g = new CancelGraceTracker(5_000, c.now);
    g.observe({ stage: "denoise-2", step: 0, total: 3 });
    c.t += 15_000;
    g.observe({ stage: "denoise-2", step: 1, total: 3 });
    g.observe({ stage: "decode", step: 0, total: 1 });
    // First decode ever: fall back to the longest unit seen (a 15 s stage-2 step).
    expect(g.graceMs()).toBe(31_000);
    c.t += 40_000;
    g.observe({ stage: "decode", step: 1, total: 1 });
    g.startJob();
    g.observe({ stage: "decode", step: 0, total: 1 });
    expect(g.unitMs("decode")).toBe(40_000);
    expect(g.graceMs()).toBe(81_000);
  });

  it("a larger LTX_CANCEL_GRACE_MS wins over the derived value, and a stuck worker is capped", () => {
    expect(computeGraceMs(60_000, "denoise-1", new Map([["denoise-1", 7_000]]))).toBe(60_000);
    expect(computeGraceMs(5_000, "decode", new Map([["decode", 10 * 60 * 60_000]]))).toBe(GRACE_CAP_MS);
  });
});
