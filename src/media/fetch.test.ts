// Tests for reading image inputs: SSRF policy against real local HTTP servers, redirects, size cap,
// timeout, own file URLs and data: URIs. 127.0.0.2 (allow-listed) stands in for a public host.
import http from "node:http";
import type { AddressInfo } from "node:net";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ImageFetchError,
  addressPolicy,
  decodeDataUri,
  guardedLookup,
  readImageSource,
  type HostResolver,
  type ReadImageSourceOptions,
} from "./fetch.js";

const PAYLOAD = Buffer.from("not really an image, but bytes to carry: " + "x".repeat(1000));

interface TestServer {
  server: http.Server;
  port: number;
  base: string;
  hits: string[];
}

async function startServer(host: string): Promise<TestServer> {
  const hits: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    hits.push(url.pathname);
    const p = url.pathname;
    if (p === "/payload") {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": PAYLOAD.length });
      res.end(PAYLOAD);
    } else if (p === "/redirect") {
      res.writeHead(Number(url.searchParams.get("status") ?? 302), { location: url.searchParams.get("to") ?? "/" });
      res.end();
    } else if (p.startsWith("/chain/")) {
      const left = Number(p.slice("/chain/".length));
      res.writeHead(302, { location: left > 0 ? `/chain/${left - 1}` : "/payload" });
      res.end();
    } else if (p === "/big") {
      const body = Buffer.alloc(2_000_000, 1);
      res.writeHead(200, { "content-length": body.length });
      res.end(body);
    } else if (p === "/big-chunked") {
      // No Content-Length: only counting the streamed bytes can stop this one.
      res.writeHead(200, { "content-type": "image/png" });
      let sent = 0;
      const push = () => {
        while (sent < 50_000_000) {
          sent += 64_000;
          if (!res.write(Buffer.alloc(64_000, 2))) {
            res.once("drain", push);
            return;
          }
        }
        res.end();
      };
      res.on("close", () => (sent = Infinity));
      push();
    } else if (p === "/stall") {
      // Never answers.
    } else if (p === "/slow-body") {
      res.writeHead(200, { "content-length": 1000 });
      res.write(Buffer.alloc(10));
    } else if (p === "/gzip") {
      const body = zlib.gzipSync(Buffer.alloc(5_000_000));
      res.writeHead(200, { "content-encoding": "gzip", "content-length": body.length });
      res.end(body);
    } else {
      res.writeHead(404);
      res.end("missing");
    }
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, port, base: `http://${host}:${port}`, hits };
}

async function stopServer(s: TestServer): Promise<void> {
  s.server.closeAllConnections();
  await new Promise<void>((resolve) => s.server.close(() => resolve()));
}

/** Test resolver: a fixed table of names, ENOTFOUND otherwise (never the real DNS). */
function resolverFor(table: Record<string, string[]>): HostResolver {
  return async (hostname) => {
    const addrs = table[hostname];
    if (!addrs) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
    return addrs.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
  };
}

async function failure(p: Promise<unknown>): Promise<ImageFetchError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof ImageFetchError) return err;
    throw err;
  }
  throw new Error("expected the read to fail");
}

let internal: TestServer; // 127.0.0.1: what an attacker wants to reach
let publicStandIn: TestServer; // 127.0.0.2, allow-listed below: plays a public image host

const base: ReadImageSourceOptions = { maxBytes: 1_000_000, timeoutMs: 5_000 };
const viaPublicHost = (table: Record<string, string[]> = {}): ReadImageSourceOptions => ({
  ...base,
  trustedAddresses: ["127.0.0.2"],
  lookup: resolverFor({ "cdn.example.test": ["127.0.0.2"], "internal.example.test": ["127.0.0.1"], ...table }),
});

beforeAll(async () => {
  internal = await startServer("127.0.0.1");
  publicStandIn = await startServer("127.0.0.2");
});

afterAll(async () => {
  await stopServer(internal);
  await stopServer(publicStandIn);
});

