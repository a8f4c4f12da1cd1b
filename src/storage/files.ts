// Stored files: uploads (single and multipart, fal storage API) and generated videos, kept under
// DATA_DIR/files/<id>/<name> and served at unguessable URLs /files/<id>/<name>. Every write goes
// through a temporary file and one atomic SQL transition (pending -> finalising -> ready), so a file
// is finalised once and never replaced; writes respect the per-key storage quota and the disk's
// free-space floor (507, or 413 for one file too large), and no stream error escapes unhandled.
import { createHash, randomBytes } from "node:crypto";
import { once } from "node:events";
import fs from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Db } from "../db.js";
import {
  BadRequestError,
  ConflictError,
  InfrastructureError,
  InsufficientStorageError,
  NotFoundError,
  ServiceError,
  isNoSpaceError,
} from "../errors.js";

export interface StoredFile {
  id: string;
  keyId: string | null;
  /** finalising: claimed by the one write that completes it, being moved into place. */
  state: "pending" | "finalising" | "ready" | "deleted";
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
  /** Joins the listed parts in order into the final file; `parts` is the client's list, validated here. */
  completeMultipart(id: string, token: string, parts: unknown): Promise<StoredFile>;
  /** Refuses (507) new work for a key when its stored bytes reached the quota or the disk is below the free-space floor. */
  checkCapacity(keyId: string | null): Promise<void>;
  /** Bytes a key stores (ready files, and uploads in progress). */
  usedBytes(keyId: string | null): number;
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

/** Free bytes for unprivileged writers on the filesystem holding `dir`. */
export async function freeDiskBytes(dir: string): Promise<number> {
  const s = await fsp.statfs(dir);
  return s.bavail * s.bsize;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** A byte count as people read it. */
function bytes(n: number): string {
  return n >= GiB ? `${(n / GiB).toFixed(n % GiB ? 2 : 0)} GiB` : n >= MiB ? `${(n / MiB).toFixed(n % MiB ? 1 : 0)} MiB` : `${n} bytes`;
}

/** Any failure of a file operation as a typed error: a full disk is 507, other I/O a 503 storage_error. */
function storageFailure(err: unknown, what: string): ServiceError {
  if (err instanceof ServiceError) return err;
  if (isNoSpaceError(err)) return new InsufficientStorageError(`Not enough disk space to ${what}`);
  return new InfrastructureError(`Could not ${what}: ${(err as Error)?.message ?? String(err)}`, { cause: err, errorType: "storage_error" });
}

/** How much one write may take, and the error that names the limit it would cross. */
interface Budget {
  limit: number;
  exceeded(size: number): ServiceError;
}

/** A part's etag (quoted MD5) from a client's list entry, with or without the quotes. */
const bareEtag = (etag: string) => etag.trim().replace(/^W\//, "").replace(/^"|"$/g, "");

/** Checks a multipart `complete` part list: numbers 1..n ascending, no gaps or duplicates, an etag string each. */
export function validatePartList(parts: unknown): { partNumber: number; etag: string }[] {
  if (!Array.isArray(parts) || parts.length === 0) throw new BadRequestError('parts must be a non-empty list [{"partNumber": 1, "etag": "..."}, ...]');
  if (parts.length > MAX_PARTS) throw new BadRequestError(`parts lists ${parts.length} parts; at most ${MAX_PARTS}`);
  return parts.map((p: unknown, i) => {
    if (p === null || typeof p !== "object" || Array.isArray(p)) throw new BadRequestError(`parts[${i}] must be an object {"partNumber": n, "etag": "..."}`);
    const { partNumber, etag } = p as { partNumber?: unknown; etag?: unknown };
    if (typeof partNumber !== "number" || !Number.isInteger(partNumber)) throw new BadRequestError(`parts[${i}].partNumber must be an integer`);
    if (partNumber !== i + 1) {
      const prev = i > 0 ? (parts[i - 1] as { partNumber: number }).partNumber : 0;
      const why = partNumber === prev ? "is a duplicate" : partNumber < prev ? "is out of order" : `skips part ${i + 1}`;
      throw new BadRequestError(`parts[${i}].partNumber is ${partNumber} and ${why}: parts must be numbered 1, 2, 3, ... in order with no gaps`);
    }
    if (typeof etag !== "string" || !etag.trim()) throw new BadRequestError(`parts[${i}].etag must be the etag string the part's upload answered`);
    return { partNumber, etag };
  });
}

export function createFileStore({
  db,
  dataDir,
  publicUrl,
  uploadLimitBytes,
  quotaBytesPerKey = 0,
  minFreeDiskBytes = 0,
  clock = Date.now,
}: {
  db: Db;
  dataDir: string;
  publicUrl: string;
  uploadLimitBytes: number;
  /** Bytes one key may store (uploads and outputs); 0 = no quota. */
  quotaBytesPerKey?: number;
  /** Writes never take the disk below this many free bytes; 0 = no floor. */
  minFreeDiskBytes?: number;
  clock?: () => number;
}): FileStore {
  const root = path.join(dataDir, "files");
  fs.mkdirSync(root, { recursive: true });
  const insert = db.prepare(
    `INSERT INTO files (id, key_id, state, file_name, content_type, size, upload_token_hash, multipart, created_at, expires_at)
     VALUES (@id, @key_id, @state, @file_name, @content_type, @size, @upload_token_hash, @multipart, @created_at, @expires_at)`,
  );
  const select = db.prepare<[string], FileRow>("SELECT * FROM files WHERE id = ?");
  // The one write that wins this transition finalises the file; a later or concurrent one gets 0 changes.
  // The quota is checked in the same statement, so two parallel uploads cannot both pass it.
  const claim = db.prepare(
    `UPDATE files SET state = 'finalising', size = @size WHERE id = @id AND state = 'pending'
       AND (@quota <= 0 OR @size + (SELECT COALESCE(SUM(size), 0) FROM files WHERE key_id IS @key_id AND state != 'deleted' AND id != @id) <= @quota)`,
  );
  const markReady = db.prepare("UPDATE files SET state = 'ready' WHERE id = ? AND state = 'finalising'");
  const unclaim = db.prepare("UPDATE files SET state = 'pending' WHERE id = ? AND state = 'finalising'");
  const addPending = db.prepare("UPDATE files SET size = MAX(0, COALESCE(size, 0) + ?) WHERE id = ? AND state = 'pending'");
  const markDeleted = db.prepare("UPDATE files SET state = 'deleted', deleted_at = ? WHERE id = ?");
  const usedBy = db.prepare<[string | null, string], { n: number }>(
    "SELECT COALESCE(SUM(size), 0) AS n FROM files WHERE key_id IS ? AND state != 'deleted' AND id != ?",
  );

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
  const usedBytes = (keyId: string | null, exceptId = "") => usedBy.get(keyId, exceptId)?.n ?? 0;

  function pendingUpload(id: string, token: string, multipart: boolean): { file: StoredFile } {
    const row = select.get(id);
    if (!row || row.state === "deleted" || !row.upload_token_hash || row.upload_token_hash !== sha256(token)) {
      throw new NotFoundError("Upload not found");
    }
    if (row.state !== "pending") throw new ConflictError("This upload was already completed; its file cannot be replaced (start a new upload)");
    if ((row.multipart === 1) !== multipart) {
      throw new BadRequestError(multipart ? "This upload is not multipart" : "This upload is multipart: PUT parts, then POST complete");
    }
    return { file: fromRow(row) };
  }

  /**
   * What the next write for `keyId` may take: the upload limit (413), the key's quota (413 when the
   * file alone is larger, else 507) and the free space above the floor (507). `credit` is what the
   * write replaces (bytes already counted for it).
   */
  async function budgetFor(keyId: string | null, fileLimit: number, excludeId: string, credit = 0): Promise<Budget> {
    let free = Infinity;
    if (minFreeDiskBytes > 0) {
      free = await freeDiskBytes(root).catch(() => Infinity);
      if (free < minFreeDiskBytes) {
        throw new InsufficientStorageError(`Not enough free disk space: ${bytes(free)} left, the server keeps at least ${bytes(minFreeDiskBytes)} free (MIN_FREE_DISK_BYTES)`);
      }
    }
    const used = quotaBytesPerKey > 0 ? usedBytes(keyId, excludeId) : 0;
    const quotaLeft = quotaBytesPerKey > 0 ? quotaBytesPerKey - used + credit : Infinity;
    if (quotaLeft <= 0) throw quotaFull(used);
    const diskLeft = free - minFreeDiskBytes;
    return {
      limit: Math.min(fileLimit, quotaLeft, diskLeft),
      exceeded(size) {
        if (size > fileLimit) return new BadRequestError(`Upload larger than ${bytes(uploadLimitBytes)} (UPLOAD_LIMIT_BYTES)`, 413);
        if (quotaBytesPerKey > 0 && size > quotaBytesPerKey) return new BadRequestError(`Upload larger than this key's whole storage quota of ${bytes(quotaBytesPerKey)}`, 413);
        if (size > quotaLeft) return quotaFull(used);
        return new InsufficientStorageError(`Not enough free disk space for this upload: the server keeps at least ${bytes(minFreeDiskBytes)} free (MIN_FREE_DISK_BYTES)`);
      },
    };
  }

  function quotaFull(used: number): InsufficientStorageError {
    return new InsufficientStorageError(
      `Storage quota of ${bytes(quotaBytesPerKey)} for this key is used up (${bytes(used)} stored); delete files or wait for them to expire`,
    );
  }

  /**
   * Streams a body to a temporary file next to `dest`, refusing more than the budget, and returns the
   * temporary path, the size and the MD5. The body is never destroyed (the answer must still reach the
   * client): on refusal the rest of it is read and dropped. Every stream's errors are handled here.
   */
  async function writeTemp(body: Readable, dest: string, budget: Budget): Promise<{ tmp: string; size: number; md5: string }> {
    const tmp = `${dest}.${randomBytes(4).toString("hex")}.tmp`;
    let size = 0;
    const hash = createHash("md5");
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        size += chunk.length;
        if (size > budget.limit) return cb(budget.exceeded(size));
        hash.update(chunk);
        cb(null, chunk);
      },
    });
    const onBodyError = (err: Error) => counter.destroy(new BadRequestError(`Upload body failed: ${err.message}`));
    const onAborted = () => counter.destroy(new BadRequestError("Upload interrupted: the client closed the connection"));
    const onClose = () => {
      if (!body.readableEnded) onAborted();
    };
    if (body.destroyed || (body as Readable & { readableAborted?: boolean }).readableAborted) {
      throw new BadRequestError("Upload interrupted: the client closed the connection");
    }
    body.on("error", onBodyError);
    body.once("aborted", onAborted);
    body.once("close", onClose);
    body.pipe(counter);
    try {
      await pipeline(counter, fs.createWriteStream(tmp));
      return { tmp, size, md5: hash.digest("hex") };
    } catch (err) {
      body.unpipe(counter);
      if (!body.destroyed && !body.readableEnded) body.resume(); // drop the rest, keep the connection for the answer
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw storageFailure(err, "store the upload");
    } finally {
      body.off("aborted", onAborted);
      body.off("close", onClose);
      // A late 'error' from the request after we are done must still have a listener.
      body.off("error", onBodyError);
      body.on("error", () => undefined);
    }
  }

