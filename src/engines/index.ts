// Chooses and builds the engine serving each endpoint: ENGINES overrides; otherwise the local model
// when LTX_MODEL_DIR is set, the hosted LTX API when LTX_API_KEY is set, else the CPU preview engine
// (also for the endpoints the default engine does not declare it serves). An explicit ENGINES entry
// naming an engine that cannot serve its endpoint stops the start.
// Engines are loaded lazily so that an unused engine costs nothing at start.
import type { Config } from "../config.js";
import { ENDPOINTS } from "../endpoints.js";
import { servesProblem, type Engine } from "./types.js";

export const ENGINE_NAMES = ["preview", "ltx-api", "ltx"] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** The engine name configured for an endpoint. */
export function engineNameFor(config: Config, endpoint: string): EngineName {
  const explicit = config.engineByEndpoint[endpoint];
  if (explicit !== undefined) {
    if (!(ENGINE_NAMES as readonly string[]).includes(explicit)) {
      throw new Error(`ENGINES names unknown engine ${JSON.stringify(explicit)} for ${endpoint}; known: ${ENGINE_NAMES.join(", ")}`);
    }
    return explicit as EngineName;
  }
  if (config.ltxModelDir) return "ltx";
  if (config.ltxApiKey) return "ltx-api";
  return "preview";
}

async function build(name: EngineName, config: Config): Promise<Engine> {
  switch (name) {
    case "preview": {
      const { createPreviewEngine } = await import("./preview/index.js");
      return createPreviewEngine({ concurrency: config.previewConcurrency, x264Preset: config.x264Preset, ffmpegPath: config.ffmpegPath });
    }
    case "ltx-api": {
      const mod = (await import("./ltx-api/index.js")) as { createLtxApiEngine(config: Config): Engine };
      return mod.createLtxApiEngine(config);
    }
    case "ltx": {
      const mod = (await import("./ltx/index.js")) as { createLtxEngine(config: Config): Engine };
      return mod.createLtxEngine(config);
    }
  }
}

export interface EngineSet {
  engineFor(endpoint: string): Engine;
  all(): Engine[];
  close(): Promise<void>;
}

/** Builds one engine instance per engine name in use, shared by the endpoints that name it. */
export async function createEngines(config: Config, endpoints = ENDPOINTS.map((e) => e.id)): Promise<EngineSet> {
  const byName = new Map<EngineName, Engine>();
  const byEndpoint = new Map<string, Engine>();
  for (const endpoint of endpoints) {
    let name = engineNameFor(config, endpoint);
    if (!byName.has(name)) byName.set(name, await build(name, config));
    let engine = byName.get(name)!;
    // A configuration that gives an endpoint to an engine that cannot make it is refused at start;
    // a default choice (LTX_MODEL_DIR, LTX_API_KEY) that cannot serve an endpoint leaves it to preview.
    let problem = servesProblem(engine, endpoint);
    if (problem && config.engineByEndpoint[endpoint] === undefined) {
      name = "preview";
      if (!byName.has(name)) byName.set(name, await build(name, config));
      engine = byName.get(name)!;
      problem = servesProblem(engine, endpoint);
    }
    if (problem) {
      await Promise.all([...byName.values()].map((e) => e.close?.()));
      throw new Error(`ENGINES: ${problem}`);
    }
    byEndpoint.set(endpoint, engine);
  }
  return {
    engineFor(endpoint) {
      const engine = byEndpoint.get(endpoint);
      if (!engine) throw new Error(`No engine for endpoint ${endpoint}`);
      return engine;
    },
    all: () => [...byName.values()],
    async close() {
      await Promise.all([...byName.values()].map((e) => e.close?.()));
    },
  };
}
