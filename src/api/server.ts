// Builds the HTTP server: fal's host-prefixed routes and proxy convention, CORS, JSON parsing that
// tolerates the clients' body-less requests, key auth, and one error handler for the wire format.
import cors from "@fastify/cors";
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { Db } from "../db.js";
import type { EngineSet } from "../engines/index.js";
import { BadRequestError, InputError, ServiceError, UnauthorizedError, toWireError } from "../errors.js";
import type { KeyStore } from "../keys.js";
import type { AdmissionControl } from "../queue/admission.js";
import type { Dispatcher } from "../queue/dispatcher.js";
import type { RequestEvents } from "../queue/events.js";
import type { RequestStore } from "../queue/store.js";
import type { FileStore } from "../storage/files.js";
import { registerQueueRoutes } from "./routes/queue.js";
import { registerRunRoutes } from "./routes/run.js";
import { registerWebhookRoutes } from "./routes/webhooks.js";
import type { WebhookDispatcher } from "../webhooks/outbox.js";
import { registerServiceRoutes } from "./routes/service.js";
import { registerStorageRoutes } from "./routes/storage.js";
import { registerPlayground } from "../web/index.js";
import { ERROR_TYPE_HEADER, EXPOSED_HEADERS, FAL_HOSTS, REQUEST_ID_HEADER, TARGET_URL_HEADER } from "./wire.js";
import { CDN_HOST, registerFalCdnRoutes } from "./routes/fal-cdn.js";
import { loadTls } from "./tls.js";
import type { Metrics } from "../metrics/index.js";

export interface ApiDeps {
  config: Config;
  db: Db;
  store: RequestStore;
  events: RequestEvents;
  dispatcher: Dispatcher;
  admission: AdmissionControl;
  files: FileStore;
  keys: KeyStore;
  engines: EngineSet;
  log: Logger;
  webhooks: WebhookDispatcher;
  /** GET /metrics and HTTP timings (src/metrics/); absent: no /metrics route. */
  metrics?: Metrics;
}

declare module "fastify" {
  interface FastifyRequest {
    /** Id of the API key that authenticated this request (set by `authenticate`). */
    keyId?: string;
    /** Request id to put on error answers, once known. */
    falRequestId?: string;
  }
}

export const PROXY_PATH = "/api/fal/proxy";
const INVALID_PROXY_PATH = "/api/fal/proxy-invalid";
/** Deepest JSON nesting accepted; fal's input is flat, so anything deep is hostile. */
const MAX_JSON_DEPTH = 32;

/** The proxy convention (fal-wire-protocol.md 9.2): dispatch on x-fal-target-url to the host-prefixed routes. */
export function rewriteProxyUrl(method: string | undefined, url: string, target: string | string[] | undefined): string {
  if (!(url === PROXY_PATH || url.startsWith(`${PROXY_PATH}?`) || url.startsWith(`${PROXY_PATH}/`))) return url;
  if (method === "OPTIONS") return url;
  const raw = Array.isArray(target) ? target[0] : target;
  if (!raw) return `${INVALID_PROXY_PATH}?reason=missing`;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return `${INVALID_PROXY_PATH}?reason=invalid`;
  }
  if (u.protocol !== "https:" || !(FAL_HOSTS as readonly string[]).includes(u.host)) return `${INVALID_PROXY_PATH}?reason=host`;
  return `/${u.host}${u.pathname}${u.search}`;
}

/** fal's host names, addressed directly (a hosts/DNS entry pointing rest.fal.ai etc. at us). */
const ROUTED_HOSTS: readonly string[] = [...FAL_HOSTS, CDN_HOST];

/** Routes a request sent to one of fal's host names (by Host header) to that host's path prefix. */
export function rewriteByHost(url: string, hostHeader: string | undefined): string {
  const host = (hostHeader ?? "").replace(/:\d+$/, "").toLowerCase();
  if (!ROUTED_HOSTS.includes(host)) return url;
  if (url === `/${host}` || url.startsWith(`/${host}/`) || url.startsWith(`/${host}?`)) return url;
  // Part PUTs and complete of CDN multipart uploads go to our own /files/ URLs.
  if (host === CDN_HOST && url.startsWith("/files/") && url.includes("/multipart/")) return url;
  return `/${host}${url}`;
}

function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92) i++;
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) max = Math.max(max, ++depth);
    else if (c === 125 || c === 93) depth--;
  }
  return max;
}

