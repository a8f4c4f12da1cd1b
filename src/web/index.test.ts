// The playground plugin serves the page and its assets without auth or secrets, and the page's pure
// helpers (SSE parsing, schema-to-form mapping, code snippets) behave on tricky input.
import Fastify from "fastify";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ENDPOINTS, FAMILY_ENDPOINTS } from "../endpoints.js";
import { z } from "zod";
import { findAssetsDir, registerPlayground } from "./index.js";

const assetsDir = findAssetsDir();

/** The browser modules are plain JS without type declarations; load them by URL and type what we use. */
async function browserModule<T>(name: string): Promise<T> {
  return (await import(new URL(`./assets/${name}`, import.meta.url).href)) as T;
}

interface SseParserLike {
  push(text: string): string[];
  end(): string[];
}
interface FieldLike {
  name: string;
  kind: string;
  valueType: string;
  default: unknown;
  options: unknown[] | null;
  required: boolean;
}

async function appWithPlayground() {
  const app = Fastify();
  await registerPlayground(app);
  return app;
}

describe("the playground plugin", () => {
  it("serves the page at / with a policy that allows no other origin for scripts, styles or fonts", async () => {
    const app = await appWithPlayground();
    const res = await app.inject({ method: "GET", url: "/" });
    expect(res.statusCode).toBe(200);
    expect(res.headers["content-type"]).toMatch(/^text\/html/);
    expect(res.body).toContain('<script type="module" src="web/app.js">');
    const csp = String(res.headers["content-security-policy"]);
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("style-src 'self'");
    expect(csp).toContain("font-src 'self'");
    await app.close();
  });

  it("serves every asset the page links to, with its content type", async () => {
    const app = await appWithPlayground();
    const page = (await app.inject({ method: "GET", url: "/" })).body;
    const linked = [...page.matchAll(/(?:src|href)="(web\/[^"]+)"/g)].map((m) => `/${m[1]}`);
    expect(linked.length).toBeGreaterThanOrEqual(3);
    for (const url of [...new Set(linked), "/web/api.js", "/web/form.js", "/web/snippets.js"]) {
      const res = await app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(200);
      const ext = path.extname(url);
      const expected = { ".js": /^text\/javascript/, ".css": /^text\/css/, ".svg": /^image\/svg\+xml/ }[ext];
      expect(res.headers["content-type"], url).toMatch(expected ?? /./);
    }
    await app.close();
  });

  it("uses only relative URLs, so the page also works when a proxy mounts it under a sub-path", async () => {
    const app = await appWithPlayground();
    for (const name of ["", "web/app.js", "web/api.js", "web/form.js", "web/snippets.js", "web/style.css"]) {
      const body = (await app.inject({ method: "GET", url: `/${name}` })).body;
      expect(body, name).not.toMatch(/(?:src|href|action)="\//);
      expect(body, name).not.toMatch(/url\(\s*["']?\//);
      expect(body, name).not.toMatch(/(?:from|import)\s*\(?\s*["']\//);
      expect(body, name).not.toMatch(/window\.location\.origin/);
    }
    await app.close();
  });

  it("links no external origin from any asset", async () => {
    const app = await appWithPlayground();
    for (const name of ["", "web/app.js", "web/api.js", "web/form.js", "web/snippets.js", "web/style.css"]) {
      const body = (await app.inject({ method: "GET", url: `/${name}` })).body;
      // Snippet text may mention URLs; what matters is what the browser loads: imports, src, href, url().
      expect(body, name).not.toMatch(/(?:src|href)="https?:/);
      expect(body, name).not.toMatch(/@import|url\(\s*["']?https?:/);
      expect(body, name).not.toMatch(/from\s+["']https?:/);
    }
    await app.close();
  });

  it("answers 404 JSON for unknown assets and never serves files outside the folder", async () => {
    const app = await appWithPlayground();
    for (const url of ["/web/nope.js", "/web/..%2F..%2Fpackage.json", "/web/%2e%2e%2findex.ts", "/web/index.test.ts"]) {
      const res = await app.inject({ method: "GET", url });
      expect(res.statusCode, url).toBe(404);
      expect(res.headers["content-type"], url).toMatch(/json/);
    }
    await app.close();
  });

  it("finds its assets from the compiled location dist/web/ through the source tree", () => {
    const fromDist = findAssetsDir(new URL("../../dist/web/index.js", import.meta.url).href);
    expect(existsSync(path.join(fromDist, "index.html"))).toBe(true);
  });

  it("serves only the asset kinds it knows from a folder", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "playground-assets-"));
    writeFileSync(path.join(dir, "index.html"), "<!doctype html><title>t</title>");
    writeFileSync(path.join(dir, "secret.env"), "KEY=1");
    writeFileSync(path.join(dir, ".hidden.js"), "x");
    const app = Fastify();
    await registerPlayground(app, dir);
    expect((await app.inject({ method: "GET", url: "/" })).statusCode).toBe(200);
    expect((await app.inject({ method: "GET", url: "/web/secret.env" })).statusCode).toBe(404);
    expect((await app.inject({ method: "GET", url: "/web/.hidden.js" })).statusCode).toBe(404);
    await app.close();
  });
});

describe("the page's SSE parser", () => {
  it("yields each data payload once, however the stream is cut into chunks", async () => {
    const { SseParser } = await browserModule<{ SseParser: new () => SseParserLike }>("api.js");
    const stream = ': ping\r\n\r\ndata: {"a":1}\r\n\r\nevent: x\ndata: {"b":\ndata: 2}\n\ndata: {"c":3}\r\rdata: last';
    for (let size = 1; size <= stream.length; size++) {
      const parser = new SseParser();
      const out: string[] = [];
      for (let i = 0; i < stream.length; i += size) out.push(...parser.push(stream.slice(i, i + size)));
      out.push(...parser.end());
      expect(out, `chunk size ${size}`).toEqual(['{"a":1}', '{"b":\n2}', '{"c":3}', "last"]);
    }
  });
});

describe("the form built from the input schema", () => {
  it.each(ENDPOINTS.filter((e) => e.kind === "image-to-video").map((e) => [e.id, e] as const))("has one field per property of %s with its default", async (_id, endpoint) => {
    const { describeFields } = await browserModule<{ describeFields: (s: unknown) => FieldLike[] }>("form.js");
    const schema = z.toJSONSchema(endpoint.schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" }) as {
      properties: Record<string, { default?: unknown }>;
      required?: string[];
    };
    const fields = describeFields(schema);
    expect(fields.map((f) => f.name).sort()).toEqual(Object.keys(schema.properties).sort());
    const byName = Object.fromEntries(fields.map((f) => [f.name, f]));
    expect(byName.image_url.kind).toBe("image");
    expect(byName.end_image_url.kind).toBe("image");
    expect(byName.prompt.kind).toBe("textarea");
    expect(byName.generate_audio.kind).toBe("checkbox");
    expect(byName.seed.kind).toBe("number");
    // Numeric enums that also accept strings ("6") become one select of numbers.
    expect(byName.duration).toMatchObject({ kind: "select", valueType: "number" });
    // Every offered duration is a number the endpoint accepts, and every even value it accepts is offered.
    const accepts = (v: unknown) => endpoint.schema.shape.duration.safeParse(v).success;
    for (const d of byName.duration.options ?? []) expect(typeof d === "number" && accepts(d), String(d)).toBe(true);
    const accepted = Array.from({ length: 31 }, (_, i) => i).filter(accepts);
    expect(byName.duration.options).toEqual(accepted);
    expect(byName.fps.options).toEqual([24, 25, 48, 50]);
    expect(byName.resolution.options).toEqual(["1080p", "1440p", "2160p"]);
    expect(byName.camera_motion).toMatchObject({ kind: "select", required: false, default: undefined });
    for (const [name, prop] of Object.entries(schema.properties)) expect(byName[name].default, name).toEqual(prop.default);
    expect(fields.filter((f) => f.required).map((f) => f.name).sort()).toEqual([...(schema.required ?? [])].sort());
  });
});

describe("the form of the other endpoints of the family, from their schemas in src/endpoints.ts", () => {
  const jsonSchemaOf = (alias: string) => {
    const def = FAMILY_ENDPOINTS.find((e) => e.alias === alias)!;
    return z.toJSONSchema(def.schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" }) as { properties: Record<string, { default?: unknown }>; required?: string[] };
  };

  it("gives text-to-video no image picker: the prompt comes first and is required", async () => {
    const { describeFields } = await browserModule<{ describeFields: (s: unknown) => FieldLike[] }>("form.js");
    for (const alias of ["t2v", "t2v-fast"]) {
      const schema = jsonSchemaOf(alias);
      const fields = describeFields(schema);
      expect(fields.map((f) => f.name).sort(), alias).toEqual(Object.keys(schema.properties).sort());
      expect(fields.filter((f) => f.kind === "image" || f.kind === "audio"), alias).toEqual([]);
      expect(fields[0], alias).toMatchObject({ name: "prompt", kind: "textarea", required: true });
      expect(fields.find((f) => f.name === "aspect_ratio"), alias).toMatchObject({ kind: "select", default: "16:9", options: ["16:9", "9:16"] });
    }
  });

  it("gives audio-to-video an audio picker first, an optional image, and its guidance scale as a number", async () => {
    const { describeFields, acceptsFile } = await browserModule<{
      describeFields: (s: unknown) => FieldLike[];
      acceptsFile: (kind: string, file: { type: string; name: string }) => boolean;
    }>("form.js");
    const schema = jsonSchemaOf("a2v");
    const fields = describeFields(schema);
    expect(fields.map((f) => f.name).sort()).toEqual(Object.keys(schema.properties).sort());
    expect(fields.slice(0, 2).map((f) => [f.name, f.kind, f.required])).toEqual([["audio_url", "audio", true], ["image_url", "image", false]]);
    expect(fields.find((f) => f.name === "guidance_scale")).toMatchObject({ kind: "number", valueType: "number", default: 3 });
    expect(fields.find((f) => f.name === "prompt")).toMatchObject({ kind: "textarea", required: false });
    expect(fields.some((f) => f.name === "duration" || f.name === "generate_audio")).toBe(false);
    expect(fields.filter((f) => f.required).map((f) => f.name)).toEqual(schema.required);
    // The audio picker takes audio files (by type, or by name when the browser gives none), never images.
    expect(acceptsFile("audio", { type: "audio/mpeg", name: "a.mp3" })).toBe(true);
    expect(acceptsFile("audio", { type: "", name: "take.FLAC" })).toBe(true);
    expect(acceptsFile("audio", { type: "image/png", name: "a.png" })).toBe(false);
    expect(acceptsFile("audio", { type: "", name: "notes.txt" })).toBe(false);
    expect(acceptsFile("image", { type: "audio/wav", name: "a.wav" })).toBe(false);
  });
});

describe("the code snippets", () => {
  type Snip = (req: { baseUrl: string; endpointId: string; app: string; input: object }) => string;
  const req = {
    baseUrl: "http://127.0.0.1:8787",
    endpointId: "fal-ai/ltx-2.3/image-to-video",
    app: "fal-ai/ltx-2.3",
    input: { image_url: "http://127.0.0.1:8787/files/abc/cat.png", prompt: "it's a cat's \"day\"", fps: 24, generate_audio: false, seed: null },
  };

  it("quote a prompt with quotes and apostrophes so the shell passes it unchanged", async () => {
    const { curlSnippet, shellQuote } = await browserModule<{ curlSnippet: Snip; shellQuote: (s: string) => string }>("snippets.js");
    const { execFileSync } = await import("node:child_process");
    const echoed = execFileSync("sh", ["-c", `printf '%s' ${shellQuote(JSON.stringify(req.input))}`], { encoding: "utf8" });
    expect(JSON.parse(echoed)).toEqual(req.input);
    expect(curlSnippet(req)).toContain("$BASE/queue.fal.run/fal-ai/ltx-2.3/image-to-video");
    expect(curlSnippet(req)).toContain("$BASE/queue.fal.run/fal-ai/ltx-2.3/requests/$REQUEST_ID");
  });

  it("write the input as a Python literal that Python reads back as the same value", async () => {
    const { pythonLiteral } = await browserModule<{ pythonLiteral: (v: unknown, indent?: number) => string }>("snippets.js");
    const { execFileSync } = await import("node:child_process");
    let python: string | null = null;
    for (const bin of ["python3", "python"]) {
      try {
        execFileSync(bin, ["--version"]);
        python = bin;
        break;
      } catch {
        /* try the next name */
      }
    }
    if (!python) return; // the JSON comparison needs a Python; the other snippet tests still run
    const value = { ...req.input, nested: [1, 2.5, true, { a: null }], unicode: "é ✓" };
    const out = execFileSync(python, ["-c", `import json,sys; print(json.dumps(${pythonLiteral(value)}))`], { encoding: "utf8" });
    expect(JSON.parse(out)).toEqual(value);
  });

  it("never contain a key and shorten long data: URIs", async () => {
    const mod = await browserModule<{ curlSnippet: Snip; jsSnippet: Snip; pythonSnippet: Snip }>("snippets.js");
    const big = { ...req.input, image_url: `data:image/png;base64,${"A".repeat(50_000)}` };
    for (const snip of [mod.curlSnippet, mod.jsSnippet, mod.pythonSnippet]) {
      const text = snip({ ...req, input: big });
      expect(text.length).toBeLessThan(5000);
      expect(text).toContain("data:image/png;base64,…(50022 characters)");
      expect(text).toContain("LTX_SERVE_KEY");
    }
  });
});
