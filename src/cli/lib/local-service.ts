// `--local`: a whole ltx-serve inside the CLI process, on an ephemeral loopback port with its own
// data folder (temporary unless given) and a one-off key, so a job runs through exactly the same
// HTTP path as against a real server, and everything is closed (and the folder removed) afterwards.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { CliError } from "./errors.js";
import { EXIT } from "./exit-codes.js";

export interface LocalService {
  url: string;
  key: string;
  dataDir: string;
  /** Engine name per endpoint id, e.g. {"fal-ai/ltx-2.3/image-to-video": "preview"}. */
  engines: Record<string, string>;
  close(): Promise<void>;
}

/** A port nobody listens on right now (the OS picks it; a tiny race before we bind it is accepted). */
export async function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Starts the service in this process. Settings come from the environment like `ltx-serve serve`
 * (engines, LTX_MODEL_DIR, ffmpeg, ...), except: loopback only, an ephemeral port, the data folder,
 * a fresh key as the only key, and the server log on stderr at LOG_LEVEL (default error) so it
 * never mixes with the command's stdout.
 */
export async function startLocalService(opts: { dataDir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<LocalService> {
  const env = opts.env ?? process.env;
  const temporary = !opts.dataDir;
  const dataDir = opts.dataDir ? path.resolve(opts.dataDir) : fs.mkdtempSync(path.join(os.tmpdir(), "ltx-serve-local-"));
  const key = `local-${randomBytes(18).toString("base64url")}`;
  const [{ loadConfig }, { startService }, { pino }, { engineNameFor }, { ENDPOINTS }] = await Promise.all([
    import("../../config.js"),
    import("../../service.js"),
    import("pino"),
    import("../../engines/index.js"),
    import("../../endpoints.js"),
  ]);
  try {
    const port = await freeLoopbackPort();
    const config = loadConfig(
      { ...env, DATA_DIR: dataDir, API_KEYS: key },
      // Uploaded inputs live on this loopback server, so its own (private) address must be allowed.
      { port, host: "127.0.0.1", publicUrl: `http://127.0.0.1:${port}`, allowPrivateUrls: true },
    );
    const log = pino({ level: env.LOG_LEVEL || "error", base: { service: "ltx-serve" } }, pino.destination(2));
    const service = await startService(config, { log });
    const engines = Object.fromEntries(ENDPOINTS.map((e) => [e.id, engineNameFor(config, e.id)]));
    let closed = false;
    return {
      url: service.url,
      key,
      dataDir,
      engines,
      async close() {
        if (closed) return;
        closed = true;
        await service.close();
        if (temporary) fs.rmSync(dataDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    if (temporary) fs.rmSync(dataDir, { recursive: true, force: true });
    throw new CliError(`could not start the local service: ${(err as Error).message}`, { exitCode: EXIT.usage, cause: err });
  }
}
