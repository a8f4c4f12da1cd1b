// Every setting of the service, read once from the environment. The README's configuration table
// lists each of these; add a row there when a setting is added here.
import path from "node:path";

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
    ...overrides,
  };
  if (overrides.port !== undefined && overrides.publicUrl === undefined && !env.PUBLIC_URL) {
    config.publicUrl = `http://${displayHost}:${port}`;
  }
  return config;
}
