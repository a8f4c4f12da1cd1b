// The rest of the LTX-2.3 family (text-to-video Pro/Fast, audio-to-video) on a running server: routed
// from their schemas (422 naming the field through the official @fal-ai/client), listed with the engine
// serving each, and a start refused when ENGINES gives an endpoint to an engine that cannot serve it.
import { ApiError } from "@fal-ai/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.js";
import { ENDPOINTS, FAMILY_ENDPOINTS } from "../src/endpoints.js";
import { createEngines } from "../src/engines/index.js";
import { probeVideo } from "../src/media/probe.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { falClient } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

let svc: TestService;

beforeAll(async () => {
  svc = await startTestService();
});
afterAll(async () => {
  await svc?.close();
});

async function fieldErrorOf(endpoint: string, input: Record<string, unknown>): Promise<{ status: number; locs: string[] }> {
  const fal = falClient(svc.url, svc.key);
  try {
    await fal.run(endpoint, { input });
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError<{ detail: { loc: string[] }[] }>;
    return { status: e.status, locs: e.body.detail.map((d) => d.loc.join(".")) };
  }
  throw new Error(`${endpoint} accepted ${JSON.stringify(input)}`);
}

describe("family endpoints", () => {
  it("/api/endpoints lists the five routed endpoints with the engine serving each", async () => {
    const res = await fetch(`${svc.url}/api/endpoints`);
    const body = (await res.json()) as { id: string; engine: string }[];
    expect(body.map((e) => e.id)).toEqual(ENDPOINTS.map((e) => e.id));
    expect(body.map((e) => e.id)).toHaveLength(5);
    for (const f of FAMILY_ENDPOINTS) expect(body.find((e) => e.id === f.id)?.engine).toBe("preview");
  });

  it("text-to-video renders on the preview engine through the official client, probed with ffprobe", async () => {
    const fal = falClient(svc.url, svc.key);
    const result = await fal.subscribe("fal-ai/ltx-2.3/text-to-video", {
      input: { prompt: "a red kite over a lake", duration: "6", fps: "24", aspect_ratio: "9:16", generate_audio: false, seed: 7 } as { prompt: string },
      pollInterval: 200,
    });
    const video = (result.data as { video: { url: string } }).video;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-family-"));
    const file = path.join(dir, "out.mp4");
    fs.writeFileSync(file, Buffer.from(await (await fetch(video.url)).arrayBuffer()));
    const probe = await probeVideo(file);
    fs.rmSync(dir, { recursive: true, force: true });
    expect([probe.video.width, probe.video.height, probe.video.fps, probe.video.frames]).toEqual([1080, 1920, 24, 144]);
    expect(probe.audio).toBeUndefined();
  }, 120_000);

  it("the OpenAPI document has sync and queue routes for each new endpoint", async () => {
    const doc = (await (await fetch(`${svc.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    for (const f of FAMILY_ENDPOINTS) {
      expect(Object.keys(doc.paths)).toContain(`/fal.run/${f.id}`);
      expect(Object.keys(doc.paths)).toContain(`/queue.fal.run/${f.id}`);
    }
  });

  it("bad inputs are 422 naming the field, through the official client", async () => {
    expect(await fieldErrorOf("fal-ai/ltx-2.3/text-to-video", { prompt: "a lake", duration: 12 })).toEqual({ status: 422, locs: ["body.duration"] });
    expect(await fieldErrorOf("fal-ai/ltx-2.3/text-to-video", { duration: 6 })).toEqual({ status: 422, locs: ["body.prompt"] });
    expect(await fieldErrorOf("fal-ai/ltx-2.3/text-to-video/fast", { prompt: "a lake", duration: 20, resolution: "2160p" })).toEqual({ status: 422, locs: ["body.duration"] });
  });

  it("a start mapping an endpoint to an engine that cannot serve it is refused with a clear message", async () => {
    // The ltx engine cannot make audio-to-video (docs/ltx-engine.md): checked for that endpoint alone.
    const config = loadConfig({ ENGINES: "fal-ai/ltx-2.3/audio-to-video=ltx", LTX_MODEL_DIR: "/nonexistent", DATA_DIR: "/tmp/ltx-family-refusal" });
    await expect(createEngines(config, ["fal-ai/ltx-2.3/audio-to-video"])).rejects.toThrow(/ENGINES: engine ltx cannot serve fal-ai\/ltx-2.3\/audio-to-video/);
  });

  it("the default engine of LTX_MODEL_DIR (and of LTX_API_KEY) serves text-to-video too", async () => {
    for (const [env, name] of [[{ LTX_MODEL_DIR: "/nonexistent" }, "ltx"], [{ LTX_API_KEY: "k" }, "ltx-api"]] as const) {
      const engines = await createEngines(loadConfig({ ...env, DATA_DIR: "/tmp/ltx-family-default" }));
      try {
        for (const f of FAMILY_ENDPOINTS.filter((e) => e.kind === "text-to-video")) expect(engines.engineFor(f.id).name).toBe(name);
      } finally {
        await engines.close();
      }
    }
  });

  // Preview serves audio-to-video once it is routed; until then no routed endpoint falls back.
  it.runIf(ENDPOINTS.some((e) => e.kind === "audio-to-video"))("the default engine of LTX_MODEL_DIR leaves the endpoints it does not serve to preview", async () => {
    const engines = await createEngines(loadConfig({ LTX_MODEL_DIR: "/nonexistent", DATA_DIR: "/tmp/ltx-family-default" }), [
      "fal-ai/ltx-2.3/image-to-video",
      "fal-ai/ltx-2.3/audio-to-video",
    ]);
    try {
      expect(engines.engineFor("fal-ai/ltx-2.3/image-to-video").name).toBe("ltx");
      expect(engines.engineFor("fal-ai/ltx-2.3/audio-to-video").name).toBe("preview");
    } finally {
      await engines.close();
    }
  });
});
