// Ed25519 webhook signing (fal-wire-protocol.md section 8): key pairs kept as PEM files under
// DATA_DIR/webhook-keys, rotation that keeps old public keys published, the JWKS, and the headers.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, type KeyObject } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

export const WEBHOOK_REQUEST_ID_HEADER = "x-fal-webhook-request-id";
export const WEBHOOK_USER_ID_HEADER = "x-fal-webhook-user-id";
export const WEBHOOK_TIMESTAMP_HEADER = "x-fal-webhook-timestamp";
export const WEBHOOK_SIGNATURE_HEADER = "x-fal-webhook-signature";
/** Path of the public key set; receivers are configured with `${PUBLIC_URL}${JWKS_PATH}`. */
export const JWKS_PATH = "/.well-known/jwks.json";
/** Largest clock difference a receiver should accept, in seconds (fal-wire-protocol.md section 8). */
export const TIMESTAMP_TOLERANCE_SECONDS = 300;

const KEY_DIR = "webhook-keys";
/** Key ids start with a UTC time stamp, so sorting the ids sorts the keys by age. */
const KEY_FILE = /^(whk_\d{8}T\d{9}Z_[0-9a-f]{6})\.pem$/;

/** A key file that cannot be read or parsed; the service refuses to sign rather than guess. */
export class WebhookKeyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "WebhookKeyError";
  }
}

export interface SigningKey {
  /** Key id, also the file name without `.pem`; published as the JWK's `kid`. */
  kid: string;
  privateKey: KeyObject;
  publicKey: KeyObject;
}

export interface WebhookJwk {
  kty: "OKP";
  crv: "Ed25519";
  /** base64url of the 32-byte public key. */
  x: string;
  kid: string;
  alg: "EdDSA";
  use: "sig";
}

export interface Jwks {
  keys: WebhookJwk[];
}

export type SigningKeyStore = ReturnType<typeof createSigningKeyStore>;

export function webhookKeyDir(dataDir: string): string {
  return path.join(dataDir, KEY_DIR);
}

