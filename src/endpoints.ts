// The endpoints this server reproduces: their ids, input schema, output sizes and prices.
// One zod schema per endpoint validates input on every route and yields the OpenAPI document.
import { z } from "zod";

export const ASPECT_RATIOS = ["auto", "16:9", "9:16"] as const;
export const RESOLUTIONS = ["1080p", "1440p", "2160p"] as const;
export const FPS_VALUES = [24, 25, 48, 50] as const;
/** Camera presets of the hosted LTX API, also understood by the preview engine. */
export const CAMERA_MOTIONS = [
  "dolly_in", "dolly_out", "dolly_left", "dolly_right", "jib_up", "jib_down", "static", "focus_shift",
] as const;

export type Resolution = (typeof RESOLUTIONS)[number];
export type AspectRatio = (typeof ASPECT_RATIOS)[number];
export type CameraMotion = (typeof CAMERA_MOTIONS)[number];

/** Landscape pixel size per resolution; 9:16 swaps the pair. */
export const RESOLUTION_SIZES: Record<Resolution, { width: number; height: number }> = {
  "1080p": { width: 1920, height: 1080 },
  "1440p": { width: 2560, height: 1440 },
  "2160p": { width: 3840, height: 2160 },
};

/** An enum of numbers that also accepts the same numbers written as strings ("6"), as fal does. */
function numericEnum<const T extends readonly number[]>(values: T, fallback: T[number], description: string) {
  const literals = values.map((v) => z.literal(v));
  const strings = values.map((v) => z.literal(String(v)));
  const allowed = values.join(", ");
  return z
    .union([...literals, ...strings] as unknown as [z.ZodLiteral<number>, z.ZodLiteral<number>, ...z.ZodLiteral<number>[]], {
      error: `Input should be one of ${allowed} (a number or a numeric string)`,
    })
    .default(fallback)
    .transform((v) => Number(v) as T[number])
    .describe(description);
}

const imageUrl = (description: string) =>
  z
    .string()
    .min(1)
    .refine((s) => /^(https?:\/\/|data:)/i.test(s), {
      message: "must be an http(s) URL, a data: URI or a file URL of this server",
    })
    .describe(description);

export interface EndpointLimits {
  durations: readonly number[];
  defaultDuration: number;
  /** Durations above this many seconds are allowed only at 1080p and 24/25 fps. */
  longAbove?: number;
}

/** Clips longer than `longAbove` seconds (the /fast endpoints) only at 1080p and 24 or 25 fps; a 422 on `duration`. */
function withLongClipRule<T extends z.ZodType<{ duration: number; resolution: string; fps: number }>>(fields: T, longAbove: number | undefined): T {
  if (longAbove === undefined) return fields;
  return fields.superRefine((v, ctx) => {
    if (v.duration > longAbove && (v.resolution !== "1080p" || v.fps > 25)) {
      ctx.addIssue({
        code: "custom",
        path: ["duration"],
        message: `durations above ${longAbove} s need resolution 1080p and fps 24 or 25`,
        input: v.duration,
      });
    }
  });
}

function inputSchema(limits: EndpointLimits) {
  const fields = z.object({
    image_url: imageUrl("The URL of the start image to use for the generated video."),
    end_image_url: imageUrl(
      "The URL of the end image to use for the generated video. When provided, generates a transition video between start and end frames.",
    ).optional(),
    prompt: z.string().min(1).max(5000).describe("The prompt to use for the generated video"),
    duration: numericEnum(limits.durations, limits.defaultDuration, "The duration of the generated video in seconds"),
    resolution: z.enum(RESOLUTIONS).default("1080p").describe("The resolution of the generated video"),
    aspect_ratio: z
      .enum(ASPECT_RATIOS)
      .default("auto")
      .describe("The aspect ratio of the generated video. If 'auto', the aspect ratio will be determined automatically based on the input image."),
    fps: numericEnum(FPS_VALUES, 25, "The frames per second of the generated video"),
    generate_audio: z.boolean().default(true).describe("Whether to generate audio for the generated video"),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .optional()
      .describe("Random seed; the same input and seed give the same video. Drawn and reported when omitted."),
    camera_motion: z
      .enum(CAMERA_MOTIONS)
      .optional()
      .describe("Camera motion preset. When omitted, motion is chosen from the prompt."),
  });
  return withLongClipRule(fields, limits.longAbove);
}

export type VideoInputSchema = ReturnType<typeof inputSchema>;
/** Validated image-to-video input with defaults applied (duration and fps are numbers). */
export type ImageToVideoInput = z.output<VideoInputSchema>;

/** The three kinds of endpoint of the family; engines are given a job of one kind. */
export type EndpointKind = "image-to-video" | "text-to-video" | "audio-to-video";

/**
 * A validated input of any endpoint of the family, with defaults applied. Which fields are set
 * depends on the endpoint's kind: image-to-video has image_url and duration, text-to-video has
 * duration and no image, audio-to-video has audio_url, an optional image and no duration (the
 * clip follows the audio).
 */
