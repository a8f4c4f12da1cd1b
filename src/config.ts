// Every setting of the service, read once from the environment. The README's configuration table
// lists each of these; add a row there when a setting is added here.
import path from "node:path";
import { parseRenderScales, type RenderScales } from "./engines/ltx/render-scale.js";

export interface Config {
  /** TCP port of the HTTP server. Default 8787. */
  port: number;
  /** Interface to bind. Default 127.0.0.1. */
  host: string;
  /** Folder for the database and stored files. Default ./data. */
  dataDir: string;
  /** Base of every URL we return (status_url, file URLs). Default http://{host}:{port}. */
  publicUrl: string;
  /** Keys accepted in addition to stored ones (comma-separated API_KEYS). */
  apiKeys: string[];
  /** Jobs run at once by the preview engine. Default 1 (it already uses both cores through ffmpeg). */
  previewConcurrency: number;
  /** Engine per endpoint id; default "preview" for every endpoint. */
  engineByEndpoint: Record<string, string>;
  /** Origins allowed by CORS; ["*"] allows any. Default *. */
  corsOrigins: string[];
  /** Largest accepted JSON body in bytes. Default 40 MiB (data: URIs carry images inline). */
  bodyLimitBytes: number;
  /** Largest uploaded file in bytes. Default 1 GiB. */
  uploadLimitBytes: number;
  /** Largest input image download in bytes. Default 25 MB. */
  imageFetchLimitBytes: number;
  /** Time allowed for one input image download in ms. Default 20_000. */
  imageFetchTimeoutMs: number;
  /** Allow image_url to reach private, loopback and link-local addresses. Default false. */
  allowPrivateUrls: boolean;
  /** Largest input image in pixels (width x height) before it is refused. Default 100 MP. */
  maxInputPixels: number;
  /** ffmpeg binary; default: `ffmpeg` on PATH, else the one shipped in @ffmpeg-installer. */
  ffmpegPath?: string;
  /** ffprobe binary; default: `ffprobe` on PATH, else the one shipped in @ffprobe-installer. */
  ffprobePath?: string;
  /** x264 preset used by the preview engine. Default veryfast. */
  x264Preset: string;
  /** Log level for the JSON server log. Default info. */
  logLevel: string;
  // Hosted LTX API engine (`ltx-api`, docs/ltx-api-engine.md): enabled when ltxApiKey is set.
  /** Bearer key for Lightricks' hosted LTX API (LTX_API_KEY). Unset: the engine is not used by default. */
  ltxApiKey?: string;
  /** Base URL of the hosted LTX API. Default https://api.ltx.video. */
  ltxApiUrl: string;
  /** Hosted generations in flight at once from this process. Default 2 (the hosted account default). */
  ltxApiConcurrency: number;
  /** Pause between job status polls in ms. Default 5_000 (the documented pace). */
  ltxApiPollIntervalMs: number;
  /** Total time allowed for one job (upload, generation, download) in ms. Default 1_200_000 (20 min). */
  ltxApiJobDeadlineMs: number;
  /** Retries of one call after a 5xx answer, a network error or a timeout before the job fails. Default 4. */
  ltxApiMaxRetries: number;
  /** Time allowed for one HTTP call to the hosted API (not counting video download) in ms. Default 60_000. */
  ltxApiRequestTimeoutMs: number;
  // Local LTX-2.3 engine (`ltx`, docs/ltx-engine.md): used by default when ltxModelDir is set.
  /** Diffusers-format LTX-2.3 folder (LTX_MODEL_DIR). Unset: the engine is not used by default. */
  ltxModelDir?: string;
  /** Torch device for the worker: auto (cuda if present), cuda, cuda:N or cpu. Default auto. */
  ltxDevice: string;
  /** Weights dtype: auto (bf16 on GPU, fp32 on CPU), bf16, fp16 or fp32. Default auto. */
  ltxDtype: string;
  /** Offloading for smaller GPUs: none, model (whole models to CPU between uses) or sequential. Default none. */
  ltxOffload: string;
  /** Python of the worker's venv (LTX_PYTHON). Default python/.venv/bin/python in the package. */
  ltxPython?: string;
  /** Flow per endpoint (LTX_FLOWS="endpoint=pro|fast,..."). Default image-to-video=pro, image-to-video/fast=fast. */
  ltxFlowByEndpoint: Record<string, "pro" | "fast">;
  /** Stage-1 steps of the pro flow (LTX_STAGE1_STEPS); unset = the reference 30. For tiny test models. */
  ltxStage1Steps?: number;
  /** Prompt tokens fed to Gemma (a multiple of 128). Default 1024 (the reference). */
  ltxMaxSequenceLength: number;
  /** Torch CPU threads in the worker (LTX_THREADS); unset = torch's default. */
  ltxThreads?: number;
  /** After a cancel, ms to wait for the worker to stop before SIGTERM (then SIGKILL 2 s later). Default 5_000. */
  ltxCancelGraceMs: number;
  /** Time allowed for the worker to load the model and answer ready, in ms. Default 900_000. */
  ltxStartupTimeoutMs: number;
  /** The model generates at this fraction of the output size, then frames are upscaled to it (LTX_RENDER_SCALE, 0 < s <= 1, per resolution: "1,1440p=0.75,2160p=0.5", the default). */
  ltxRenderScale: RenderScales;
  /** Host-memory budget of the worker's prompt-embedding cache in bytes (LTX_PROMPT_CACHE_BYTES). Default 4 GiB (~11 entries at full size). */
  ltxPromptCacheBytes?: number;
  /** An identical submit (same key, endpoint, body, x-fal-* headers) within this many seconds returns the first request. 0 disables. Default 60. */
  dedupeWindowSeconds: number;
  /** Submits per key per minute before 429. Default 120. */
  rateLimitPerMinute: number;
  /** After a sync (fal.run) caller hangs up, ms to wait for it to retry and re-attach before its request is cancelled. Default 5_000. */
  syncHangupGraceMs: number;
  /** Queued (not yet running) requests per key before 429. Default 100. */
  maxQueuedPerKey: number;
  /** How long a database write waits for another process's lock before SQLITE_BUSY, in ms. Default 5_000. */
  sqliteBusyTimeoutMs: number;
  /** How long results and files are kept, in seconds. Default 7 days. */
  retentionSeconds: number;
  /** How often expired files are looked for and deleted, in ms. Default 60_000. */
  retentionSweepMs: number;
  // Webhook outbox (docs/webhooks.md).
  /** Wait before each webhook retry in ms (WEBHOOK_RETRY_DELAYS_MS, comma list); attempts = length + 1. Default 15 s, 30 s, 1, 2, 4, 8, 15, 25, 65 min (10 attempts, about 2 h). */
  webhookRetryDelaysMs: number[];
  /** Time allowed for one webhook POST, answer included, in ms. Default 15_000. */
  webhookTimeoutMs: number;
  /** Bytes one key may store (uploads and outputs) before uploads and submits get 507; 0 = no quota. Default 10 GiB. */
  storageQuotaBytesPerKey: number;
  /** Uploads and submits get 507 when the disk holding DATA_DIR/files has less free; 0 = no floor. Default 1 GiB. */
  minFreeDiskBytes: number;
  // Blob storage (src/storage/blobs): where the bytes of uploads and outputs live.
  /** STORAGE_URL: a local folder (a path or file:// URL; default DATA_DIR) or s3://bucket/prefix. */
  storage: StorageLocation;
  /** S3-compatible server's URL (S3_ENDPOINT_URL, e.g. http://minio:9000); unset = AWS S3. */
  s3EndpointUrl?: string;
  /** Bucket in the URL path rather than the host name (S3_FORCE_PATH_STYLE; MinIO, moto). Default false. */
  s3ForcePathStyle: boolean;
  /** AWS_REGION of the bucket. Default us-east-1. */
  awsRegion: string;
  /** Lifetime of the presigned URL a file download is redirected to, in s (S3_PRESIGN_SECONDS, <= 604800); 0 = stream through the service. Default 900. */
  s3PresignSeconds: number;
  // Built-in HTTPS (src/api/tls.ts, docs/deployment.md).
  /** TLS=self-signed makes a local CA and certificate under DATA_DIR/tls/; off (default) unless the files below are set. */
  tls: "off" | "self-signed";
  /** PEM certificate (chain) to serve HTTPS with on PORT (TLS_CERT_FILE, with TLS_KEY_FILE); re-read on SIGHUP. */
  tlsCertFile?: string;
  /** PEM private key of TLS_CERT_FILE (TLS_KEY_FILE). */
  tlsKeyFile?: string;
  /** Bearer token /metrics requires (METRICS_TOKEN); unset: /metrics answers without one. */
  metricsToken?: string;
  /** Largest input audio (audio_url) in bytes, every source. Default: IMAGE_FETCH_LIMIT_BYTES (25 MB). */
  audioFetchLimitBytes: number;
  /** Time allowed for one input audio download in ms. Default: IMAGE_FETCH_TIMEOUT_MS (20 s). */
  audioFetchTimeoutMs: number;
  /** Device memory an ltx job may plan for, in GiB (LTX_MEMORY_BUDGET_GB); unset: the GPU's own free memory. */
  ltxMemoryBudgetGb?: number;
}