/** The creation time written into a key id, in epoch ms. */
function kidTime(kid: string): number {
  const m = /^whk_(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})(\d{3})Z_/.exec(kid);
  return m ? Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}.${m[7]}Z`) : 0;
}

function newKid(now: number): string {
  const stamp = new Date(now).toISOString().replace(/[-:]/g, "").replace(".", ""); // 20250101T120000123Z
  return `whk_${stamp}_${randomBytes(3).toString("hex")}`;
}

/**
 * The key pairs in DATA_DIR/webhook-keys. The newest key signs; every key in the folder is
 * published. The folder is re-listed on each use, so a `webhooks rotate-key` run by another
 * process takes effect without a restart. A first key is made when the folder has none.
 */
export function createSigningKeyStore({ dataDir, clock = Date.now }: { dataDir: string; clock?: () => number }) {
  const dir = webhookKeyDir(dataDir);
  const parsed = new Map<string, SigningKey>();

  function kids(): string[] {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw new WebhookKeyError(`cannot list webhook keys in ${dir}: ${(err as Error).message}`, { cause: err });
    }
    return names
      .map((n) => KEY_FILE.exec(n)?.[1])
      .filter((k): k is string => k !== undefined)
      .sort();
  }

  function load(kid: string): SigningKey {
    const cached = parsed.get(kid);
    if (cached) return cached;
    const file = path.join(dir, `${kid}.pem`);
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey(fs.readFileSync(file, "utf8"));
    } catch (err) {
      throw new WebhookKeyError(`cannot read webhook signing key ${file}: ${(err as Error).message}`, { cause: err });
    }
    if (privateKey.asymmetricKeyType !== "ed25519") {
      throw new WebhookKeyError(`webhook signing key ${file} is ${privateKey.asymmetricKeyType}, not Ed25519`);
    }
    const key = { kid, privateKey, publicKey: createPublicKey(privateKey) };
    parsed.set(kid, key);
    return key;
  }

  /** Writes a new key file (0600, in a 0700 folder) atomically: readers never see half a key. */
  function create(): SigningKey {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    // Strictly later than the newest key, so that the new key sorts last even within one millisecond.
    const newest = kids().at(-1);
    const kid = newKid(Math.max(clock(), newest === undefined ? 0 : kidTime(newest) + 1));
    const { privateKey } = generateKeyPairSync("ed25519");
    const pem = privateKey.export({ format: "pem", type: "pkcs8" }) as string;
    const tmp = path.join(dir, `.${kid}.pem.tmp`);
    fs.writeFileSync(tmp, pem, { mode: 0o600, flag: "wx" });
    fs.renameSync(tmp, path.join(dir, `${kid}.pem`));
    return load(kid);
  }

  function all(): SigningKey[] {
    let list = kids();
    if (list.length === 0) {
      create();
      list = kids();
    }
    return list.reverse().map(load);
  }

  return {
    /** Every published key, newest (the signing key) first. */
    all,

    /** The key that signs: the newest. */
    active(): SigningKey {
      return all()[0];
    },

    /** Adds a new key that signs from now on; older keys stay published until retired. */
    rotate(): SigningKey {
      all();
      return create();
    },

    /** Removes an older key from the set; the signing key cannot be retired. Returns whether it existed. */
    retire(kid: string): boolean {
      const list = kids();
      if (!list.includes(kid)) return false;
      if (list[list.length - 1] === kid) throw new WebhookKeyError(`${kid} is the signing key; rotate first, then retire it`);
      fs.rmSync(path.join(dir, `${kid}.pem`));
      parsed.delete(kid);
      return true;
    },

    /** The public key set served at JWKS_PATH. */
    jwks(): Jwks {
      return { keys: all().map(toJwk) };
    },
  };
}

export function toJwk(key: Pick<SigningKey, "kid" | "publicKey">): WebhookJwk {
  const jwk = key.publicKey.export({ format: "jwk" }) as { kty: string; crv: string; x: string };
  return { kty: "OKP", crv: "Ed25519", x: jwk.x, kid: key.kid, alg: "EdDSA", use: "sig" };
}

/** The signed message: `request_id\nuser_id\ntimestamp\nhex(sha256(body))`, UTF-8. */
export function signatureMessage(requestId: string, userId: string, timestamp: string, body: Uint8Array): Buffer {
  const digest = createHash("sha256").update(body).digest("hex");
  return Buffer.from(`${requestId}\n${userId}\n${timestamp}\n${digest}`, "utf8");
}

export interface WebhookSignatureInput {
  requestId: string;
  /** Owner of the request: the API key id (fal-wire-protocol.md section 8: "key owner or a configured id"). */
  userId: string;
  /** The exact bytes that will be sent. */
  body: Uint8Array;
  /** Unix time in seconds; fresh for every attempt. */
  timestampSeconds: number;
}

/** The four X-Fal-Webhook-* headers plus Content-Type for one delivery attempt. */
export function signWebhook(key: Pick<SigningKey, "privateKey">, input: WebhookSignatureInput): Record<string, string> {
  const timestamp = String(Math.floor(input.timestampSeconds));
  const signature = sign(null, signatureMessage(input.requestId, input.userId, timestamp, input.body), key.privateKey);
  return {
    "content-type": "application/json",
    [WEBHOOK_REQUEST_ID_HEADER]: input.requestId,
    [WEBHOOK_USER_ID_HEADER]: input.userId,
    [WEBHOOK_TIMESTAMP_HEADER]: timestamp,
    [WEBHOOK_SIGNATURE_HEADER]: signature.toString("hex"),
  };
}

/**
 * What a receiver does (and what docs/webhooks.md shows): checks the timestamp window, then tries
 * every key of the JWKS, since the headers name no key. Returns why it failed, or null when valid.
 */
export function verifyWebhook(
  jwks: { keys: { kty?: string; crv?: string; x?: string }[] },
  headers: Record<string, string | string[] | undefined>,
  body: Uint8Array,
  nowSeconds = Date.now() / 1000,
): string | null {
  const one = (name: string) => {
    const v = headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const requestId = one(WEBHOOK_REQUEST_ID_HEADER);
  const userId = one(WEBHOOK_USER_ID_HEADER);
  const timestamp = one(WEBHOOK_TIMESTAMP_HEADER);
  const signatureHex = one(WEBHOOK_SIGNATURE_HEADER);
  if (!requestId || !userId || !timestamp || !signatureHex) return "missing X-Fal-Webhook-* header";
  if (!/^\d+$/.test(timestamp) || Math.abs(nowSeconds - Number(timestamp)) > TIMESTAMP_TOLERANCE_SECONDS) return "timestamp outside the 300 s window";
  if (!/^[0-9a-f]{128}$/i.test(signatureHex)) return "signature is not 64 bytes of hex";
  const message = signatureMessage(requestId, userId, timestamp, body);
  const signature = Buffer.from(signatureHex, "hex");
  for (const jwk of jwks.keys) {
    if (jwk.kty !== "OKP" || jwk.crv !== "Ed25519" || !jwk.x) continue;
    const publicKey = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: jwk.x }, format: "jwk" });
    if (verify(null, message, publicKey, signature)) return null;
  }
  return "no key of the set verifies the signature";
}
