// Reads the bytes behind an image or audio input: a data: URI, one of this server's own file URLs, or an
// http(s) URL fetched without SSRF holes (addresses checked after DNS and on every redirect hop).
import dns from "node:dns";
import fsp from "node:fs/promises";
import type { LookupFunction } from "node:net";
import { Agent, request } from "undici";
import { classifyAddress, describeRange, literalAddressOf, type AddressVerdict } from "./net-policy.js";

/** One address a host name resolves to. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (tests inject one; default: the system resolver). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

/** Maps this server's own file URLs to a path on disk; undefined for any other URL. */
export type LocalFileResolver = (url: URL) => Promise<string | undefined>;

export type FetchFailureReason =
  | "bad_url"
  | "bad_scheme"
  | "bad_data_uri"
  | "refused_address"
  | "unresolvable"
  | "unreachable"
  | "http_status"
  | "too_many_redirects"
  | "too_large"
  | "timeout"
  | "not_found";

/** Why the bytes could not be had; prepareImage turns it into a field error. */
export class ImageFetchError extends Error {
  constructor(
    readonly reason: FetchFailureReason,
    message: string,
    options?: { cause?: unknown; ctx?: Record<string, unknown> },
  ) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = "ImageFetchError";
    this.ctx = options?.ctx;
  }
  readonly ctx?: Record<string, unknown>;
}

export interface ReadImageSourceOptions {
  /** Largest accepted image in bytes, whatever the source. */
  maxBytes: number;
  /** Time allowed for the whole download, redirects included, in ms. */
  timeoutMs: number;
  /** Skip the address check (ALLOW_PRIVATE_URLS). Default false. */
  allowPrivate?: boolean;
  /** Redirects followed before giving up. Default 5. */
  maxRedirects?: number;
  /** Aborts the download; its reason is rethrown as is. */
  signal?: AbortSignal;
  /** Consulted for the URL and every redirect target before any network access. */
  resolveLocalFile?: LocalFileResolver;
  /** Host name resolver; default the system's (dns.lookup, all addresses). */
  lookup?: HostResolver;
  /**
   * Exact addresses exempt from the address check although their range is refused (an allow-list
   * for one trusted internal host; tests use it to let a loopback server stand in for a public one).
   */
  trustedAddresses?: readonly string[];
  /** Accept header sent with http(s) requests. Default: the image types. */
  accept?: string;
  /** What the input is, in the too-large message ("an input image may have"). Default "an input image". */
  noun?: string;
}

export interface ImageSourceBytes {
  bytes: Buffer;
  /** Where the bytes came from in the end (after redirects); data: URIs are reported as "data:". */
  finalUrl: string;
  origin: "data" | "local" | "network";
  /** Content-Type as declared by the data: URI or the server, if any. */
  declaredType?: string;
}

export const DEFAULT_MAX_REDIRECTS = 5;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const USER_AGENT = "ltx-serve (input image fetch)";

/** Reads an image_url value into memory, enforcing the byte cap, the deadline and the address policy. */
export async function readImageSource(source: string, opts: ReadImageSourceOptions): Promise<ImageSourceBytes> {
  if (/^data:/i.test(source)) return decodeDataUri(source, opts.maxBytes, opts.noun);
  let url: URL;
  try {
    url = new URL(source);
  } catch {
    throw new ImageFetchError("bad_url", "is not a valid URL (expected http(s)://..., a data: URI or a file URL of this server)");
  }
  return fetchHttp(url, opts);
}

// ---------------------------------------------------------------------------------------------
// data: URIs (fal-wire-protocol.md 7.1: the client sends them as strings)

/** Decodes `data:[<mime>][;param]*[;base64],<data>` without building a URL object for megabytes of text. */
export function decodeDataUri(uri: string, maxBytes: number, noun?: string): ImageSourceBytes {
  const comma = uri.indexOf(",");
  if (comma < 0) throw new ImageFetchError("bad_data_uri", "has no comma before its data");
  const meta = uri.slice(5, comma);
  const isBase64 = /;base64$/i.test(meta);
  const declaredType = (meta.split(";")[0] ?? "").trim().toLowerCase() || undefined;
  const payload = uri.slice(comma + 1);
  let bytes: Buffer;
  if (isBase64) {
    // Estimate before decoding so that an oversize URI costs no second copy.
    const estimated = Math.floor((payload.length * 3) / 4);
    if (estimated > maxBytes + 3) throw tooLarge(estimated, maxBytes, noun);
    const compact = /\s/.test(payload) ? payload.replace(/\s+/g, "") : payload;
    if (!/^[A-Za-z0-9+/\-_]*={0,2}$/.test(compact)) {
      throw new ImageFetchError("bad_data_uri", "has base64 data with characters outside the base64 alphabet");
    }
    bytes = Buffer.from(compact, "base64");
  } else {
    if (payload.length > maxBytes * 3) throw tooLarge(payload.length, maxBytes, noun);
    // Byte-wise percent-decoding (decodeURIComponent would insist on UTF-8).
    bytes = Buffer.from(payload.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), "latin1");
  }
  if (bytes.length > maxBytes) throw tooLarge(bytes.length, maxBytes, noun);
  if (bytes.length === 0) throw new ImageFetchError("bad_data_uri", "has no data");
  return { bytes, finalUrl: "data:", origin: "data", declaredType };
}

