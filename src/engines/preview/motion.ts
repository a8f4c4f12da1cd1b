// Camera motion of the preview engine: picks a move from the prompt's words (or the explicit
// camera_motion preset) and turns it into an eased, sub-pixel view path per frame, plus the
// start-to-end crossfade when an end image is given. Pure functions of (motion, time, seed).
import type { CameraMotion } from "../../endpoints.js";
import { clampView, IDENTITY_VIEW, type View } from "./sampler.js";

/** Moves the preview engine knows: the hosted API's presets plus orbit and handheld from prompts. */
export type MotionKind = CameraMotion | "orbit" | "handheld" | "gentle_push";

/** Largest zoom any move uses; the working image is prepared at this scale so zooming stays sharp. */
export const MAX_ZOOM = 1.15;

/** Prompt phrases per move, most specific first; the earliest phrase in the prompt wins. */
const PROMPT_PHRASES: [MotionKind, RegExp][] = [
  ["static", /\b(static( (shot|camera))?|locked[- ]off|locked[- ]down|tripod|still camera|fixed camera|no camera (motion|movement))\b/],
  ["handheld", /\b(hand[- ]?held|shaky( cam(era)?)?|camera shake)\b/],
  ["focus_shift", /\b(rack focus|focus (shift|pull)|shifts? focus|pulls? focus)\b/],
  ["orbit", /\b(orbit(s|ing)?|arc(s|ing)? (shot|around|left|right)|arc shot|circles? around|circling|revolv(e|es|ing) around)\b/],
  ["dolly_out", /\b(pull(s|ing)? (out|back|away)|zoom(s|ing)? out|dolly(ing)? out|dolly back|push(es|ing)? out|widen(s|ing)?|reveal(s|ing)?)\b/],
  ["dolly_in", /\b(push(es|ing)? in|zoom(s|ing)? in|dolly(ing)? in|moves? in|closer|close in|approach(es|ing)?)\b/],
  ["dolly_left", /\b(pan(s|ning)? left|truck(s|ing)? left|dolly(ing)? left|track(s|ing)? left|strafe left|moves? left)\b/],
  ["dolly_right", /\b(pan(s|ning)? right|truck(s|ing)? right|dolly(ing)? right|track(s|ing)? right|strafe right|moves? right)\b/],
  ["jib_up", /\b(tilt(s|ing)? up|jib(s|bing)? up|crane(s|ing)? up|pedestal up|boom up|ris(e|es|ing) up|camera rises)\b/],
  ["jib_down", /\b(tilt(s|ing)? down|jib(s|bing)? down|crane(s|ing)? down|pedestal down|boom down|camera (descends|lowers))\b/],
];

/** The move named by the prompt, or a calm push-in when it names none. `explicit` (camera_motion) wins. */
export function chooseMotion(prompt: string, explicit?: CameraMotion): MotionKind {
  if (explicit) return explicit;
  const text = prompt.toLowerCase();
  let best: { kind: MotionKind; at: number } | undefined;
  for (const [kind, re] of PROMPT_PHRASES) {
    const m = re.exec(text);
    if (m && (!best || m.index < best.at)) best = { kind, at: m.index };
  }
  return best?.kind ?? "gentle_push";
}

/** Ease in and out (cosine): zero velocity at both ends, so moves start and stop without a jolt. */
export function easeInOut(t: number): number {
  const c = Math.min(1, Math.max(0, t));
  return 0.5 - 0.5 * Math.cos(Math.PI * c);
}

/** Quintic smoothstep over [a, b]: zero first and second derivative at both ends. */
export function smootherStep(a: number, b: number, t: number): number {
  const x = Math.min(1, Math.max(0, (t - a) / (b - a)));
  return x * x * x * (x * (x * 6 - 15) + 10);
}

/** What the engine draws at one instant: the start image's view, and the end image's view and weight. */
export interface FramePlan {
  start: View;
  /** Present only with an end image. */
  end?: View;
  /** Weight of the end image, 0..1 (0 without an end image). */
  endWeight: number;
  /** Amount of the focus pull, 0..1 (periphery defocused by this much). */
  defocus: number;
}

export interface MotionPlanOptions {
  kind: MotionKind;
  durationSeconds: number;
  seed: number;
  hasEndImage: boolean;
}

/**
 * A view that starts at the full picture (progress 0) and travels along `kind` as `progress` goes to 1;
 * `seconds` drives the handheld sway so it keeps its speed whatever the clip length.
 * Offsets are a fraction (-1..1) of the room the current zoom leaves, so the view always covers the frame.
 */
