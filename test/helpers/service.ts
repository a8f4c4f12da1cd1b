// Starts a real ltx-serve on an ephemeral port with a fresh data folder and one API key, for tests.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { loadConfig, type Config } from "../../src/config.js";
import { startService, type Service } from "../../src/service.js";
import { freeLoopbackPort } from "../../src/cli/lib/local-service.js";

export interface TestService {
  url: string;
  key: string;
  service: Service;
  config: Config;
  dataDir: string;
  close(opts?: { keepData?: boolean }): Promise<void>;
}

export async function startTestService(opts: { env?: Record<string, string>; dataDir?: string; config?: Partial<Config> } = {}): Promise<TestService> {
  const dataDir = opts.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "ltx-serve-test-"));
  const port = await freePort();
  const key = `test-key-${Math.random().toString(36).slice(2)}`;
  // With TLS=self-signed (or TLS_CERT_FILE) in env the service serves HTTPS, so its public URL is https.
  const scheme = opts.env?.TLS || opts.env?.TLS_CERT_FILE ? "https" : "http";
  const config = loadConfig(
    { LOG_LEVEL: "warn", ...opts.env, DATA_DIR: dataDir, API_KEYS: [key, opts.env?.API_KEYS].filter(Boolean).join(",") },
    { port, host: "127.0.0.1", publicUrl: `${scheme}://127.0.0.1:${port}`, allowPrivateUrls: true, ...opts.config },
  );
  const service = await startService(config);
  return {
    url: service.url,
    key,
    service,
    config,
    dataDir,
    async close({ keepData = false } = {}) {
      await service.close();
      if (!keepData && !opts.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A free loopback port (the CLI's own helper). */
export const freePort = freeLoopbackPort;
