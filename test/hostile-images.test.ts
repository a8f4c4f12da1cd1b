// Hostile input images (issue 3 item 7): decompression bombs, huge headers, truncated and corrupt
// files and non-image bytes are refused as InputErrors without decoding pixels, with bounded memory.
// Every hostile file is built at run time; the time and peak RSS of each case are printed.
import crypto from "node:crypto";
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import zlib from "node:zlib";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InputError } from "../src/errors.js";
import { prepareImage, type PrepareImageOptions } from "../src/media/image.js";

// ---------------------------------------------------------------------------------------------
// Building hostile files

function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(zlib.crc32(body));
  return Buffer.concat([length, body, crc]);
}

function pngIhdr(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // greyscale
  return ihdr;
}

/**
 * A complete, valid greyscale PNG of width x height black pixels whose zlib stream inflates to
 * (width + 1) x height bytes (2.5 GB at 50000x50000) but is only a few MB: one full-flushed deflate
 * block for `rowsPerBlock` zero rows, repeated (a full flush resets the compressor, so every block
 * is byte-identical), an empty final block, and the Adler-32 of that many zeros.
 */
async function makePngBomb(width: number, height: number, rowsPerBlock: number): Promise<Buffer> {
  if (height % rowsPerBlock !== 0) throw new Error("rowsPerBlock must divide height");
  const deflate = zlib.createDeflateRaw({ level: 9 });
  const out: Buffer[] = [];
  deflate.on("data", (b: Buffer) => out.push(b));
  const flushed = () => new Promise<Buffer>((resolve) => deflate.flush(zlib.constants.Z_FULL_FLUSH, () => resolve(Buffer.concat(out.splice(0)))));
  deflate.write(Buffer.alloc((width + 1) * rowsPerBlock));
  const block = await flushed();
  const ended = new Promise<void>((resolve) => deflate.once("end", resolve));
  deflate.end();
  await ended;
  const last = Buffer.concat(out.splice(0)); // the empty final block
  const total = (width + 1) * height;
  const adler = Buffer.alloc(4);
  adler.writeUInt32BE((((total % 65521) << 16) | 1) >>> 0); // a = 1 + sum(zeros) = 1, b = total x a
  const blocks = new Array<Buffer>(height / rowsPerBlock).fill(block);
  const zstream = Buffer.concat([Buffer.from([0x78, 0xda]), ...blocks, last, adler]);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk("IHDR", pngIhdr(width, height)),
    pngChunk("IDAT", zstream),
    pngChunk("IEND", Buffer.alloc(0)),
  ]);
}

/** A small real GIF whose logical screen and frame claim 65535x65535 (4.3 gigapixels). */
async function makeHugeGif(): Promise<Buffer> {
  const gif = Buffer.from(await sharp({ create: { width: 2, height: 2, channels: 3, background: "#fff" } }).gif().toBuffer());
  gif.writeUInt16LE(65535, 6);
  gif.writeUInt16LE(65535, 8);
  const descriptor = gif.indexOf(0x2c, 13);
  gif.writeUInt16LE(65535, descriptor + 5);
  gif.writeUInt16LE(65535, descriptor + 7);
  return gif;
}

/** A small JPEG whose SOF0 claims 65500x65500. */
async function makeHugeJpeg(): Promise<Buffer> {
  const jpeg = Buffer.from(await sharp({ create: { width: 16, height: 16, channels: 3, background: "#888" } }).jpeg().toBuffer());
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  jpeg.writeUInt16BE(65500, sof + 5);
  jpeg.writeUInt16BE(65500, sof + 7);
  return jpeg;
}

/** A small lossless WebP whose VP8L header claims 16000x16000. */
async function makeHugeWebp(): Promise<Buffer> {
  const webp = Buffer.from(await sharp({ create: { width: 16, height: 16, channels: 3, background: "#888" } }).webp({ lossless: true }).toBuffer());
  const bits = webp.readUInt32LE(21);
  webp.writeUInt32LE(((bits & ~0x0fffffff) | 15999 | (15999 << 14)) >>> 0, 21);
  return webp;
}

async function noiseImages(): Promise<Record<string, Buffer>> {
  const raw = crypto.randomBytes(512 * 512 * 3);
  const img = () => sharp(raw, { raw: { width: 512, height: 512, channels: 3 } });
  return {
    png: await img().png().toBuffer(),
    jpeg: await img().jpeg().toBuffer(),
    webp: await img().webp().toBuffer(),
    avif: await img().avif({ effort: 0 }).toBuffer(),
    gif: await img().gif().toBuffer(),
  };
}

