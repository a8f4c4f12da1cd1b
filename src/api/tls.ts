// Built-in HTTPS: the certificate and key from TLS_CERT_FILE/TLS_KEY_FILE, or with TLS=self-signed a
// local CA and a server certificate (localhost, 127.0.0.1 and PUBLIC_URL's host) made once under
// DATA_DIR/tls/; re-reading the files on SIGHUP; and the exact environment fal_client needs to call us.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import forge from "node-forge";
import type { Config } from "../config.js";

export interface TlsMaterial {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
  /** The private CA that signed cert (TLS=self-signed only): what clients put in SSL_CERT_FILE. */
  caFile?: string;
}

/** Host names (and IPs) the self-signed certificate covers. */
export function selfSignedNames(publicUrl: string): string[] {
  const names = ["localhost", "127.0.0.1"];
  try {
    const host = new URL(publicUrl).hostname.replace(/^\[|\]$/g, "");
    if (host && !names.includes(host)) names.push(host);
  } catch {
    // PUBLIC_URL is checked elsewhere.
  }
  return names;
}

function serial(): string {
  // Positive, 16 bytes: the high bit clear so it is not read as negative.
  const b = randomBytes(16);
  b[0] &= 0x7f;
  return b.toString("hex");
}

function altNames(names: string[]): { type: number; value?: string; ip?: string }[] {
  return names.map((n) => (net.isIP(n) ? { type: 7, ip: n } : { type: 2, value: n }));
}

/** Makes a CA and a server certificate it signs (RSA 2048, SHA-256, AKI/SKI set for strict X.509 checks). */
export function generateSelfSigned(names: string[]): { caCert: string; caKey: string; cert: string; key: string } {
  const now = new Date(Date.now() - 60_000);
  const caKeys = forge.pki.rsa.generateKeyPair(2048);
  const ca = forge.pki.createCertificate();
  ca.publicKey = caKeys.publicKey;
  ca.serialNumber = serial();
  ca.validity.notBefore = now;
  ca.validity.notAfter = new Date(now.getTime() + 10 * 365 * 86400_000);
  const caName = [{ name: "commonName", value: "ltx-serve local CA" }, { name: "organizationName", value: "ltx-serve" }];
  ca.setSubject(caName);
  ca.setIssuer(caName);
  ca.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: true },
  ]);
  ca.sign(caKeys.privateKey, forge.md.sha256.create());

  const keys = forge.pki.rsa.generateKeyPair(2048);
  const leaf = forge.pki.createCertificate();
  leaf.publicKey = keys.publicKey;
  leaf.serialNumber = serial();
  leaf.validity.notBefore = now;
  // 825 days: the longest validity Apple's clients accept for a server certificate.
  leaf.validity.notAfter = new Date(now.getTime() + 825 * 86400_000);
  leaf.setSubject([{ name: "commonName", value: names[0] }]);
  leaf.setIssuer(caName);
  leaf.setExtensions([
    { name: "basicConstraints", cA: false, critical: true },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    { name: "subjectAltName", altNames: altNames(names) },
    { name: "subjectKeyIdentifier" },
    { name: "authorityKeyIdentifier", keyIdentifier: ca.generateSubjectKeyIdentifier().getBytes() },
  ]);
  leaf.sign(caKeys.privateKey, forge.md.sha256.create());
  return {
    caCert: forge.pki.certificateToPem(ca),
    caKey: forge.pki.privateKeyToPem(caKeys.privateKey),
    cert: forge.pki.certificateToPem(leaf),
    key: forge.pki.privateKeyToPem(keys.privateKey),
  };
}

/** Names in an existing certificate's subjectAltName (to notice a changed PUBLIC_URL host). */
function certNames(pem: string): string[] {
  try {
    const ext = forge.pki.certificateFromPem(pem).getExtension("subjectAltName") as { altNames?: { value?: string; ip?: string }[] } | undefined;
    return (ext?.altNames ?? []).map((a) => a.ip ?? a.value ?? "");
  } catch {
    return [];
  }
}

