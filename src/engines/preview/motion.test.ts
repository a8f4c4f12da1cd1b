// Unit tests of camera motion: prompt words to moves, views that always cover the frame, first and last
// frames on the full pictures, smooth (jolt-free) paths at 24 fps and moves in the right direction.
import { describe, expect, it } from "vitest";
import { CAMERA_MOTIONS } from "../../endpoints.js";
import { chooseMotion, planMotion, type MotionKind } from "./motion.js";
import { IDENTITY_VIEW, type View } from "./sampler.js";

const ALL_KINDS: MotionKind[] = [...CAMERA_MOTIONS, "orbit", "handheld", "gentle_push"];

describe("chooseMotion", () => {
  it.each<[string, MotionKind]>([
    ["Slow push in on the old lighthouse", "dolly_in"],
    ["The camera zooms in on her face", "dolly_in"],
    ["Pull out to reveal the valley", "dolly_out"],
    ["zoom out from the city", "dolly_out"],
    ["Pan left across the harbour", "dolly_left"],
    ["camera pans right over the fields", "dolly_right"],
    ["Tilt up to the sky", "jib_up"],
    ["tilting down to the river", "jib_down"],
    ["An orbit around the statue", "orbit"],
    ["arc shot around the dancers", "orbit"],
    ["Locked-off shot of a street corner", "static"],
    ["static camera, rain falls", "static"],
    ["Handheld, walking through the market", "handheld"],
    ["rack focus from the flowers to the house", "focus_shift"],
    ["A quiet lake at dawn", "gentle_push"],
  ])("reads %j as %s", (prompt, kind) => {
    expect(chooseMotion(prompt)).toBe(kind);
  });

  it("takes the move named first when the prompt names several", () => {
    expect(chooseMotion("Pan left, then push in on the door")).toBe("dolly_left");
  });

  it("lets camera_motion override the prompt", () => {
    expect(chooseMotion("Pan left across the harbour", "jib_down")).toBe("jib_down");
  });
});

const insidePicture = (v: View) =>
  v.zoom >= 1 && v.centerX - 0.5 / v.zoom >= -1e-9 && v.centerX + 0.5 / v.zoom <= 1 + 1e-9 && v.centerY - 0.5 / v.zoom >= -1e-9 && v.centerY + 0.5 / v.zoom <= 1 + 1e-9;

/** Output-pixel positions of the view's left and top edges and its width, for a 1920x1080 frame. */
function pixels(v: View): number[] {
  return [(v.centerX - 0.5 / v.zoom) * 1920 * v.zoom, (v.centerY - 0.5 / v.zoom) * 1080 * v.zoom, 1920 * v.zoom];
}

describe("planMotion", () => {
  it.each(ALL_KINDS)("%s: every view stays inside the picture, with and without an end image", (kind) => {
    for (const hasEndImage of [false, true]) {
      const plan = planMotion({ kind, durationSeconds: 10, seed: 42, hasEndImage });
      for (let i = 0; i <= 500; i++) {
        const f = plan(i / 500);
        expect(insidePicture(f.start)).toBe(true);
        if (f.end) expect(insidePicture(f.end)).toBe(true);
        expect(f.endWeight).toBeGreaterThanOrEqual(0);
        expect(f.endWeight).toBeLessThanOrEqual(1);
      }
    }
  });

  it.each(ALL_KINDS.filter((k) => k !== "dolly_out"))("%s starts on the full start picture", (kind) => {
    const f = planMotion({ kind, durationSeconds: 6, seed: 1, hasEndImage: false })(0);
    expect(f.start).toEqual(IDENTITY_VIEW);
    expect(f.defocus).toBe(0);
  });

  it("pull-out without an end image ends on the full picture, starting pushed in", () => {
    const plan = planMotion({ kind: "dolly_out", durationSeconds: 6, seed: 1, hasEndImage: false });
    expect(plan(0).start.zoom).toBeGreaterThan(1.1);
    expect(plan(1).start).toEqual(IDENTITY_VIEW);
  });

  it.each(ALL_KINDS)("%s with an end image starts on the full start picture and ends on the full end picture", (kind) => {
    const plan = planMotion({ kind, durationSeconds: 6, seed: 3, hasEndImage: true });
    expect(plan(0)).toMatchObject({ start: IDENTITY_VIEW, endWeight: 0, defocus: 0 });
    expect(plan(1)).toMatchObject({ end: IDENTITY_VIEW, endWeight: 1 });
    expect(plan(1).defocus).toBeCloseTo(0, 12);
  });

  it.each(ALL_KINDS)("%s moves smoothly at 24 fps: no frame-to-frame jolt (acceleration under 0.2 px/frame^2 at 1080p, 1 for handheld sway)", (kind) => {
    for (const hasEndImage of [false, true]) {
      const frames = 6 * 24;
      const plan = planMotion({ kind, durationSeconds: 6, seed: 9, hasEndImage });
      const series = Array.from({ length: frames }, (_, i) => plan(i / (frames - 1)));
      for (const pick of [(f: (typeof series)[0]) => f.start, (f: (typeof series)[0]) => f.end ?? f.start]) {
        const p = series.map((f) => pixels(pick(f)));
        let worst = 0;
        for (let i = 2; i < p.length; i++) {
          for (let k = 0; k < 3; k++) worst = Math.max(worst, Math.abs(p[i][k] - 2 * p[i - 1][k] + p[i - 2][k]));
        }
        // Handheld sways on purpose (slow sines under 1 Hz); everything else glides.
        expect(worst).toBeLessThan(kind === "handheld" ? 1 : 0.2);
      }
      const weights = series.map((f) => f.endWeight);
      for (let i = 1; i < weights.length; i++) expect(weights[i]).toBeGreaterThanOrEqual(weights[i - 1]);
    }
  });

  it.each<[MotionKind, number, number]>([
    ["dolly_left", -1, 0],
    ["dolly_right", 1, 0],
    ["jib_up", 0, -1],
    ["jib_down", 0, 1],
  ])("%s travels the right way across the picture", (kind, dx, dy) => {
    const plan = planMotion({ kind, durationSeconds: 6, seed: 1, hasEndImage: false });
    const a = plan(0).start;
    const b = plan(1).start;
    expect(Math.sign(Math.round((b.centerX - a.centerX) * 1000))).toBe(dx);
    expect(Math.sign(Math.round((b.centerY - a.centerY) * 1000))).toBe(dy);
  });

  it("is a pure function of its inputs: the same seed gives the same handheld sway, another seed another", () => {
    const a = planMotion({ kind: "handheld", durationSeconds: 6, seed: 5, hasEndImage: false })(0.5);
    const b = planMotion({ kind: "handheld", durationSeconds: 6, seed: 5, hasEndImage: false })(0.5);
    const c = planMotion({ kind: "handheld", durationSeconds: 6, seed: 6, hasEndImage: false })(0.5);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });
});
