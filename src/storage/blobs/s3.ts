// Blob store on S3 or an S3-compatible server (MinIO, moto, R2...) through the AWS SDK v3, with
// checksums only where an operation requires them (the SDK's newer defaults break several
// S3-compatible stores). Key `k` is the object <prefix>/k. Multipart parts are kept as objects under
// <prefix>/.blob-uploads/<id>/ so that any process sharing the bucket can take the next part; at
// completion they are joined into the final object: a part of 5 MiB or more is copied inside S3,
// smaller neighbours are streamed together into one S3 part of at least 5 MiB.
import { randomBytes } from "node:crypto";
import { Readable, Transform } from "node:stream";
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand,
  DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client,
  UploadPartCommand, UploadPartCopyCommand, type S3ClientConfig,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { BadRequestError, InfrastructureError } from "../../errors.js";
import {
  S3_MIN_PART_BYTES, bareEtag, checkKey, checkPartList, checkPartNumber, checkUploadId, joinStreams, resolveRange,
  type BlobBody, type BlobInfo, type BlobPart, type BlobRead, type BlobStore, type ByteRange, type PresignOptions,
} from "./types.js";

export interface S3BlobStoreOptions {
  bucket: string;
  /** Folder inside the bucket, without slashes at either end; "" = the bucket's root. */
  prefix: string;
  /** S3_ENDPOINT_URL: an S3-compatible server; unset = AWS. */
  endpoint?: string;
  /** S3_FORCE_PATH_STYLE: bucket in the path instead of the host name (MinIO, moto). */
  forcePathStyle: boolean;
  region: string;
  /** Explicit credentials; unset = the SDK's chain (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, profiles, roles). */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Parts of a whole-blob upload of unknown length (lib-storage `Upload`). */
const UPLOAD_PART_BYTES = 8 * 1024 * 1024;
const UPLOADS = ".blob-uploads";

function status(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

function isMissing(err: unknown): boolean {
  const name = (err as { name?: string })?.name;
  return status(err) === 404 || name === "NoSuchKey" || name === "NotFound";
}

function storageError(op: string, err: unknown): InfrastructureError {
  const name = (err as { name?: string })?.name ?? "Error";
  return new InfrastructureError(`object storage ${op} failed (${name})`, { cause: err, errorType: "storage_unavailable" });
}

export class S3BlobStore implements BlobStore {
  readonly kind = "s3" as const;
  readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  constructor(opts: S3BlobStoreOptions) {
    this.bucket = opts.bucket;
    this.prefix = opts.prefix.replace(/^\/+|\/+$/g, "");
    const config: S3ClientConfig = {
      region: opts.region,
      forcePathStyle: opts.forcePathStyle,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      ...(opts.endpoint ? { endpoint: opts.endpoint } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
    };
    this.client = new S3Client(config);
  }

  private objectKey(key: string): string {
    checkKey(key);
    return this.prefix ? `${this.prefix}/${key}` : key;
  }

  private uploadPrefix(uploadId: string): string {
    const base = this.prefix ? `${this.prefix}/${UPLOADS}` : UPLOADS;
    return `${base}/${checkUploadId(uploadId)}/`;
  }

  /** Writes one object from a buffer (PutObject) or a stream of unknown length (multipart Upload). */
  private async write(objectKey: string, body: BlobBody, contentType?: string): Promise<{ size: number; etag: string }> {
    try {
      if (Buffer.isBuffer(body) || body instanceof Uint8Array) {
        const out = await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: objectKey, Body: body, ContentType: contentType }));
        return { size: body.byteLength, etag: bareEtag(out.ETag) };
      }
      let size = 0;
      const meter = new Transform({
        transform(chunk: Buffer, _enc, done) {
          size += chunk.length;
          done(null, chunk);
        },
      });
      body.once("error", (err) => meter.destroy(err));
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: objectKey, Body: body.pipe(meter), ContentType: contentType },
        partSize: UPLOAD_PART_BYTES,
        queueSize: 2,
        leavePartsOnError: false,
      });
      const out = await upload.done();
      return { size, etag: bareEtag(out.ETag) };
    } catch (err) {
      throw storageError("upload", err);
    }
  }

  async put(key: string, body: BlobBody, opts: { contentType?: string } = {}): Promise<BlobInfo> {
    const { size } = await this.write(this.objectKey(key), body, opts.contentType);
    return { key, size };
  }

  private async headObject(objectKey: string): Promise<{ size: number; etag: string } | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: objectKey }));
      return { size: out.ContentLength ?? 0, etag: bareEtag(out.ETag) };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw storageError("head", err);
    }
  }

  async head(key: string): Promise<BlobInfo | undefined> {
    const info = await this.headObject(this.objectKey(key));
    return info && { key, size: info.size };
  }

  async get(key: string, opts: { range?: ByteRange } = {}): Promise<BlobRead | undefined> {
    const objectKey = this.objectKey(key);
    const { range } = opts;
    if (range) resolveRange(range, Number.MAX_SAFE_INTEGER); // shape check; S3 clamps the end
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: objectKey, Range: range ? `bytes=${range.start}-${range.end ?? ""}` : undefined }),
      );
      const body = out.Body as Readable;
      const length = out.ContentLength ?? 0;
      if (!range) return { body, length, totalSize: length, start: 0, end: length - 1 };
      const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(out.ContentRange ?? "");
      if (!m) {
        body.destroy();
        throw new InfrastructureError(`object storage answered a range read without Content-Range`, { errorType: "storage_unavailable" });
      }
      return { body, length, start: Number(m[1]), end: Number(m[2]), totalSize: Number(m[3]) };
    } catch (err) {
      if (err instanceof InfrastructureError) throw err;
      if (isMissing(err)) return undefined;
      if (status(err) === 416) {
        const size = (await this.headObject(objectKey))?.size ?? 0;
        throw new BadRequestError(`range start ${range?.start} is past the end of a ${size}-byte file`, 416);
      }
      throw storageError("read", err);
    }
  }

  private async deleteObject(objectKey: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: objectKey }));
    } catch (err) {
      if (!isMissing(err)) throw storageError("delete", err);
    }
  }

  async delete(key: string): Promise<void> {
    await this.deleteObject(this.objectKey(key));
  }

  async createMultipart(key: string, opts: { contentType?: string } = {}): Promise<string> {
    checkKey(key);
    const uploadId = randomBytes(18).toString("base64url");
    await this.write(`${this.uploadPrefix(uploadId)}upload.json`, Buffer.from(JSON.stringify({ key, contentType: opts.contentType ?? null })), "application/json");
    return uploadId;
  }

  /** The upload's record (which key, which content type); a 404 when unknown or for another key. */
  private async upload(key: string, uploadId: string): Promise<{ key: string; contentType: string | null }> {
    const unknown = () => new BadRequestError(`unknown multipart upload id ${JSON.stringify(uploadId)}`, 404);
    const recordKey = `${this.uploadPrefix(uploadId)}upload.json`;
    let text: string;
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: recordKey }));
      text = await out.Body!.transformToString();
    } catch (err) {
      if (isMissing(err)) throw unknown();
      throw storageError("read", err);
    }
    const record = JSON.parse(text) as { key: string; contentType: string | null };
    if (record.key !== key) throw unknown();
    return record;
  }

  async putPart(key: string, uploadId: string, partNumber: number, body: BlobBody): Promise<BlobPart> {
    checkPartNumber(partNumber);
    await this.upload(key, uploadId);
    const { etag } = await this.write(`${this.uploadPrefix(uploadId)}part-${partNumber}`, body);
    return { partNumber, etag };
  }

  async completeMultipart(key: string, uploadId: string, parts: { partNumber: number; etag?: string }[]): Promise<BlobInfo> {
    checkPartList(parts);
    const record = await this.upload(key, uploadId);
    const dir = this.uploadPrefix(uploadId);
    const stored = await Promise.all(
      parts.map(async (p) => {
        const objectKey = `${dir}part-${p.partNumber}`;
        const info = await this.headObject(objectKey);
        if (!info) throw new BadRequestError(`part ${p.partNumber} was never uploaded`);
        if (p.etag !== undefined && bareEtag(p.etag) !== info.etag) throw new BadRequestError(`part ${p.partNumber}: etag does not match the uploaded part`);
        return { objectKey, size: info.size };
      }),
    );
    // Consecutive client parts grouped into S3 parts of at least 5 MiB (the last may be smaller).
    const groups: { members: typeof stored; size: number }[] = [];
    let open: { members: typeof stored; size: number } | undefined;
    for (const part of stored) {
      open ??= { members: [], size: 0 };
      open.members.push(part);
      open.size += part.size;
      if (open.size >= S3_MIN_PART_BYTES) {
        groups.push(open);
        open = undefined;
      }
    }
    if (open) groups.push(open);
    const target = this.objectKey(key);
    const contentType = record.contentType ?? undefined;
    const size = stored.reduce((n, p) => n + p.size, 0);
    const joined = (members: typeof stored) =>
      joinStreams(members.map((m) => async () => (await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: m.objectKey }))).Body as Readable));
    try {
      if (groups.length === 1 && groups[0]!.members.length === 1) {
        await this.client.send(
          new CopyObjectCommand({ Bucket: this.bucket, Key: target, CopySource: `${this.bucket}/${stored[0]!.objectKey}`, MetadataDirective: "REPLACE", ContentType: contentType }),
        );
      } else if (groups.length === 1) {
        await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: target, Body: joined(stored), ContentLength: size, ContentType: contentType }));
      } else {
        const { UploadId } = await this.client.send(new CreateMultipartUploadCommand({ Bucket: this.bucket, Key: target, ContentType: contentType }));
        try {
          const done: { PartNumber: number; ETag: string }[] = [];
          for (const [i, g] of groups.entries()) {
            const PartNumber = i + 1;
            if (g.members.length === 1) {
              const out = await this.client.send(
                new UploadPartCopyCommand({ Bucket: this.bucket, Key: target, UploadId, PartNumber, CopySource: `${this.bucket}/${g.members[0]!.objectKey}` }),
              );
              done.push({ PartNumber, ETag: out.CopyPartResult!.ETag! });
            } else {
              const out = await this.client.send(
                new UploadPartCommand({ Bucket: this.bucket, Key: target, UploadId, PartNumber, Body: joined(g.members), ContentLength: g.size }),
              );
              done.push({ PartNumber, ETag: out.ETag! });
            }
          }
          await this.client.send(new CompleteMultipartUploadCommand({ Bucket: this.bucket, Key: target, UploadId, MultipartUpload: { Parts: done } }));
        } catch (err) {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: target, UploadId })).catch(() => {});
          throw err;
        }
      }
    } catch (err) {
      if (err instanceof BadRequestError || err instanceof InfrastructureError) throw err;
      throw storageError("multipart completion", err);
    }
    await this.dropUpload(dir);
    return { key, size };
  }

  /** Deletes every object of an upload (its record and parts). */
  private async dropUpload(dir: string): Promise<void> {
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: dir, ContinuationToken: token }));
      } catch (err) {
        throw storageError("list", err);
      }
      await Promise.all((out.Contents ?? []).map((o) => this.deleteObject(o.Key!)));
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    checkKey(key);
    try {
      await this.upload(key, uploadId);
    } catch (err) {
      if (err instanceof BadRequestError) return;
      throw err;
    }
    await this.dropUpload(this.uploadPrefix(uploadId));
  }

  async presignGet(key: string, opts: PresignOptions): Promise<string | undefined> {
    const { expiresInSeconds } = opts;
    if (!Number.isInteger(expiresInSeconds) || expiresInSeconds < 1 || expiresInSeconds > 604_800) {
      throw new Error(`presigned URLs last 1 to 604800 seconds, got ${expiresInSeconds}`);
    }
    const disposition = opts.fileName ? `inline; filename="${opts.fileName.replace(/["\\\r\n]/g, "_")}"` : undefined;
    const command = new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), ResponseContentType: opts.contentType, ResponseContentDisposition: disposition });
    return getSignedUrl(this.client, command, { expiresIn: expiresInSeconds });
  }

  destroy(): void {
    this.client.destroy();
  }
}
