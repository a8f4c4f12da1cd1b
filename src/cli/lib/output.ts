// Output of the client commands. The rule: stdout carries the product (a saved path, a request id,
// a status line, or with --json exactly one JSON document); stderr carries progress and chatter, so
// `$(ltx-serve ...)` and pipes get only what they asked for.
import { EXIT } from "./exit-codes.js";
import { errorJson, formatError, toCliError, type CliError, type Phase } from "./errors.js";

export interface Output {
  json: boolean;
  /** A line of the command's product on stdout (ignored with --json). */
  line(text: string): void;
  /** A line of chatter on stderr (ignored with --json). */
  note(text: string): void;
  /** The JSON document on stdout (only with --json). */
  result(value: unknown): void;
}

export function createOutput(json: boolean, streams: { out?: NodeJS.WritableStream; err?: NodeJS.WritableStream } = {}): Output {
  const out = streams.out ?? process.stdout;
  const err = streams.err ?? process.stderr;
  return {
    json,
    line: (text) => void (!json && out.write(`${text}\n`)),
    note: (text) => void (!json && err.write(`${text}\n`)),
    result: (value) => void (json && out.write(`${JSON.stringify(value, null, 2)}\n`)),
  };
}

/**
 * Runs a command's body; any failure is printed (human lines on stderr, and with --json the error
 * document on stdout) and becomes the process exit code. Never lets an error escape to commander.
 */
export async function runCommand(
  opts: { json?: boolean; flags?: Record<string, string> },
  body: (out: Output) => Promise<void>,
  ctx: () => { phase?: Phase; requestId?: string; url?: string } = () => ({}),
): Promise<void> {
  const out = createOutput(Boolean(opts.json));
  // `ltx-serve ... | head` closes the pipe early: that is the reader's choice, not an error.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(process.exitCode ?? EXIT.ok);
  });
  try {
    await body(out);
    if (process.exitCode === undefined) process.exitCode = EXIT.ok;
  } catch (err) {
    const e: CliError = toCliError(err, ctx());
    if (out.json) process.stdout.write(`${JSON.stringify(errorJson(e), null, 2)}\n`);
    process.stderr.write(`${formatError(e, { flags: opts.flags }).join("\n")}\n`);
    if (process.env.LTX_SERVE_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exitCode = e.exitCode;
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}

/** Elapsed time as m:ss (or h:mm:ss). */
export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** A shell-safe rendering of one argument for the "next command" hints. */
export function shellArg(s: string): string {
  return /^[A-Za-z0-9_./:@%+=,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
