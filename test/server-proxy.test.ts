// A web app's server keeping fal's recommended proxy pattern with its target pointed at ltx-serve: the real
// @fal-ai/server-proxy (the Next.js App Router handler, served by a small node:http server that converts to
// a web Request) with FAL_KEY on the server side, and the real @fal-ai/client configured with proxyUrl, as in
// a browser (no credentials). The express adapter is checked for the status codes it loses.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { ValidationError, createFalClient, type FalClient } from "@fal-ai/client";
import { DEFAULT_ALLOWED_URL_PATTERNS } from "@fal-ai/server-proxy";
import { createHandler } from "@fal-ai/server-proxy/express";
import { createRouteHandler } from "@fal-ai/server-proxy/nextjs";
import { createRequire } from "node:module";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENDPOINT, smallInput } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

/** The few express calls used here (the project has no @types/express). */
type ExpressApp = http.RequestListener & { use(h: unknown): void; all(route: string, h: unknown): void };
const express = createRequire(import.meta.url)("express") as { (): ExpressApp; json(o: { limit: string }): unknown };

type VideoResult = { video: { url: string; content_type: string } };
const FAL_HOST = /^(?:[a-z0-9-]+\.)*fal\.(?:run|ai)$/;

let svc: TestService;
let nextServer: http.Server;
let expressServer: http.Server;
let nextUrl: string;
let expressUrl: string;

function listen(server: http.Server): Promise<string> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)));
}

/** The app's route /api/fal/proxy: node:http request -> web Request -> the Next.js handler -> node:http response. */
function nextJsApp(handlers: ReturnType<typeof createRouteHandler>): http.Server {
  return http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const method = (req.method ?? "GET") as "GET" | "POST" | "PUT";
    const handler = handlers[method];
    if (!req.url?.startsWith("/api/fal/proxy") || !handler) {
      res.writeHead(404).end();
      return;
    }
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
    const request = new Request(`http://${req.headers.host}${req.url}`, {
      method,
      headers,
      body: method === "GET" ? undefined : Buffer.concat(chunks),
    });
    const response = await handler(request as never).catch((e: unknown) => new Response(String(e), { status: 500 }));
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (response.body) Readable.fromWeb(response.body as never).pipe(res);
    else res.end();
  });
}

/**
 * The browser side: proxyUrl to the app, and fal's hosts rewritten to ltx-serve's host-prefixed routes. The
 * client's own middleware runs before its proxy step, so x-fal-target-url names ltx-serve.
 */
function browserClient(proxyOrigin: string): FalClient {
  return createFalClient({
    proxyUrl: { url: `${proxyOrigin}/api/fal/proxy`, when: "always" },
    requestMiddleware: async (req) => {
      const u = new URL(req.url);
      return FAL_HOST.test(u.host) ? { ...req, url: `${svc.url}/${u.host}${u.pathname}${u.search}` } : req;
    },
  });
}

beforeAll(async () => {
  svc = await startTestService();
  // The app's server holds the key, as with fal (the proxy reads FAL_KEY when it forwards a request).
  process.env.FAL_KEY = svc.key;
  const allowedUrlPatterns = [...DEFAULT_ALLOWED_URL_PATTERNS, `${new URL(svc.url).host}/**`];
  // Against ltx-serve the endpoint a POST names starts with the host prefix; the app's own login check goes
  // in isAuthenticated (here every caller is let in).
  const allowedEndpoints = ["queue.fal.run/fal-ai/ltx-2.3/**", "fal.run/fal-ai/ltx-2.3/**"];
  const isAuthenticated = async () => true;
  nextServer = nextJsApp(createRouteHandler({ allowedUrlPatterns, allowedEndpoints, isAuthenticated, allowUnauthorizedRequests: false }));
  nextUrl = await listen(nextServer);
  const app = express();
  app.use(express.json({ limit: "50mb" }));
  app.all("/api/fal/proxy", createHandler({ allowedUrlPatterns, allowedEndpoints, isAuthenticated, allowUnauthorizedRequests: false }));
  expressServer = http.createServer(app);
  expressUrl = await listen(expressServer);
});
afterAll(async () => {
  await new Promise((r) => nextServer?.close(r));
  await new Promise((r) => expressServer?.close(r));
  await svc?.close();
  delete process.env.FAL_KEY;
});

describe("@fal-ai/server-proxy's Next.js route handler with its target pointed at ltx-serve", () => {
  it("subscribes through the proxy with the server-side key and gets the video", async () => {
    const updates: string[] = [];
    const result = await browserClient(nextUrl).subscribe(ENDPOINT, { input: await smallInput(), logs: true, pollInterval: 200, onQueueUpdate: (u) => updates.push(u.status) });
    expect(updates.at(-1)).toBe("COMPLETED");
    const { video } = result.data as VideoResult;
    expect(video.content_type).toBe("video/mp4");
    expect(video.url.startsWith(`${svc.url}/files/`)).toBe(true);
  });

  it("passes a 422 through with its status and field errors", async () => {
    const err = await browserClient(nextUrl).queue.submit(ENDPOINT, { input: await smallInput({ duration: 7 }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).status).toBe(422);
    expect((err as ValidationError).getFieldErrors("duration")).toHaveLength(1);
  });

  it("refuses a target or an endpoint that its allowed patterns do not name", async () => {
    const res = await fetch(`${nextUrl}/api/fal/proxy`, { headers: { "x-fal-target-url": "http://127.0.0.1:9/anything" } });
    expect(res.status).toBe(400);
    const other = await fetch(`${nextUrl}/api/fal/proxy`, { method: "POST", headers: { "x-fal-target-url": `${svc.url}/queue.fal.run/fal-ai/other-model` }, body: "{}" });
    expect(other.status).toBe(400);
  });
});

describe("@fal-ai/server-proxy's express adapter", () => {
  it("answers 200 for an upstream 422, so the client sees no error (docs/deployment.md)", async () => {
    const direct = await fetch(`${svc.url}/queue.fal.run/${ENDPOINT}`, {
      method: "POST",
      headers: { authorization: `Key ${svc.key}`, "content-type": "application/json" },
      body: JSON.stringify(await smallInput({ duration: 7 })),
    });
    expect(direct.status).toBe(422);
    const res = await fetch(`${expressUrl}/api/fal/proxy`, {
      method: "POST",
      headers: { "x-fal-target-url": `${svc.url}/queue.fal.run/${ENDPOINT}`, "content-type": "application/json" },
      body: JSON.stringify(await smallInput({ duration: 7 })),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { detail: { loc: string[] }[] };
    expect(body.detail[0].loc).toEqual(["body", "duration"]);
    const submitted = await browserClient(expressUrl).queue.submit(ENDPOINT, { input: await smallInput({ duration: 7 }) });
    expect(submitted).toHaveProperty("detail");
  });
});
