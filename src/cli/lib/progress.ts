// The live view of a running request: on a terminal one redrawn line (queue position, a bar with
// stage and percentage, elapsed time) with log lines scrolling above it; elsewhere plain lines,
// one per change of state or stage and per 10 % of progress, so logs of CI runs stay readable.
import { formatElapsed } from "./output.js";

export interface StatusLog {
  message: string;
  level?: string;
  timestamp?: string;
}

/** The fields of a fal status event that the view uses (plus ltx-serve's `progress`). */
export interface StatusEvent {
  status: string;
  request_id?: string;
  queue_position?: number;
  progress?: { stage: string; step: number; total: number; percent: number } | null;
  logs?: StatusLog[] | null;
  error?: string;
  error_type?: string;
}

export interface ProgressView {
  /** A new status event; its logs (only new lines) are printed too. */
  update(event: StatusEvent): void;
  /** A line of chatter that must not collide with the bar. */
  note(text: string): void;
  /** Removes the bar (TTY) and stops the clock. */
  stop(): void;
}

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

function describeState(e: StatusEvent): string {
  if (e.status === "IN_QUEUE") return `queued, ${e.queue_position ?? 0} ahead`;
  if (e.status === "IN_PROGRESS") return e.progress ? `${e.progress.stage} ${e.progress.step}/${e.progress.total}` : "starting";
  if (e.status === "COMPLETED") return e.error ? `failed: ${e.error}` : "completed";
  return e.status.toLowerCase();
}

/** The one-line terminal view, fitted to `columns`. Pure, for tests. */
export function renderStatusLine(e: StatusEvent, elapsedMs: number, columns: number, frame = 0): string {
  const clock = formatElapsed(elapsedMs);
  const spin = SPINNER[frame % SPINNER.length];
  let line: string;
  if (e.status === "IN_PROGRESS" && e.progress) {
    const pct = Math.max(0, Math.min(100, e.progress.percent));
    const label = `${String(Math.floor(pct)).padStart(3)}% ${e.progress.stage} ${e.progress.step}/${e.progress.total} · ${clock}`;
    const barWidth = Math.max(10, Math.min(40, columns - label.length - 4));
    const filled = Math.round((pct / 100) * barWidth);
    line = `${"█".repeat(filled)}${"░".repeat(barWidth - filled)} ${label}`;
  } else {
    line = `${spin} ${describeState(e)} · ${clock}`;
  }
  return line.length > columns - 1 ? line.slice(0, Math.max(0, columns - 2)) + "…" : line;
}

/** The plain line for a non-terminal, e.g. `[0:12] render 58/144 (40%)`. Pure, for tests. */
export function renderPlainLine(e: StatusEvent, elapsedMs: number): string {
  const pct = e.status === "IN_PROGRESS" && e.progress ? ` (${Math.floor(e.progress.percent)}%)` : "";
  return `[${formatElapsed(elapsedMs)}] ${describeState(e)}${pct}`;
}

/** What changing makes a plain line worth printing: state, stage, 10 % bucket, queue position. */
function plainKey(e: StatusEvent): string {
  return [e.status, e.queue_position ?? "", e.progress?.stage ?? "", e.progress ? Math.floor(e.progress.percent / 10) : "", e.error ?? ""].join("|");
}

/**
 * Log lines that only repeat what the bar shows ("render 40% (58/144)"): left out of the live view
 * (the `logs` command prints every line).
 */
export function isProgressEcho(message: string): boolean {
  return /^[\w.-]+ \d+(\.\d+)?% \(\d+\/\d+\)$/.test(message.trim());
}

export function createProgressView(opts: {
  stream?: NodeJS.WriteStream;
  /** Draw a live line; default: the stream is a TTY. */
  tty?: boolean;
  /** When the watch began (epoch ms); elapsed time counts from here. */
  startedAt?: number;
  /** Print the request's log lines. Default true. */
  showLogs?: boolean;
  clock?: () => number;
}): ProgressView {
  const stream = opts.stream ?? process.stderr;
  const tty = opts.tty ?? Boolean(stream.isTTY);
  const clock = opts.clock ?? Date.now;
  const startedAt = opts.startedAt ?? clock();
  const showLogs = opts.showLogs ?? true;
  const dim = tty && !process.env.NO_COLOR ? (s: string) => `\x1b[2m${s}\x1b[22m` : (s: string) => s;
  let last: StatusEvent | undefined;
  let lastPlain = "";
  let frame = 0;
  let drawn = false;
  let stopped = false;

  const clear = () => {
    if (tty && drawn) stream.write("\r\x1b[2K");
    drawn = false;
  };
  const draw = () => {
    if (!tty || stopped || !last) return;
    stream.write(`\r\x1b[2K${renderStatusLine(last, clock() - startedAt, stream.columns || 80, frame++)}`);
    drawn = true;
  };
  const timer = tty ? setInterval(draw, 120) : undefined;
  timer?.unref();

  const writeAbove = (text: string) => {
    clear();
    stream.write(`${text}\n`);
    draw();
  };

  return {
    update(e) {
      if (stopped) return;
      if (showLogs) {
        for (const l of e.logs ?? []) if (!isProgressEcho(l.message)) writeAbove(dim(`  ${(l.level ?? "INFO").padEnd(5)} ${l.message}`));
      }
      last = e;
      if (tty) return draw();
      const key = plainKey(e);
      if (key !== lastPlain) {
        lastPlain = key;
        stream.write(`${renderPlainLine(e, clock() - startedAt)}\n`);
      }
    },
    note(text) {
      if (!stopped) writeAbove(text);
      else stream.write(`${text}\n`);
    },
    stop() {
      if (stopped) return;
      if (timer) clearInterval(timer);
      clear();
      stopped = true;
    },
  };
}