// ---------------------------------------------------------------------------------------------
// Measuring

interface Measured {
  name: string;
  ms: number;
  peakRssMb: number;
  rssGrowthMb: number;
  type: string;
}
const measured: Measured[] = [];
const rssMb = () => process.resourceUsage().maxRSS / 1024; // maxRSS is in kB: the process's peak so far

let dir: string;
let server: http.Server;
let serverBase: string;
const served = new Map<string, Buffer>();
let counter = 0;

function opts(extra: Partial<PrepareImageOptions> = {}): PrepareImageOptions {
  return { field: "image_url", destPath: path.join(dir, `case-${++counter}`, "image.png"), ...extra };
}

/** Runs one hostile case, records time and peak RSS, and returns the InputError it must produce. */
async function refused(name: string, run: () => Promise<unknown>): Promise<InputError> {
  const rssBefore = rssMb();
  const start = performance.now();
  let error: unknown;
  try {
    await run();
  } catch (err) {
    error = err;
  }
  const ms = performance.now() - start;
  const peak = rssMb();
  if (!(error instanceof InputError)) throw new Error(`${name}: expected an InputError, got ${error === undefined ? "success" : String(error)}`);
  measured.push({ name, ms: Math.round(ms), peakRssMb: Math.round(peak), rssGrowthMb: Math.round(peak - rssBefore), type: error.detail[0].type });
  // A decoded 50000x50000 image needs 2.5 GB or more; refusing from the header needs next to nothing.
  expect(peak - rssBefore).toBeLessThan(200);
  expect(error.status).toBe(422);
  expect(error.detail[0].loc).toEqual(["body", "image_url"]);
  return error;
}

const dataUri = (bytes: Buffer, mime = "image/png") => `data:${mime};base64,${bytes.toString("base64")}`;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "ltx-hostile-"));
  server = http.createServer((req, res) => {
    const body = served.get(req.url ?? "");
    if (!body) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "image/png", "content-length": body.length }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  serverBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await fs.rm(dir, { recursive: true, force: true });
  const lines = measured.map((m) => `  ${m.name.padEnd(44)} ${String(m.ms).padStart(6)} ms  peak RSS ${m.peakRssMb} MB (+${m.rssGrowthMb})  ${m.type}`);
  console.log(`hostile images: ${measured.length} refused\n${lines.join("\n")}`);
});

// ---------------------------------------------------------------------------------------------

describe("decompression bombs and huge headers", () => {
  it("builds a valid PNG bomb (checked by decoding a 2000x2000 one)", async () => {
    const small = await makePngBomb(2000, 2000, 100);
    const meta = await sharp(small).metadata();
    expect([meta.width, meta.height, meta.channels]).toEqual([2000, 2000, 1]);
    const { data, info } = await sharp(small, { failOn: "error" }).raw().toBuffer({ resolveWithObject: true });
    expect(data.length).toBe(info.width * info.height * info.channels);
    expect(data.every((v) => v === 0)).toBe(true);
  });

  it("refuses a 50000x50000 PNG bomb sent as a data: URI without decoding it", async () => {
    const bomb = await makePngBomb(50_000, 50_000, 1000);
    expect(bomb.length).toBeLessThan(5_000_000);
    const uri = dataUri(bomb);
    const err = await refused("PNG bomb 50000x50000 (data: URI)", () => prepareImage(uri, opts()));
    expect(err.detail[0]).toMatchObject({ type: "image_too_large", ctx: { width: 50_000, height: 50_000 } });
    expect(err.detail[0].msg).toContain("50000x50000 (2500.0 MP)");
  });

  it("refuses the same bomb fetched over HTTP", async () => {
    served.set("/bomb.png", await makePngBomb(50_000, 50_000, 1000));
    const err = await refused("PNG bomb 50000x50000 (HTTP)", () => prepareImage(`${serverBase}/bomb.png`, opts({ allowPrivate: true })));
    expect(err.detail[0].type).toBe("image_too_large");
  });

  it("refuses ten bombs at once with bounded memory", async () => {
    const uri = dataUri(await makePngBomb(50_000, 50_000, 1000));
    await refused("10 PNG bombs in parallel", async () => {
      const results = await Promise.allSettled(Array.from({ length: 10 }, () => prepareImage(uri, opts())));
      const reasons = results.map((r) => (r.status === "rejected" ? r.reason : undefined));
      expect(reasons.every((r) => r instanceof InputError && r.detail[0].type === "image_too_large")).toBe(true);
      throw reasons[0];
    });
  });

  it("refuses a bomb just over a lowered pixel limit", async () => {
    const bomb = await makePngBomb(3000, 3000, 100);
    const err = await refused("PNG 3000x3000 over maxPixels 8 MP", () => prepareImage(dataUri(bomb), opts({ maxPixels: 8_000_000 })));
    expect(err.detail[0].ctx).toMatchObject({ max_pixels: 8_000_000 });
  });

  it.each([
    ["GIF claiming 65535x65535", makeHugeGif, "image/gif"],
    ["JPEG claiming 65500x65500", makeHugeJpeg, "image/jpeg"],
    ["WebP claiming 16000x16000", makeHugeWebp, "image/webp"],
  ])("refuses a %s", async (name, make, mime) => {
    const bytes = await make();
    const err = await refused(name, () => prepareImage(dataUri(bytes, mime), opts()));
    expect(err.detail[0].type).toBe("image_too_large");
  });

  it("refuses a data: URI bigger than the byte cap before decoding it", async () => {
    const uri = "data:image/png;base64," + Buffer.alloc(30_000_000, 7).toString("base64");
    const err = await refused("30 MB data: URI", () => prepareImage(uri, opts()));
    expect(err.detail[0].type).toBe("file_download_error");
  });
});

