// The hosted-API engine end to end: the service configured with LTX_API_KEY (pointed at the TEST
// DOUBLE of Lightricks' hosted API) serves both endpoints to the official client.
import { ValidationError } from "@fal-ai/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { probeVideo } from "../src/media/probe.js";
import { startLtxApiDouble, type LtxApiDouble } from "./doubles/ltx-hosted-api.js";
import { ENDPOINT, falClient, smallInput } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

let double: LtxApiDouble;
let svc: TestService;

beforeAll(async () => {
  double = await startLtxApiDouble();
  svc = await startTestService({ env: { LTX_API_KEY: double.apiKey, LTX_API_URL: double.url, LTX_API_POLL_INTERVAL_MS: "100" } });
});
afterAll(async () => {
  await svc?.close();
  await double?.close();
});

describe("ltx-api engine behind the service", () => {
  it("serves the /fast endpoint with a 12 s clip, records engine and model, and charges at the documented rate", async () => {
    const fal = falClient(svc.url, svc.key);
    const result = await fal.subscribe(`${ENDPOINT}/fast`, { input: await smallInput({ duration: 12, fps: 24 }), pollInterval: 100, logs: true });
    const video = (result.data as { video: { url: string } }).video;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ltx-api-svc-")), "v.mp4");
    fs.writeFileSync(file, Buffer.from(await (await fetch(video.url)).arrayBuffer()));
    const probe = await probeVideo(file);
    expect([probe.video.width, probe.video.height]).toEqual([1920, 1080]);
    expect(Math.abs(probe.video.frames - 288)).toBeLessThanOrEqual(1);
    const list = (await (await fetch(`${svc.url}/api/requests`, { headers: { authorization: `Key ${svc.key}` } })).json()) as {
      requests: { request_id: string; engine: string; model: string; cost_usd: number }[];
    };
    expect(list.requests.find((r) => r.request_id === result.requestId)).toMatchObject({ engine: "ltx-api", model: "ltx-2-3-fast", cost_usd: 0.72 });
    const submits = double.callsTo("submit");
    expect((submits.at(-1)?.json as { model: string }).model).toBe("ltx-2-3-fast");
  });

  it("refuses /fast durations above 10 s outside 1080p at 24/25 fps with a 422 naming duration", async () => {
    const fal = falClient(svc.url, svc.key);
    const err = await fal.queue.submit(`${ENDPOINT}/fast`, { input: await smallInput({ duration: 14, fps: 50 }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).getFieldErrors("duration")).toHaveLength(1);
  });
});
