// Tests for prepareImage: every accepted format as a data: URI and over HTTP, EXIF orientation,
// first GIF frame, and the InputError each refusal becomes. Images are made with sharp at run time.
import fs from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InfrastructureError, InputError } from "../errors.js";
import { describeInput, prepareImage, sniffImageFormat, type ImageFormat, type PrepareImageOptions } from "./image.js";

let dir: string;
let server: http.Server;
let serverBase: string;
let counter = 0;
const served = new Map<string, { type: string; body: Buffer }>();

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "ltx-image-"));
  server = http.createServer((req, res) => {
    const hit = served.get(req.url ?? "");
    if (!hit) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": hit.type, "content-length": hit.body.length }).end(hit.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  serverBase = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await fs.rm(dir, { recursive: true, force: true });
});

function dest(): string {
  return path.join(dir, `out-${++counter}`, "image.png");
}

function opts(extra: Partial<PrepareImageOptions> = {}): PrepareImageOptions {
  return { field: "image_url", destPath: dest(), ...extra };
}

function dataUri(mime: string, bytes: Buffer): string {
  return `data:${mime};base64,${bytes.toString("base64")}`;
}

async function inputError(p: Promise<unknown>): Promise<InputError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error("expected an InputError");
}

/** A 96x64 picture: red left half, blue right half, so orientation and frames can be checked. */
async function sample(format: ImageFormat): Promise<Buffer> {
  const left = await sharp({ create: { width: 48, height: 64, channels: 3, background: "#ff0000" } }).png().toBuffer();
  const img = sharp({ create: { width: 96, height: 64, channels: 3, background: "#0000ff" } }).composite([{ input: left, left: 0, top: 0 }]);
  switch (format) {
    case "png":
      return img.png().toBuffer();
    case "jpeg":
      return img.jpeg({ quality: 95 }).toBuffer();
    case "webp":
      return img.webp({ lossless: true }).toBuffer();
    case "avif":
      return img.avif({ quality: 90, effort: 0 }).toBuffer();
    case "gif":
      return img.gif().toBuffer();
  }
}

const MIME: Record<ImageFormat, string> = { png: "image/png", jpeg: "image/jpeg", webp: "image/webp", avif: "image/avif", gif: "image/gif" };