export interface VideoInput {
  prompt?: string;
  image_url?: string;
  end_image_url?: string;
  audio_url?: string;
  duration?: number;
  resolution: Resolution;
  aspect_ratio: AspectRatio;
  fps: number;
  generate_audio?: boolean;
  guidance_scale?: number;
  seed?: number;
  camera_motion?: CameraMotion;
}

/** An endpoint's input schema: a zod object whose output is a VideoInput. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type VideoSchema = z.ZodObject<any> & z.ZodType<VideoInput, any>;
const asVideoSchema = (schema: z.ZodObject): VideoSchema => schema as unknown as VideoSchema;

export interface EndpointDef {
  /** Full endpoint id, e.g. fal-ai/ltx-2.3/image-to-video. */
  id: string;
  /** owner/alias part that status, result and cancel URLs use. */
  app: string;
  title: string;
  kind: EndpointKind;
  /** CLI short name (--endpoint). */
  alias: string;
  /** Validates the request body; its output is a VideoInput. */
  schema: VideoSchema;
  /** Longest clip in seconds (audio-to-video: the longest audio turned into a clip). */
  maxDuration: number;
  /** USD per second of output video by resolution. */
  pricePerSecond: Record<Resolution, number>;
}

const FAL_RATES: Record<Resolution, number> = { "1080p": 0.06, "1440p": 0.12, "2160p": 0.24 };

const IMAGE_TO_VIDEO_ENDPOINTS: EndpointDef[] = [
  {
    id: "fal-ai/ltx-2.3/image-to-video",
    app: "fal-ai/ltx-2.3",
    title: "LTX 2.3 Video Pro: image to video",
    kind: "image-to-video",
    alias: "pro",
    schema: asVideoSchema(inputSchema({ durations: [6, 8, 10], defaultDuration: 6 })),
    maxDuration: 10,
    pricePerSecond: FAL_RATES,
  },
  {
    // Sibling of the seed endpoint for LTX-2.3 Fast: same inputs, longer clips at 1080p.
    id: "fal-ai/ltx-2.3/image-to-video/fast",
    app: "fal-ai/ltx-2.3",
    title: "LTX 2.3 Video Fast: image to video",
    kind: "image-to-video",
    alias: "fast",
    schema: asVideoSchema(inputSchema({ durations: [6, 8, 10, 12, 14, 16, 18, 20], defaultDuration: 6, longAbove: 10 })),
    maxDuration: 20,
    pricePerSecond: FAL_RATES,
  },
];

export const DEFAULT_ENDPOINT_ID = "fal-ai/ltx-2.3/image-to-video";

export function findEndpoint(id: string): EndpointDef | undefined {
  return ENDPOINTS.find((e) => e.id === id);
}

/** Output frame size and frame count for a validated input and the start image's pixel size. */
export interface OutputSpec {
  width: number;
  height: number;
  aspectRatio: "16:9" | "9:16";
  fps: number;
  durationSeconds: number;
  numFrames: number;
}

/**
 * The exact output of a validated input. `image` is the start image's pixel size when there is one
 * (it decides `auto`; without one `auto` is 16:9). `audioSeconds` is the input audio's length on
 * audio-to-video: the clip lasts as long as the audio (at most the endpoint's maxDuration), rounded
 * to whole frames (at least one).
 */
export function resolveOutputSpec(
  input: VideoInput,
  image?: { width: number; height: number },
  audio?: { seconds: number; maxDuration: number },
): OutputSpec {
  const aspectRatio = input.aspect_ratio === "auto" ? (image && image.height > image.width ? "9:16" : "16:9") : input.aspect_ratio;
  const land = RESOLUTION_SIZES[input.resolution];
  const [width, height] = aspectRatio === "16:9" ? [land.width, land.height] : [land.height, land.width];
  if (audio) {
    const numFrames = Math.max(1, Math.round(Math.min(audio.seconds, audio.maxDuration) * input.fps));
    return { width, height, aspectRatio, fps: input.fps, durationSeconds: numFrames / input.fps, numFrames };
  }
  const duration = input.duration ?? 6;
  return { width, height, aspectRatio, fps: input.fps, durationSeconds: duration, numFrames: duration * input.fps };
}

/**
 * Price in USD of one request. `duration` is the output's length; without it (audio-to-video before
 * its audio is read) the endpoint's longest clip is assumed, an upper bound for spend caps.
 */
export function priceOf(endpoint: EndpointDef, input: Pick<VideoInput, "duration" | "resolution">): number {
  const seconds = input.duration ?? endpoint.maxDuration;
  return Math.round(seconds * endpoint.pricePerSecond[input.resolution] * 1e6) / 1e6;
}

// ---------------------------------------------------------------------------------------------
// The rest of the LTX-2.3 family (text-to-video Pro/Fast, audio-to-video). Schemas follow fal's
// model pages as recorded in docs/endpoints.md; ENDPOINTS (below) routes them with image-to-video.

