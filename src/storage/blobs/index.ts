// Picks the blob store named by STORAGE_URL: local files (default, under DATA_DIR) or S3.
import type { Config } from "../../config.js";
import { LocalBlobStore } from "./local.js";
import { S3BlobStore } from "./s3.js";
import type { BlobStore } from "./types.js";

export type { BlobBody, BlobInfo, BlobPart, BlobRead, BlobStore, ByteRange, PresignOptions } from "./types.js";
export { LocalBlobStore } from "./local.js";
export { S3BlobStore } from "./s3.js";

export function openBlobStore(config: Pick<Config, "storage" | "s3EndpointUrl" | "s3ForcePathStyle" | "awsRegion">): BlobStore {
  const { storage } = config;
  if (storage.kind === "file") return new LocalBlobStore(storage.root);
  return new S3BlobStore({
    bucket: storage.bucket,
    prefix: storage.prefix,
    endpoint: config.s3EndpointUrl,
    forcePathStyle: config.s3ForcePathStyle,
    region: config.awsRegion,
  });
}
