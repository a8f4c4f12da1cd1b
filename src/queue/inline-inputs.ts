// Moves inline data: URIs out of a request's input at admission: every string field whose name ends
// in `_url` and holds a data: URI is decoded into file storage (owned by the submitting key, with the
// request's retention), and the input keeps only our own file URL, as fal's gateway does. The stored
// input then stays small, whatever the caller sent inline.
import type { VideoInput } from "../endpoints.js";
import { InputError } from "../errors.js";
import { decodeDataUri } from "../media/fetch.js";
import type { FileStore } from "../storage/files.js";

const EXTENSIONS: Record<string, string> = {
  "image/png": "png",
  "image/jpeg": "jpg",
  "image/webp": "webp",
  "image/gif": "gif",
  "image/avif": "avif",
  "audio/mpeg": "mp3",
  "audio/mp3": "mp3",
  "audio/wav": "wav",
  "audio/x-wav": "wav",
  "audio/wave": "wav",
  "audio/mp4": "m4a",
  "audio/x-m4a": "m4a",
  "audio/aac": "aac",
  "audio/ogg": "ogg",
  "audio/opus": "opus",
  "audio/flac": "flac",
  "audio/x-flac": "flac",
  "audio/webm": "webm",
  "video/mp4": "mp4",
};

/** Returns the input with each inline data: `*_url` field replaced by a stored file's URL; a malformed one is a 422 naming the field. */
export async function moveInlineInputs(
  input: VideoInput,
  opts: { files: FileStore; keyId: string; maxBytes: number; expiresAt: number | null },
): Promise<VideoInput> {
  const out: Record<string, unknown> = { ...(input as unknown as Record<string, unknown>) };
  for (const [field, value] of Object.entries(out)) {
    if (!field.endsWith("_url") || typeof value !== "string" || !/^data:/i.test(value)) continue;
    let decoded: ReturnType<typeof decodeDataUri>;
    try {
      decoded = decodeDataUri(value, opts.maxBytes);
    } catch (err) {
      throw new InputError(
        [{ loc: ["body", field], msg: `${field} is not a usable data: URI: ${(err as Error).message}`, type: "bad_data_uri", input: value.slice(0, 64) }],
        { cause: err },
      );
    }
    const declared = decoded.declaredType && /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(decoded.declaredType) ? decoded.declaredType : "application/octet-stream";
    const file = await opts.files.putBuffer(decoded.bytes, {
      keyId: opts.keyId,
      fileName: `${field.replace(/_url$/, "")}.${EXTENSIONS[declared] ?? "bin"}`,
      contentType: declared,
      expiresAt: opts.expiresAt,
    });
    out[field] = opts.files.urlOf(file);
  }
  return out as unknown as VideoInput;
}