/** The TLS files for this configuration, generating the self-signed set when needed; undefined when TLS is off. */
export function loadTls(config: Pick<Config, "tls" | "tlsCertFile" | "tlsKeyFile" | "dataDir" | "publicUrl">): TlsMaterial | undefined {
  if (config.tlsCertFile || config.tlsKeyFile) {
    if (!config.tlsCertFile || !config.tlsKeyFile) throw new Error("TLS_CERT_FILE and TLS_KEY_FILE must be set together");
    return { cert: fs.readFileSync(config.tlsCertFile, "utf8"), key: fs.readFileSync(config.tlsKeyFile, "utf8"), certFile: config.tlsCertFile, keyFile: config.tlsKeyFile };
  }
  if (config.tls !== "self-signed") return undefined;
  const dir = path.join(config.dataDir, "tls");
  const files = { caFile: path.join(dir, "ca.pem"), caKey: path.join(dir, "ca-key.pem"), certFile: path.join(dir, "cert.pem"), keyFile: path.join(dir, "key.pem") };
  const names = selfSignedNames(config.publicUrl);
  const existing = fs.existsSync(files.certFile) && fs.existsSync(files.keyFile) && fs.existsSync(files.caFile) ? fs.readFileSync(files.certFile, "utf8") : undefined;
  if (!existing || !names.every((n) => certNames(existing).includes(n))) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const made = generateSelfSigned(names);
    // The CA is kept only if it exists already, so clients that trust it keep working.
    let caCert = made.caCert;
    let caKey = made.caKey;
    if (fs.existsSync(files.caFile) && fs.existsSync(files.caKey)) {
      caCert = fs.readFileSync(files.caFile, "utf8");
      caKey = fs.readFileSync(files.caKey, "utf8");
      const leaf = forge.pki.certificateFromPem(made.cert);
      const caCertObj = forge.pki.certificateFromPem(caCert);
      leaf.setIssuer(caCertObj.subject.attributes);
      leaf.setExtensions(
        leaf.extensions.map((e: { name: string }) =>
          e.name === "authorityKeyIdentifier" ? { name: "authorityKeyIdentifier", keyIdentifier: caCertObj.generateSubjectKeyIdentifier().getBytes() } : e,
        ),
      );
      leaf.sign(forge.pki.privateKeyFromPem(caKey), forge.md.sha256.create());
      made.cert = forge.pki.certificateToPem(leaf);
    }
    fs.writeFileSync(files.caFile, caCert);
    fs.writeFileSync(files.caKey, caKey, { mode: 0o600 });
    fs.writeFileSync(files.keyFile, made.key, { mode: 0o600 });
    fs.writeFileSync(files.certFile, made.cert);
  }
  return { cert: fs.readFileSync(files.certFile, "utf8"), key: fs.readFileSync(files.keyFile, "utf8"), certFile: files.certFile, keyFile: files.keyFile, caFile: files.caFile };
}

/** host:port (plus any sub-path) of a URL, as fal_client's FAL_*_HOST variables want it. */
function hostAndPath(publicUrl: string): string {
  const u = new URL(publicUrl);
  return `${u.host}${u.pathname.replace(/\/+$/, "")}`;
}

/** The environment fal_client (Python) needs for this server, in `export` lines. */
export function pythonClientEnv(opts: { publicUrl: string; caFile?: string; key?: string }): string[] {
  const base = hostAndPath(opts.publicUrl);
  const lines = [
    `export FAL_KEY=${opts.key ?? "<your key>"}`,
    `export FAL_RUN_HOST=${base}/fal.run`,
    `export FAL_QUEUE_RUN_HOST=${base}/queue.fal.run`,
  ];
  if (opts.caFile) lines.push(`export SSL_CERT_FILE=${opts.caFile}`);
  return lines;
}

/** Banner lines for TLS: where the CA is and the Python client's environment. */
export function tlsBanner(opts: { publicUrl: string; tls?: TlsMaterial; key?: string }): string[] {
  if (!opts.tls) return [];
  const lines = ["", `TLS: serving HTTPS with ${opts.tls.certFile} (reloaded on SIGHUP)`];
  if (opts.tls.caFile) lines.push(`  local CA    ${opts.tls.caFile} (trust it, or point SSL_CERT_FILE at it)`);
  lines.push("Python fal_client, set before `import fal_client`:", ...pythonClientEnv({ publicUrl: opts.publicUrl, caFile: opts.tls.caFile, key: opts.key }).map((l) => `  ${l}`));
  lines.push(`  uploads: import fal_client.client as fc; fc.REST_URL = "${opts.publicUrl}/rest.fal.ai"; fc.CDN_URL = "${opts.publicUrl}/v3.fal.media"`);
  return lines;
}