export type StorageLocation = { kind: "file"; root: string } | { kind: "s3"; bucket: string; prefix: string };

/** STORAGE_URL: unset = DATA_DIR; `s3://bucket[/prefix]`; `file:///abs/path` or a plain path. */
export function parseStorageUrl(raw: string | undefined, dataDir: string): StorageLocation {
  const value = (raw ?? "").trim();
  if (!value) return { kind: "file", root: dataDir };
  if (/^s3:/i.test(value)) {
    const m = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/i.exec(value);
    if (!m) throw new Error(`STORAGE_URL must look like s3://bucket/prefix with a valid bucket name, got ${JSON.stringify(raw)}`);
    return { kind: "s3", bucket: m[1]!, prefix: (m[2] ?? "").replace(/^\/+|\/+$/g, "") };
  }
  if (/^file:/i.test(value)) return { kind: "file", root: path.resolve(new URL(value).pathname) };
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) throw new Error(`STORAGE_URL must be a folder, file:// or s3:// URL, got ${JSON.stringify(raw)}`);
  return { kind: "file", root: path.resolve(value) };
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n)) throw new Error(`${name} must be a number, got ${JSON.stringify(raw)}`);
  return n;
}

function bool(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  return ["1", "true", "yes", "on"].includes(raw.toLowerCase());
}

