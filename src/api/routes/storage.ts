// fal's storage API (fal-wire-protocol.md section 7): upload initiate on the rest hosts, the token-carrying upload URLs
// (single PUT, multipart parts and complete), and serving stored files with Range support. Limits,
// quotas, part-list checks and finalise-once live in the file store (src/storage/files.ts).
import path from "node:path";
import fastifyStatic from "@fastify/static";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Readable } from "node:stream";
import { BadRequestError, NotFoundError } from "../../errors.js";
import { authenticate, type ApiDeps } from "../server.js";
import { FILE_SECURITY_HEADERS, readHead, servedType } from "../../storage/served-type.js";
import { REST_HOSTS } from "../wire.js";

interface InitiateBody {
  content_type?: unknown;
  file_name?: unknown;
}

/** A raw upload body: the parsed stream for the upload content types, else the request itself. */
export function bodyStream(req: FastifyRequest): Readable {
  return (req.body as Readable | undefined) ?? req.raw;
}

/**
 * The part list of a multipart `complete` call (both upload protocols): a JSON object of at most 4 MiB
 * with a `parts` field, returned unchecked (the FileStore validates numbers, ETags and gaps); 400 otherwise.
 */
export async function readCompleteParts(req: FastifyRequest): Promise<unknown> {
  const usage = 'complete expects a JSON object {"parts": [{"partNumber": n, "etag": "..."}]}';
  let parsed: unknown;
  try {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of bodyStream(req)) {
      size += (c as Buffer).length;
      if (size > 4 * 1024 * 1024) throw new BadRequestError("complete body too large", 413);
      chunks.push(c as Buffer);
    }
    parsed = JSON.parse(Buffer.concat(chunks).toString("utf8") || "{}");
  } catch (err) {
    if (err instanceof BadRequestError) throw err;
    throw new BadRequestError(usage);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) throw new BadRequestError(usage);
  return (parsed as { parts?: unknown }).parts;
}

/** Expiry from X-Fal-Object-Lifecycle {"expiration_duration_seconds": n}, if given. */
export function lifecycleExpiry(header: unknown, now: number): number | null {
  if (typeof header !== "string" || !header.trim()) return null;
  try {
    const seconds = (JSON.parse(header) as { expiration_duration_seconds?: unknown }).expiration_duration_seconds;
    return typeof seconds === "number" && seconds > 0 ? now + seconds * 1000 : null;
  } catch {
    throw new BadRequestError("X-Fal-Object-Lifecycle must be JSON");
  }
}

export async function registerStorageRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { files } = deps;

  const initiate = (multipart: boolean) => async (req: FastifyRequest) => {
    const keyId = authenticate(deps.keys, req);
    await files.checkCapacity(keyId);
    const body = (req.body !== null && typeof req.body === "object" ? req.body : {}) as InitiateBody;
    const contentType = typeof body.content_type === "string" && body.content_type ? body.content_type : "application/octet-stream";
    const fileName = typeof body.file_name === "string" && body.file_name ? body.file_name : `${Date.now()}.bin`;
    const session = files.initiateUpload({
      keyId,
      contentType,
      fileName,
      multipart,
      expiresAt: lifecycleExpiry(req.headers["x-fal-object-lifecycle"], Date.now()) ?? Date.now() + deps.config.retentionSeconds * 1000,
    });
    return { upload_url: session.uploadUrl, file_url: session.fileUrl };
  };
  for (const host of REST_HOSTS) {
    app.post(`/${host}/storage/upload/initiate`, initiate(false));
    app.post(`/${host}/storage/upload/initiate-multipart`, initiate(true));
  }

  // Upload URLs take raw bytes of any content type; the token in the query authorises them.
  await app.register(async (uploads) => {
    uploads.removeAllContentTypeParsers();
    uploads.addContentTypeParser("*", (_req, payload, done) => done(null, payload));
    const token = (req: FastifyRequest) => {
      const t = (req.query as { token?: unknown }).token;
      if (typeof t !== "string" || !t) throw new NotFoundError("Upload not found");
      return t;
    };

    uploads.put<{ Params: { id: string } }>("/uploads/:id", async (req) => {
      const f = await files.putUpload(req.params.id, token(req), bodyStream(req));
      return { file_url: files.urlOf(f), size: f.size };
    });
    uploads.put<{ Params: { id: string; part: string } }>("/uploads/:id/:part", async (req, reply) => {
      const part = await files.putPart(req.params.id, token(req), Number(req.params.part), bodyStream(req));
      return reply.header("etag", part.etag).send(part);
    });
    uploads.post<{ Params: { id: string } }>("/uploads/:id/complete", async (req) => {
      const f = await files.completeMultipart(req.params.id, token(req), await readCompleteParts(req));
      return { file_url: files.urlOf(f), size: f.size };
    });
  });

  // Stored files: public by unguessable URL (like fal's CDN), with Range, HEAD and a real type.
  await app.register(fastifyStatic, { root: path.join(deps.config.dataDir, "files"), serve: false, acceptRanges: true, etag: true, lastModified: true });
  app.addHook("onRequest", async (req, reply) => {
    if (req.url.startsWith("/files/")) reply.headers(FILE_SECURITY_HEADERS);
  });
  app.get<{ Params: { id: string; name: string } }>("/files/:id/:name", async (req, reply) => {
    const f = files.get(req.params.id);
    if (!f || f.fileName !== req.params.name) throw new NotFoundError("File not found");
    if (f.state === "deleted" || (f.expiresAt !== null && f.expiresAt < Date.now())) {
      return reply.code(410).send({ detail: "File expired and was deleted" });
    }
    if (f.state !== "ready") throw new NotFoundError("File not uploaded yet");
    const relative = path.join(f.id, f.fileName);
    const served = servedType(f.contentType, readHead(path.join(deps.config.dataDir, "files", relative)), f.fileName);
    reply.header("content-type", served.contentType);
    reply.header("content-disposition", served.disposition);
    reply.header("cache-control", "private, max-age=3600");
    return reply.sendFile(relative, { contentType: false });
  });
}
