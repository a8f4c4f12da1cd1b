// A first-come first-served limit on jobs in flight against the hosted API, so that one engine
// never runs more than LTX_API_CONCURRENCY generations at once whoever calls it.

export interface Slots {
  /** Waits for a free slot; resolves with its release function, rejects with the signal's reason on abort. */
  acquire(signal: AbortSignal): Promise<() => void>;
  inUse(): number;
  waiting(): number;
}

export function createSlots(limit: number): Slots {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`Slot limit must be a positive integer, got ${limit}`);
  let used = 0;
  const queue: { grant: () => void; signal: AbortSignal; onAbort: () => void }[] = [];

  function releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      used -= 1;
      const next = queue.shift();
      if (next) {
        next.signal.removeEventListener("abort", next.onAbort);
        used += 1;
        next.grant();
      }
    };
  }

  return {
    acquire(signal) {
      if (signal.aborted) return Promise.reject(signal.reason);
      if (used < limit && queue.length === 0) {
        used += 1;
        return Promise.resolve(releaser());
      }
      return new Promise((resolve, reject) => {
        const entry = {
          signal,
          grant: () => resolve(releaser()),
          onAbort: () => {
            const i = queue.indexOf(entry);
            if (i >= 0) queue.splice(i, 1);
            reject(signal.reason);
          },
        };
        queue.push(entry);
        signal.addEventListener("abort", entry.onAbort, { once: true });
      });
    },
    inUse: () => used,
    waiting: () => queue.length,
  };
}