function list(raw: string | undefined): string[] {
  return (raw ?? "").split(",").map((s) => s.trim()).filter(Boolean);
}

/** A comma list of non-negative milliseconds, e.g. WEBHOOK_RETRY_DELAYS_MS="200,200,400". */
function msList(env: NodeJS.ProcessEnv, name: string, fallback: number[]): number[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  return list(raw).map((part) => {
    const n = Number(part);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a comma list of milliseconds, got ${JSON.stringify(raw)}`);
    return n;
  });
}

/** `ENGINES="fal-ai/ltx-2.3/image-to-video=preview,..."` maps endpoints to engines. */
function engineMap(raw: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of list(raw)) {
    const eq = pair.lastIndexOf("=");
    if (eq <= 0) throw new Error(`ENGINES entries look like endpoint=engine, got ${JSON.stringify(pair)}`);
    out[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  return out;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const port = overrides.port ?? int(env, "PORT", 8787);
  const host = overrides.host ?? env.HOST ?? "127.0.0.1";
  const displayHost = host === "0.0.0.0" || host === "::" ? "127.0.0.1" : host;
  const config: Config = {
    port,
    host,
    dataDir: path.resolve(env.DATA_DIR ?? "./data"),
    publicUrl: (env.PUBLIC_URL ?? `http://${displayHost}:${port}`).replace(/\/+$/, ""),
    apiKeys: list(env.API_KEYS),
    previewConcurrency: int(env, "PREVIEW_CONCURRENCY", 1),
    engineByEndpoint: engineMap(env.ENGINES),
    corsOrigins: list(env.CORS_ORIGINS ?? "*"),
    bodyLimitBytes: int(env, "BODY_LIMIT_BYTES", 40 * 1024 * 1024),
    uploadLimitBytes: int(env, "UPLOAD_LIMIT_BYTES", 1024 * 1024 * 1024),
    imageFetchLimitBytes: int(env, "IMAGE_FETCH_LIMIT_BYTES", 25_000_000),
    imageFetchTimeoutMs: int(env, "IMAGE_FETCH_TIMEOUT_MS", 20_000),
    allowPrivateUrls: bool(env, "ALLOW_PRIVATE_URLS", false),
    maxInputPixels: int(env, "MAX_INPUT_PIXELS", 100_000_000),
    ffmpegPath: env.FFMPEG_PATH || undefined,
    ffprobePath: env.FFPROBE_PATH || undefined,
    x264Preset: env.X264_PRESET ?? "veryfast",
    logLevel: env.LOG_LEVEL ?? "info",
    ltxApiKey: env.LTX_API_KEY || undefined,
    ltxApiUrl: (env.LTX_API_URL || "https://api.ltx.video").replace(/\/+$/, ""),
    ltxApiConcurrency: int(env, "LTX_API_CONCURRENCY", 2),
    ltxApiPollIntervalMs: int(env, "LTX_API_POLL_INTERVAL_MS", 5_000),
    ltxApiJobDeadlineMs: int(env, "LTX_API_JOB_DEADLINE_MS", 20 * 60_000),
    ltxApiMaxRetries: int(env, "LTX_API_MAX_RETRIES", 4),
    ltxApiRequestTimeoutMs: int(env, "LTX_API_REQUEST_TIMEOUT_MS", 60_000),
    ltxModelDir: env.LTX_MODEL_DIR ? path.resolve(env.LTX_MODEL_DIR) : undefined,
    ltxDevice: env.LTX_DEVICE || "auto",
    ltxDtype: env.LTX_DTYPE || "auto",
    ltxOffload: env.LTX_OFFLOAD || "none",
    ltxPython: env.LTX_PYTHON || undefined,
    ltxFlowByEndpoint: {
      "fal-ai/ltx-2.3/image-to-video": "pro",
      "fal-ai/ltx-2.3/image-to-video/fast": "fast",
      ...(Object.fromEntries(
        list(env.LTX_FLOWS).map((pair) => {
          const [endpoint, flow] = [pair.slice(0, pair.lastIndexOf("=")).trim(), pair.slice(pair.lastIndexOf("=") + 1).trim()];
          if (!endpoint || (flow !== "pro" && flow !== "fast")) throw new Error(`LTX_FLOWS entries look like endpoint=pro|fast, got ${JSON.stringify(pair)}`);
          return [endpoint, flow];
        }),
      ) as Record<string, "pro" | "fast">),
    },
    ltxStage1Steps: env.LTX_STAGE1_STEPS ? int(env, "LTX_STAGE1_STEPS", 30) : undefined,
    ltxMaxSequenceLength: int(env, "LTX_MAX_SEQUENCE_LENGTH", 1024),
    ltxThreads: env.LTX_THREADS ? int(env, "LTX_THREADS", 0) : undefined,
    ltxCancelGraceMs: int(env, "LTX_CANCEL_GRACE_MS", 5_000),
    ltxStartupTimeoutMs: int(env, "LTX_STARTUP_TIMEOUT_MS", 900_000),
    ltxRenderScale: parseRenderScales(env.LTX_RENDER_SCALE),
    ltxPromptCacheBytes: env.LTX_PROMPT_CACHE_BYTES ? int(env, "LTX_PROMPT_CACHE_BYTES", 4 * 1024 ** 3) : undefined,
    dedupeWindowSeconds: int(env, "DEDUPE_WINDOW_SECONDS", 60),
    rateLimitPerMinute: int(env, "RATE_LIMIT_PER_MINUTE", 120),
    syncHangupGraceMs: int(env, "SYNC_HANGUP_GRACE_MS", 5_000),
    maxQueuedPerKey: int(env, "MAX_QUEUED_PER_KEY", 100),
    sqliteBusyTimeoutMs: int(env, "SQLITE_BUSY_TIMEOUT_MS", 5_000),
    retentionSeconds: int(env, "RETENTION_SECONDS", 7 * 24 * 3600),
    retentionSweepMs: int(env, "RETENTION_SWEEP_MS", 60_000),
    webhookRetryDelaysMs: msList(env, "WEBHOOK_RETRY_DELAYS_MS", [15, 30, 60, 120, 240, 480, 900, 1500, 3900].map((s) => s * 1000)),
    webhookTimeoutMs: int(env, "WEBHOOK_TIMEOUT_MS", 15_000),
    storageQuotaBytesPerKey: int(env, "STORAGE_QUOTA_BYTES_PER_KEY", 10 * 1024 ** 3),
    minFreeDiskBytes: int(env, "MIN_FREE_DISK_BYTES", 1024 ** 3),
    storage: parseStorageUrl(env.STORAGE_URL, path.resolve(env.DATA_DIR ?? "./data")),
    s3EndpointUrl: env.S3_ENDPOINT_URL ? env.S3_ENDPOINT_URL.replace(/\/+$/, "") : undefined,
    s3ForcePathStyle: bool(env, "S3_FORCE_PATH_STYLE", false),
    awsRegion: env.AWS_REGION || "us-east-1",
    s3PresignSeconds: ((seconds) => {
      if (!Number.isInteger(seconds) || seconds < 0 || seconds > 604_800) throw new Error(`S3_PRESIGN_SECONDS must be whole seconds from 0 (stream) to 604800 (7 days), got ${JSON.stringify(env.S3_PRESIGN_SECONDS)}`);
      return seconds;
    })(int(env, "S3_PRESIGN_SECONDS", 900)),
    tls: ((mode) => {
      if (mode === "" || mode === "off" || mode === "false" || mode === "0") return "off";
      if (mode === "self-signed") return "self-signed";
      throw new Error(`TLS must be self-signed or off (for your own certificate set TLS_CERT_FILE and TLS_KEY_FILE), got ${JSON.stringify(env.TLS)}`);
    })((env.TLS ?? "").trim().toLowerCase()),
    tlsCertFile: env.TLS_CERT_FILE ? path.resolve(env.TLS_CERT_FILE) : undefined,
    tlsKeyFile: env.TLS_KEY_FILE ? path.resolve(env.TLS_KEY_FILE) : undefined,
    metricsToken: env.METRICS_TOKEN?.trim() || undefined,
    audioFetchLimitBytes: int(env, "AUDIO_FETCH_LIMIT_BYTES", int(env, "IMAGE_FETCH_LIMIT_BYTES", 25_000_000)),
    audioFetchTimeoutMs: int(env, "AUDIO_FETCH_TIMEOUT_MS", int(env, "IMAGE_FETCH_TIMEOUT_MS", 20_000)),
    ltxMemoryBudgetGb: ((gb) => {
      if (gb !== undefined && !(gb > 0)) throw new Error(`LTX_MEMORY_BUDGET_GB must be a positive number of GiB, got ${JSON.stringify(env.LTX_MEMORY_BUDGET_GB)}`);
      return gb;
    })(env.LTX_MEMORY_BUDGET_GB?.trim() ? int(env, "LTX_MEMORY_BUDGET_GB", 0) : undefined),
    ...overrides,
  };
  if (overrides.port !== undefined && overrides.publicUrl === undefined && !env.PUBLIC_URL) {
    config.publicUrl = `http://${displayHost}:${port}`;
  }
  if (overrides.dataDir !== undefined && overrides.storage === undefined && !env.STORAGE_URL?.trim()) {
    config.storage = { kind: "file", root: config.dataDir };
  }
  // With TLS on, the default public origin is the https one (fal_client only speaks https).
  if ((config.tls === "self-signed" || config.tlsCertFile) && overrides.publicUrl === undefined && !env.PUBLIC_URL) {
    config.publicUrl = config.publicUrl.replace(/^http:/, "https:");
  }
  return config;
}
