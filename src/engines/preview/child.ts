// Entry point of the preview engine's child process: receives one job over IPC, makes the MP4 and
// reports progress, logs and the result back. If the parent goes away, ffmpeg is killed and we exit.
import { renderPreview, type PreviewSpec } from "./render.js";
import { warmUp } from "./warm-up.js";

/** Messages from the parent. */
export type ToChild = { type: "job"; spec: PreviewSpec };

/** Messages to the parent. */
export type FromChild =
  | { type: "ready" }
  | { type: "progress"; stage: string; step: number; total: number }
  | { type: "log"; level: "DEBUG" | "INFO" | "WARN" | "ERROR"; message: string }
  | { type: "done"; metrics: Record<string, number | string> }
  | { type: "error"; message: string };

// glibc read these when this process started (see CHILD_MALLOC_ENV); ffmpeg must not inherit them.
delete process.env.MALLOC_MMAP_THRESHOLD_;
delete process.env.MALLOC_ARENA_MAX;

if (!process.send) {
  console.error("preview child must be started with an IPC channel (child_process.fork)");
  process.exit(2);
}

const aborter = new AbortController();
const send = (msg: FromChild) =>
  new Promise<void>((resolve) => {
    if (!process.connected) return resolve();
    process.send!(msg, undefined, {}, () => resolve());
  });

// Parent gone (crashed or killed us off the channel): stop ffmpeg and leave.
process.on("disconnect", () => {
  aborter.abort(new Error("parent disconnected"));
  setTimeout(() => process.exit(1), 200).unref();
});

// Modules are loaded and the hot code compiled: tell the parent this (possibly pre-started) child can
// take a job at once. A job message that arrives meanwhile waits in the channel.
warmUp();
void send({ type: "ready" });

process.once("message", (msg: ToChild) => {
  if (msg?.type !== "job") return;
  renderPreview(
    msg.spec,
    {
      progress: (stage, step, total) => void send({ type: "progress", stage, step, total }),
      log: (level, message) => void send({ type: "log", level, message }),
    },
    aborter.signal,
  ).then(
    async (metrics) => {
      await send({ type: "done", metrics: { ...metrics } });
      process.exit(0);
    },
    async (err: unknown) => {
      await send({ type: "error", message: err instanceof Error ? err.message : String(err) });
      process.exit(1);
    },
  );
});
