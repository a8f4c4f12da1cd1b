// One conformance suite for the blob store (src/storage/blobs), run against local files and against
// S3 (the moto server from test/helpers/s3.ts): whole blobs, Range reads, multipart with parts below
// S3's 5 MiB minimum, abort, presigned URLs; plus STORAGE_URL picking the adapter.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { CreateBucketCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { LocalBlobStore, S3BlobStore, openBlobStore, type BlobRead, type BlobStore } from "../src/storage/blobs/index.js";
import { describeIfAvailable } from "./helpers/availability.js";
import { s3Availability, startS3, type S3TestServer } from "./helpers/s3.js";

const MiB = 1024 * 1024;

async function bytes(read: BlobRead | undefined): Promise<Buffer> {
  expect(read).toBeDefined();
  const chunks: Buffer[] = [];
  for await (const c of read!.body) chunks.push(Buffer.from(c));
  const out = Buffer.concat(chunks);
  expect(out.length).toBe(read!.length);
  return out;
}

async function status(p: Promise<unknown>): Promise<number | undefined> {
  try {
    await p;
    return undefined;
  } catch (err) {
    return (err as { status?: number }).status ?? -1;
  }
}

/** The shared behaviour; `open` gives a fresh, empty store. */
function conformance(open: () => BlobStore, extra: { listLeftovers: () => Promise<string[]> }) {
  let store: BlobStore;
  beforeAll(() => {
    store = open();
  });

  it("stores buffers and streams, reads them back whole, heads, replaces and deletes", async () => {
    const data = randomBytes(300_000);
    expect(await store.put("files/a1/clip.mp4", data, { contentType: "video/mp4" })).toEqual({ key: "files/a1/clip.mp4", size: data.length });
    expect(await store.head("files/a1/clip.mp4")).toEqual({ key: "files/a1/clip.mp4", size: data.length });
    const read = await store.get("files/a1/clip.mp4");
    expect(read!.totalSize).toBe(data.length);
    expect((await bytes(read)).equals(data)).toBe(true);

    const streamed = randomBytes(9 * MiB + 17); // more than one lib-storage part on S3
    const info = await store.put("files/a2/big.bin", Readable.from([streamed.subarray(0, 4 * MiB), streamed.subarray(4 * MiB)]));
    expect(info.size).toBe(streamed.length);
    expect((await bytes(await store.get("files/a2/big.bin"))).equals(streamed)).toBe(true);

    await store.put("files/a1/clip.mp4", Buffer.from("replaced"));
    expect((await bytes(await store.get("files/a1/clip.mp4"))).toString()).toBe("replaced");

    await store.delete("files/a1/clip.mp4");
    await store.delete("files/a1/clip.mp4"); // a second delete is not an error
    expect(await store.head("files/a1/clip.mp4")).toBeUndefined();
    expect(await store.get("files/a1/clip.mp4")).toBeUndefined();
    await store.delete("files/a2/big.bin");
  });

  it("stores and reads an empty blob", async () => {
    await store.put("files/empty/none.txt", Buffer.alloc(0));
    expect(await store.head("files/empty/none.txt")).toEqual({ key: "files/empty/none.txt", size: 0 });
    const read = await store.get("files/empty/none.txt");
    expect(read!.totalSize).toBe(0);
    expect((await bytes(read)).length).toBe(0);
    expect(await status(store.get("files/empty/none.txt", { range: { start: 0 } }))).toBe(416);
    await store.delete("files/empty/none.txt");
  });

  it("serves byte ranges: bounded, open-ended, clamped at the end; past the end is a 416", async () => {
    const data = randomBytes(10_000);
    await store.put("files/r/range.bin", data);
    const mid = await store.get("files/r/range.bin", { range: { start: 100, end: 199 } });
    expect({ start: mid!.start, end: mid!.end, totalSize: mid!.totalSize }).toEqual({ start: 100, end: 199, totalSize: 10_000 });
    expect((await bytes(mid)).equals(data.subarray(100, 200))).toBe(true);

    const tail = await store.get("files/r/range.bin", { range: { start: 9_990 } });
    expect([tail!.start, tail!.end]).toEqual([9_990, 9_999]);
    expect((await bytes(tail)).equals(data.subarray(9_990))).toBe(true);

    const clamped = await store.get("files/r/range.bin", { range: { start: 9_000, end: 50_000 } });
    expect([clamped!.start, clamped!.end]).toEqual([9_000, 9_999]);
    expect((await bytes(clamped)).equals(data.subarray(9_000))).toBe(true);

    expect(await status(store.get("files/r/range.bin", { range: { start: 10_000 } }))).toBe(416);
    expect(await status(store.get("files/r/range.bin", { range: { start: 5, end: 2 } }))).toBe(416);
    expect(await store.get("files/r/missing.bin", { range: { start: 0, end: 1 } })).toBeUndefined();
    await store.delete("files/r/range.bin");
  });

  it("joins multipart uploads of small parts sent out of order", async () => {
    const parts = [randomBytes(1 * MiB), randomBytes(2 * MiB), randomBytes(100)];
    const id = await store.createMultipart("files/m1/small.bin", { contentType: "application/octet-stream" });
    const sent = await Promise.all([3, 1, 2].map((n) => store.putPart("files/m1/small.bin", id, n, Readable.from([parts[n - 1]!]))));
    const etags = new Map(sent.map((p) => [p.partNumber, p.etag]));
    const info = await store.completeMultipart("files/m1/small.bin", id, [1, 2, 3].map((n) => ({ partNumber: n, etag: etags.get(n) })));
    expect(info.size).toBe(3 * MiB + 100);
    expect((await bytes(await store.get("files/m1/small.bin"))).equals(Buffer.concat(parts))).toBe(true);
    await store.delete("files/m1/small.bin");
  });

  it("joins parts above and below 5 MiB, in the listed order, without etags", async () => {
    const parts = [randomBytes(6 * MiB), randomBytes(1 * MiB), randomBytes(2 * MiB), randomBytes(6 * MiB), randomBytes(3 * MiB), randomBytes(1_000)];
    const id = await store.createMultipart("files/m2/mixed.bin");
    for (const [i, p] of parts.entries()) await store.putPart("files/m2/mixed.bin", id, i + 1, p);
    // A part replaced by a second upload with the same number: the second counts.
    parts[1] = randomBytes(1 * MiB);
    await store.putPart("files/m2/mixed.bin", id, 2, parts[1]);
    const info = await store.completeMultipart("files/m2/mixed.bin", id, parts.map((_, i) => ({ partNumber: i + 1 })));
    expect(info.size).toBe(18 * MiB + 1_000);
    expect((await store.head("files/m2/mixed.bin"))!.size).toBe(info.size);
    expect((await bytes(await store.get("files/m2/mixed.bin"))).equals(Buffer.concat(parts))).toBe(true);
    const ranged = await store.get("files/m2/mixed.bin", { range: { start: 6 * MiB - 10, end: 6 * MiB + 9 } });
    expect((await bytes(ranged)).equals(Buffer.concat(parts).subarray(6 * MiB - 10, 6 * MiB + 10))).toBe(true);
    await store.delete("files/m2/mixed.bin");
  });

  it("refuses wrong etags, missing parts, bad part numbers and unknown or foreign uploads; leaves nothing behind", async () => {
    const id = await store.createMultipart("files/m3/x.bin");
    const p1 = await store.putPart("files/m3/x.bin", id, 1, Buffer.from("one"));
    expect(await status(store.completeMultipart("files/m3/x.bin", id, [{ partNumber: 1, etag: "0".repeat(32) }]))).toBe(400);
    expect(await status(store.completeMultipart("files/m3/x.bin", id, [{ partNumber: 1, etag: p1.etag }, { partNumber: 2 }]))).toBe(400);
    expect(await status(store.completeMultipart("files/m3/x.bin", id, []))).toBe(400);
    expect(await status(store.completeMultipart("files/m3/x.bin", id, [{ partNumber: 1 }, { partNumber: 1 }]))).toBe(400);
    expect(await status(store.putPart("files/m3/x.bin", id, 0, Buffer.from("zero")))).toBe(400);
    expect(await status(store.putPart("files/m3/x.bin", id, 10_001, Buffer.from("too far")))).toBe(400);
    expect(await status(store.putPart("files/m3/other.bin", id, 1, Buffer.from("foreign")))).toBe(404);
    expect(await status(store.putPart("files/m3/x.bin", "A".repeat(24), 1, Buffer.from("unknown")))).toBe(404);
    expect(await status(store.putPart("files/m3/x.bin", "../../etc", 1, Buffer.from("bad id")))).toBe(404);
    expect(await store.head("files/m3/x.bin")).toBeUndefined();

    await store.abortMultipart("files/m3/x.bin", id);
    await store.abortMultipart("files/m3/x.bin", id); // twice is fine
    expect(await status(store.putPart("files/m3/x.bin", id, 2, Buffer.from("late")))).toBe(404);
    expect(await store.head("files/m3/x.bin")).toBeUndefined();

    const done = await store.createMultipart("files/m3/y.bin");
    await store.putPart("files/m3/y.bin", done, 1, Buffer.from("y"));
    await store.completeMultipart("files/m3/y.bin", done, [{ partNumber: 1 }]);
    expect(await status(store.completeMultipart("files/m3/y.bin", done, [{ partNumber: 1 }]))).toBe(404);
    expect((await bytes(await store.get("files/m3/y.bin"))).toString()).toBe("y");
    await store.delete("files/m3/y.bin");
    expect(await extra.listLeftovers()).toEqual([]);
  });

  it("refuses keys that could leave the store", async () => {
    for (const key of ["../x", "files/../../x", "/abs", "files//x", ".blob-uploads/x", "files/a b", ""]) {
      await expect(store.put(key, Buffer.from("x")), key).rejects.toThrow(/blob key/);
    }
  });
}