  /**
   * Makes `tmp` the file's content exactly once: claims pending -> finalising in SQL (with the quota),
   * renames into place, then marks it ready. The loser of a race gets 409 and its bytes are removed.
   */
  async function finalise(file: StoredFile, tmp: string, size: number): Promise<StoredFile> {
    try {
      const won = claim.run({ id: file.id, size, quota: quotaBytesPerKey, key_id: file.keyId }).changes === 1;
      if (!won) {
        const now = select.get(file.id);
        if (now && now.state === "pending") throw quotaFull(usedBytes(file.keyId, file.id));
        throw new ConflictError("This upload was already completed; its file cannot be replaced (start a new upload)");
      }
      try {
        await fsp.rename(tmp, pathOf(file));
      } catch (err) {
        unclaim.run(file.id);
        throw storageFailure(err, "store the upload");
      }
      markReady.run(file.id);
      return { ...file, state: "ready", size };
    } finally {
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
    }
  }

  const partsDirOf = (id: string) => path.join(dirOf(id), ".parts");

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
      const budget = await budgetFor(file.keyId, uploadLimitBytes, id);
      await fsp.mkdir(dirOf(id), { recursive: true }).catch((err) => Promise.reject(storageFailure(err, "store the upload")));
      const { tmp, size } = await writeTemp(body, pathOf(file), budget);
      return finalise(file, tmp, size);
    },

    async putPart(id, token, partNumber, body) {
      const { file } = pendingUpload(id, token, true);
      if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PARTS) {
        throw new BadRequestError(`Part number must be an integer from 1 to ${MAX_PARTS}`);
      }
      const partsDir = partsDirOf(id);
      const dest = path.join(partsDir, String(partNumber));
      await fsp.mkdir(partsDir, { recursive: true }).catch((err) => Promise.reject(storageFailure(err, "store the part")));
      const previous = await fsp.stat(dest).then((s) => s.size, () => 0);
      // A part may take what the whole upload has left: the limit less the other parts.
      const others = Math.max(0, (file.size ?? 0) - previous);
      const budget = await budgetFor(file.keyId, uploadLimitBytes - others, "", previous);
      const { tmp, size, md5 } = await writeTemp(body, dest, budget);
      try {
        if (select.get(id)?.state !== "pending") throw new ConflictError("This upload was already completed; its parts cannot change");
        await fsp.writeFile(`${dest}.etag`, md5);
        await fsp.rename(tmp, dest);
      } catch (err) {
        throw storageFailure(err, "store the part");
      } finally {
        await fsp.rm(tmp, { force: true }).catch(() => undefined);
      }
      addPending.run(size - previous, id);
      return { partNumber, etag: `"${md5}"` };
    },

    async completeMultipart(id, token, rawParts) {
      const { file } = pendingUpload(id, token, true);
      const parts = validatePartList(rawParts);
      const partsDir = partsDirOf(id);
      let size = 0;
      for (const { partNumber, etag } of parts) {
        const partPath = path.join(partsDir, String(partNumber));
        const stat = await fsp.stat(partPath).catch(() => undefined);
        const md5 = stat ? await fsp.readFile(`${partPath}.etag`, "utf8").catch(() => undefined) : undefined;
        if (!stat || md5 === undefined) throw new BadRequestError(`Part ${partNumber} was not uploaded`);
        if (bareEtag(etag) !== md5) throw new BadRequestError(`parts[${partNumber - 1}].etag does not match the etag of uploaded part ${partNumber}`);
        size += stat.size;
        if (size > uploadLimitBytes) throw new BadRequestError(`Upload larger than ${bytes(uploadLimitBytes)} (UPLOAD_LIMIT_BYTES)`, 413);
      }
      // The joined copy needs the parts' size again on disk until the parts are removed.
      const budget = await budgetFor(file.keyId, uploadLimitBytes, id);
      if (size > budget.limit) throw budget.exceeded(size);
      const tmp = `${pathOf(file)}.${randomBytes(4).toString("hex")}.tmp`;
      try {
        const out = fs.createWriteStream(tmp);
        // Errors of `out` (opening included) are handled by pipeline and by this listener between parts.
        let outError: Error | undefined;
        out.on("error", (err) => (outError = err));
        for (const { partNumber } of parts) {
          if (outError) throw outError;
          // Written chunk by chunk: a pipeline per part with end:false leaves its listeners on `out`.
          for await (const chunk of fs.createReadStream(path.join(partsDir, String(partNumber)))) {
            if (outError) throw outError;
            if (!out.write(chunk)) await once(out, "drain");
          }
        }
        await new Promise<void>((resolve, reject) => {
          if (outError) return reject(outError);
          out.once("error", reject);
          out.end(() => resolve());
        });
      } catch (err) {
        await fsp.rm(tmp, { force: true }).catch(() => undefined);
        throw storageFailure(err, "join the parts");
      }
      const done = await finalise(file, tmp, size);
      await fsp.rm(partsDir, { recursive: true, force: true }).catch(() => undefined);
      return done;
    },

    async checkCapacity(keyId) {
      if (minFreeDiskBytes > 0) {
        const free = await freeDiskBytes(root).catch(() => Infinity);
        if (free < minFreeDiskBytes) {
          throw new InsufficientStorageError(`Not enough free disk space: ${bytes(free)} left, the server keeps at least ${bytes(minFreeDiskBytes)} free (MIN_FREE_DISK_BYTES)`);
        }
      }
      if (quotaBytesPerKey > 0) {
        const used = usedBytes(keyId);
        if (used >= quotaBytesPerKey) throw quotaFull(used);
      }
    },

    usedBytes: (keyId) => usedBytes(keyId),

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
        throw new InfrastructureError(`Could not store ${name}: ${(err as Error).message}`, {
          cause: err,
          errorType: isNoSpaceError(err) ? "storage_full" : "storage_error",
        });
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
        .prepare<[number], FileRow>("SELECT * FROM files WHERE state IN ('ready', 'pending', 'finalising') AND expires_at IS NOT NULL AND expires_at < ?")
        .all(now)
        .map(fromRow);
    },

    async remove(id) {
      markDeleted.run(clock(), id);
      await fsp.rm(dirOf(id), { recursive: true, force: true });
    },
  };
}
