// Finds the ffmpeg and ffprobe binaries: the configured path, else the system's (fast, current x264),
// else the static build shipped in an npm package so that a machine without ffmpeg still works.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";

export interface Binary {
  path: string;
  /** "configured", "system" or "bundled (npm package)". */
  source: string;
  version: string;
}

const require = createRequire(import.meta.url);

function versionOf(bin: string): string | undefined {
  try {
    const out = execFileSync(bin, ["-version"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 10_000 });
    return out.split("\n")[0]?.replace(/^\S+ version /, "").split(" ")[0] ?? "unknown";
  } catch {
    return undefined;
  }
}

function locate(name: "ffmpeg" | "ffprobe", configured: string | undefined): Binary {
  if (configured) {
    const v = versionOf(configured);
    if (!v) throw new Error(`${name} at ${configured} (configured) does not run`);
    return { path: configured, source: "configured", version: v };
  }
  const system = versionOf(name);
  if (system) return { path: name, source: "system", version: system };
  const pkg = name === "ffmpeg" ? "@ffmpeg-installer/ffmpeg" : "@ffprobe-installer/ffprobe";
  try {
    const bundled = (require(pkg) as { path: string }).path;
    const v = versionOf(bundled);
    if (v) return { path: bundled, source: `bundled (${pkg})`, version: v };
  } catch {
    // fall through to the error below
  }
  throw new Error(`${name} not found: install it (Debian: apt-get install ffmpeg) or set ${name.toUpperCase()}_PATH`);
}

const cache = new Map<string, Binary>();

export function ffmpegBinary(configured = process.env.FFMPEG_PATH || undefined): Binary {
  const key = `ffmpeg:${configured ?? ""}`;
  if (!cache.has(key)) cache.set(key, locate("ffmpeg", configured));
  return cache.get(key)!;
}

export function ffprobeBinary(configured = process.env.FFPROBE_PATH || undefined): Binary {
  const key = `ffprobe:${configured ?? ""}`;
  if (!cache.has(key)) cache.set(key, locate("ffprobe", configured));
  return cache.get(key)!;
}