export function parseJsonBody(text: string): unknown {
  if (text.trim() === "") return undefined;
  if (jsonDepth(text) > MAX_JSON_DEPTH) {
    throw new InputError([{ loc: ["body"], msg: `JSON nested deeper than ${MAX_JSON_DEPTH} levels`, type: "json_invalid" }]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InputError([{ loc: ["body"], msg: `Invalid JSON: ${(err as Error).message}`, type: "json_invalid" }]);
  }
}

/** Reads `Authorization: Key <key>` (or Bearer) and resolves the key id, else 401. */
export function authenticate(keys: KeyStore, req: FastifyRequest): string {
  const header = req.headers.authorization ?? "";
  const m = /^(?:Key|Bearer)\s+(.+)$/i.exec(header.trim());
  const keyId = m ? keys.authenticate(m[1].trim()) : undefined;
  if (!keyId) throw new UnauthorizedError(header ? "Invalid API key" : "Missing Authorization header (Authorization: Key <your key>)");
  req.keyId = keyId;
  return keyId;
}

export function sendError(reply: FastifyReply, err: unknown, requestId?: string): FastifyReply {
  const wire = toWireError(err);
  const id = requestId ?? (err instanceof ServiceError ? err.requestId : undefined);
  if (id) reply.header(REQUEST_ID_HEADER, id);
  reply.header(ERROR_TYPE_HEADER, wire.errorType);
  for (const [k, v] of Object.entries(wire.headers ?? {})) reply.header(k, v);
  return reply.code(wire.status).type("application/json").send(wire.body);
}

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const tls = loadTls(config);
  const app = Fastify({
    // Built-in HTTPS (TLS_CERT_FILE/TLS_KEY_FILE or TLS=self-signed); the type stays that of http.Server.
    ...((tls ? { https: { cert: tls.cert, key: tls.key } } : {}) as object),
    loggerInstance: deps.log as unknown as FastifyBaseLogger,
    bodyLimit: config.bodyLimitBytes,
    // A sync run holds its connection for the whole generation.
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    // On shutdown running jobs are handed back, so open sync runs and streams are closed too.
    forceCloseConnections: true,
    rewriteUrl: (req) => rewriteProxyUrl(req.method, rewriteByHost(req.url ?? "/", req.headers.host), req.headers[TARGET_URL_HEADER]),
    // Access logs only at LOG_LEVEL=debug: at the default level the start banner (and its one-time
    // key) must not scroll away under a line per poll.
    disableRequestLogging: true,
  });
  app.addHook("onResponse", async (req, reply) => {
    if (deps.log.isLevelEnabled("debug")) {
      req.log.debug({ method: req.method, url: req.url.split("?")[0], statusCode: reply.statusCode, ms: Math.round(reply.elapsedTime) }, "request");
    }
  });

  await app.register(cors, {
    origin: config.corsOrigins.includes("*") ? "*" : config.corsOrigins,
    methods: ["GET", "POST", "PUT", "OPTIONS"],
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: 600,
    strictPreflight: false,
  });

  app.removeContentTypeParser(["application/json", "text/plain"]);
  app.addContentTypeParser(/^application\/([\w.+-]+\+)?json/, { parseAs: "string" }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (err) {
      done(err as Error, undefined);
    }
  });

  app.setErrorHandler((err, req, reply) => {
    if (err instanceof ServiceError) {
      // The answer carries the cleaned message; the server's log keeps what was raised.
      if (err.status >= 500) req.log.error({ err, detail: err.internalMessage, requestId: req.falRequestId }, "request failed");
      return sendError(reply, err, req.falRequestId);
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status && status >= 400 && status < 500) {
      const e = err as { code?: string; message: string };
      const message =
        e.code === "FST_ERR_CTP_BODY_TOO_LARGE"
          ? `Request body larger than ${config.bodyLimitBytes} bytes`
          : e.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE"
            ? `Unsupported Content-Type ${JSON.stringify(req.headers["content-type"] ?? "")}: send application/json`
            : e.message;
      return sendError(reply, new BadRequestError(message, status), req.falRequestId);
    }
    req.log.error({ err }, "unhandled error");
    return sendError(reply, err, req.falRequestId);
  });

  app.setNotFoundHandler((req, reply) =>
    reply.code(404).type("application/json").send({ detail: `No route for ${req.method} ${req.url.split("?")[0]}` }),
  );

  app.all(INVALID_PROXY_PATH, async (req) => {
    const reason = (req.query as { reason?: string }).reason;
    throw new BadRequestError(
      reason === "missing"
        ? `${TARGET_URL_HEADER} header is required on the proxy route`
        : `${TARGET_URL_HEADER} must be an https URL on one of ${FAL_HOSTS.join(", ")}`,
    );
  });

  // Before the routes: its onResponse hook times every one of them.
  deps.metrics?.register(app);
  await registerServiceRoutes(app, deps);
  await registerStorageRoutes(app, deps);
  await registerQueueRoutes(app, deps);
  await registerRunRoutes(app, deps);
  await registerWebhookRoutes(app, deps);
  await registerFalCdnRoutes(app, deps);
  await registerPlayground(app);
  if (tls) {
    // SIGHUP re-reads the certificate files (a renewed certificate without a restart).
    const reload = () => {
      try {
        const fresh = loadTls(config);
        if (fresh) (app.server as unknown as { setSecureContext(o: { cert: string; key: string }): void }).setSecureContext({ cert: fresh.cert, key: fresh.key });
        deps.log.info({ certFile: fresh?.certFile }, "TLS certificate reloaded");
      } catch (err) {
        deps.log.error({ err }, "TLS certificate reload failed; keeping the previous one");
      }
    };
    process.on("SIGHUP", reload);
    app.addHook("onClose", async () => {
      process.off("SIGHUP", reload);
    });
  }
  return app;
}
