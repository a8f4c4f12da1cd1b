// The playground web page: serves GET / (the page) and GET /web/* (its static assets) without auth.
// The page holds no secrets; it asks the user for an API key and calls the public API like any client.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { FastifyInstance, FastifyReply } from "fastify";

/** Content types of the asset kinds we ship; any other file in the folder is not served. */
const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
};

/**
 * The same headers on every asset: no external origin may be loaded (the page works offline), and the
 * page talks only to this server. `connect-src`/`img-src`/`media-src` allow http(s) because result and
 * thumbnail URLs are built from PUBLIC_URL, which may name another host than the one the page came from.
 */
const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob: http: https:",
    "media-src 'self' blob: http: https:",
    "connect-src 'self' http: https:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
  ].join("; "),
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

export interface WebAsset {
  body: Buffer;
  contentType: string;
}

/**
 * The assets folder: beside this module when running from src/ (or when the build copied it into dist/),
 * else the source tree's copy seen from dist/web/.
 */
export function findAssetsDir(moduleUrl: string = import.meta.url): string {
  const candidates = [new URL("./assets/", moduleUrl), new URL("../../src/web/assets/", moduleUrl)];
  for (const candidate of candidates) {
    const dir = fileURLToPath(candidate);
    if (existsSync(path.join(dir, "index.html"))) return dir;
  }
  throw new Error(`playground assets not found; looked in ${candidates.map((c) => fileURLToPath(c)).join(", ")}`);
}

/** Reads every servable asset once, so a request can never name a path outside the folder. */
export function loadAssets(dir: string): Map<string, WebAsset> {
  const assets = new Map<string, WebAsset>();
  for (const name of readdirSync(dir)) {
    const ext = path.extname(name).toLowerCase();
    const contentType = CONTENT_TYPES[ext];
    const file = path.join(dir, name);
    if (!contentType || name.startsWith(".") || !statSync(file).isFile()) continue;
    assets.set(name, { body: readFileSync(file), contentType });
  }
  return assets;
}

function send(reply: FastifyReply, asset: WebAsset, cacheControl: string): FastifyReply {
  return reply.headers(SECURITY_HEADERS).header("cache-control", cacheControl).type(asset.contentType).send(asset.body);
}

/** Registers GET / and GET /web/:name. Call before the server starts listening. */
export async function registerPlayground(app: FastifyInstance, assetsDir: string = findAssetsDir()): Promise<void> {
  const assets = loadAssets(assetsDir);
  const page = assets.get("index.html");
  if (!page) throw new Error(`playground page missing: ${path.join(assetsDir, "index.html")}`);

  // `no-cache` makes browsers revalidate, so a restarted server with new assets is picked up at once.
  app.get("/", async (_req, reply) => send(reply, page, "no-cache"));
  app.get<{ Params: { name: string } }>("/web/:name", async (req, reply) => {
    const asset = assets.get(req.params.name);
    if (!asset) {
      return reply.code(404).type("application/json").send({ detail: `No such playground asset: ${req.params.name}` });
    }
    return send(reply, asset, "no-cache");
  });
}
