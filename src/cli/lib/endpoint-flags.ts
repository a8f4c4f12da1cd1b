// The endpoints the CLI knows (short names for --endpoint) and which generate flag sets which input
// field, checked against the chosen endpoint's own schema (src/endpoints.ts): a flag whose field the
// endpoint does not take, or a required field without its flag, is a clear error naming both.
import { z } from "zod";
import { ENDPOINTS, FAMILY_ENDPOINTS, priceOf, RESOLUTIONS, type EndpointDef } from "../../endpoints.js";
import { CliError, type FieldProblem } from "./errors.js";
import { EXIT } from "./exit-codes.js";

/** Every endpoint with a schema, routed or not yet (audio-to-video works as soon as the server routes it). */
export function knownEndpoints(): EndpointDef[] {
  const seen = new Set<string>();
  return [...ENDPOINTS, ...FAMILY_ENDPOINTS].filter((e) => !seen.has(e.id) && seen.add(e.id));
}

/** Short names of --endpoint: i2v (also pro), i2v-fast (also fast), t2v, t2v-fast, a2v. */
export const ENDPOINT_SHORT_NAMES: Record<string, string> = {
  i2v: "fal-ai/ltx-2.3/image-to-video",
  pro: "fal-ai/ltx-2.3/image-to-video",
  "i2v-fast": "fal-ai/ltx-2.3/image-to-video/fast",
  fast: "fal-ai/ltx-2.3/image-to-video/fast",
  t2v: "fal-ai/ltx-2.3/text-to-video",
  "t2v-fast": "fal-ai/ltx-2.3/text-to-video/fast",
  a2v: "fal-ai/ltx-2.3/audio-to-video",
};

/** The short name shown for an endpoint id (i2v, i2v-fast, t2v, t2v-fast, a2v), else the id. */
export function shortNameOf(id: string): string {
  const name = Object.entries(ENDPOINT_SHORT_NAMES).find(([n, v]) => v === id && n !== "pro" && n !== "fast");
  return name ? name[0] : id;
}

export function findKnownEndpoint(id: string): EndpointDef | undefined {
  return knownEndpoints().find((e) => e.id === id);
}

/** The flag that sets each input field, in the order help lists them. */
export const FLAG_OF_INPUT: Record<string, string> = {
  image_url: "--image",
  end_image_url: "--end-image",
  audio_url: "--audio",
  prompt: "--prompt",
  duration: "--duration",
  resolution: "--resolution",
  aspect_ratio: "--aspect-ratio",
  fps: "--fps",
  generate_audio: "--no-audio",
  guidance_scale: "--guidance-scale",
  seed: "--seed",
  camera_motion: "--camera-motion",
};

export interface SchemaFields {
  /** Field names in schema order. */
  names: string[];
  required: Set<string>;
}

/** The input fields of an endpoint as its JSON Schema states them (the form of the playground reads the same). */
export function fieldsOf(def: EndpointDef): SchemaFields {
  const json = z.toJSONSchema(def.schema, { io: "input", unrepresentable: "any" }) as { properties?: Record<string, unknown>; required?: string[] };
  return { names: Object.keys(json.properties ?? {}), required: new Set(json.required ?? []) };
}

/** "--image --prompt [--end-image] ...": the flags an endpoint takes, required ones bare. */
export function flagsLine(def: EndpointDef): string {
  const { names, required } = fieldsOf(def);
  return Object.entries(FLAG_OF_INPUT)
    .filter(([field]) => names.includes(field))
    .sort(([a], [b]) => Number(required.has(b)) - Number(required.has(a)))
    .map(([field, flag]) => (required.has(field) ? flag : `[${flag}]`))
    .join(" ");
}

/** "$0.06/s at 1080p, $0.12/s at 1440p, $0.24/s at 2160p". */
export function ratesLine(def: EndpointDef): string {
  return RESOLUTIONS.map((r) => `$${def.pricePerSecond[r].toFixed(2)}/s at ${r}`).join(", ");
}

/** Help text: each endpoint with its short name, the flags it takes and its prices. */
export function endpointsHelp(): string {
  const lines = ["Endpoints (--endpoint; flags in [ ] are optional):"];
  for (const def of knownEndpoints()) {
    const routed = ENDPOINTS.some((e) => e.id === def.id);
    lines.push(`  ${shortNameOf(def.id).padEnd(9)} ${def.id}${routed ? "" : " (when the server routes it)"}`);
    lines.push(`            ${flagsLine(def)}`);
    lines.push(`            ${ratesLine(def)}${def.kind === "audio-to-video" ? " of video (as long as the audio)" : ""}`);
  }
  return lines.join("\n");
}

/**
 * Checks the fields the flags set (`given`: field -> flag) against the endpoint's schema. A field it
 * does not take and a required field left out are input errors (exit 2) with one entry per field,
 * shaped like a 422 so they print the same way.
 */
export function checkFlagsForEndpoint(def: EndpointDef, given: Record<string, string>): void {
  const { names, required } = fieldsOf(def);
  const problems: FieldProblem[] = [];
  const name = shortNameOf(def.id);
  for (const [field, flag] of Object.entries(given)) {
    if (!names.includes(field)) {
      problems.push({ loc: ["body", field], msg: `not an input of ${def.id} (${name}), which takes ${flagsLine(def)}`, type: "extra_forbidden" });
    }
  }
  for (const field of names) {
    if (required.has(field) && !(field in given)) {
      problems.push({ loc: ["body", field], msg: `Field required by ${def.id} (${name})`, type: "missing" });
    }
  }
  if (problems.length) {
    throw new CliError(`input rejected: ${problems.length === 1 ? "one field is" : `${problems.length} fields are`} not valid for ${name}`, {
      exitCode: EXIT.inputRejected,
      fieldErrors: problems,
      hint: `see \`ltx-serve generate --help\` for the flags of each endpoint`,
    });
  }
}

/** "t2v, 1080p, 6 s, 24 fps, no audio, est. $0.48" from the endpoint's schema (defaults applied); the server has the last word. */
export function summaryOf(endpoint: string, input: Record<string, unknown>): string {
  const def = findKnownEndpoint(endpoint);
  const parsed = def?.schema.safeParse(input);
  if (!def || !parsed?.success) return "input checked by the server";
  const v = parsed.data;
  const length = v.duration !== undefined ? `${v.duration} s` : `as long as the audio (at most ${def.maxDuration} s)`;
  const parts = [shortNameOf(def.id), v.resolution, length, `${v.fps} fps`];
  if (v.generate_audio !== undefined) parts.push(v.generate_audio ? "audio" : "no audio");
  const price = priceOf(def, v);
  return `${parts.join(", ")}, est. ${v.duration !== undefined ? "" : "at most "}$${price.toFixed(2)}`;
}