describe("blob store on local files", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "blobs-"));
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  const list = (dir: string): string[] =>
    fs.existsSync(dir) ? fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name)) : [];
  conformance(() => new LocalBlobStore(root), { listLeftovers: async () => list(root) });

  it("lays blobs out as files under the root and cannot presign", async () => {
    const store = new LocalBlobStore(root);
    await store.put("files/id1/a.txt", Buffer.from("on disk"));
    expect(fs.readFileSync(path.join(root, "files", "id1", "a.txt"), "utf8")).toBe("on disk");
    expect(await store.presignGet("files/id1/a.txt", { expiresInSeconds: 60 })).toBeUndefined();
    await store.delete("files/id1/a.txt");
    expect(fs.existsSync(path.join(root, "files", "id1"))).toBe(false);
  });
});

describeIfAvailable("blob store on S3 (moto)", s3Availability(), () => {
  let server: S3TestServer;
  const stores: S3BlobStore[] = [];
  const bucket = "conformance";
  const prefix = "deploy/one";
  beforeAll(async () => {
    server = await startS3();
  });
  afterAll(async () => {
    for (const s of stores) s.destroy();
    await server?.stop();
  });
  const open = () => {
    const store = new S3BlobStore({
      bucket,
      prefix,
      endpoint: server.endpoint,
      forcePathStyle: true,
      region: server.region,
      credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    });
    stores.push(store);
    return store;
  };
  beforeAll(async () => {
    await open().client.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  conformance(open, {
    listLeftovers: async () => ((await stores[0]!.client.send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!),
  });

  it("keeps objects under the prefix and presigns a GET that serves ranges", async () => {
    const store = open();
    const data = randomBytes(5_000);
    await store.put("files/p1/clip.mp4", data, { contentType: "video/mp4" });
    const listed = await store.client.send(new ListObjectsV2Command({ Bucket: bucket }));
    expect(listed.Contents?.map((o) => o.Key)).toEqual([`${prefix}/files/p1/clip.mp4`]);
    const url = await store.presignGet("files/p1/clip.mp4", { expiresInSeconds: 120, contentType: "video/mp4", fileName: "clip.mp4" });
    expect(url).toContain("X-Amz-Expires=120");
    const res = await fetch(url!, { headers: { range: "bytes=10-19" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    expect(res.headers.get("content-disposition")).toBe('inline; filename="clip.mp4"');
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(10, 20))).toBe(true);
    await expect(store.presignGet("files/p1/clip.mp4", { expiresInSeconds: 0 })).rejects.toThrow(/604800/);
    await store.delete("files/p1/clip.mp4");
  });
});

describe("STORAGE_URL picks the blob store", () => {
  it("defaults to DATA_DIR, takes folders and file:// URLs, and s3://bucket/prefix with its settings", () => {
    const base = loadConfig({ DATA_DIR: "/srv/ltx" });
    expect(base.storage).toEqual({ kind: "file", root: "/srv/ltx" });
    expect(base.s3PresignSeconds).toBe(900);
    expect(base.awsRegion).toBe("us-east-1");
    expect(openBlobStore(base).kind).toBe("file");
    expect(loadConfig({}, { dataDir: "/tmp/other" }).storage).toEqual({ kind: "file", root: "/tmp/other" });
    expect(loadConfig({ STORAGE_URL: "/mnt/blobs/" }).storage).toEqual({ kind: "file", root: "/mnt/blobs" });
    expect(loadConfig({ STORAGE_URL: "file:///mnt/blobs" }).storage).toEqual({ kind: "file", root: "/mnt/blobs" });
    const s3 = loadConfig({
      STORAGE_URL: "s3://my-bucket/ltx/prod/",
      S3_ENDPOINT_URL: "http://minio:9000/",
      S3_FORCE_PATH_STYLE: "true",
      AWS_REGION: "eu-west-1",
      S3_PRESIGN_SECONDS: "0",
    });
    expect(s3.storage).toEqual({ kind: "s3", bucket: "my-bucket", prefix: "ltx/prod" });
    expect([s3.s3EndpointUrl, s3.s3ForcePathStyle, s3.awsRegion, s3.s3PresignSeconds]).toEqual(["http://minio:9000", true, "eu-west-1", 0]);
    const store = openBlobStore(s3);
    expect(store.kind).toBe("s3");
    (store as S3BlobStore).destroy();
    expect(loadConfig({ STORAGE_URL: "s3://bucket-only" }).storage).toEqual({ kind: "s3", bucket: "bucket-only", prefix: "" });
  });

  it("names the setting when it is malformed", () => {
    expect(() => loadConfig({ STORAGE_URL: "s3://" })).toThrow(/STORAGE_URL/);
    expect(() => loadConfig({ STORAGE_URL: "s3://Bad_Bucket!/x" })).toThrow(/STORAGE_URL/);
    expect(() => loadConfig({ STORAGE_URL: "gs://bucket/x" })).toThrow(/STORAGE_URL/);
    expect(() => loadConfig({ S3_PRESIGN_SECONDS: "604801" })).toThrow(/S3_PRESIGN_SECONDS/);
    expect(() => loadConfig({ S3_PRESIGN_SECONDS: "1.5" })).toThrow(/S3_PRESIGN_SECONDS/);
  });
});
