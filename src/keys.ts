// API keys: stored ones (only a SHA-256 hash is kept; the key is shown once at creation) and the
// keys listed in API_KEYS, which are accepted as they are for automation. Each key also has a
// random user id that webhooks are signed with, so receivers never see anything derived from a key.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { Db } from "./db.js";

export interface ApiKeyInfo {
  id: string;
  name: string;
  prefix: string;
  createdAt: number;
  revokedAt: number | null;
  /** Most this key may spend in USD (charged plus queued), or null for no cap. */
  spendCapUsd: number | null;
}

export type KeyStore = ReturnType<typeof createKeyStore>;

/**
 * The stable random id a key's webhooks carry in X-Fal-Webhook-User-Id, made on first use and kept
 * in the database, so it survives restarts and is shared by every process on the same DATA_DIR.
 */
export function webhookUserIdOf(db: Db, keyId: string): string {
  db.prepare("INSERT OR IGNORE INTO webhook_user_ids (key_id, user_id) VALUES (?, ?)").run(keyId, `usr_${randomBytes(16).toString("hex")}`);
  return (db.prepare("SELECT user_id FROM webhook_user_ids WHERE key_id = ?").get(keyId) as { user_id: string }).user_id;
}

const hash = (key: string) => createHash("sha256").update(key, "utf8").digest("hex");

export function createKeyStore({ db, envKeys = [], clock = Date.now }: { db: Db; envKeys?: string[]; clock?: () => number }) {
  const envHashes = envKeys.map((k) => ({ id: `env-${hash(k).slice(0, 12)}`, digest: Buffer.from(hash(k), "hex") }));
  return {
    /** Creates a key; the returned secret is not stored and cannot be shown again. */
    create(name: string, spendCapUsd: number | null = null): { key: string; info: ApiKeyInfo } {
      const id = `key_${randomBytes(6).toString("hex")}`;
      const key = `ltx_${randomBytes(24).toString("base64url")}`;
      const createdAt = clock();
      db.prepare("INSERT INTO api_keys (id, name, key_hash, prefix, created_at, spend_cap_usd) VALUES (?, ?, ?, ?, ?, ?)").run(
        id, name, hash(key), key.slice(0, 8), createdAt, spendCapUsd,
      );
      return { key, info: { id, name, prefix: key.slice(0, 8), createdAt, revokedAt: null, spendCapUsd } };
    },

    /** Sets or clears (null) a key's spend cap; returns whether the key exists. */
    setSpendCap(id: string, spendCapUsd: number | null): boolean {
      return db.prepare("UPDATE api_keys SET spend_cap_usd = ? WHERE id = ?").run(spendCapUsd, id).changes === 1;
    },

    spendCap(id: string): number | null {
      const row = db.prepare("SELECT spend_cap_usd FROM api_keys WHERE id = ?").get(id) as { spend_cap_usd: number | null } | undefined;
      return row?.spend_cap_usd ?? null;
    },

    list(): ApiKeyInfo[] {
      return db
        .prepare<[], { id: string; name: string; prefix: string; created_at: number; revoked_at: number | null; spend_cap_usd: number | null }>(
          "SELECT id, name, prefix, created_at, revoked_at, spend_cap_usd FROM api_keys ORDER BY created_at",
        )
        .all()
        .map((r) => ({ id: r.id, name: r.name, prefix: r.prefix, createdAt: r.created_at, revokedAt: r.revoked_at, spendCapUsd: r.spend_cap_usd }));
    },

    /** Revokes by id or by the full key; returns whether a key was revoked. */
    revoke(idOrKey: string): boolean {
      const info = db
        .prepare("UPDATE api_keys SET revoked_at = ? WHERE (id = ? OR key_hash = ?) AND revoked_at IS NULL")
        .run(clock(), idOrKey, hash(idOrKey));
      return info.changes > 0;
    },

    /** The key id for a presented key, or undefined. */
    authenticate(key: string): string | undefined {
      if (!key) return undefined;
      const digest = Buffer.from(hash(key), "hex");
      for (const k of envHashes) if (timingSafeEqual(k.digest, digest)) return k.id;
      const row = db.prepare("SELECT id FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL").get(hash(key)) as { id: string } | undefined;
      return row?.id;
    },

    /** The user id this key's webhooks are signed with (see webhookUserIdOf). */
    webhookUserId: (keyId: string): string => webhookUserIdOf(db, keyId),

    count(): number {
      return (db.prepare("SELECT COUNT(*) AS n FROM api_keys WHERE revoked_at IS NULL").get() as { n: number }).n + envHashes.length;
    },
  };
}
