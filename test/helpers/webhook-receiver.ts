// A webhook receiver for tests and the signature check a receiver does (fal-wire-protocol.md section 8):
// fetch the JWKS, check the timestamp window, verify the Ed25519 signature with any of its keys.
import { createHash, createPublicKey, verify } from "node:crypto";
import http from "node:http";

export interface Jwk {
  kty: string;
  crv: string;
  x: string;
  kid: string;
  alg: string;
  use: string;
}

export interface Delivery {
  headers: http.IncomingHttpHeaders;
  raw: Buffer;
  receivedAt: number;
  /** Why the receiver rejected the signature, or null when it verified; undefined when not checked. */
  verdict?: string | null;
  answered?: number;
}

/** What a receiver does, written from fal-wire-protocol.md section 8: fetch the JWKS, check the window, try every key. */
export async function verifyWithJwks(jwksUrl: string, d: Delivery, onlyKid?: string): Promise<string | null> {
  const jwks = (await (await fetch(jwksUrl)).json()) as { keys: Jwk[] };
  const h = (n: string) => String(d.headers[n] ?? "");
  const ts = Number(h("x-fal-webhook-timestamp"));
  if (!Number.isInteger(ts) || Math.abs(Date.now() / 1000 - ts) > 300) return "timestamp outside the 300 s window";
  const digest = createHash("sha256").update(d.raw).digest("hex");
  const message = Buffer.from(`${h("x-fal-webhook-request-id")}\n${h("x-fal-webhook-user-id")}\n${ts}\n${digest}`, "utf8");
  const signature = Buffer.from(h("x-fal-webhook-signature"), "hex");
  const ok = jwks.keys
    .filter((k) => onlyKid === undefined || k.kid === onlyKid)
    .some((jwk) => verify(null, message, createPublicKey({ key: { ...jwk }, format: "jwk" }), signature));
  return ok ? null : "no key of the JWKS verifies the signature";
}

/** A webhook receiver on 127.0.0.1 whose answer the test decides per delivery. */
export async function startReceiver(answer: (d: Delivery, n: number) => Promise<number>) {
  const received: Delivery[] = [];
  const server = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const d: Delivery = { headers: req.headers, raw: Buffer.concat(parts), receivedAt: Date.now() };
      received.push(d);
      answer(d, received.length).then(
        (status) => {
          d.answered = status;
          res.writeHead(status).end();
        },
        () => res.writeHead(500).end(),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}
