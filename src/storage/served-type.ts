// Decides how a stored file is served back: only inert media whose declared type matches its own
// first bytes is shown inline, under the type we recognised; everything else (HTML, SVG, scripts,
// a file whose content contradicts its declared type) is a download of opaque bytes.
import fs from "node:fs";

/** Headers on every /files response: nothing served from storage may run as active content. */
export const FILE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "x-content-type-options": "nosniff",
  "content-security-policy": "sandbox; default-src 'none'",
};

type Family = "image" | "video" | "audio";

interface Signature {
  type: string;
  family: Family;
  match(b: Buffer): boolean;
}

const at = (b: Buffer, offset: number, ascii: string) => b.length >= offset + ascii.length && b.toString("latin1", offset, offset + ascii.length) === ascii;

const SIGNATURES: Signature[] = [
  { type: "image/png", family: "image", match: (b) => at(b, 0, "\x89PNG\r\n\x1a\n") },
  { type: "image/jpeg", family: "image", match: (b) => b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff },
  { type: "image/gif", family: "image", match: (b) => at(b, 0, "GIF87a") || at(b, 0, "GIF89a") },
  { type: "image/webp", family: "image", match: (b) => at(b, 0, "RIFF") && at(b, 8, "WEBP") },
  { type: "image/avif", family: "image", match: (b) => at(b, 4, "ftypavif") },
  { type: "audio/wav", family: "audio", match: (b) => at(b, 0, "RIFF") && at(b, 8, "WAVE") },
  { type: "audio/ogg", family: "audio", match: (b) => at(b, 0, "OggS") },
  { type: "audio/flac", family: "audio", match: (b) => at(b, 0, "fLaC") },
  { type: "audio/mpeg", family: "audio", match: (b) => at(b, 0, "ID3") || (b.length >= 2 && b[0] === 0xff && (b[1] & 0xe0) === 0xe0) },
  { type: "audio/mp4", family: "audio", match: (b) => at(b, 4, "ftypM4A") },
  { type: "video/webm", family: "video", match: (b) => b.length >= 4 && b.readUInt32BE(0) === 0x1a45dfa3 },
  { type: "video/mp4", family: "video", match: (b) => at(b, 4, "ftyp") },
];

export interface ServedType {
  contentType: string;
  /** Value of Content-Disposition. */
  disposition: string;
}

/** How to serve a file declared as `declaredType` whose content starts with `head`. */
export function servedType(declaredType: string, head: Buffer, fileName: string): ServedType {
  const declared = declaredType.split(";")[0]!.trim().toLowerCase();
  const family = declared.split("/")[0];
  const sniffed = SIGNATURES.find((s) => s.match(head));
  const quoted = fileName.replace(/["\\\r\n]/g, "_");
  if (sniffed && sniffed.family === family) return { contentType: sniffed.type, disposition: `inline; filename="${quoted}"` };
  return { contentType: "application/octet-stream", disposition: `attachment; filename="${quoted}"` };
}

/** Reads the first bytes of a stored file for `servedType` (empty when it cannot be read). */
export function readHead(filePath: string, bytes = 32): Buffer {
  let fd: number | undefined;
  try {
    fd = fs.openSync(filePath, "r");
    const buf = Buffer.alloc(bytes);
    const n = fs.readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n);
  } catch {
    return Buffer.alloc(0);
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
