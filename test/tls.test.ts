// Built-in HTTPS with the operator's own certificate files (TLS_CERT_FILE, TLS_KEY_FILE): the service
// (its own process, the real CLI) serves them, answers API calls over HTTPS with PUBLIC_URL on https,
// and a SIGHUP makes it serve renewed files without a restart.
import type { ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { afterAll, describe, expect, it } from "vitest";
import { generateSelfSigned } from "../src/api/tls.js";
import { startServerProcess } from "./helpers/server-process.js";
import { freePort } from "./helpers/service.js";

const KEY = "tls-test-key";
const children: ChildProcess[] = [];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-tls-"));
afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  fs.rmSync(dir, { recursive: true, force: true });
});

/** The certificate the server presents, checked against `ca` (so a wrong chain fails the handshake). */
function presented(port: number, ca: string): Promise<tls.PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      const cert = socket.getPeerCertificate();
      socket.end();
      resolve(cert);
    });
    socket.once("error", reject);
  });
}

/** An HTTPS GET trusting `ca`; the body as text. */
function httpsGet(port: number, ca: string, route: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: "127.0.0.1", port, ca, servername: "localhost" }, () => {
      socket.write(`GET ${route} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: close\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join("")}\r\n`);
    });
    let raw = "";
    socket.on("data", (d) => (raw += d));
    socket.on("end", () => {
      const status = Number(raw.slice(9, 12));
      resolve({ status, body: raw.slice(raw.indexOf("\r\n\r\n") + 4) });
    });
    socket.once("error", reject);
  });
}

describe("built-in HTTPS with TLS_CERT_FILE and TLS_KEY_FILE", () => {
  it("serves the given certificate, the API over HTTPS, and a renewed certificate after SIGHUP", async () => {
    const first = generateSelfSigned(["localhost", "127.0.0.1"]);
    const second = generateSelfSigned(["localhost", "127.0.0.1"]);
    const certFile = path.join(dir, "cert.pem");
    const keyFile = path.join(dir, "key.pem");
    fs.writeFileSync(certFile, first.cert);
    fs.writeFileSync(keyFile, first.key);
    const port = await freePort();
    const server = await startServerProcess(children, {
      dataDir: path.join(dir, "data"),
      port,
      key: KEY,
      env: { TLS_CERT_FILE: certFile, TLS_KEY_FILE: keyFile },
      ready: async () => {
        try {
          return (await httpsGet(port, first.caCert, "/healthz")).status === 200;
        } catch {
          return false;
        }
      },
    });

    const before = await presented(port, first.caCert);
    expect(before.fingerprint256).toMatch(/^[0-9A-F]{2}(:[0-9A-F]{2}){31}$/);
    // The API answers over HTTPS, and the URLs it hands out are https (PUBLIC_URL's default with TLS on).
    const openapi = await httpsGet(port, first.caCert, "/openapi.json");
    expect(openapi.status).toBe(200);
    expect(openapi.body).toContain(`"servers":[{"url":"https://127.0.0.1:${port}"}]`);
    const submit = await httpsGet(port, first.caCert, "/queue.fal.run/fal-ai/ltx-2.3/requests/00000000-0000-0000-0000-000000000000/status", {
      authorization: `Key ${KEY}`,
    });
    expect(submit.status).toBe(404);
    // Plain HTTP on the same port is not served.
    await expect(fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status)).rejects.toThrow();

    // Renew: new files, SIGHUP, and the next handshake presents the new certificate (chained to its CA).
    fs.writeFileSync(certFile, second.cert);
    fs.writeFileSync(keyFile, second.key);
    server.kill("SIGHUP");
    let after: tls.PeerCertificate | undefined;
    for (const by = Date.now() + 20_000; Date.now() < by; ) {
      try {
        after = await presented(port, second.caCert);
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    expect(after?.fingerprint256).toBeDefined();
    expect(after!.fingerprint256).not.toBe(before.fingerprint256);
    await expect(presented(port, first.caCert)).rejects.toThrow();
    expect(server.exitCode).toBeNull();
  }, 120_000);
});
