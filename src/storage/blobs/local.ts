// Blob store on a local folder: key `a/b/c` is the file <root>/a/b/c. Whole blobs are written to a
// temporary name and renamed into place; multipart parts wait under <root>/.blob-uploads/<id>/ and
// are joined in order at completion.
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { BadRequestError } from "../../errors.js";
import {
  bareEtag, checkKey, joinStreams, checkPartList, checkPartNumber, checkUploadId, resolveRange,
  type BlobBody, type BlobInfo, type BlobPart, type BlobRead, type BlobStore, type ByteRange, type PresignOptions,
} from "./types.js";

const UPLOADS = ".blob-uploads";

function toStream(body: BlobBody): Readable {
  return Buffer.isBuffer(body) || body instanceof Uint8Array ? Readable.from([Buffer.from(body.buffer, body.byteOffset, body.byteLength)]) : body;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "ENOENT";
}

export class LocalBlobStore implements BlobStore {
  readonly kind = "file" as const;
  constructor(readonly root: string) {}

  private pathOf(key: string): string {
    return path.join(this.root, ...checkKey(key).split("/"));
  }

  private uploadDir(uploadId: string): string {
    return path.join(this.root, UPLOADS, checkUploadId(uploadId));
  }

  /** Streams `body` into `dest` through a temporary file; returns its size and MD5. */
  private async writeAtomically(dest: string, body: BlobBody): Promise<{ size: number; md5: string }> {
    await fsp.mkdir(path.dirname(dest), { recursive: true });
    const tmp = `${dest}.tmp-${randomBytes(6).toString("hex")}`;
    const hash = createHash("md5");
    let size = 0;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(toStream(body), meter, fs.createWriteStream(tmp));
      await fsp.rename(tmp, dest);
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
    return { size, md5: hash.digest("hex") };
  }

  async put(key: string, body: BlobBody): Promise<BlobInfo> {
    const { size } = await this.writeAtomically(this.pathOf(key), body);
    return { key, size };
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    try {
      const st = await fsp.stat(this.pathOf(key));
      return st.isFile() ? { key, size: st.size } : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async get(key: string, opts: { range?: ByteRange } = {}): Promise<BlobRead | undefined> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(this.pathOf(key), "r");
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
    // Reading through the opened handle: a delete after this point does not cut the answer short.
    try {
      const totalSize = (await handle.stat()).size;
      if (totalSize === 0 && !opts.range) {
        await handle.close();
        return { body: Readable.from([]), length: 0, totalSize, start: 0, end: -1 };
      }
      const { start, end } = resolveRange(opts.range, totalSize);
      const body = handle.createReadStream({ start, end, autoClose: true });
      return { body, length: end - start + 1, totalSize, start, end };
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    await fsp.rm(file, { force: true });
    // Drop folders the blob leaves empty, up to the root.
    for (let dir = path.dirname(file); dir.startsWith(this.root + path.sep); dir = path.dirname(dir)) {
      try {
        await fsp.rmdir(dir);
      } catch {
        break;
      }
    }
  }

  async createMultipart(key: string): Promise<string> {
    checkKey(key);
    const uploadId = randomBytes(18).toString("base64url");
    const dir = this.uploadDir(uploadId);
    await fsp.mkdir(dir, { recursive: true });
    await fsp.writeFile(path.join(dir, "key"), key);
    return uploadId;
  }

  private async checkUpload(key: string, uploadId: string): Promise<string> {
    const dir = this.uploadDir(uploadId);
    let owner: string;
    try {
      owner = await fsp.readFile(path.join(dir, "key"), "utf8");
    } catch (err) {
      if (isMissing(err)) throw new BadRequestError(`unknown multipart upload id ${JSON.stringify(uploadId)}`, 404);
      throw err;
    }
    if (owner !== key) throw new BadRequestError(`multipart upload ${JSON.stringify(uploadId)} is not for this file`, 404);
    return dir;
  }

  async putPart(key: string, uploadId: string, partNumber: number, body: BlobBody): Promise<BlobPart> {
    checkPartNumber(partNumber);
    const dir = await this.checkUpload(key, uploadId);
    const { md5 } = await this.writeAtomically(path.join(dir, `part-${partNumber}`), body);
    await fsp.writeFile(path.join(dir, `part-${partNumber}.etag`), md5);
    return { partNumber, etag: md5 };
  }

  async completeMultipart(key: string, uploadId: string, parts: { partNumber: number; etag?: string }[]): Promise<BlobInfo> {
    checkPartList(parts);
    const dir = await this.checkUpload(key, uploadId);
    for (const p of parts) {
      let stored: string;
      try {
        stored = await fsp.readFile(path.join(dir, `part-${p.partNumber}.etag`), "utf8");
      } catch (err) {
        if (isMissing(err)) throw new BadRequestError(`part ${p.partNumber} was never uploaded`);
        throw err;
      }
      if (p.etag !== undefined && bareEtag(p.etag) !== stored) throw new BadRequestError(`part ${p.partNumber}: etag does not match the uploaded part`);
    }
    const partPaths = parts.map((p) => path.join(dir, `part-${p.partNumber}`));
    const joined = joinStreams(partPaths.map((file) => () => fs.createReadStream(file)));
    const info = await this.put(key, joined);
    await fsp.rm(dir, { recursive: true, force: true });
    return info;
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    checkKey(key);
    try {
      await this.checkUpload(key, uploadId);
    } catch {
      return;
    }
    await fsp.rm(this.uploadDir(uploadId), { recursive: true, force: true });
  }

  /** Local files have no URL of their own: the service streams them. */
  async presignGet(key: string, _opts?: PresignOptions): Promise<string | undefined> {
    checkKey(key);
    return undefined;
  }
}