function tooLarge(size: number | undefined, maxBytes: number, noun = "an input image"): ImageFetchError {
  const what = size === undefined ? "is larger" : `is ${formatBytes(size)}, larger`;
  return new ImageFetchError("too_large", `${what} than the ${formatBytes(maxBytes)} ${noun} may have`, {
    ctx: { max_size: maxBytes },
  });
}

export function formatBytes(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(n % 1_000_000 === 0 ? 0 : 1)} MB`;
  if (n >= 1_000) return `${(n / 1_000).toFixed(0)} kB`;
  return `${n} bytes`;
}

// ---------------------------------------------------------------------------------------------
// Network fetch

/** Thrown from inside the connect-time lookup; found again in the cause chain of undici's error. */
class RefusedAddressError extends Error {
  constructor(readonly hostname: string, readonly verdict: AddressVerdict) {
    super(`${hostname} resolves to ${describeRange(verdict.range)}`);
    this.name = "RefusedAddressError";
  }
}

/** Decides per address; `refuses` answers the verdict of a refused address, undefined when allowed. */
export interface AddressPolicy {
  refuses(address: string): AddressVerdict | undefined;
}

export function addressPolicy(allowPrivate: boolean, trustedAddresses: readonly string[] = []): AddressPolicy {
  const trusted = new Set(trustedAddresses.map((a) => classifyAddress(a).address));
  return {
    refuses(address) {
      if (allowPrivate) return undefined;
      const verdict = classifyAddress(address);
      if (verdict.allowed || trusted.has(verdict.address)) return undefined;
      return verdict;
    },
  };
}

const systemResolver: HostResolver = async (hostname) => {
  const found = await dns.promises.lookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/**
 * A net.connect lookup that resolves with `resolve`, refuses the connection unless every address is
 * allowed, and hands the checked addresses to the socket: the address checked is the address
 * connected to, so DNS answers cannot change between check and use (no rebinding window).
 */
export function guardedLookup(resolve: HostResolver, policy: AddressPolicy): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname).then(
      (found) => {
        if (found.length === 0) {
          const err = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND", hostname });
          callback(err, "", 4);
          return;
        }
        for (const a of found) {
          const refused = policy.refuses(a.address);
          if (refused) {
            callback(new RefusedAddressError(hostname, refused) as NodeJS.ErrnoException, "", 4);
            return;
          }
        }
        const wanted = options.family === 4 || options.family === 6 ? found.filter((a) => a.family === options.family) : found;
        const usable = wanted.length > 0 ? wanted : found;
        if (options.all) {
          (callback as unknown as (e: null, all: ResolvedAddress[]) => void)(null, usable);
        } else {
          callback(null, usable[0].address, usable[0].family);
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, "", 4),
    );
  };
}

function findInCauses<T>(err: unknown, test: (e: unknown) => e is T): T | undefined {
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    if (test(current)) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function errorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; current && depth < 8; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string" && /^E[A-Z]+$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function checkUrlShape(url: URL, policy: AddressPolicy): void {
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ImageFetchError(
      "bad_scheme",
      `uses the ${url.protocol.replace(/:$/, "")}: scheme; only http(s) URLs, data: URIs and this server's file URLs are accepted`,
    );
  }
  const literal = literalAddressOf(url);
  // Literal addresses never reach the lookup hook, so they are checked here.
  const verdict = literal === undefined ? undefined : policy.refuses(literal);
  if (verdict) {
    throw new ImageFetchError(
      "refused_address",
      `points at ${literal}, ${describeRange(verdict.range)}, which this server does not fetch (ALLOW_PRIVATE_URLS=true allows it for local use)`,
    );
  }
}

async function readLocalFile(path: string, maxBytes: number, noun?: string): Promise<Buffer> {
  let size: number;
  try {
    const stat = await fsp.stat(path);
    if (!stat.isFile()) throw new Error("not a file");
    size = stat.size;
  } catch (err) {
    throw new ImageFetchError("not_found", "names a file of this server that does not exist (or has expired)", { cause: err });
  }
  if (size > maxBytes) throw tooLarge(size, maxBytes, noun);
  return fsp.readFile(path);
}

