// Unit tests of Retry-After parsing, backoff and abortable sleeps.
import { describe, expect, it } from "vitest";
import { MAX_SINGLE_WAIT_MS, backoffDelay, parseRetryAfter, sleep } from "./retry.js";

describe("retry rules", () => {
  it("reads Retry-After as seconds or as an HTTP date", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter("0.5")).toBe(500);
    const now = Date.parse("2026-01-01T00:00:00Z");
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:07 GMT", now)).toBe(7000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:59:00 GMT", now)).toBe(0);
  });

  it("ignores a missing or unreadable Retry-After", () => {
    for (const v of [null, undefined, "", "soon"]) expect(parseRetryAfter(v)).toBeUndefined();
  });

  it("doubles the wait each attempt and adds at most 20 % jitter", () => {
    expect([1, 2, 3, 4].map((n) => backoffDelay(n, { baseMs: 100, random: () => 0 }))).toEqual([100, 200, 400, 800]);
    expect(backoffDelay(1, { baseMs: 100, random: () => 1 })).toBe(120);
  });

  it("never waits less than Retry-After, and never more than the single-wait cap", () => {
    expect(backoffDelay(1, { baseMs: 100, retryAfterMs: 5000, random: () => 0 })).toBe(5000);
    expect(backoffDelay(30, { baseMs: 1000, random: () => 0 })).toBe(MAX_SINGLE_WAIT_MS);
    expect(backoffDelay(1, { baseMs: 10, retryAfterMs: 10 * MAX_SINGLE_WAIT_MS, random: () => 0 })).toBe(MAX_SINGLE_WAIT_MS);
  });

  it("ends a sleep with the abort reason as soon as the signal fires", async () => {
    const controller = new AbortController();
    const reason = new Error("stop");
    const pending = sleep(60_000, controller.signal);
    controller.abort(reason);
    await expect(pending).rejects.toBe(reason);
    await expect(sleep(10, controller.signal)).rejects.toBe(reason);
  });
});
