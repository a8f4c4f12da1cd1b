// Deletes stored files whose time is up (RETENTION_SECONDS, or the request's
// x-fal-object-lifecycle-preference) and marks the requests whose output went with them; also
// removes the work folders of render attempts that no longer run.
import fsp from "node:fs/promises";
import path from "node:path";
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

/**
 * Removes DATA_DIR/work/<request id>-<attempt> folders of attempts that no longer run (a killed
 * process leaves them behind): kept only while that request is running that same attempt.
 */
export async function sweepWorkDirs(db: Db, workRoot: string): Promise<number> {
  const entries = await fsp.readdir(workRoot).catch(() => [] as string[]);
  const stateOf = db.prepare<[string], { state: string; attempts: number }>("SELECT state, attempts FROM requests WHERE id = ?");
  let removed = 0;
  for (const name of entries) {
    const dash = name.lastIndexOf("-");
    const row = dash > 0 ? stateOf.get(name.slice(0, dash)) : undefined;
    if (row && row.state === "running" && String(row.attempts) === name.slice(dash + 1)) continue;
    await fsp.rm(path.join(workRoot, name), { recursive: true, force: true }).catch(() => undefined);
    removed++;
  }
  return removed;
}

export function createRetentionSweeper({ db, files, log, intervalMs, clock = Date.now, workRoot }: { db: Db; files: FileStore; log: Logger; intervalMs: number; clock?: () => number; workRoot?: string }) {
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
      if (workRoot) {
        const stale = await sweepWorkDirs(db, workRoot);
        if (stale) log.info({ count: stale }, "removed work folders of attempts that no longer run");
      }
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