describe("prepareImage", () => {
  it.each(["png", "jpeg", "webp", "avif", "gif"] as ImageFormat[])("decodes a %s data: URI into an sRGB PNG of the same size", async (format) => {
    const bytes = await sample(format);
    expect(sniffImageFormat(bytes)).toBe(format);
    const o = opts();
    const prepared = await prepareImage(dataUri(MIME[format], bytes), o);
    expect(prepared).toEqual({ path: o.destPath, width: 96, height: 64 });
    const meta = await sharp(prepared.path).metadata();
    expect(meta).toMatchObject({ format: "png", width: 96, height: 64, depth: "uchar" });
    const { data, info } = await sharp(prepared.path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const at = (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)];
    expect(at(10, 32)[0]).toBeGreaterThan(200); // red on the left
    expect(at(85, 32)[2]).toBeGreaterThan(200); // blue on the right
  });

  it.each(["png", "jpeg", "webp", "avif", "gif"] as ImageFormat[])("fetches a %s over HTTP when private addresses are allowed", async (format) => {
    served.set(`/sample.${format}`, { type: MIME[format], body: await sample(format) });
    const prepared = await prepareImage(`${serverBase}/sample.${format}`, opts({ allowPrivate: true }));
    expect([prepared.width, prepared.height]).toEqual([96, 64]);
  });

  it("applies EXIF orientation 6, swapping width and height", async () => {
    const jpeg = await sharp(await sample("png")).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(jpeg).metadata()).orientation).toBe(6);
    const prepared = await prepareImage(dataUri("image/jpeg", jpeg), opts());
    expect([prepared.width, prepared.height]).toEqual([64, 96]);
    const meta = await sharp(prepared.path).metadata();
    expect([meta.width, meta.height, meta.orientation]).toEqual([64, 96, undefined]);
    // Rotated 90 degrees clockwise: the red left half is now on top.
    const { data, info } = await sharp(prepared.path).raw().toBuffer({ resolveWithObject: true });
    const top = data[(10 * info.width + 32) * info.channels];
    const bottom = data[(85 * info.width + 32) * info.channels];
    expect(top).toBeGreaterThan(200);
    expect(bottom).toBeLessThan(60);
  });

  it("shrinks to maxShortSide keeping the aspect ratio, after orientation, and never enlarges", async () => {
    const png = await sample("png");
    expect(await prepareImage(dataUri("image/png", png), opts({ maxShortSide: 32 }))).toMatchObject({ width: 48, height: 32 });
    const rotated = await sharp(png).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const prepared = await prepareImage(dataUri("image/jpeg", rotated), opts({ maxShortSide: 32 }));
    expect([prepared.width, prepared.height]).toEqual([32, 48]);
    const meta = await sharp(prepared.path).metadata();
    expect([meta.width, meta.height]).toEqual([32, 48]);
    expect(await prepareImage(dataUri("image/png", png), opts({ maxShortSide: 1000 }))).toMatchObject({ width: 96, height: 64 });
  });

  it("takes the first frame of an animated GIF", async () => {
    const frame = (colour: string) => sharp({ create: { width: 40, height: 30, channels: 3, background: colour } }).png().toBuffer();
    const frames = await Promise.all(["#00ff00", "#ff0000", "#0000ff"].map(frame));
    const gif = await sharp(frames, { join: { animated: true } }).gif().toBuffer();
    expect((await sharp(gif).metadata()).pages).toBe(3);
    const prepared = await prepareImage(dataUri("image/gif", gif), opts());
    expect([prepared.width, prepared.height]).toEqual([40, 30]);
    const { data } = await sharp(prepared.path).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    expect([...data.subarray(0, 3)]).toEqual([0, 255, 0]);
  });

  it("writes 16-bit input as an 8-bit PNG and keeps transparency", async () => {
    const png16 = await sharp({ create: { width: 8, height: 8, channels: 4, background: { r: 10, g: 20, b: 30, alpha: 0.5 } } })
      .toColourspace("rgb16")
      .png()
      .toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe("ushort");
    const prepared = await prepareImage(dataUri("image/png", png16), opts());
    const meta = await sharp(prepared.path).metadata();
    expect([meta.depth, meta.hasAlpha]).toEqual(["uchar", true]);
  });

  it("refuses a non-image with an InputError naming the field", async () => {
    const text = Buffer.from("<!doctype html><html><body>Not found</body></html>");
    const err = await inputError(prepareImage(dataUri("image/png", text), opts({ field: "end_image_url", requestId: "req-1" })));
    expect(err.status).toBe(422);
    expect(err.requestId).toBe("req-1");
    expect(err.detail).toHaveLength(1);
    expect(err.detail[0]).toMatchObject({ loc: ["body", "end_image_url"], type: "image_load_error", url: "https://docs.fal.ai/errors#image_load_error" });
    expect(err.detail[0].msg).toMatch(/not a PNG, JPEG, WebP, AVIF or GIF image \(it looks like an HTML/);
    expect(err.detail[0].input).toMatch(/^data:image\/png;base64,\.\.\.\(\d+ characters\)$/);
  });

  it.each([
    ["SVG", Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><image href="file:///etc/passwd"/></svg>')],
    ["TIFF", Buffer.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0, 0, 0])],
    ["PDF", Buffer.from("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n")],
    ["HEIC", Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from("ftypheic\0\0\0\0mif1heic")])],
  ])("refuses %s, which is not an accepted format, before any decoder sees it", async (_label, bytes) => {
    const err = await inputError(prepareImage(dataUri("application/octet-stream", bytes), opts()));
    expect(err.detail[0].type).toBe("image_load_error");
  });

  it("refuses an image above maxPixels from its header", async () => {
    const err = await inputError(prepareImage(dataUri("image/png", await sample("png")), opts({ maxPixels: 5_000 })));
    expect(err.detail[0]).toMatchObject({ type: "image_too_large", ctx: { max_pixels: 5_000, width: 96, height: 64 } });
    expect(err.detail[0].msg).toContain("96x64");
  });

  it("refuses a data: URI above maxBytes as a download error", async () => {
    const err = await inputError(prepareImage(dataUri("image/png", await sample("png")), opts({ maxBytes: 100 })));
    expect(err.detail[0]).toMatchObject({ loc: ["body", "image_url"], type: "file_download_error", ctx: { max_size: 100 } });
  });

  it("refuses a loopback URL by default with a download error that keeps the URL as input", async () => {
    served.set("/blocked.png", { type: "image/png", body: await sample("png") });
    const url = `${serverBase}/blocked.png`;
    const err = await inputError(prepareImage(url, opts()));
    expect(err.detail[0]).toMatchObject({ loc: ["body", "image_url"], type: "file_download_error", input: url });
    expect(err.detail[0].msg).toMatch(/^Could not download the image: the image URL points at 127\.0\.0\.1, a loopback address/);
  });

  it("turns an HTTP 404 and an unreachable host into download errors", async () => {
    const missing = await inputError(prepareImage(`${serverBase}/missing.png`, opts({ allowPrivate: true })));
    expect(missing.detail[0].type).toBe("file_download_error");
    const nowhere = await inputError(
      prepareImage("https://images.example.test/a.png", opts({ lookup: async () => Promise.reject(Object.assign(new Error("nx"), { code: "ENOTFOUND" })) })),
    );
    expect(nowhere.detail[0].msg).toContain("images.example.test, which was not found");
  });

  it.each(["", "   ", "not a url", "/relative/path.png", "ftp://example.com/a.png"])("refuses the image_url %j", async (value) => {
    const err = await inputError(prepareImage(value, opts()));
    expect(err.detail[0].loc).toEqual(["body", "image_url"]);
    expect(err.detail[0].type).toBe("file_download_error");
  });

  it("reads this server's own file URLs through resolveLocalFile", async () => {
    const file = path.join(dir, "upload.webp");
    await fs.writeFile(file, await sample("webp"));
    const own = "http://127.0.0.1:8787/files/f1/upload.webp";
    const prepared = await prepareImage(own, opts({ resolveLocalFile: async (u) => (u.href === own ? file : undefined) }));
    expect([prepared.width, prepared.height]).toEqual([96, 64]);
  });

  it("rethrows a cancellation instead of blaming the input", async () => {
    const controller = new AbortController();
    const reason = new Error("cancelled by user");
    controller.abort(reason);
    await expect(prepareImage(dataUri("image/png", await sample("png")), opts({ signal: controller.signal }))).rejects.toBe(reason);
  });

  it("reports a failing disk as an infrastructure error, not an input error", async () => {
    const blocker = path.join(dir, "a-file");
    await fs.writeFile(blocker, "x");
    await expect(prepareImage(dataUri("image/png", await sample("png")), opts({ destPath: path.join(blocker, "image.png") }))).rejects.toBeInstanceOf(
      InfrastructureError,
    );
  });
});

describe("describeInput", () => {
  it("cuts data: URIs after their header and leaves ordinary URLs alone", () => {
    expect(describeInput("data:image/png;base64," + "A".repeat(5000))).toBe("data:image/png;base64,...(5022 characters)");
    expect(describeInput("https://example.com/a.png")).toBe("https://example.com/a.png");
  });
});