function travel(kind: MotionKind, progress: number, seconds: number, sway: Sway): View {
  const u = progress;
  // Zoom that rises early (ease-out) to give lateral moves room as soon as they start.
  const roomZoom = (amount: number) => 1 + amount * (1 - (1 - u) * (1 - u));
  switch (kind) {
    case "static":
      return IDENTITY_VIEW;
    case "gentle_push":
      return { zoom: 1 + 0.07 * u, centerX: 0.5, centerY: 0.5 };
    case "dolly_in":
      return { zoom: 1 + (MAX_ZOOM - 1) * u, centerX: 0.5, centerY: 0.5 };
    case "dolly_out":
      // Travelling "out" from the full picture is impossible without borders; callers run it backwards.
      return { zoom: 1 + (MAX_ZOOM - 1) * u, centerX: 0.5, centerY: 0.5 };
    case "focus_shift":
      return { zoom: 1 + 0.04 * u, centerX: 0.5, centerY: 0.5 };
    case "dolly_left":
    case "dolly_right":
    case "jib_up":
    case "jib_down": {
      const zoom = roomZoom(0.13);
      const room = 0.5 - 0.5 / zoom;
      const sign = kind === "dolly_left" || kind === "jib_up" ? -1 : 1;
      const offset = sign * room * u;
      const horizontal = kind === "dolly_left" || kind === "dolly_right";
      return { zoom, centerX: 0.5 + (horizontal ? offset : 0), centerY: 0.5 + (horizontal ? 0 : offset) };
    }
    case "orbit": {
      // A lateral arc: the view slides across while pushing in and rising a little, like a dolly on a curve.
      const zoom = roomZoom(0.12);
      const room = 0.5 - 0.5 / zoom;
      return { zoom, centerX: 0.5 + sway.orbitSign * room * u, centerY: 0.5 - 0.35 * room * Math.sin(Math.PI * u) };
    }
    case "handheld": {
      // Smooth sway (a sum of slow sines with seeded phases), ramped in over the first 1.5 s.
      const ramp = easeInOut(seconds / 1.5);
      const zoom = 1 + 0.04 * ramp;
      const room = 0.5 - 0.5 / zoom;
      const [sx, sy] = sway.at(seconds);
      return { zoom, centerX: 0.5 + room * 0.7 * sx * ramp, centerY: 0.5 + room * 0.7 * sy * ramp };
    }
  }
}

/** Deterministic smooth sway for the handheld move, from the seed. */
interface Sway {
  orbitSign: number;
  at(seconds: number): [number, number];
}

function createSway(seed: number): Sway {
  let s = seed >>> 0 || 0x9e3779b9;
  const rand = () => {
    // xorshift32: enough for a handful of phases.
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  const partials = [0.17, 0.31, 0.53, 0.83].map((freq) => ({ freq, px: rand() * 2 * Math.PI, py: rand() * 2 * Math.PI }));
  const orbitSign = rand() < 0.5 ? -1 : 1;
  return {
    orbitSign,
    at(seconds) {
      let x = 0;
      let y = 0;
      let norm = 0;
      for (const p of partials) {
        const w = 1 / p.freq;
        x += w * Math.sin(2 * Math.PI * p.freq * seconds + p.px);
        y += w * Math.sin(2 * Math.PI * p.freq * 0.9 * seconds + p.py);
        norm += w;
      }
      return [x / norm, y / norm];
    },
  };
}

/**
 * The motion of a whole clip. Without an end image: frame 0 is the full start picture and the camera
 * travels from there (pull-out is the one exception: it starts pushed in and ends on the full picture).
 * With an end image: the start picture travels away from its full view while the end picture arrives
 * at its full view along the same direction (a zoom or whip transition), and a quintic crossfade over
 * the middle of the clip joins them; the last frame is exactly the full end picture.
 */
export function planMotion(opts: MotionPlanOptions): (t: number) => FramePlan {
  const { kind, durationSeconds, hasEndImage } = opts;
  const sway = createSway(opts.seed);
  const mirror = (v: View): View => ({ zoom: v.zoom, centerX: 1 - v.centerX, centerY: 1 - v.centerY });
  const defocusAt = (u: number) => (kind === "focus_shift" ? u : 0);

  if (!hasEndImage) {
    return (t) => {
      const seconds = t * durationSeconds;
      const u = easeInOut(t);
      if (kind === "dolly_out") return { start: clampView(travel(kind, 1 - u, seconds, sway)), endWeight: 0, defocus: 0 };
      return { start: clampView(travel(kind, u, seconds, sway)), endWeight: 0, defocus: defocusAt(u) };
    };
  }

  return (t) => {
    const seconds = t * durationSeconds;
    const endWeight = smootherStep(0.2, 0.8, t);
    // Start picture: travels over the first 80 % of the clip (it is gone by then).
    const us = easeInOut(t / 0.8);
    // End picture: arrives over the last 80 %, ending on its full view.
    const ue = 1 - easeInOut((t - 0.2) / 0.8);
    let start: View;
    let end: View;
    switch (kind) {
      case "dolly_in":
      case "gentle_push":
        start = travel(kind, us, seconds, sway);
        end = IDENTITY_VIEW;
        break;
      case "dolly_out":
        start = IDENTITY_VIEW;
        end = travel(kind, ue, seconds, sway);
        break;
      case "handheld":
        {
          // Same sway on both pictures (it ramps in by itself), settled out on the end picture at the end.
          const sway0 = travel(kind, 1, seconds, sway);
          const settle = 1 - smootherStep(0.75, 1, t);
          start = sway0;
          end = { zoom: 1 + (sway0.zoom - 1) * settle, centerX: 0.5 + (sway0.centerX - 0.5) * settle, centerY: 0.5 + (sway0.centerY - 0.5) * settle };
        }
        break;
      default:
        // Lateral moves and orbit: the end picture comes in from the opposite side, continuing the move.
        start = travel(kind, us, seconds, sway);
        end = mirror(travel(kind, ue, seconds, sway));
        break;
    }
    return {
      start: clampView(start),
      end: clampView(end),
      endWeight,
      defocus: kind === "focus_shift" ? Math.sin(Math.PI * t) : 0,
    };
  };
}
