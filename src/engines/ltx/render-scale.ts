// LTX_RENDER_SCALE per resolution: "1,1440p=0.75,2160p=0.5" style (a single number still applies to every
// size). Parsed and checked here at start (an error names the setting); the worker gets the normalised
// spec (`--render-scale`) and resolves each job's scale the same way (python/ltx_worker/plan.py
// parse_render_scales / render_scale_for). See docs/ltx-engine.md ("Render scale per resolution").

export interface RenderScales {
  /** Scale of every size that no entry covers. */
  default: number;
  /** Entries by short side in pixels (2160p -> 2160), largest first. */
  byResolution: { shortSide: number; scale: number }[];
}

/** The defaults: 1440p and 2160p generate on the 1080p grid, whose memory fits an 80 GB card. */
export const DEFAULT_RENDER_SCALE_SPEC = "1,1440p=0.75,2160p=0.5";

function scaleValue(text: string, where: string): number {
  const value = Number(text);
  if (text.trim() === "" || !Number.isFinite(value)) throw new Error(`LTX_RENDER_SCALE must be a number in (0, 1] or entries like 2160p=0.5; ${where} is ${JSON.stringify(text)}`);
  if (!(value > 0 && value <= 1)) throw new Error(`LTX_RENDER_SCALE must be a fraction in (0, 1] (e.g. 0.5: generate at half size, upscale); ${where} is ${JSON.stringify(text)}`);
  return value;
}

/** Parses LTX_RENDER_SCALE; unset or empty gives the defaults. Throws a message naming the setting. */
export function parseRenderScales(raw: string | undefined): RenderScales {
  const spec = raw === undefined || raw.trim() === "" ? DEFAULT_RENDER_SCALE_SPEC : raw;
  let fallback: number | undefined;
  const entries = new Map<number, number>();
  for (const part of spec.split(",").map((p) => p.trim()).filter(Boolean)) {
    const eq = part.indexOf("=");
    if (eq < 0) {
      if (fallback !== undefined) throw new Error(`LTX_RENDER_SCALE has more than one bare scale: ${JSON.stringify(raw)}`);
      fallback = scaleValue(part, "the scale");
      continue;
    }
    const key = part.slice(0, eq).trim();
    const m = /^(\d+)p$/i.exec(key);
    if (!m || Number(m[1]) <= 0) throw new Error(`LTX_RENDER_SCALE entries look like 2160p=0.5 (a resolution by its short side), got ${JSON.stringify(part)}`);
    const side = Number(m[1]);
    if (entries.has(side)) throw new Error(`LTX_RENDER_SCALE gives ${key} twice: ${JSON.stringify(raw)}`);
    entries.set(side, scaleValue(part.slice(eq + 1).trim(), key));
  }
  const byResolution = [...entries].map(([shortSide, scale]) => ({ shortSide, scale })).sort((a, b) => b.shortSide - a.shortSide);
  return { default: fallback ?? 1, byResolution };
}

/** Accepts a plain number (every size) as older callers pass it. */
export function normaliseRenderScales(value: RenderScales | number): RenderScales {
  return typeof value === "number" ? parseRenderScales(String(value)) : value;
}

/** The spec the worker reads (`--render-scale`), e.g. "1,1440p=0.75,2160p=0.5". */
export function formatRenderScales(scales: RenderScales): string {
  const entries = [...scales.byResolution].sort((a, b) => a.shortSide - b.shortSide).map((e) => `${e.shortSide}p=${e.scale}`);
  return [String(scales.default), ...entries].join(",");
}

/** The scale a width x height job gets: the entry with the largest short side the job reaches, else the default. */
export function renderScaleFor(scales: RenderScales, width: number, height: number): number {
  const short = Math.min(width, height);
  return scales.byResolution.find((e) => short >= e.shortSide)?.scale ?? scales.default;
}
