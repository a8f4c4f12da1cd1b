// Assembles the whole service from configuration: database, file store, keys, engines, queue,
// dispatcher and HTTP server; `startService` listens and `close` shuts it down gracefully.
import fs from "node:fs";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { buildApp } from "./api/server.js";
import type { Config } from "./config.js";
import { openDb, type Db } from "./db.js";
import { ENDPOINTS } from "./endpoints.js";
import { createEngines, type EngineSet } from "./engines/index.js";
import { createKeyStore, type KeyStore } from "./keys.js";
import { createLogger } from "./log.js";
import { createAdmission } from "./queue/admission.js";
import { createDispatcher, type Dispatcher } from "./queue/dispatcher.js";
import { RequestEvents } from "./queue/events.js";
import { createRequestStore, type RequestStore } from "./queue/store.js";
import { createFileStore, type FileStore } from "./storage/files.js";
import { createRetentionSweeper } from "./storage/retention.js";
import { createJobRunner } from "./worker/run-job.js";
import { createWebhookDispatcher } from "./webhooks/outbox.js";
import { createMetrics } from "./metrics/index.js";

export interface Service {
  config: Config;
  app: FastifyInstance;
  db: Db;
  store: RequestStore;
  files: FileStore;
  keys: KeyStore;
  engines: EngineSet;
  dispatcher: Dispatcher;
  log: Logger;
  /** Base URL the server listens on (after listen). */
  url: string;
  close(): Promise<void>;
}

/** Builds the service without listening; `processJobs: false` makes an API-only node. */
export async function createService(config: Config, opts: { log?: Logger; processJobs?: boolean } = {}): Promise<Service> {
  fs.mkdirSync(config.dataDir, { recursive: true });
  const log = opts.log ?? createLogger(config.logLevel);
  const db = openDb(config.dataDir, { busyTimeoutMs: config.sqliteBusyTimeoutMs });
  const store = createRequestStore({ db });
  const files = createFileStore({ db, dataDir: config.dataDir, publicUrl: config.publicUrl, uploadLimitBytes: config.uploadLimitBytes,
    quotaBytesPerKey: config.storageQuotaBytesPerKey,
    minFreeDiskBytes: config.minFreeDiskBytes,
  });
  const keys = createKeyStore({ db, envKeys: config.apiKeys });
  const engines = await createEngines(config);
  const events = new RequestEvents();
  const metrics = createMetrics({ db, engines, endpoints: ENDPOINTS.map((e) => e.id), slots: () => dispatcher.slots(), token: config.metricsToken });
  const dispatcher = createDispatcher({
    store,
    events,
    engineFor: engines.engineFor,
    endpoints: ENDPOINTS.map((e) => e.id),
    runJob: metrics.wrapRunJob(createJobRunner({ config, files })),
    log,
  });
  const admission = createAdmission({ config, store, keys });
  const webhooks = createWebhookDispatcher({ db, config, log, events, onAttempt: metrics.webhookAttempt });
  const app = await buildApp({ config, db, store, events, dispatcher, admission, files, keys, engines, log, webhooks, metrics });
  const retention = createRetentionSweeper({ db, files, log, intervalMs: config.retentionSweepMs, workRoot: path.join(config.dataDir, "work") });
  if (opts.processJobs !== false) {
    dispatcher.start();
    retention.start();
    webhooks.start();
  }
  let closed = false;
  return {
    config,
    app,
    db,
    store,
    files,
    keys,
    engines,
    dispatcher,
    log,
    url: config.publicUrl,
    async close() {
      if (closed) return;
      closed = true;
      retention.stop();
      await dispatcher.stop();
      await webhooks.stop();
      await app.close();
      await engines.close();
      db.close();
    },
  };
}

export async function startService(config: Config, opts: { log?: Logger; processJobs?: boolean } = {}): Promise<Service> {
  const service = await createService(config, opts);
  await service.app.listen({ port: config.port, host: config.host });
  const address = service.app.server.address();
  if (address && typeof address === "object") {
    const host = config.host.includes(":") ? `[${config.host}]` : config.host;
    const scheme = config.tls === "self-signed" || config.tlsCertFile ? "https" : "http";
    service.url = `${scheme}://${host === "0.0.0.0" ? "127.0.0.1" : host}:${address.port}`;
  }
  return service;
}

/** For the serve command: an error that escapes every handler is logged and the process keeps serving. */
export function installProcessGuard(log: Logger): void {
  process.on("uncaughtException", (err) => log.error({ err }, "uncaught exception (survived)"));
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection (survived)"));
}