describe("truncated, corrupt and non-image data", () => {
  let images: Record<string, Buffer>;
  beforeAll(async () => {
    images = await noiseImages();
  });

  it.each(["png", "jpeg", "webp", "avif", "gif"])("refuses a truncated %s", async (format) => {
    const whole = images[format];
    const err = await refused(`truncated ${format}`, () => prepareImage(dataUri(whole.subarray(0, Math.floor(whole.length / 2))), opts()));
    expect(err.detail[0].type).toBe("image_load_error");
  });

  it.each([
    ["PNG with scrambled image data", () => flip(images.png, images.png.length / 2)],
    ["PNG with a bad header CRC", () => flip(images.png, 29)],
    ["JPEG with a broken Huffman table", () => scrambleAfter(images.jpeg, Buffer.from([0xff, 0xc4]))],
    ["GIF with scrambled frame data", () => flip(images.gif, images.gif.length / 2)],
    ["AVIF with scrambled boxes", () => flip(images.avif, 40)],
    ["PNG with a zero-width header", () => Buffer.concat([images.png.subarray(0, 8), pngChunk("IHDR", pngIhdr(0, 10)), images.png.subarray(33)])],
  ])("refuses a %s", async (name, make) => {
    const err = await refused(name, () => prepareImage(dataUri(make()), opts()));
    expect(err.detail[0].type).toBe("image_load_error");
  });

  it.each([
    ["random bytes", () => crypto.randomBytes(100_000)],
    ["an HTML page", () => Buffer.from("<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>")],
    ["JSON", () => Buffer.from('{"error":"not an image"}')],
    ["zero bytes", () => Buffer.alloc(4096)],
    ["a gzip stream", () => zlib.gzipSync(Buffer.alloc(1_000_000))],
    ["a PNG signature followed by garbage", () => Buffer.concat([images.png.subarray(0, 8), crypto.randomBytes(5000)])],
    ["a JPEG marker followed by garbage", () => Buffer.concat([Buffer.from([0xff, 0xd8, 0xff]), crypto.randomBytes(5000)])],
    ["an SVG with an external reference", () => Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><image href="http://169.254.169.254/"/></svg>')],
  ])("refuses %s", async (name, make) => {
    const err = await refused(`non-image: ${name}`, () => prepareImage(dataUri(make()), opts()));
    expect(err.detail[0].type).toBe("image_load_error");
  });
});

function flip(bytes: Buffer, at: number): Buffer {
  const out = Buffer.from(bytes);
  const start = Math.floor(at);
  for (let i = start; i < Math.min(start + 64, out.length); i++) out[i] ^= 0x5a;
  return out;
}

function scrambleAfter(bytes: Buffer, marker: Buffer): Buffer {
  const out = Buffer.from(bytes);
  const at = out.indexOf(marker);
  for (let i = at + 4; i < at + 30; i++) out[i] = 0xff;
  return out;
}
