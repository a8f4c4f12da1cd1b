// Messages between the `ltx` engine and its Python worker (JSON lines on the worker's stdin/stdout).
// The worker side is python/ltx_worker/__main__.py; docs/ltx-worker-protocol.md is the contract.

export type LtxFlow = "pro" | "fast";

/** A job as the worker receives it: everything explicit, sizes already resolved. */
export interface WorkerJobMessage {
  type: "job";
  id: string;
  prompt: string;
  /** null for text-to-video (no image conditioning). */
  start_image: string | null;
  end_image: string | null;
  width: number;
  height: number;
  fps: number;
  num_frames: number;
  seed: number;
  generate_audio: boolean;
  flow: LtxFlow;
  output_path: string;
  /** Optional per-job render scale (0 < s <= 1); absent: the worker's LTX_RENDER_SCALE (`--render-scale`) for this size. */
  render_scale?: number | null;
  /** X264_PRESET: libx264 preset of the MP4 (veryfast, the reference's, unless set). */
  x264_preset: string;
}

export type ToWorker = WorkerJobMessage | { type: "cancel"; id: string } | { type: "shutdown" };

export interface ReadyEvent {
  type: "ready";
  protocol: number;
  pid: number;
  device: string;
  dtype: string;
  offload: string;
  flows: LtxFlow[];
  distilled_lora: boolean;
  distilled_transformer: boolean;
  load_seconds: number;
  versions: Record<string, string>;
}

export interface WorkerMetrics {
  timings: Record<string, number>;
  peak_gpu_memory_bytes: number | null;
  peak_rss_bytes?: number;
  [key: string]: unknown;
}

/** Error kinds the worker reports: input (the job is wrong), memory_budget (estimated not to fit), engine, out_of_memory. */
export type WorkerErrorType = "input" | "memory_budget" | "engine" | "out_of_memory" | string;

export type FromWorker =
  | ReadyEvent
  | { type: "fatal"; error: { type: "model_missing" | "startup" | string; message: string } }
  | { type: "progress"; id: string; stage: string; step: number; total: number }
  | { type: "log"; id?: string; level: "DEBUG" | "INFO" | "WARN" | "ERROR"; message: string }
  | { type: "done"; id: string; path: string; metrics: WorkerMetrics }
  | { type: "error"; id: string; error: { type: WorkerErrorType; message: string } }
  | { type: "cancelled"; id: string };

/** Parses one stdout line; undefined for anything that is not a protocol object (never thrown). */
export function parseWorkerLine(line: string): FromWorker | undefined {
  const text = line.trim();
  if (!text.startsWith("{")) return undefined;
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === "object" && typeof (value as { type?: unknown }).type === "string") return value as FromWorker;
  } catch {
    // not JSON: ignored like any stray output
  }
  return undefined;
}
