// The blob store: the bytes of uploads and outputs, behind one async interface with two adapters
// (local files, S3). Records (names, owners, expiry) stay in the database; a blob is only bytes under
// a key such as `files/<id>/<name>`. Both adapters pass test/blob-store.conformance.test.ts.
import { Readable } from "node:stream";
import { BadRequestError } from "../../errors.js";

/** S3 refuses non-final multipart parts below this size (EntityTooSmall). */
export const S3_MIN_PART_BYTES = 5 * 1024 * 1024;
/** Most parts in one multipart upload (S3's limit, also enforced locally). */
export const MAX_PARTS = 10_000;

export type BlobBody = Readable | Buffer | Uint8Array;

export interface BlobInfo {
  key: string;
  size: number;
}

/** Inclusive byte range, as in HTTP `Range: bytes=start-end`; `end` omitted = to the last byte. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface BlobRead {
  body: Readable;
  /** Bytes in `body`. */
  length: number;
  /** Size of the whole blob. */
  totalSize: number;
  /** The range actually served (inclusive), clamped to the blob's size. */
  start: number;
  end: number;
}

export interface BlobPart {
  partNumber: number;
  etag: string;
}

export interface PresignOptions {
  /** Seconds the URL stays valid (1 to 604800). */
  expiresInSeconds: number;
  /** Sent back as the answer's Content-Type. */
  contentType?: string;
  /** Sent back as Content-Disposition (inline; filename=...). */
  fileName?: string;
}

export interface BlobStore {
  readonly kind: "file" | "s3";
  /** Stores a whole blob (replacing one under the same key); readers never see it half-written. */
  put(key: string, body: BlobBody, opts?: { contentType?: string }): Promise<BlobInfo>;
  /** Reads a blob or a range of it; undefined when there is no such blob. A range starting past the end is a 416. */
  get(key: string, opts?: { range?: ByteRange }): Promise<BlobRead | undefined>;
  head(key: string): Promise<BlobInfo | undefined>;
  /** Removes a blob; removing a missing one is not an error. */
  delete(key: string): Promise<void>;
  /**
   * Starts a multipart upload and returns its id. Parts may be any size and arrive in any order, at
   * any process sharing the store: the S3 adapter keeps each part as its own object and joins them
   * at completion, merging parts under 5 MiB into S3 parts of at least that size.
   */
  createMultipart(key: string, opts?: { contentType?: string }): Promise<string>;
  /** Stores part `partNumber` (1..10000), replacing an earlier one with that number. */
  putPart(key: string, uploadId: string, partNumber: number, body: BlobBody): Promise<BlobPart>;
  /** Joins the listed parts, in the order given, into the blob; etags given must match the stored parts. */
  completeMultipart(key: string, uploadId: string, parts: { partNumber: number; etag?: string }[]): Promise<BlobInfo>;
  /** Drops an unfinished upload and its parts; aborting an unknown one is not an error. */
  abortMultipart(key: string, uploadId: string): Promise<void>;
  /** A short-lived URL that serves the blob directly, or undefined when the store cannot make one (local files). */
  presignGet(key: string, opts: PresignOptions): Promise<string | undefined>;
}

/** Keys are relative paths of safe segments (the local adapter maps them onto folders). */
export function checkKey(key: string): string {
  const segments = key.split("/");
  if (!key || key.length > 900 || segments.some((s) => !s || s === "." || s === ".." || !/^[A-Za-z0-9._=-]+$/.test(s)) || segments[0]!.startsWith(".")) {
    throw new Error(`blob key must be a relative path of [A-Za-z0-9._=-] segments not starting with '.', got ${JSON.stringify(key)}`);
  }
  return key;
}

export function checkUploadId(uploadId: string): string {
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(uploadId)) throw new BadRequestError(`unknown multipart upload id ${JSON.stringify(uploadId)}`, 404);
  return uploadId;
}

export function checkPartNumber(partNumber: number): number {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
    throw new BadRequestError(`partNumber must be an integer from 1 to ${MAX_PARTS}, got ${partNumber}`);
  }
  return partNumber;
}

/** Checks the part list of a completion: non-empty, no number twice. */
export function checkPartList(parts: { partNumber: number; etag?: string }[]): void {
  if (parts.length === 0) throw new BadRequestError("parts must list at least one part");
  const seen = new Set<number>();
  for (const p of parts) {
    checkPartNumber(p.partNumber);
    if (seen.has(p.partNumber)) throw new BadRequestError(`parts lists partNumber ${p.partNumber} twice`);
    seen.add(p.partNumber);
  }
}

/** Clamps a requested range to a blob of `size` bytes; a start at or past the end is a 416. */
export function resolveRange(range: ByteRange | undefined, size: number): { start: number; end: number } {
  if (!range) return { start: 0, end: size - 1 };
  const { start, end } = range;
  if (!Number.isInteger(start) || start < 0 || (end !== undefined && (!Number.isInteger(end) || end < start))) {
    throw new BadRequestError(`invalid byte range ${start}-${end ?? ""}`, 416);
  }
  if (start >= size) throw new BadRequestError(`range start ${start} is past the end of a ${size}-byte file`, 416);
  return { start, end: Math.min(end ?? size - 1, size - 1) };
}

/** Strips the quotes S3 puts around ETags, so etags compare alike across adapters. */
export function bareEtag(etag: string | undefined): string {
  return (etag ?? "").replace(/^W\//, "").replace(/^"|"$/g, "");
}

/** One stream of several sources read one after the other, each opened only when its turn comes. */
export function joinStreams(openers: (() => Promise<Readable> | Readable)[]): Readable {
  return Readable.from(
    (async function* () {
      for (const open of openers) yield* await open();
    })(),
  );
}