describe("readImageSource over HTTP", () => {
  it("refuses a loopback URL by default without connecting to it", async () => {
    const before = internal.hits.length;
    const err = await failure(readImageSource(`${internal.base}/payload`, base));
    expect(err.reason).toBe("refused_address");
    expect(err.message).toContain("loopback");
    expect(err.message).toContain("ALLOW_PRIVATE_URLS");
    expect(internal.hits.length).toBe(before);
  });

  it("fetches the same URL when private addresses are allowed", async () => {
    const got = await readImageSource(`${internal.base}/payload`, { ...base, allowPrivate: true });
    expect(got.bytes.equals(PAYLOAD)).toBe(true);
    expect(got.origin).toBe("network");
  });

  it.each([
    (port: number) => `http://2130706433:${port}/payload`,
    (port: number) => `http://0x7f.1:${port}/payload`,
    (port: number) => `http://0177.0.0.1:${port}/payload`,
    (port: number) => `http://127.1:${port}/payload`,
    (port: number) => `http://[::ffff:127.0.0.1]:${port}/payload`,
  ])("refuses odd spellings of loopback (%#)", async (make) => {
    const err = await failure(readImageSource(make(internal.port), base));
    expect(err.reason).toBe("refused_address");
  });

  it("refuses a public-looking name that resolves to a loopback address, checked after DNS", async () => {
    const before = internal.hits.length;
    const err = await failure(readImageSource(`http://internal.example.test:${internal.port}/payload`, viaPublicHost()));
    expect(err.reason).toBe("refused_address");
    expect(err.message).toContain("internal.example.test");
    expect(err.message).not.toContain("127.0.0.1"); // DNS answers for internal names are not echoed
    expect(internal.hits.length).toBe(before);
  });

  it("refuses localhost through the real system resolver", async () => {
    const err = await failure(readImageSource(`http://localhost:${internal.port}/payload`, base));
    expect(err.reason).toBe("refused_address");
  });

  it("refuses a name when any one of its addresses is refused", async () => {
    const opts = viaPublicHost({ "mixed.example.test": ["127.0.0.2", "127.0.0.1"] });
    const err = await failure(readImageSource(`http://mixed.example.test:${publicStandIn.port}/payload`, opts));
    expect(err.reason).toBe("refused_address");
  });

  it("fetches from the allowed first hop (control for the redirect tests)", async () => {
    const got = await readImageSource(`http://cdn.example.test:${publicStandIn.port}/payload`, viaPublicHost());
    expect(got.bytes.equals(PAYLOAD)).toBe(true);
  });

  it.each([
    ["a literal loopback address", (p: number) => `http://127.0.0.1:${p}/payload`],
    ["a decimal loopback address", (p: number) => `http://2130706433:${p}/payload`],
    ["an IPv4-mapped loopback address", (p: number) => `http://[::ffff:7f00:1]:${p}/payload`],
    ["a name resolving to loopback", (p: number) => `http://internal.example.test:${p}/payload`],
    ["the metadata address", () => `http://169.254.169.254/latest/meta-data/`],
  ])("refuses a redirect from an allowed host to %s", async (_label, target) => {
    const before = internal.hits.length;
    const firstHopHits = publicStandIn.hits.length;
    const start = `http://cdn.example.test:${publicStandIn.port}/redirect?to=${encodeURIComponent(target(internal.port))}`;
    const err = await failure(readImageSource(start, viaPublicHost()));
    expect(err.reason).toBe("refused_address");
    expect(publicStandIn.hits.length).toBe(firstHopHits + 1); // the first hop was fetched
    expect(internal.hits.length).toBe(before); // the second never was
  });

  it.each([301, 302, 303, 307, 308])("follows a %i redirect", async (status) => {
    const start = `${internal.base}/redirect?status=${status}&to=/payload`;
    const got = await readImageSource(start, { ...base, allowPrivate: true });
    expect(got.bytes.equals(PAYLOAD)).toBe(true);
    expect(got.finalUrl).toBe(`${internal.base}/payload`);
  });

  it("follows five redirects and refuses the sixth", async () => {
    const ok = await readImageSource(`${internal.base}/chain/4`, { ...base, allowPrivate: true });
    expect(ok.bytes.equals(PAYLOAD)).toBe(true);
    const err = await failure(readImageSource(`${internal.base}/chain/5`, { ...base, allowPrivate: true }));
    expect(err.reason).toBe("too_many_redirects");
  });

  it("refuses a redirect to another scheme", async () => {
    const err = await failure(readImageSource(`${internal.base}/redirect?to=file:///etc/passwd`, { ...base, allowPrivate: true }));
    expect(err.reason).toBe("bad_scheme");
  });

  it.each(["file:///etc/passwd", "ftp://example.com/a.png", "gopher://127.0.0.1:6379/_INFO", "javascript:alert(1)"])(
    "refuses the non-http URL %s",
    async (url) => {
      const err = await failure(readImageSource(url, { ...base, allowPrivate: true }));
      expect(err.reason).toBe("bad_scheme");
    },
  );

  it("refuses a body whose Content-Length exceeds the cap", async () => {
    const err = await failure(readImageSource(`${internal.base}/big`, { ...base, allowPrivate: true }));
    expect(err.reason).toBe("too_large");
    expect(err.message).toContain("2 MB");
    expect(err.ctx).toEqual({ max_size: 1_000_000 });
  });

  it("stops reading a chunked body once it passes the cap", async () => {
    const err = await failure(readImageSource(`${internal.base}/big-chunked`, { ...base, allowPrivate: true }));
    expect(err.reason).toBe("too_large");
  });

  it("does not inflate a gzip-encoded response", async () => {
    const got = await readImageSource(`${internal.base}/gzip`, { ...base, allowPrivate: true });
    expect(got.bytes.length).toBeLessThan(100_000);
    expect(got.bytes[0]).toBe(0x1f); // still gzip
  });

  it("gives up on a server that never answers", async () => {
    const err = await failure(readImageSource(`${internal.base}/stall`, { ...base, allowPrivate: true, timeoutMs: 300 }));
    expect(err.reason).toBe("timeout");
  });

  it("gives up on a body that stops arriving", async () => {
    const err = await failure(readImageSource(`${internal.base}/slow-body`, { ...base, allowPrivate: true, timeoutMs: 300 }));
    expect(err.reason).toBe("timeout");
  });

  it("reports an HTTP error status", async () => {
    const err = await failure(readImageSource(`${internal.base}/nothing-here`, { ...base, allowPrivate: true }));
    expect(err.reason).toBe("http_status");
    expect(err.message).toContain("404");
  });

  it("reports an unknown host", async () => {
    const err = await failure(readImageSource("http://nowhere.example.test/a.png", viaPublicHost()));
    expect(err.reason).toBe("unresolvable");
    const empty = await failure(readImageSource("http://empty.example.test/a.png", { ...base, lookup: async () => [] }));
    expect(empty.reason).toBe("unresolvable");
  });

  it("reports a refused connection", async () => {
    const closed = await startServer("127.0.0.2");
    await stopServer(closed);
    const err = await failure(readImageSource(`http://cdn.example.test:${closed.port}/payload`, viaPublicHost()));
    expect(err.reason).toBe("unreachable");
    expect(err.message).toContain("ECONNREFUSED");
  });

  it("rethrows the caller's abort reason unchanged", async () => {
    const controller = new AbortController();
    const reason = new Error("request cancelled");
    setTimeout(() => controller.abort(reason), 50);
    await expect(
      readImageSource(`${internal.base}/stall`, { ...base, allowPrivate: true, signal: controller.signal }),
    ).rejects.toBe(reason);
  });
});

