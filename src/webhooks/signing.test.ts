// Signing keys on disk, the JWKS, and signatures checked with node:crypto from the JWKS alone.
import { createHash, createPublicKey, verify } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createSigningKeyStore, signWebhook, verifyWebhook, webhookKeyDir, WebhookKeyError } from "./signing.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-webhook-keys-"));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A receiver's check written straight from fal-wire-protocol.md section 8, independent of verifyWebhook. */
function verifiesWithJwks(jwks: { keys: object[] }, headers: Record<string, string>, body: Buffer): boolean {
  const digest = createHash("sha256").update(body).digest("hex");
  const message = Buffer.from(
    [headers["x-fal-webhook-request-id"], headers["x-fal-webhook-user-id"], headers["x-fal-webhook-timestamp"], digest].join("\n"),
    "utf8",
  );
  return jwks.keys.some((jwk) =>
    verify(null, message, createPublicKey({ key: jwk as never, format: "jwk" }), Buffer.from(headers["x-fal-webhook-signature"], "hex")),
  );
}

describe("webhook signing keys", () => {
  it("creates one Ed25519 key on first use, private to the owner, and keeps it across reopenings", () => {
    const dataDir = tempDir();
    const first = createSigningKeyStore({ dataDir }).active();
    const files = fs.readdirSync(webhookKeyDir(dataDir));
    expect(files).toEqual([`${first.kid}.pem`]);
    expect(fs.statSync(path.join(webhookKeyDir(dataDir), files[0])).mode & 0o777).toBe(0o600);
    expect(fs.statSync(webhookKeyDir(dataDir)).mode & 0o777).toBe(0o700);
    expect(first.privateKey.asymmetricKeyType).toBe("ed25519");
    expect(createSigningKeyStore({ dataDir }).active().kid).toBe(first.kid);
  });

  it("publishes a JWKS of OKP/Ed25519 keys with a 32-byte x, kid, alg and use", () => {
    const jwks = createSigningKeyStore({ dataDir: tempDir() }).jwks();
    expect(jwks.keys).toHaveLength(1);
    const [k] = jwks.keys;
    expect(Object.keys(k).sort()).toEqual(["alg", "crv", "kid", "kty", "use", "x"]);
    expect(k).toMatchObject({ kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig" });
    expect(Buffer.from(k.x, "base64url")).toHaveLength(32);
  });

  it("signs request_id, user_id, timestamp and the body's SHA-256 so that the JWKS alone verifies it", () => {
    const store = createSigningKeyStore({ dataDir: tempDir() });
    const body = Buffer.from(JSON.stringify({ request_id: "r1", status: "OK", payload: { video: { url: "http://x/v.mp4" } } }));
    const headers = signWebhook(store.active(), { requestId: "r1", userId: "key_abc", body, timestampSeconds: 1_700_000_000 });
    expect(headers).toMatchObject({
      "content-type": "application/json",
      "x-fal-webhook-request-id": "r1",
      "x-fal-webhook-user-id": "key_abc",
      "x-fal-webhook-timestamp": "1700000000",
    });
    expect(headers["x-fal-webhook-signature"]).toMatch(/^[0-9a-f]{128}$/);
    expect(verifiesWithJwks(store.jwks(), headers, body)).toBe(true);
    expect(verifiesWithJwks(store.jwks(), headers, Buffer.concat([body, Buffer.from(" ")]))).toBe(false);
    expect(verifiesWithJwks(store.jwks(), { ...headers, "x-fal-webhook-user-id": "key_other" }, body)).toBe(false);
    expect(verifiesWithJwks(store.jwks(), { ...headers, "x-fal-webhook-timestamp": "1700000001" }, body)).toBe(false);
  });

  it("verifyWebhook accepts a fresh signature and names what is wrong with a stale, altered or foreign one", () => {
    const store = createSigningKeyStore({ dataDir: tempDir() });
    const body = Buffer.from('{"request_id":"r2"}');
    const now = 1_800_000_000;
    const headers = signWebhook(store.active(), { requestId: "r2", userId: "u", body, timestampSeconds: now });
    expect(verifyWebhook(store.jwks(), headers, body, now + 10)).toBeNull();
    expect(verifyWebhook(store.jwks(), headers, body, now + 301)).toMatch(/timestamp/);
    expect(verifyWebhook(store.jwks(), headers, Buffer.from('{"request_id":"r3"}'), now)).toMatch(/no key/);
    expect(verifyWebhook(createSigningKeyStore({ dataDir: tempDir() }).jwks(), headers, body, now)).toMatch(/no key/);
    expect(verifyWebhook(store.jwks(), { ...headers, "x-fal-webhook-signature": undefined }, body, now)).toMatch(/missing/);
  });

  it("rotates: the new key signs, the old one stays published, and a store opened earlier sees the change", () => {
    const dataDir = tempDir();
    const serverSide = createSigningKeyStore({ dataDir });
    const old = serverSide.active();
    const body = Buffer.from("{}");
    const oldHeaders = signWebhook(old, { requestId: "r", userId: "u", body, timestampSeconds: 1 });

    const rotated = createSigningKeyStore({ dataDir }).rotate();
    expect(rotated.kid).not.toBe(old.kid);
    expect(serverSide.active().kid).toBe(rotated.kid);
    const jwks = serverSide.jwks();
    expect(jwks.keys.map((k) => k.kid)).toEqual([rotated.kid, old.kid]);
    expect(verifiesWithJwks(jwks, oldHeaders, body)).toBe(true);
    expect(verifiesWithJwks(jwks, signWebhook(serverSide.active(), { requestId: "r", userId: "u", body, timestampSeconds: 2 }), body)).toBe(true);
  });

  it("makes each rotated key the signing key even when rotations fall in the same millisecond", () => {
    const store = createSigningKeyStore({ dataDir: tempDir(), clock: () => 1_700_000_000_000 });
    const made = [store.active().kid];
    for (let i = 0; i < 5; i++) {
      made.push(store.rotate().kid);
      expect(store.active().kid).toBe(made.at(-1));
    }
    expect(store.jwks().keys.map((k) => k.kid)).toEqual([...made].reverse());
  });

  it("retires an older key but refuses to retire the signing key", () => {
    const store = createSigningKeyStore({ dataDir: tempDir() });
    const old = store.active();
    const current = store.rotate();
    expect(() => store.retire(current.kid)).toThrow(WebhookKeyError);
    expect(store.retire(old.kid)).toBe(true);
    expect(store.retire(old.kid)).toBe(false);
    expect(store.jwks().keys.map((k) => k.kid)).toEqual([current.kid]);
  });

  it("refuses to sign with a key file that is not an Ed25519 private key", () => {
    const dataDir = tempDir();
    const store = createSigningKeyStore({ dataDir });
    const { kid } = store.active();
    const other = createSigningKeyStore({ dataDir });
    fs.writeFileSync(path.join(webhookKeyDir(dataDir), `${kid}.pem`), "not a key");
    expect(() => other.active()).toThrow(WebhookKeyError);
  });
});
