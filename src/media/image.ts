// Turns an `image_url` / `end_image_url` value into a decoded, EXIF-rotated PNG on disk for the
// engines. Size limits are checked from the header before any pixel is decoded; every failure is an
// InputError naming the field (422), so no input image can cause a 500 or exhaust memory.
import fsp from "node:fs/promises";
import path from "node:path";
import sharp, { type Metadata, type OutputInfo } from "sharp";
import { InfrastructureError, InputError, type FieldError } from "../errors.js";
import type { PreparedImage } from "../engines/types.js";
import {
  DEFAULT_MAX_REDIRECTS,
  ImageFetchError,
  readImageSource,
  type HostResolver,
  type LocalFileResolver,
} from "./fetch.js";

export type ImageField = "image_url" | "end_image_url";
export type ImageFormat = "png" | "jpeg" | "webp" | "avif" | "gif";

/** Largest input image in bytes (IMAGE_FETCH_LIMIT_BYTES). */
export const DEFAULT_IMAGE_MAX_BYTES = 25_000_000;
/** Largest input image in pixels, width x height (MAX_INPUT_PIXELS). */
export const DEFAULT_IMAGE_MAX_PIXELS = 100_000_000;
/** Time allowed for one download in ms (IMAGE_FETCH_TIMEOUT_MS). */
export const DEFAULT_IMAGE_TIMEOUT_MS = 20_000;

export interface PrepareImageOptions {
  /** The input field the value came from; named in every error's `loc`. */
  field: ImageField;
  /** Where the PNG is written (its folder is created if missing). */
  destPath: string;
  /** Largest image file in bytes, for every source. Default 25 MB. */
  maxBytes?: number;
  /** Time allowed for the download, redirects included, in ms. Default 20_000. */
  timeoutMs?: number;
  /** Largest image in pixels; bigger ones are refused from their header, before decoding. Default 100 MP. */
  maxPixels?: number;
  /** Let URLs reach private, loopback and link-local addresses (ALLOW_PRIVATE_URLS). Default false. */
  allowPrivate?: boolean;
  /**
   * Shrinks (never enlarges) the image so that its shorter side is at most this many pixels,
   * keeping its aspect ratio. An engine that scales to cover and crops to an output no larger than
   * N x N loses nothing with N = the output's longer side (3840 at 2160p), and a 100 MP input then
   * costs a fraction of the time. Default: no resizing.
   */
  maxShortSide?: number;
  /** Redirects followed. Default 5. */
  maxRedirects?: number;
  /** Cancels the work; its reason is rethrown unchanged (not turned into an InputError). */
  signal?: AbortSignal;
  /** Maps this server's own file URLs to disk paths; tried before any network access. */
  resolveLocalFile?: LocalFileResolver;
  /** Host name resolver; default the system's. Tests use it to point a public-looking name anywhere. */
  lookup?: HostResolver;
  /** Exact addresses exempt from the address check (an allow-list; see ReadImageSourceOptions). */
  trustedAddresses?: readonly string[];
  /** Attached to the errors thrown. */
  requestId?: string;
}

const ERROR_DOCS = "https://docs.fal.ai/errors#";
const SUPPORTED = "PNG, JPEG, WebP, AVIF or GIF";

/** Recognises the five accepted formats from their first bytes; anything else is refused before sharp sees it. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, Math.min(bytes.length, 64));
  if (b.length >= 8 && b.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return "png";
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "jpeg";
  if (b.length >= 6 && (b.toString("latin1", 0, 6) === "GIF87a" || b.toString("latin1", 0, 6) === "GIF89a")) return "gif";
  if (b.length >= 12 && b.toString("latin1", 0, 4) === "RIFF" && b.toString("latin1", 8, 12) === "WEBP") return "webp";
  if (b.length >= 16 && b.toString("latin1", 4, 8) === "ftyp") {
    // ISO BMFF: major brand at 8, minor version at 12, compatible brands from 16 to the box end.
    const boxEnd = Math.min(b.readUInt32BE(0), b.length);
    const brands = [b.toString("latin1", 8, 12)];
    for (let at = 16; at + 4 <= boxEnd; at += 4) brands.push(b.toString("latin1", at, at + 4));
    if (brands.includes("avif") || brands.includes("avis")) return "avif";
  }
  return undefined;
}

/** What the user sent, short enough to echo back: data: URIs are cut after their header. */
export function describeInput(source: string): string {
  if (/^data:/i.test(source)) {
    const comma = source.indexOf(",");
    const head = source.slice(0, Math.min(comma >= 0 ? comma + 1 : 40, 80));
    return `${head}...(${source.length} characters)`;
  }
  return source.length > 2048 ? `${source.slice(0, 2048)}...(${source.length} characters)` : source;
}

function fieldError(
  opts: PrepareImageOptions,
  source: string,
  type: string,
  msg: string,
  ctx?: Record<string, unknown>,
  cause?: unknown,
): InputError {
  const entry: FieldError = { loc: ["body", opts.field], msg, type, url: ERROR_DOCS + type, input: describeInput(source) };
  if (ctx) entry.ctx = ctx;
  return new InputError([entry], { requestId: opts.requestId, cause });
}

function sourceLabel(source: string): string {
  return /^data:/i.test(source) ? "the data: URI" : "the image URL";
}

/** First line of a libvips message, without the internal target noise. */
function decoderMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.split("\n").map((l) => l.trim()).find((l) => l && !/unable to write to target/.test(l)) ?? "decoder error";
  return line.replace(/^Input (buffer|file) (has corrupt header|contains unsupported image format):\s*/i, "").slice(0, 200);
}

function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw signal.reason ?? new Error("aborted");
}