describe("readImageSource with this server's own file URLs", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "ltx-fetch-"));
    await fs.writeFile(path.join(dir, "photo.png"), PAYLOAD);
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });
  const ownFiles = (url: URL) =>
    Promise.resolve(url.origin === "http://127.0.0.1:8787" && url.pathname.startsWith("/files/") ? path.join(dir, path.basename(url.pathname)) : undefined);
  const noDns: HostResolver = () => Promise.reject(new Error("DNS must not be used"));

  it("reads an own file URL from disk without any network access, even on a loopback host", async () => {
    const got = await readImageSource("http://127.0.0.1:8787/files/abc/photo.png", { ...base, resolveLocalFile: ownFiles, lookup: noDns });
    expect(got.origin).toBe("local");
    expect(got.bytes.equals(PAYLOAD)).toBe(true);
  });

  it("reads an own file URL reached by a redirect from disk", async () => {
    const start = `http://cdn.example.test:${publicStandIn.port}/redirect?to=${encodeURIComponent("http://127.0.0.1:8787/files/abc/photo.png")}`;
    const got = await readImageSource(start, { ...viaPublicHost(), resolveLocalFile: ownFiles });
    expect(got.origin).toBe("local");
  });

  it("reports a missing own file", async () => {
    const err = await failure(readImageSource("http://127.0.0.1:8787/files/abc/gone.png", { ...base, resolveLocalFile: ownFiles }));
    expect(err.reason).toBe("not_found");
  });

  it("applies the byte cap to own files", async () => {
    const err = await failure(readImageSource("http://127.0.0.1:8787/files/abc/photo.png", { ...base, maxBytes: 100, resolveLocalFile: ownFiles }));
    expect(err.reason).toBe("too_large");
  });
});

