// Deletes stored files whose time is up (RETENTION_SECONDS, or the request's
// x-fal-object-lifecycle-preference) and marks the requests whose output went with them.
import type { Logger } from "pino";
import type { Db } from "../db.js";
import type { FileStore } from "./files.js";

/** Expiry of a new output: the lifecycle preference's expiration_duration_seconds, else the retention. */
export function outputExpiry(lifecycleHeader: string | undefined, retentionSeconds: number, now: number): number {
  if (lifecycleHeader) {
    try {
      const seconds = (JSON.parse(lifecycleHeader) as { expiration_duration_seconds?: unknown }).expiration_duration_seconds;
      if (typeof seconds === "number" && seconds > 0) return now + seconds * 1000;
    } catch {
      // An unreadable preference falls back to the default retention.
    }
  }
  return now + retentionSeconds * 1000;
}

export function createRetentionSweeper({ db, files, log, intervalMs, clock = Date.now }: { db: Db; files: FileStore; log: Logger; intervalMs: number; clock?: () => number }) {
  let timer: NodeJS.Timeout | undefined;
  let running = false;
  const markRequests = db.prepare(
    "UPDATE requests SET files_expired_at = ? WHERE (output_file_id = ? OR thumbnail_file_id = ?) AND files_expired_at IS NULL",
  );
  async function sweep(): Promise<number> {
    if (running) return 0;
    running = true;
    try {
      const now = clock();
      const expired = files.listExpired(now);
      for (const f of expired) {
        await files.remove(f.id);
        markRequests.run(now, f.id, f.id);
      }
      if (expired.length) log.info({ count: expired.length }, "deleted expired files");
      return expired.length;
    } finally {
      running = false;
    }
  }
  return {
    sweep,
    start() {
      void sweep().catch((err) => log.error({ err }, "retention sweep failed"));
      timer = setInterval(() => void sweep().catch((err) => log.error({ err }, "retention sweep failed")), intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
    },
  };
}
