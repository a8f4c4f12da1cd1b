// The official @fal-ai/client pointed at a test server in each of the three documented ways
// (fal-wire-protocol.md section 9), plus small inputs for tests.
import { createFalClient, type FalClient } from "@fal-ai/client";
import sharp from "sharp";

export type RedirectStyle = "middleware" | "proxy" | "fetch";
export const REDIRECT_STYLES: RedirectStyle[] = ["middleware", "proxy", "fetch"];

const FAL_HOST = /^(?:[a-z0-9-]+\.)*fal\.(?:run|ai)$/;

export function falClient(base: string, key: string, style: RedirectStyle = "middleware"): FalClient {
  switch (style) {
    case "middleware":
      return createFalClient({
        credentials: key,
        requestMiddleware: async (req) => {
          const u = new URL(req.url);
          return FAL_HOST.test(u.host) ? { ...req, url: `${base}/${u.host}${u.pathname}${u.search}` } : req;
        },
      });
    case "proxy":
      return createFalClient({ credentials: key, proxyUrl: { url: `${base}/api/fal/proxy`, when: "always" } });
    case "fetch":
      return createFalClient({
        credentials: key,
        fetch: (input: RequestInfo | URL, init?: RequestInit) => {
          const u = new URL(input instanceof Request ? input.url : input.toString());
          return fetch(FAL_HOST.test(u.host) ? `${base}/${u.host}${u.pathname}${u.search}` : u.toString(), init);
        },
      });
  }
}

/** Bytes as a Blob (Buffer is not a BlobPart under strict DOM typings). */
export function blobOf(bytes: Uint8Array, type: string): Blob {
  return new Blob([new Uint8Array(bytes)], { type });
}

/** A PNG with a gradient and a few shapes, so motion and crops are visible. */
export async function testImagePng(width = 640, height = 360, hue = 0): Promise<Buffer> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1">
      <stop offset="0" stop-color="hsl(${hue},70%,55%)"/><stop offset="1" stop-color="hsl(${(hue + 140) % 360},70%,35%)"/>
    </linearGradient></defs>
    <rect width="100%" height="100%" fill="url(#g)"/>
    <circle cx="${width * 0.3}" cy="${height * 0.4}" r="${Math.min(width, height) * 0.18}" fill="#fff" opacity="0.8"/>
    <rect x="${width * 0.55}" y="${height * 0.5}" width="${width * 0.3}" height="${height * 0.3}" fill="#222" opacity="0.7"/>
  </svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

export async function testImageDataUri(width = 640, height = 360, hue = 0): Promise<string> {
  return `data:image/png;base64,${(await testImagePng(width, height, hue)).toString("base64")}`;
}

export const ENDPOINT = "fal-ai/ltx-2.3/image-to-video";

export type TestInput = { image_url: string; prompt: string } & Record<string, any>;

let nextSeed = Math.floor(Math.random() * 1e6);

/**
 * The cheapest request the schema allows: 1080p, 6 s, 24 fps, no audio. Each call gets its own seed,
 * so that two calls are two distinct requests (identical submits are deduplicated by design).
 */
export async function smallInput(extra: Record<string, unknown> = {}): Promise<TestInput> {
  return { image_url: await testImageDataUri(), prompt: "a calm test scene", duration: 6, fps: 24, generate_audio: false, seed: nextSeed++, ...extra };
}
