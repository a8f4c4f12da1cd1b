// Stored files: uploads (single and multipart, fal storage API) and generated videos, kept under
// DATA_DIR/files/<id>/<name> and served at unguessable URLs /files/<id>/<name>.
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import type { Db } from "../db.js";
import { BadRequestError, InfrastructureError, NotFoundError } from "../errors.js";

export interface StoredFile {
  id: string;
  keyId: string | null;
  state: "pending" | "ready" | "deleted";
  fileName: string;
  contentType: string;
  size: number | null;
  multipart: boolean;
  createdAt: number;
  expiresAt: number | null;
}

export interface UploadSession {
  file: StoredFile;
  uploadUrl: string;
  fileUrl: string;
}

export interface FileStore {
  /** Starts an upload; the returned upload_url carries a one-file token (no Authorization needed). */
  initiateUpload(opts: { keyId: string; contentType: string; fileName: string; multipart: boolean; expiresAt?: number | null }): UploadSession;
  /** Writes the whole body of a single upload. */
  putUpload(id: string, token: string, body: Readable): Promise<StoredFile>;
  /** Writes one part of a multipart upload; returns the part's etag. */
  putPart(id: string, token: string, partNumber: number, body: Readable): Promise<{ partNumber: number; etag: string }>;
  /** Joins the listed parts in order into the final file. */
  completeMultipart(id: string, token: string, parts: { partNumber: number; etag?: string }[]): Promise<StoredFile>;
  /** Moves a finished file (e.g. an engine's MP4) into the store. */
  adopt(srcPath: string, opts: { keyId: string | null; fileName: string; contentType: string; expiresAt?: number | null }): Promise<StoredFile>;
  /** Stores bytes already in memory as a ready file owned by `keyId` (inline data: inputs moved at admission). */
  putBuffer(bytes: Buffer, opts: { keyId: string | null; fileName: string; contentType: string; expiresAt?: number | null }): Promise<StoredFile>;
  get(id: string): StoredFile | undefined;
  /** Path on disk of a ready file, or undefined. */
  pathOf(file: StoredFile): string;
  urlOf(file: StoredFile): string;
  /** Maps one of our own file URLs to the stored file, or undefined when the URL is not ours. */
  resolveUrl(url: string): StoredFile | undefined;
  /** Whether a URL points at this server's /files/ (whether or not such a file exists). */
  isOwnUrl(url: string): boolean;
  remove(id: string): Promise<void>;
  /** Ready files whose expiry has passed. */
  listExpired(now: number): StoredFile[];
}

const MAX_PARTS = 10_000;

function newId(): string {
  return randomBytes(18).toString("base64url");
}

function sha256(s: string): string {
  return createHash("sha256").update(s).digest("hex");
}

/** Keeps a file name safe for a path segment and a URL while staying recognisable. */
export function safeFileName(name: string, fallback = "file"): string {
  const base = path.basename(name || "").replace(/[^A-Za-z0-9._-]+/g, "_").replace(/^\.+/, "").slice(-120);
  return base || fallback;
}

interface FileRow {
  id: string;
  key_id: string | null;
  state: StoredFile["state"];
  file_name: string;
  content_type: string;
  size: number | null;
  upload_token_hash: string | null;
  multipart: number;
  created_at: number;
  expires_at: number | null;
}

function fromRow(r: FileRow): StoredFile {
  return {
    id: r.id,
    keyId: r.key_id,
    state: r.state,
    fileName: r.file_name,
    contentType: r.content_type,
    size: r.size,
    multipart: r.multipart === 1,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
  };
}