/**
 * Fetches (or decodes) an image input, checks its format and size, applies its EXIF orientation and
 * writes it as an 8-bit sRGB PNG to `opts.destPath`. GIF and animated WebP give their first frame.
 * Throws InputError (loc ["body", field]) for every problem with the input: `file_download_error`
 * (unreachable, refused address, too many bytes, timeout, HTTP error), `image_load_error` (not an
 * accepted format, truncated, corrupt) and `image_too_large` (more than maxPixels).
 */
export async function prepareImage(source: string, opts: PrepareImageOptions): Promise<PreparedImage> {
  const maxBytes = opts.maxBytes ?? DEFAULT_IMAGE_MAX_BYTES;
  const maxPixels = opts.maxPixels ?? DEFAULT_IMAGE_MAX_PIXELS;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_IMAGE_TIMEOUT_MS;
  throwIfAborted(opts.signal);
  if (typeof source !== "string" || source.trim() === "") {
    throw fieldError(opts, String(source), "file_download_error", "The image URL is empty");
  }
  source = source.trim();

  let bytes: Buffer;
  try {
    ({ bytes } = await readImageSource(source, {
      maxBytes,
      timeoutMs,
      allowPrivate: opts.allowPrivate ?? false,
      maxRedirects: opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS,
      signal: opts.signal,
      resolveLocalFile: opts.resolveLocalFile,
      lookup: opts.lookup,
      trustedAddresses: opts.trustedAddresses,
    }));
  } catch (err) {
    throwIfAborted(opts.signal);
    if (err instanceof ImageFetchError) {
      const type = err.reason === "bad_data_uri" ? "image_load_error" : "file_download_error";
      const lead = /^data:/i.test(source) ? "Could not read the image" : "Could not download the image";
      throw fieldError(opts, source, type, `${lead}: ${sourceLabel(source)} ${err.message}`, err.ctx, err);
    }
    if (err instanceof InputError) throw err;
    // resolveLocalFile or the runtime failed in a way that is not about the URL: still the input's 422,
    // never a 500, but say plainly that the download failed.
    throw fieldError(opts, source, "file_download_error", "Could not download the image", undefined, err);
  }
  throwIfAborted(opts.signal);
  return decodeToPng(bytes, source, opts, maxPixels);
}

async function decodeToPng(bytes: Buffer, source: string, opts: PrepareImageOptions, maxPixels: number): Promise<PreparedImage> {
  const format = sniffImageFormat(bytes);
  if (!format) {
    const looksLikeText = /^\s*</.test(bytes.toString("latin1", 0, 64));
    throw fieldError(
      opts,
      source,
      "image_load_error",
      `Could not load the image: the data is not a ${SUPPORTED} image${looksLikeText ? " (it looks like an HTML or XML document)" : ""}`,
    );
  }
  // Header only: no pixels are decoded here, so the size check costs nothing even for a bomb.
  // limitInputPixels is off so that the size can be reported; decoding below enforces it again.
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false, failOn: "error", pages: 1 }).metadata();
  } catch (err) {
    throw fieldError(opts, source, "image_load_error", `Could not load the image: the ${format.toUpperCase()} data is corrupt or truncated (${decoderMessage(err)})`, undefined, err);
  }
  const width = meta.width ?? 0;
  const height = meta.pageHeight ?? meta.height ?? 0;
  if (width <= 0 || height <= 0) {
    throw fieldError(opts, source, "image_load_error", `Could not load the image: the ${format.toUpperCase()} header gives no size`);
  }
  if (width * height > maxPixels) {
    throw fieldError(
      opts,
      source,
      "image_too_large",
      `The image is ${width}x${height} (${(width * height / 1e6).toFixed(1)} MP); the largest accepted image has ${(maxPixels / 1e6).toFixed(0)} MP`,
      { max_pixels: maxPixels, width, height },
    );
  }
  throwIfAborted(opts.signal);

  let png: { data: Buffer; info: OutputInfo };
  try {
    let pipeline = sharp(bytes, { limitInputPixels: maxPixels, failOn: "error", pages: 1, page: 0 })
      .rotate(); // applies EXIF orientation, then drops it with the rest of the metadata
    if (opts.maxShortSide !== undefined && Math.min(width, height) > opts.maxShortSide) {
      // A square box with fit "outside" bounds the shorter side whatever the orientation.
      pipeline = pipeline.resize(opts.maxShortSide, opts.maxShortSide, { fit: "outside", withoutEnlargement: true });
    }
    png = await pipeline
      .toColourspace("srgb")
      .png({ compressionLevel: 0 }) // temporary file: level 0 decodes 3x faster in the engine (bench/RESULTS.md)
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw fieldError(opts, source, "image_load_error", `Could not load the image: the ${format.toUpperCase()} data is corrupt or truncated (${decoderMessage(err)})`, undefined, err);
  }
  throwIfAborted(opts.signal);

  // Written under a temporary name and renamed, so no half-written PNG is ever read by an engine.
  // A failure here is the disk's, not the input's: retryable infrastructure error.
  const partial = `${opts.destPath}.${process.pid}.partial`;
  try {
    await fsp.mkdir(path.dirname(opts.destPath), { recursive: true });
    await fsp.writeFile(partial, png.data);
    await fsp.rename(partial, opts.destPath);
  } catch (err) {
    await fsp.rm(partial, { force: true }).catch(() => {});
    throw new InfrastructureError(`Could not write the prepared ${opts.field} image: ${(err as Error).message}`, {
      requestId: opts.requestId,
      cause: err,
    });
  }
  return { path: opts.destPath, width: png.info.width, height: png.info.height };
}
