// ltx-serve behind real nginx under a sub-path (/ltx/), with the documented config (docs/examples/nginx.conf)
// and PUBLIC_URL set to the public origin: the real @fal-ai/client subscribes (polling and streaming),
// uploads, and fetches the result through the proxy; the playground loads and talks only under /ltx/.
import { createHash, randomBytes } from "node:crypto";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { describeIfAvailable, lowPort } from "./helpers/availability.js";
import { chromiumAvailability, launchChromium } from "./helpers/browser.js";
import { ENDPOINT, blobOf, falClient, smallInput } from "./helpers/fal.js";
import { nginxAvailability, startNginx, type TestNginx } from "./helpers/nginx.js";
import { startTestService, type TestService } from "./helpers/service.js";
import { startReceiver, verifyWithJwks } from "./helpers/webhook-receiver.js";

type VideoResult = { video: { url: string; content_type: string; file_size: number } };

describeIfAvailable("behind nginx under a sub-path", nginxAvailability(), () => {
  let svc: TestService;
  let nginx: TestNginx;
  let publicUrl: string;

  beforeAll(async () => {
    const port = await lowPort();
    publicUrl = `http://127.0.0.1:${port}/ltx`;
    svc = await startTestService({ config: { publicUrl } });
    nginx = await startNginx(svc.config.port, port);
  });
  afterAll(async () => {
    await nginx?.close();
    await svc?.close();
  });

  it("runs the documented config, which has the directives the deployment guide names", () => {
    for (const directive of [
      "location /ltx/ {",
      "client_max_body_size 0;",
      "proxy_request_buffering off;",
      "proxy_buffering off;",
      "proxy_read_timeout 3600s;",
      "proxy_http_version 1.1;",
    ]) {
      expect(nginx.site).toContain(directive);
    }
  });

  it("subscribes in polling mode; every URL the service returns goes through the proxy's sub-path", async () => {
    const client = falClient(publicUrl, svc.key);
    const submitted = (await client.queue.submit(ENDPOINT, { input: await smallInput() })) as unknown as {
      request_id: string;
      status_url: string;
      response_url: string;
    };
    expect(submitted.status_url.startsWith(`${publicUrl}/queue.fal.run/`)).toBe(true);
    expect(submitted.response_url.startsWith(`${publicUrl}/queue.fal.run/`)).toBe(true);
    const updates: string[] = [];
    await client.queue.subscribeToStatus(ENDPOINT, {
      requestId: submitted.request_id,
      mode: "polling",
      pollInterval: 200,
      logs: true,
      onQueueUpdate: (u) => updates.push(u.status),
    });
    expect(updates.at(-1)).toBe("COMPLETED");
    const result = await client.queue.result(ENDPOINT, { requestId: submitted.request_id });
    const { video } = result.data as VideoResult;
    expect(video.url.startsWith(`${publicUrl}/files/`)).toBe(true);
    const res = await fetch(video.url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    expect((await res.arrayBuffer()).byteLength).toBe(video.file_size);
    const range = await fetch(video.url, { headers: { range: "bytes=0-99" } });
    expect(range.status).toBe(206);
    expect((await range.arrayBuffer()).byteLength).toBe(100);
  });

  it("subscribes in streaming mode: the SSE status stream arrives through the proxy", async () => {
    const statuses: string[] = [];
    const result = await falClient(publicUrl, svc.key).subscribe(ENDPOINT, {
      input: await smallInput(),
      mode: "streaming",
      logs: true,
      onQueueUpdate: (u) => statuses.push(u.status),
    });
    expect(statuses).toContain("IN_PROGRESS");
    expect(statuses.indexOf("IN_PROGRESS")).toBeLessThan(statuses.lastIndexOf("COMPLETED"));
    expect((result.data as VideoResult).video.url.startsWith(`${publicUrl}/files/`)).toBe(true);
  });

  it("uploads a file larger than nginx's default body limit through fal.storage.upload and reads it back", async () => {
    const bytes = randomBytes(3 * 1024 * 1024);
    const url = await falClient(publicUrl, svc.key).storage.upload(blobOf(bytes, "application/octet-stream"));
    expect(url.startsWith(`${publicUrl}/files/`)).toBe(true);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const back = Buffer.from(await res.arrayBuffer());
    expect(createHash("sha256").update(back).digest("hex")).toBe(createHash("sha256").update(bytes).digest("hex"));
  });

  it("submits with webhookUrl through the proxy; the webhook verifies against the JWKS at the public URL", async () => {
    const rx = await startReceiver(async () => 200);
    try {
      const { request_id } = await falClient(publicUrl, svc.key).queue.submit(ENDPOINT, { input: await smallInput(), webhookUrl: rx.url });
      for (let i = 0; i < 1200 && rx.received.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      const [delivery] = rx.received;
      expect(delivery, "a webhook delivery").toBeDefined();
      expect(delivery.headers["x-fal-webhook-request-id"]).toBe(request_id);
      expect(await verifyWithJwks(`${publicUrl}/.well-known/jwks.json`, delivery)).toBeNull();
      const body = JSON.parse(delivery.raw.toString("utf8")) as { status: string; payload: VideoResult };
      expect(body.status).toBe("OK");
      expect(body.payload.video.url.startsWith(`${publicUrl}/files/`)).toBe(true);
    } finally {
      await rx.close();
    }
  });

  describeIfAvailable("the playground through the proxy", chromiumAvailability(), () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await launchChromium();
    });
    afterAll(async () => {
      await browser?.close();
    });

    it("loads under /ltx/ and requests nothing outside it", async () => {
      const page = await browser.newPage();
      const requested: string[] = [];
      const failed: string[] = [];
      const errors: string[] = [];
      page.on("request", (r) => requested.push(r.url()));
      page.on("response", (r) => {
        if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
      });
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`${publicUrl}/`);
      await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 30_000 });
      // The form is built from GET /api/endpoints, so the API answered through the proxy.
      await page.waitForSelector("#field-prompt", { timeout: 30_000 });
      expect(errors).toEqual([]);
      expect(failed).toEqual([]);
      expect(requested.length).toBeGreaterThanOrEqual(5);
      for (const url of requested) expect(url.startsWith(`${publicUrl}/`), url).toBe(true);
      expect(requested).toContain(`${publicUrl}/api/endpoints`);
      await page.close();
    });
  });
});
