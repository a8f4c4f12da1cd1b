// Uploaded files are never active content on the service's origin: every /files response carries
// nosniff and a sandboxing CSP, and only inert media whose bytes match its declared type is inline.
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { falClient } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

async function upload(body: Buffer | string, type: string, name: string): Promise<string> {
  const fal = falClient(svc.url, svc.key);
  return fal.storage.upload(new File([typeof body === "string" ? body : new Uint8Array(body)], name, { type }));
}

function expectSandboxed(res: Response): void {
  expect(res.headers.get("x-content-type-options")).toBe("nosniff");
  expect(res.headers.get("content-security-policy")).toMatch(/^sandbox; default-src 'none'/);
}

describe("serving uploaded files", () => {
  it("serves an uploaded HTML page as an opaque download, never as text/html", async () => {
    const url = await upload("<script>alert(localStorage.getItem('key'))</script>", "text/html", "x.html");
    const res = await fetch(url);
    expectSandboxed(res);
    expect(res.headers.get("content-type")).toBe("application/octet-stream");
    expect(res.headers.get("content-disposition")).toMatch(/^attachment/);
  });

  it("does not trust a declared image type for SVG content", async () => {
    const url = await upload('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "image/png", "x.png");
    const res = await fetch(url);
    expectSandboxed(res);
    expect(res.headers.get("content-type")).not.toMatch(/svg|png/);
    expect(res.headers.get("content-disposition")).toMatch(/^attachment/);
  });

  it("shows a real PNG inline under the type its bytes prove", async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: "#336699" } }).png().toBuffer();
    const url = await upload(png, "image/png", "ok.png");
    const res = await fetch(url);
    expectSandboxed(res);
    expect(res.headers.get("content-type")).toBe("image/png");
    expect(res.headers.get("content-disposition")).toMatch(/^inline/);
    expect(Buffer.from(await res.arrayBuffer()).equals(png)).toBe(true);
  });

  it("sandboxes answers for missing files too", async () => {
    const res = await fetch(`${svc.url}/files/nope/nothing.html`);
    expect(res.status).toBe(404);
    expectSandboxed(res);
  });
});
