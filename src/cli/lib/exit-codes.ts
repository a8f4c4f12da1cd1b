// Exit codes of the `ltx-serve` client commands: a stable contract for scripts, documented in
// docs/cli.md (keep the two in step).

export const EXIT = {
  /** The command did what was asked. */
  ok: 0,
  /** Bad command-line usage, or an unexpected failure (a bug, a broken download). */
  usage: 1,
  /** The input was rejected: HTTP 422 (or 400) from the server, or a local image that cannot be read. */
  inputRejected: 2,
  /** No key, or the server refused the key: HTTP 401/403. */
  auth: 3,
  /** No such request or file: HTTP 404, or 410 when the output has expired. */
  notFound: 4,
  /** The generation failed or was cancelled (the request is COMPLETED with an error). */
  generationFailed: 5,
  /** The server could not be reached (connection refused, DNS, timeout). */
  unreachable: 6,
  /** Not possible in the request's current state: `result` before it finished, `cancel` after. */
  wrongState: 7,
  /** Refused by a limit: HTTP 429 (rate limit, queue length) or 402 (the key's spend cap). */
  limited: 8,
  /** `doctor` found something the service needs missing or broken. */
  setupIncomplete: 9,
  /** Interrupted by Ctrl-C (the conventional 128 + SIGINT). */
  interrupted: 130,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Rows of the exit-code table, in order, for `--help` text and docs. */
export const EXIT_CODE_TABLE: [ExitCode, string][] = [
  [EXIT.ok, "success"],
  [EXIT.usage, "bad usage or unexpected failure"],
  [EXIT.inputRejected, "input rejected (HTTP 422/400, or an unreadable local image)"],
  [EXIT.auth, "missing or refused API key (HTTP 401/403)"],
  [EXIT.notFound, "request or file not found (HTTP 404), or output expired (410)"],
  [EXIT.generationFailed, "generation failed or was cancelled"],
  [EXIT.unreachable, "server unreachable"],
  [EXIT.wrongState, "not possible now: result before the request finished, cancel after it finished"],
  [EXIT.limited, "refused by a limit (HTTP 429 rate limit, 402 spend cap)"],
  [EXIT.setupIncomplete, "doctor: something needed is missing"],
  [EXIT.interrupted, "interrupted (Ctrl-C)"],
];

/** The exit-code table as help text, shown after the program's --help. */
export function exitCodeHelp(): string {
  return `\nExit codes (generate, status, result, cancel, logs, sheet, doctor):\n${EXIT_CODE_TABLE.map(([code, what]) => `  ${String(code).padStart(3)}  ${what}`).join("\n")}\n`;
}