export function createFileStore({ db, dataDir, publicUrl, uploadLimitBytes, clock = Date.now }: {
  db: Db;
  dataDir: string;
  publicUrl: string;
  uploadLimitBytes: number;
  clock?: () => number;
}): FileStore {
  const root = path.join(dataDir, "files");
  fs.mkdirSync(root, { recursive: true });
  const insert = db.prepare(
    `INSERT INTO files (id, key_id, state, file_name, content_type, size, upload_token_hash, multipart, created_at, expires_at)
     VALUES (@id, @key_id, @state, @file_name, @content_type, @size, @upload_token_hash, @multipart, @created_at, @expires_at)`,
  );
  const select = db.prepare<[string], FileRow>("SELECT * FROM files WHERE id = ?");
  const markReady = db.prepare("UPDATE files SET state = 'ready', size = ?, upload_token_hash = NULL WHERE id = ?");
  const markDeleted = db.prepare("UPDATE files SET state = 'deleted', deleted_at = ? WHERE id = ?");

  const dirOf = (id: string) => path.join(root, id);
  /** The file id of one of our own file URLs, or undefined when the URL is not ours. */
  const ownFileId = (url: string): string | undefined => {
    let u: URL;
    try {
      u = new URL(url);
    } catch {
      return undefined;
    }
    const base = new URL(publicUrl);
    const prefix = base.pathname.replace(/\/+$/, "") + "/files/";
    if (u.origin !== base.origin || !u.pathname.startsWith(prefix)) return undefined;
    return u.pathname.slice(prefix.length).split("/")[0] || undefined;
  };
  const pathOf = (f: StoredFile) => path.join(dirOf(f.id), f.fileName);
  const urlOf = (f: StoredFile) => `${publicUrl}/files/${f.id}/${encodeURIComponent(f.fileName)}`;

  function pendingUpload(id: string, token: string, multipart: boolean): { file: StoredFile } {
    const row = select.get(id);
    if (!row || row.state !== "pending" || !row.upload_token_hash || row.upload_token_hash !== sha256(token)) {
      throw new NotFoundError("Upload not found or already completed");
    }
    if ((row.multipart === 1) !== multipart) {
      throw new BadRequestError(multipart ? "This upload is not multipart" : "This upload is multipart: PUT parts, then POST complete");
    }
    return { file: fromRow(row) };
  }

  /** Streams a body to `dest` through a temp file, refusing more than the upload limit. */
  async function writeCapped(body: Readable, dest: string, limit: number): Promise<number> {
    const tmp = `${dest}.${randomBytes(4).toString("hex")}.tmp`;
    let size = 0;
    body.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) body.destroy(new BadRequestError(`Upload larger than ${limit} bytes`, 413));
    });
    try {
      await pipeline(body, fs.createWriteStream(tmp));
      await fsp.rename(tmp, dest);
      return size;
    } catch (err) {
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }

  return {
    initiateUpload({ keyId, contentType, fileName, multipart, expiresAt = null }) {
      const id = newId();
      const token = randomBytes(24).toString("base64url");
      const file: StoredFile = {
        id,
        keyId,
        state: "pending",
        fileName: safeFileName(fileName, "upload"),
        contentType: contentType || "application/octet-stream",
        size: null,
        multipart,
        createdAt: clock(),
        expiresAt,
      };
      insert.run({
        id,
        key_id: keyId,
        state: "pending",
        file_name: file.fileName,
        content_type: file.contentType,
        size: null,
        upload_token_hash: sha256(token),
        multipart: multipart ? 1 : 0,
        created_at: file.createdAt,
        expires_at: expiresAt,
      });
      return { file, uploadUrl: `${publicUrl}/uploads/${id}?token=${token}`, fileUrl: urlOf(file) };
    },

    async putUpload(id, token, body) {
      const { file } = pendingUpload(id, token, false);
      await fsp.mkdir(dirOf(id), { recursive: true });
      const size = await writeCapped(body, pathOf(file), uploadLimitBytes);
      markReady.run(size, id);
      return { ...file, state: "ready", size };
    },

    async putPart(id, token, partNumber, body) {
      pendingUpload(id, token, true);
      if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
        throw new BadRequestError(`Part number must be an integer from 1 to ${MAX_PARTS}`);
      }
      const partsDir = path.join(dirOf(id), ".parts");
      await fsp.mkdir(partsDir, { recursive: true });
      const dest = path.join(partsDir, String(partNumber));
      await writeCapped(body, dest, uploadLimitBytes);
      const hash = createHash("md5");
      await pipeline(fs.createReadStream(dest), hash);
      return { partNumber, etag: `"${hash.digest("hex")}"` };
    },

    async completeMultipart(id, token, parts) {
      const { file } = pendingUpload(id, token, true);
      if (!Array.isArray(parts) || parts.length === 0) throw new BadRequestError("parts must list the uploaded parts");
      const partsDir = path.join(dirOf(id), ".parts");
      const numbers = [...new Set(parts.map((p) => Number(p.partNumber)))].sort((a, b) => a - b);
      const out = fs.createWriteStream(pathOf(file));
      let size = 0;
      try {
        for (const n of numbers) {
          const partPath = path.join(partsDir, String(n));
          if (!fs.existsSync(partPath)) throw new BadRequestError(`Part ${n} was not uploaded`);
          size += (await fsp.stat(partPath)).size;
          if (size > uploadLimitBytes) throw new BadRequestError(`Upload larger than ${uploadLimitBytes} bytes`, 413);
          await pipeline(fs.createReadStream(partPath), out, { end: false });
        }
      } catch (err) {
        out.destroy();
        await fsp.rm(pathOf(file), { force: true });
        throw err;
      }
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
      await fsp.rm(partsDir, { recursive: true, force: true });
      markReady.run(size, id);
      return { ...file, state: "ready", size };
    },

    async putBuffer(bytes, opts) {
      const tmp = path.join(root, `.put-${randomBytes(8).toString("hex")}.tmp`);
      try {
        await fsp.writeFile(tmp, bytes);
      } catch (err) {
        await fsp.rm(tmp, { force: true }).catch(() => undefined);
        throw new InfrastructureError(`Could not store ${safeFileName(opts.fileName)}: ${(err as Error).message}`, { cause: err, errorType: "storage_error" });
      }
      return this.adopt(tmp, opts);
    },

    async adopt(srcPath, { keyId, fileName, contentType, expiresAt = null }) {
      const id = newId();
      const name = safeFileName(fileName);
      const dest = path.join(dirOf(id), name);
      let size: number;
      try {
        await fsp.mkdir(dirOf(id), { recursive: true });
        try {
          await fsp.rename(srcPath, dest);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw err;
          // Another filesystem: copy under a temporary name so a partial copy is never served.
          const tmp = `${dest}.${randomBytes(4).toString("hex")}.tmp`;
          await fsp.copyFile(srcPath, tmp);
          await fsp.rename(tmp, dest);
          await fsp.rm(srcPath, { force: true });
        }
        size = (await fsp.stat(dest)).size;
      } catch (err) {
        await fsp.rm(dirOf(id), { recursive: true, force: true }).catch(() => undefined);
        throw new InfrastructureError(`Could not store ${name}: ${(err as Error).message}`, { cause: err, errorType: "storage_error" });
      }
      const createdAt = clock();
      insert.run({
        id,
        key_id: keyId,
        state: "ready",
        file_name: name,
        content_type: contentType,
        size,
        upload_token_hash: null,
        multipart: 0,
        created_at: createdAt,
        expires_at: expiresAt,
      });
      return { id, keyId, state: "ready", fileName: name, contentType, size, multipart: false, createdAt, expiresAt };
    },

    get(id) {
      const row = select.get(id);
      return row ? fromRow(row) : undefined;
    },

    pathOf,
    urlOf,

    resolveUrl(url) {
      const id = ownFileId(url);
      const row = id ? select.get(id) : undefined;
      return row ? fromRow(row) : undefined;
    },

    isOwnUrl: (url) => ownFileId(url) !== undefined,

    listExpired(now) {
      return db
        .prepare<[number], FileRow>("SELECT * FROM files WHERE state IN ('ready', 'pending') AND expires_at IS NOT NULL AND expires_at < ?")
        .all(now)
        .map(fromRow);
    },

    async remove(id) {
      markDeleted.run(clock(), id);
      await fsp.rm(dirOf(id), { recursive: true, force: true });
    },
  };
}
