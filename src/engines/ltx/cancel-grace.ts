// Cancel grace of the ltx engine derived from what the worker is doing: the time to wait after a cancel
// before SIGTERM is a multiple of the longest observed unit of work in the current stage (one denoising
// step, one decode chunk), learned from progress events, with LTX_CANCEL_GRACE_MS as the floor.
// See docs/ltx-engine.md ("Cancels").

/** Safety factor on the longest observed unit (a step or decode chunk), plus a fixed margin. */
export const GRACE_FACTOR = 2;
export const GRACE_MARGIN_MS = 1_000;
/** Upper bound so a stuck worker is still killed eventually. */
export const GRACE_CAP_MS = 15 * 60_000;

export interface ProgressSample {
  stage: string;
  step: number;
  total: number;
}

/** Stages that have no per-step progress of their own; they are sized from the whole stage's duration. */
const WHOLE_STAGES = new Set(["encode-prompt", "upsample", "decode", "encode"]);

/**
 * Learns unit times per stage across jobs (one tracker per engine) and turns them into a grace.
 * Step stages (denoise-1, denoise-2) record the time between consecutive steps; whole stages record the
 * time from their 0/N event to their N/N event. Unknown stages fall back to the longest unit seen anywhere.
 */
export class CancelGraceTracker {
  private readonly longest = new Map<string, number>();
  private stage: string | null = null;
  private lastAt = 0;
  private lastStep = 0;
  private stageStartAt = 0;

  constructor(private readonly floorMs: number, private readonly now: () => number = () => performance.now()) {}

  /** A new job starts: forget the position, keep what was learned about stage times. */
  startJob(): void {
    this.stage = null;
  }

  observe(p: ProgressSample): void {
    const t = this.now();
    if (p.stage !== this.stage) {
      this.stage = p.stage;
      this.stageStartAt = t;
      this.lastAt = t;
      this.lastStep = p.step;
      return;
    }
    if (WHOLE_STAGES.has(p.stage)) {
      if (p.step >= p.total) this.record(p.stage, t - this.stageStartAt);
    } else if (p.step > this.lastStep) {
      this.record(p.stage, (t - this.lastAt) / (p.step - this.lastStep));
    }
    this.lastAt = t;
    this.lastStep = p.step;
  }

  private record(stage: string, ms: number): void {
    if (!(ms >= 0) || !Number.isFinite(ms)) return;
    this.longest.set(stage, Math.max(this.longest.get(stage) ?? 0, ms));
  }

  /** Longest unit observed for a stage (ms), if any. */
  unitMs(stage: string): number | undefined {
    return this.longest.get(stage);
  }

  /** The grace for a cancel arriving now. */
  graceMs(): number {
    return computeGraceMs(this.floorMs, this.stage, this.longest, this.stage ? this.now() - this.lastAt : 0);
  }
}

/**
 * max(floor, GRACE_FACTOR x unit + GRACE_MARGIN_MS - time already spent in the current unit), capped. The
 * unit is the longest one seen in the current stage, else (a stage not seen yet) the longest of any stage.
 * Decode gets its whole-stage time since the worker checks for a cancel only between decoder blocks.
 */
export function computeGraceMs(floorMs: number, stage: string | null, longest: ReadonlyMap<string, number>, elapsedInUnitMs = 0): number {
  let unit = stage ? longest.get(stage) : undefined;
  if (unit === undefined) unit = longest.size ? Math.max(...longest.values()) : 0;
  // A cancel mid-unit needs only the rest of the unit, but never less than one margin.
  const derived = GRACE_FACTOR * unit + GRACE_MARGIN_MS - Math.min(elapsedInUnitMs, unit);
  return Math.round(Math.min(GRACE_CAP_MS, Math.max(floorMs, derived)));
}