const audioUrl = (description: string) =>
  z
    .string()
    .min(1)
    .refine((s) => /^(https?:\/\/|data:)/i.test(s), {
      message: "must be an http(s) URL, a data: URI or a file URL of this server",
    })
    .describe(description);

const seedField = () =>
  z
    .number()
    .int()
    .min(0)
    .max(2 ** 32 - 1)
    .optional()
    .describe("Random seed; the same input and seed give the same video. Drawn and reported when omitted.");

function textToVideoSchema(limits: EndpointLimits) {
  const fields = z.object({
    prompt: z.string().min(1).max(5000).describe("The prompt to use for the generated video"),
    duration: numericEnum(limits.durations, limits.defaultDuration, "The duration of the generated video in seconds"),
    resolution: z.enum(RESOLUTIONS).default("1080p").describe("The resolution of the generated video"),
    aspect_ratio: z.enum(["16:9", "9:16"]).default("16:9").describe("The aspect ratio of the generated video"),
    fps: numericEnum(FPS_VALUES, 25, "The frames per second of the generated video"),
    generate_audio: z.boolean().default(true).describe("Whether to generate audio for the generated video"),
    seed: seedField(),
    camera_motion: z.enum(CAMERA_MOTIONS).optional().describe("Camera motion preset. When omitted, motion is chosen from the prompt."),
  });
  return withLongClipRule(fields, limits.longAbove);
}

export const audioToVideoSchema = z.object({
  audio_url: audioUrl(
    "The URL of the audio track the video follows (MP3, WAV, AAC/M4A, OGG/Opus or FLAC); the clip lasts as long as the audio (up to 20 s).",
  ),
  image_url: imageUrl("Optional URL of an image to use as the first frame of the video.").optional(),
  prompt: z.string().min(1).max(5000).optional().describe("The prompt to guide the audio-driven video generation"),
  resolution: z.enum(RESOLUTIONS).default("1080p").describe("The resolution of the generated video"),
  aspect_ratio: z
    .enum(ASPECT_RATIOS)
    .default("auto")
    .describe("The aspect ratio of the generated video. If 'auto', taken from the image (16:9 without one)."),
  fps: numericEnum(FPS_VALUES, 25, "The frames per second of the generated video"),
  guidance_scale: z.number().min(1).max(20).default(3).describe("Classifier-free guidance scale"),
  seed: seedField(),
});

export type TextToVideoInput = z.output<ReturnType<typeof textToVideoSchema>>;
export type AudioToVideoInput = z.output<typeof audioToVideoSchema>;

/** fal's text-to-video rates (per second of output), above image-to-video's. */
const FAL_T2V_RATES: Record<Resolution, number> = { "1080p": 0.08, "1440p": 0.16, "2160p": 0.32 };

/** Longest audio-to-video clip in seconds; the audio may be up to AUDIO_DURATION_MARGIN_SECONDS longer (it is trimmed). */
export const AUDIO_TO_VIDEO_MAX_SECONDS = 20;
/** Slack above the longest clip before an input audio is refused (encoder padding of MP3/AAC files). */
export const AUDIO_DURATION_MARGIN_SECONDS = 1;

export interface FamilyEndpointDef extends EndpointDef {
  alias: "t2v" | "t2v-fast" | "a2v";
}

export const FAMILY_ENDPOINTS: FamilyEndpointDef[] = [
  {
    id: "fal-ai/ltx-2.3/text-to-video",
    app: "fal-ai/ltx-2.3",
    title: "LTX 2.3 Video Pro: text to video",
    alias: "t2v",
    kind: "text-to-video",
    maxDuration: 10,
    schema: asVideoSchema(textToVideoSchema({ durations: [6, 8, 10], defaultDuration: 6 })),
    pricePerSecond: FAL_T2V_RATES,
  },
  {
    id: "fal-ai/ltx-2.3/text-to-video/fast",
    app: "fal-ai/ltx-2.3",
    title: "LTX 2.3 Video Fast: text to video",
    alias: "t2v-fast",
    kind: "text-to-video",
    maxDuration: 20,
    schema: asVideoSchema(textToVideoSchema({ durations: [6, 8, 10, 12, 14, 16, 18, 20], defaultDuration: 6, longAbove: 10 })),
    pricePerSecond: FAL_T2V_RATES,
  },
  {
    id: "fal-ai/ltx-2.3/audio-to-video",
    app: "fal-ai/ltx-2.3",
    title: "LTX 2.3 Video Pro: audio to video",
    alias: "a2v",
    kind: "audio-to-video",
    maxDuration: AUDIO_TO_VIDEO_MAX_SECONDS,
    schema: asVideoSchema(audioToVideoSchema),
    pricePerSecond: FAL_T2V_RATES,
  },
];

/** Every endpoint this server serves: image-to-video (Pro, Fast), text-to-video (Pro, Fast) and audio-to-video. */
export const ENDPOINTS: EndpointDef[] = [...IMAGE_TO_VIDEO_ENDPOINTS, ...FAMILY_ENDPOINTS];
