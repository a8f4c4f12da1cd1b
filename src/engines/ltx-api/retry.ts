// Waiting rules for calls to the hosted LTX API: Retry-After parsing, exponential backoff with
// jitter (ltx-hosted-api.md 1.7: "exponential backoff with jitter, honour Retry-After"), abortable sleeps.

/** Longest single wait between two attempts, whatever Retry-After says, in ms. */
export const MAX_SINGLE_WAIT_MS = 120_000;

/**
 * Parses a Retry-After header: delay-seconds or an HTTP date (RFC 9110 10.2.3).
 * Returns ms to wait, or undefined when absent or unreadable.
 */
export function parseRetryAfter(header: string | null | undefined, now = Date.now()): number | undefined {
  if (header === null || header === undefined) return undefined;
  const raw = header.trim();
  if (raw === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.round(Number(raw) * 1000);
  const at = Date.parse(raw);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}

/**
 * Wait before attempt number `attempt` + 1 (attempt counts from 1): base x 2^(attempt-1), capped,
 * never below Retry-After, plus up to 20 % jitter on top so that parallel jobs do not retry in step.
 */
export function backoffDelay(attempt: number, opts: { baseMs: number; retryAfterMs?: number; random?: () => number }): number {
  const exponential = Math.min(MAX_SINGLE_WAIT_MS, opts.baseMs * 2 ** Math.max(0, attempt - 1));
  const floor = Math.min(MAX_SINGLE_WAIT_MS, Math.max(exponential, opts.retryAfterMs ?? 0));
  const jitter = floor * 0.2 * (opts.random ?? Math.random)();
  return Math.round(floor + jitter);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it is aborted. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
