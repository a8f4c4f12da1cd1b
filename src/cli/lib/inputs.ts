// Turns generate's flags into the endpoint's input: image and audio arguments that are local files
// are uploaded through the server's storage API (fal.storage.upload), URLs and data: URIs pass as
// they are, and numbers are sent as numbers so the server, not the CLI, judges every value.
import fsp from "node:fs/promises";
import path from "node:path";
import type { FalClient } from "@fal-ai/client";
import { CliError, toCliError } from "./errors.js";
import { EXIT } from "./exit-codes.js";

const CONTENT_TYPES: Record<string, string> = {
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".webp": "image/webp",
  ".gif": "image/gif",
  ".avif": "image/avif",
  ".heic": "image/heic",
  ".heif": "image/heif",
  ".tif": "image/tiff",
  ".tiff": "image/tiff",
  ".bmp": "image/bmp",
  // Audio for audio-to-video (the formats fal accepts).
  ".mp3": "audio/mpeg",
  ".wav": "audio/wav",
  ".aac": "audio/aac",
  ".m4a": "audio/mp4",
  ".ogg": "audio/ogg",
  ".oga": "audio/ogg",
  ".opus": "audio/ogg",
  ".flac": "audio/flac",
  ".webm": "audio/webm",
};

/** What a file flag takes, for its error hint. */
export type MediaKind = "image" | "audio";

/** http(s) URLs and data: URIs are given to the server as they are. */
export function isRemoteSource(source: string): boolean {
  return /^(https?:\/\/|data:)/i.test(source);
}

export function contentTypeOf(file: string): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? "application/octet-stream";
}

/** Reads a local image (or audio file) for upload; a missing or unreadable file is rejected input (exit 2). */
export async function readLocalImage(file: string, flag: string, kind: MediaKind = "image"): Promise<{ bytes: Buffer; name: string; type: string }> {
  try {
    const stat = await fsp.stat(file);
    if (!stat.isFile()) throw Object.assign(new Error("not a regular file"), { code: "ENOTFILE" });
    return { bytes: await fsp.readFile(file), name: path.basename(file), type: contentTypeOf(file) };
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = code === "ENOENT" ? "no such file" : code === "EACCES" ? "permission denied" : (err as Error).message;
    throw new CliError(`${flag} ${file}: ${why}`, { exitCode: EXIT.inputRejected, hint: `${flag} takes a local ${kind} file, an http(s) URL or a data: URI` });
  }
}

/** The URL to send for an image (or audio) argument; local files are uploaded first and `onUpload` is told. */
export async function imageUrlFor(
  fal: FalClient,
  source: string,
  flag: string,
  onUpload: (info: { file: string; bytes: number; url: string }) => void,
  kind: MediaKind = "image",
): Promise<string> {
  if (isRemoteSource(source)) return source;
  const { bytes, name, type } = await readLocalImage(source, flag, kind);
  let url: string;
  try {
    url = await fal.storage.upload(new File([new Uint8Array(bytes)], name, { type }));
  } catch (err) {
    throw toCliError(err, { phase: "upload" });
  }
  onUpload({ file: source, bytes: bytes.length, url });
  return url;
}

/** "6" -> 6; anything that is not a plain number is sent as written, for the server to reject by field. */
export function numberOrRaw(raw: string | undefined): number | string | undefined {
  if (raw === undefined) return undefined;
  return /^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw;
}

/** The URL to send for --audio: a local audio file is uploaded like an image, URLs pass through. */
export function audioUrlFor(
  fal: FalClient,
  source: string,
  onUpload: (info: { file: string; bytes: number; url: string }) => void,
): Promise<string> {
  return imageUrlFor(fal, source, "--audio", onUpload, "audio");
}