describe("decodeDataUri", () => {
  it("decodes base64 with a media type and parameters", () => {
    const got = decodeDataUri(`data:image/png;name=a.png;base64,${PAYLOAD.toString("base64")}`, 1e6);
    expect(got.bytes.equals(PAYLOAD)).toBe(true);
    expect(got.declaredType).toBe("image/png");
    expect(got.origin).toBe("data");
  });

  it("tolerates line breaks and the URL-safe alphabet", () => {
    const b64 = Buffer.from([0xfb, 0xff, 0xfe, 1, 2, 3]).toString("base64url");
    expect([...decodeDataUri(`data:;base64,${b64}`, 1e6).bytes]).toEqual([0xfb, 0xff, 0xfe, 1, 2, 3]);
    const wrapped = PAYLOAD.toString("base64").replace(/(.{76})/g, "$1\r\n");
    expect(decodeDataUri(`DATA:image/png;BASE64,${wrapped}`, 1e6).bytes.equals(PAYLOAD)).toBe(true);
  });

  it("decodes percent-encoded bytes", () => {
    expect([...decodeDataUri("data:application/octet-stream,%89PNG%0d%0a%FF", 1e6).bytes]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0xff]);
  });

  it("refuses an oversize URI before decoding it", () => {
    const big = "data:image/png;base64," + "A".repeat(4_000_000);
    expect(() => decodeDataUri(big, 1_000_000)).toThrow(expect.objectContaining({ reason: "too_large" }));
  });

  it.each([
    ["no comma", "data:image/png;base64"],
    ["characters outside base64", "data:image/png;base64,iVBOR$$$$"],
    ["no data", "data:image/png;base64,"],
  ])("refuses a data: URI with %s", (_label, uri) => {
    expect(() => decodeDataUri(uri, 1e6)).toThrow(expect.objectContaining({ reason: "bad_data_uri" }));
  });
});

describe("guardedLookup", () => {
  const lookupOnce = (resolver: HostResolver, options: { all?: boolean; family?: number }, trusted: string[] = []) =>
    new Promise<{ err: Error | null; result: unknown; family?: number }>((resolve) => {
      guardedLookup(resolver, addressPolicy(false, trusted))("h.test", options as never, ((err: Error | null, result: unknown, family?: number) =>
        resolve({ err, result, family })) as never);
    });
  const table = resolverFor({ "h.test": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"] });

  it("hands every checked address to the socket when asked for all", async () => {
    const { err, result } = await lookupOnce(table, { all: true });
    expect(err).toBeNull();
    expect(result).toEqual([
      { address: "93.184.216.34", family: 4 },
      { address: "2606:2800:220:1:248:1893:25c8:1946", family: 6 },
    ]);
  });

  it("hands one address of the requested family otherwise", async () => {
    const { err, result, family } = await lookupOnce(table, { family: 6 });
    expect(err).toBeNull();
    expect(result).toBe("2606:2800:220:1:248:1893:25c8:1946");
    expect(family).toBe(6);
  });

  it("fails the connection when any address is refused", async () => {
    const { err } = await lookupOnce(resolverFor({ "h.test": ["93.184.216.34", "10.0.0.7"] }), { all: true });
    expect(err?.message).toContain("private network address");
  });

  it("lets allow-listed addresses through", async () => {
    const { err } = await lookupOnce(resolverFor({ "h.test": ["10.0.0.7"] }), { all: true }, ["10.0.0.7"]);
    expect(err).toBeNull();
  });
});
