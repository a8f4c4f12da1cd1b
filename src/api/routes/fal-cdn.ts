// fal's CDN v3 upload protocol, which fal_client's default upload_file(path) speaks (docs/deployment.md):
// the token route on the rest hosts, the single raw-body upload and the multipart routes
// (initiate, part PUTs answered with an ETag, complete). Every byte goes through the FileStore, so
// the same storage, size limits, quotas and expiry apply as on fal's initiate/PUT upload routes.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { BadRequestError, UnauthorizedError } from "../../errors.js";
import { authenticate, type ApiDeps } from "../server.js";
import { REST_HOSTS } from "../wire.js";
import { bodyStream, lifecycleExpiry, readCompleteParts } from "./storage.js";

/** The host fal_client's CDN_URL names; our routes live under /v3.fal.media/ like the other fal hosts. */
export const CDN_HOST = "v3.fal.media";
/** Lifetime of a CDN upload token. fal_client fetches a new one when it expires. */
const TOKEN_TTL_MS = 60 * 60 * 1000;

/** HMAC secret for CDN tokens, kept in DATA_DIR so every process on one data folder accepts them. */
function tokenSecret(dataDir: string): Buffer {
  const file = path.join(dataDir, "cdn-token.secret");
  try {
    return fs.readFileSync(file);
  } catch {
    fs.mkdirSync(dataDir, { recursive: true });
    try {
      fs.writeFileSync(file, randomBytes(32), { flag: "wx", mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    }
    return fs.readFileSync(file);
  }
}

export function signCdnToken(secret: Buffer, keyId: string, expiresAt: number): string {
  const payload = Buffer.from(JSON.stringify({ k: keyId, e: expiresAt })).toString("base64url");
  return `${payload}.${createHmac("sha256", secret).update(payload).digest("base64url")}`;
}

/** The key id a CDN token was issued to, or undefined when it is forged or expired. */
export function verifyCdnToken(secret: Buffer, token: string, now: number): string | undefined {
  const [payload, mac] = token.split(".");
  if (!payload || !mac) return undefined;
  const want = createHmac("sha256", secret).update(payload).digest();
  const got = Buffer.from(mac, "base64url");
  if (got.length !== want.length || !timingSafeEqual(got, want)) return undefined;
  try {
    const { k, e } = JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { k?: unknown; e?: unknown };
    return typeof k === "string" && typeof e === "number" && e > now ? k : undefined;
  } catch {
    return undefined;
  }
}

function header(req: FastifyRequest, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export async function registerFalCdnRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { files, config } = deps;
  const secret = tokenSecret(config.dataDir);
  const baseUrl = `${config.publicUrl}/${CDN_HOST}`;

  const tokenRoute = async (req: FastifyRequest) => {
    const keyId = authenticate(deps.keys, req);
    const expiresAt = Date.now() + TOKEN_TTL_MS;
    return { token: signCdnToken(secret, keyId, expiresAt), token_type: "Bearer", base_url: baseUrl, expires_at: new Date(expiresAt).toISOString() };
  };
  for (const host of REST_HOSTS) app.post(`/${host}/storage/auth/token`, tokenRoute);

  /** A CDN token (Bearer) from the token route, or an API key (Key …) for curl users. */
  const cdnAuth = (req: FastifyRequest): string => {
    const m = /^Bearer\s+(\S+)$/i.exec((header(req, "authorization") ?? "").trim());
    const fromToken = m ? verifyCdnToken(secret, m[1], Date.now()) : undefined;
    if (fromToken) return fromToken;
    try {
      return authenticate(deps.keys, req);
    } catch {
      throw new UnauthorizedError("Invalid or expired upload token: fetch one from POST /rest.fal.ai/storage/auth/token?storage_type=fal-cdn-v3");
    }
  };

  const startUpload = (req: FastifyRequest, multipart: boolean) => {
    const keyId = cdnAuth(req);
    const contentType = (header(req, "content-type") ?? "").split(";")[0].trim() || "application/octet-stream";
    const fileName = header(req, "x-fal-file-name")?.trim() || `${Date.now()}.bin`;
    const session = files.initiateUpload({
      keyId,
      contentType,
      fileName,
      multipart,
      expiresAt: lifecycleExpiry(header(req, "x-fal-object-lifecycle"), Date.now()) ?? Date.now() + config.retentionSeconds * 1000,
    });
    const uploadToken = new URL(session.uploadUrl).searchParams.get("token") ?? "";
    return { session, uploadToken };
  };

  await app.register(async (cdn) => {
    // Raw bytes of any type; the body is streamed into the FileStore.
    cdn.removeAllContentTypeParsers();
    cdn.addContentTypeParser("*", (_req, payload, done) => done(null, payload));

    cdn.post(`/${CDN_HOST}/files/upload`, async (req) => {
      const { session, uploadToken } = startUpload(req, false);
      const f = await files.putUpload(session.file.id, uploadToken, bodyStream(req));
      return { access_url: files.urlOf(f), content_type: f.contentType, file_name: f.fileName, size: f.size };
    });

    // Multipart: the upload id is the file's one-upload token, so only its uploader can add parts.
    cdn.post(`/${CDN_HOST}/files/upload/multipart`, async (req) => {
      const { session, uploadToken } = startUpload(req, true);
      return { access_url: session.fileUrl, uploadId: uploadToken };
    });
    cdn.put<{ Params: { id: string; name: string; uploadId: string; part: string } }>(
      "/files/:id/:name/multipart/:uploadId/:part",
      async (req, reply) => {
        cdnAuth(req);
        const n = Number(req.params.part);
        if (!Number.isInteger(n) || n < 1) throw new BadRequestError(`part number must be a positive integer, got ${JSON.stringify(req.params.part)}`);
        const part = await files.putPart(req.params.id, req.params.uploadId, n, bodyStream(req));
        return reply.header("etag", part.etag).send(part);
      },
    );
    cdn.post<{ Params: { id: string; name: string; uploadId: string } }>("/files/:id/:name/multipart/:uploadId/complete", async (req) => {
      cdnAuth(req);
      const listed = await readCompleteParts(req);
      if (!Array.isArray(listed)) throw new BadRequestError('complete: "parts" must be a list of {"partNumber": n, "etag": "..."}');
      // fal_client uploads parts concurrently and lists them in the order they finished, so sort by
      // number first; gaps and duplicates are still refused by the FileStore.
      const parts = (listed as { partNumber: number; etag?: string }[])
        .slice()
        .sort((a, b) => (typeof a?.partNumber === "number" && typeof b?.partNumber === "number" ? a.partNumber - b.partNumber : 0));
      const f = await files.completeMultipart(req.params.id, req.params.uploadId, parts);
      return { access_url: files.urlOf(f), size: f.size };
    });
  });
}
