// Options shared by the client commands (--url, --key, --json, --endpoint) and how they resolve
// against the environment. Read at action time so that LTX_SERVE_URL/LTX_SERVE_KEY set by a caller
// (or a test) after import still count, and so that no --help ever prints a key. The key variable
// is LTX_SERVE_KEY; FAL_KEY (what fal's own clients read) is accepted when it is not set.
import type { Command } from "commander";
import { DEFAULT_ENDPOINT_ID } from "../../endpoints.js";
import { ENDPOINT_SHORT_NAMES, knownEndpoints } from "./endpoint-flags.js";
import { CliError } from "./errors.js";
import { EXIT } from "./exit-codes.js";

/** Where a server is when nothing says otherwise: `ltx-serve serve`'s default address. */
export const DEFAULT_SERVER_URL = "http://127.0.0.1:8787";

export interface ServerOptions {
  url?: string;
  key?: string;
  json?: boolean;
}

export interface Server {
  /** Base URL without a trailing slash. */
  url: string;
  key: string;
}

/** The environment variable that holds the API key, everywhere it is documented. */
export const KEY_VARIABLE = "LTX_SERVE_KEY";

/** The API key from the environment: LTX_SERVE_KEY, else FAL_KEY. */
export function keyFromEnv(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[KEY_VARIABLE] || env.FAL_KEY || undefined;
}

/** Adds --url, --key and --json to a command. */
export function withServerOptions(cmd: Command): Command {
  return cmd
    .option("--url <url>", `server URL (default: LTX_SERVE_URL or ${DEFAULT_SERVER_URL})`)
    .option("--key <key>", `API key (default: ${KEY_VARIABLE}, else FAL_KEY)`)
    .option("--json", "print one JSON document on stdout and nothing else there");
}

export function serverUrl(opts: ServerOptions, env: NodeJS.ProcessEnv = process.env): string {
  const raw = opts.url || env.LTX_SERVE_URL || DEFAULT_SERVER_URL;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    throw new CliError(`--url must be an http(s) URL, got ${JSON.stringify(raw)}`, { exitCode: EXIT.usage });
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") throw new CliError(`--url must be an http(s) URL, got ${JSON.stringify(raw)}`, { exitCode: EXIT.usage });
  return raw.replace(/\/+$/, "");
}

/** The server and key to talk to; a missing key is an auth failure (exit 3) before any request. */
export function resolveServer(opts: ServerOptions, env: NodeJS.ProcessEnv = process.env): Server {
  const url = serverUrl(opts, env);
  const key = opts.key || keyFromEnv(env);
  if (!key) {
    throw new CliError(`no API key: pass --key or set ${KEY_VARIABLE}`, {
      exitCode: EXIT.auth,
      hint: "the key was printed by `ltx-serve serve` at first start; make another with `ltx-serve keys create NAME`",
    });
  }
  return { url, key };
}

/**
 * Accepts a full endpoint id or a short name: i2v (or pro), i2v-fast (or fast), t2v, t2v-fast, a2v.
 * A bare word that is no short name is a usage error listing them.
 */
export function resolveEndpoint(raw: string | undefined): string {
  if (!raw) return DEFAULT_ENDPOINT_ID;
  const short = ENDPOINT_SHORT_NAMES[raw.trim().toLowerCase()];
  if (short) return short;
  const id = raw.replace(/^\/+|\/+$/g, "");
  if (!id.includes("/")) {
    throw new CliError(`--endpoint ${JSON.stringify(raw)} is not an endpoint: use an endpoint id or one of ${Object.keys(ENDPOINT_SHORT_NAMES).join(", ")}`, { exitCode: EXIT.usage });
  }
  return id;
}

/** owner/alias of an endpoint id: the part that status, result and cancel URLs use. */
export function appOf(endpoint: string): string {
  const known = knownEndpoints().find((e) => e.id === endpoint);
  if (known) return known.app;
  return endpoint.split("/").slice(0, 2).join("/");
}

/** Adds --endpoint to a command that works on an existing request. */
export function withEndpointOption(cmd: Command): Command {
  return cmd.option("--endpoint <id>", `endpoint id, or i2v|i2v-fast|t2v|t2v-fast|a2v (default: ${DEFAULT_ENDPOINT_ID}); requests of one app share ids`);
}

/** A request id must be one URL path segment; anything else is a usage error, not a 404. */
export function checkRequestId(id: string): string {
  if (!/^[A-Za-z0-9._-]{1,200}$/.test(id)) throw new CliError(`not a request id: ${JSON.stringify(id)}`, { exitCode: EXIT.usage });
  return id;
}