async function fetchHttp(start: URL, opts: ReadImageSourceOptions): Promise<ImageSourceBytes> {
  const policy = addressPolicy(opts.allowPrivate ?? false, opts.trustedAddresses);
  const maxRedirects = opts.maxRedirects ?? DEFAULT_MAX_REDIRECTS;
  const deadline = AbortSignal.timeout(opts.timeoutMs);
  const signal = opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline;
  // One agent per read: no connection is shared with other users' fetches or kept afterwards.
  const agent = new Agent({
    connect: {
      lookup: guardedLookup(opts.lookup ?? systemResolver, policy),
      timeout: Math.min(opts.timeoutMs, 10_000),
    },
    headersTimeout: opts.timeoutMs,
    bodyTimeout: opts.timeoutMs,
    keepAliveTimeout: 1,
    pipelining: 0,
  });
  const abortedBy = (): ImageFetchError | unknown => {
    if (opts.signal?.aborted) return opts.signal.reason ?? new Error("aborted");
    return new ImageFetchError("timeout", `did not download within ${formatSeconds(opts.timeoutMs)}`);
  };
  let url = start;
  try {
    for (let hop = 0; ; hop++) {
      if (signal.aborted) throw abortedBy();
      if (opts.resolveLocalFile) {
        const localPath = await opts.resolveLocalFile(url);
        if (localPath !== undefined) {
          return { bytes: await readLocalFile(localPath, opts.maxBytes, opts.noun), finalUrl: url.href, origin: "local" };
        }
      }
      checkUrlShape(url, policy);
      let res: Awaited<ReturnType<typeof request>>;
      try {
        res = await request(url, {
          dispatcher: agent,
          method: "GET",
          signal,
          headers: {
            accept: opts.accept ?? "image/png,image/jpeg,image/webp,image/avif,image/gif,image/*;q=0.8",
            // Compressed transfer would let a small body inflate past the byte cap unseen.
            "accept-encoding": "identity",
            "user-agent": USER_AGENT,
          },
        });
      } catch (err) {
        throw networkError(err, url, signal, abortedBy);
      }
      if (REDIRECT_STATUSES.has(res.statusCode)) {
        discard(res.body);
        const location = res.headers.location;
        const target = Array.isArray(location) ? location[0] : location;
        if (!target) throw new ImageFetchError("http_status", `was answered with HTTP ${res.statusCode} but no Location header`);
        if (hop + 1 > maxRedirects) {
          throw new ImageFetchError("too_many_redirects", `redirected more than ${maxRedirects} times`);
        }
        try {
          url = new URL(target, url);
        } catch {
          throw new ImageFetchError("bad_url", `redirected to an invalid URL`);
        }
        continue;
      }
      if (res.statusCode < 200 || res.statusCode > 299) {
        discard(res.body);
        throw new ImageFetchError("http_status", `was answered with HTTP ${res.statusCode}`);
      }
      const declaredLength = Number(res.headers["content-length"]);
      if (Number.isFinite(declaredLength) && declaredLength > opts.maxBytes) {
        discard(res.body);
        throw tooLarge(declaredLength, opts.maxBytes, opts.noun);
      }
      const parts: Buffer[] = [];
      let received = 0;
      try {
        for await (const chunk of res.body) {
          received += (chunk as Buffer).length;
          if (received > opts.maxBytes) {
            discard(res.body);
            throw tooLarge(undefined, opts.maxBytes, opts.noun);
          }
          parts.push(chunk as Buffer);
        }
      } catch (err) {
        if (err instanceof ImageFetchError) throw err;
        throw networkError(err, url, signal, abortedBy);
      }
      const contentType = res.headers["content-type"];
      return {
        bytes: Buffer.concat(parts, received),
        finalUrl: url.href,
        origin: "network",
        declaredType: typeof contentType === "string" ? contentType : undefined,
      };
    }
  } finally {
    agent.destroy().catch(() => {});
  }
}

/** Drops a response body we will not read; undici reports the destroy as an error we do not need. */
function discard(body: NodeJS.ReadableStream & { destroy(): unknown }): void {
  body.on("error", () => {});
  body.destroy();
}

function networkError(err: unknown, url: URL, signal: AbortSignal, abortedBy: () => unknown): unknown {
  if (err instanceof ImageFetchError) return err;
  const refused = findInCauses(err, (e): e is RefusedAddressError => e instanceof RefusedAddressError);
  if (refused) {
    return new ImageFetchError(
      "refused_address",
      `points at host ${refused.hostname}, which resolves to ${describeRange(refused.verdict.range)}; this server does not fetch such addresses (ALLOW_PRIVATE_URLS=true allows it for local use)`,
    );
  }
  if (signal.aborted) return abortedBy();
  const code = errorCode(err);
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "ENODATA") {
    return new ImageFetchError("unresolvable", `names host ${url.hostname}, which was not found`, { cause: err });
  }
  const name = (err as { name?: string } | undefined)?.name;
  const how = code ?? (name === "ConnectTimeoutError" ? "connect timeout" : name === "SocketError" ? "connection closed" : "network error");
  return new ImageFetchError("unreachable", `could not be reached at ${url.host} (${how})`, { cause: err });
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${(ms / 1000).toFixed(1)} s`;
}
