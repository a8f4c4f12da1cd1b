// Decides whether a submit becomes a new request: Idempotency-Key replays, duplicate detection
// for clients that retry without a key, per-key rate limit, queued-request cap and spend cap.
import { createHash } from "node:crypto";
import type { Config } from "../config.js";
import { priceOf, type EndpointDef, type VideoInput } from "../endpoints.js";
import { InputError, RateLimitedError, SpendCapError } from "../errors.js";
import type { KeyStore } from "../keys.js";
import type { RequestStore, StoredRequest } from "./store.js";

/** JSON with object keys sorted, so equal bodies hash equally whatever their key order. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value) ?? "null";
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
}

export function submitHash(endpoint: string, body: unknown, falHeaders: Record<string, string>, webhook: string | null): string {
  return createHash("sha256").update(canonicalJson({ endpoint, body, headers: falHeaders, webhook })).digest("hex");
}

/** Sliding one-minute window of submit times per key (per process). */
class RateLimiter {
  private readonly hits = new Map<string, number[]>();
  constructor(private readonly perMinute: number) {}
  /** Seconds to wait, or 0 when this hit is allowed (and recorded). */
  take(keyId: string, now: number): number {
    if (this.perMinute <= 0) return 0;
    const recent = (this.hits.get(keyId) ?? []).filter((t) => t > now - 60_000);
    if (recent.length >= this.perMinute) {
      this.hits.set(keyId, recent);
      return Math.max(1, Math.ceil((recent[0] + 60_000 - now) / 1000));
    }
    recent.push(now);
    this.hits.set(keyId, recent);
    return 0;
  }
}

export type Admission = { kind: "new" } | { kind: "replay"; request: StoredRequest };

export function createAdmission({ config, store, keys, clock = Date.now }: { config: Config; store: RequestStore; keys: KeyStore; clock?: () => number }) {
  const limiter = new RateLimiter(config.rateLimitPerMinute);
  return {
    /**
     * Replays: a repeated Idempotency-Key with the same body returns the original (a different body is
     * 422); without a key, an identical submit within DEDUPE_WINDOW_SECONDS returns the newest identical
     * request that is queued, running or succeeded. Otherwise checks limits before a new request is made.
     * The answer holds only while the caller keeps the write lock (store.atomically) until it inserts;
     * `countHit: false` repeats the check without counting another submit against the rate limit.
     */
    admit(
      opts: { keyId: string; endpoint: EndpointDef; input: VideoInput; idempotencyKey: string | null; bodyHash: string },
      { countHit = true }: { countHit?: boolean } = {},
    ): Admission {
      const now = clock();
      if (opts.idempotencyKey) {
        const existing = store.findByIdempotencyKey(opts.keyId, opts.idempotencyKey);
        if (existing) {
          if (existing.bodyHash !== opts.bodyHash) {
            throw new InputError([
              { loc: ["header", "idempotency-key"], msg: "This Idempotency-Key was used with a different request body", type: "idempotency_key_reused" },
            ]);
          }
          return { kind: "replay", request: existing };
        }
      } else if (config.dedupeWindowSeconds > 0) {
        const dup = store.findRecentDuplicate(opts.keyId, opts.bodyHash, now - config.dedupeWindowSeconds * 1000);
        if (dup) return { kind: "replay", request: dup };
      }
      const wait = countHit ? limiter.take(opts.keyId, now) : 0;
      if (wait > 0) throw new RateLimitedError(`Rate limit of ${config.rateLimitPerMinute} submits per minute reached for this key`, wait);
      if (config.maxQueuedPerKey > 0 && store.countQueuedForKey(opts.keyId) >= config.maxQueuedPerKey) {
        throw new RateLimitedError(`This key already has ${config.maxQueuedPerKey} queued requests; wait for some to start`, 10);
      }
      const cap = keys.spendCap(opts.keyId);
      if (cap !== null) {
        const price = priceOf(opts.endpoint, opts.input);
        const committed = store.committedSpend(opts.keyId);
        if (committed + price > cap + 1e-9) {
          throw new SpendCapError(
            `Spend cap of $${cap.toFixed(2)} would be exceeded: $${committed.toFixed(2)} charged or queued, this request costs $${price.toFixed(2)}`,
          );
        }
      }
      return { kind: "new" };
    },
  };
}

export type AdmissionControl = ReturnType<typeof createAdmission>;
