// The generate command's endpoint flags read by the real command definition (commander), checked
// against each endpoint's schema from src/endpoints.ts (audio-to-video included, routed or not), and
// --audio's upload of a local file through a real server's storage API.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { Command } from "commander";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { audioToVideoSchema, FAMILY_ENDPOINTS } from "../src/endpoints.js";
import { registerGenerateCommand, givenFields, inputFromOptions, type AudioFlags, type GenerateOptions } from "../src/cli/commands/generate.js";
import { checkFlagsForEndpoint, ENDPOINT_SHORT_NAMES, findKnownEndpoint, flagsLine, summaryOf } from "../src/cli/lib/endpoint-flags.js";
import { CliError, FLAG_OF_FIELD, formatError } from "../src/cli/lib/errors.js";
import { falClientFor } from "../src/cli/lib/fal.js";
import { audioUrlFor } from "../src/cli/lib/inputs.js";
import { resolveEndpoint } from "../src/cli/lib/options.js";
import { ffmpegBinary } from "../src/media/ffmpeg.js";
import { startTestService, type TestService } from "./helpers/service.js";

const A2V = "fal-ai/ltx-2.3/audio-to-video";

/** Parses a generate command line with the real option definitions; nothing is sent. */
async function parse(args: string[]): Promise<{ opts: GenerateOptions; audio: AudioFlags }> {
  const program = new Command("ltx-serve").exitOverride();
  let seen: { opts: GenerateOptions; audio: AudioFlags } | undefined;
  registerGenerateCommand(program, async (opts, audio) => {
    seen = { opts, audio: { ...audio } };
  }).exitOverride();
  await program.parseAsync(["generate", ...args], { from: "user" });
  if (!seen) throw new Error("the command did not run");
  return seen;
}

/** The CliError that checking these flags against the endpoint throws (or undefined). */
async function flagError(args: string[]): Promise<CliError | undefined> {
  const { opts, audio } = await parse(args);
  const def = findKnownEndpoint(resolveEndpoint(opts.endpoint))!;
  try {
    checkFlagsForEndpoint(def, givenFields(opts, audio));
    return undefined;
  } catch (err) {
    return err as CliError;
  }
}

describe("--endpoint", () => {
  it("maps every short name to its endpoint id, keeps image-to-video as the default and refuses an unknown word", async () => {
    expect(resolveEndpoint(undefined)).toBe("fal-ai/ltx-2.3/image-to-video");
    expect((await parse(["--prompt", "x"])).opts.endpoint).toBe("fal-ai/ltx-2.3/image-to-video");
    const expected: Record<string, string> = {
      i2v: "fal-ai/ltx-2.3/image-to-video",
      pro: "fal-ai/ltx-2.3/image-to-video",
      "i2v-fast": "fal-ai/ltx-2.3/image-to-video/fast",
      fast: "fal-ai/ltx-2.3/image-to-video/fast",
      t2v: "fal-ai/ltx-2.3/text-to-video",
      "t2v-fast": "fal-ai/ltx-2.3/text-to-video/fast",
      a2v: A2V,
    };
    for (const [name, id] of Object.entries(expected)) {
      expect(resolveEndpoint(name), name).toBe(id);
      expect(findKnownEndpoint(id)?.id, `${name} has a schema`).toBe(id);
    }
    expect(Object.keys(ENDPOINT_SHORT_NAMES).sort()).toEqual(Object.keys(expected).sort());
    expect(resolveEndpoint("/fal-ai/ltx-2.3/text-to-video/")).toBe("fal-ai/ltx-2.3/text-to-video");
    expect(() => resolveEndpoint("t2x")).toThrow(/"t2x" is not an endpoint.*i2v, .*a2v/);
  });
});

describe("audio-to-video flags", () => {
  it("reads --audio, --image, --guidance-scale and the shared flags into the a2v schema's input", async () => {
    const { opts, audio } = await parse(["--endpoint", "a2v", "--audio", "song.wav", "--image", "cover.png", "--prompt", "a singer", "--guidance-scale", "4.5", "--fps", "24", "--resolution", "1440p", "--seed", "7"]);
    expect(audio).toEqual({ audio: "song.wav" });
    const given = givenFields(opts, audio);
    expect(given).toEqual({
      audio_url: "--audio", image_url: "--image", prompt: "--prompt", guidance_scale: "--guidance-scale", fps: "--fps", resolution: "--resolution", seed: "--seed",
    });
    const def = findKnownEndpoint(A2V)!;
    expect(() => checkFlagsForEndpoint(def, given)).not.toThrow();
    const input = inputFromOptions(opts, { audio: "https://example.com/song.wav", image: "https://example.com/cover.png" }, audio);
    expect(input).toEqual({
      audio_url: "https://example.com/song.wav", image_url: "https://example.com/cover.png", prompt: "a singer", guidance_scale: 4.5, fps: 24, resolution: "1440p", seed: 7,
    });
    // The payload is exactly what the endpoint's own schema accepts, defaults filled in by it.
    const parsed = audioToVideoSchema.safeParse(input);
    expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
    expect(parsed.data).toMatchObject({ guidance_scale: 4.5, fps: 24, aspect_ratio: "auto" });
    // The image stays optional there.
    const bare = await parse(["--endpoint", "a2v", "--audio", "https://example.com/a.mp3"]);
    expect(() => checkFlagsForEndpoint(def, givenFields(bare.opts, bare.audio))).not.toThrow();
    expect(inputFromOptions(bare.opts, { audio: "https://example.com/a.mp3" }, bare.audio)).toEqual({ audio_url: "https://example.com/a.mp3" });
    expect(summaryOf(A2V, { audio_url: "https://example.com/a.mp3" })).toBe("a2v, 1080p, as long as the audio (at most 20 s), 25 fps, est. at most $1.60");
  });

  it("names a flag the chosen endpoint does not take, and a required one left out, as input errors (exit 2)", async () => {
    const noAudio = await flagError(["--endpoint", "a2v", "--audio", "a.mp3", "--no-audio"]);
    expect(noAudio?.exitCode).toBe(2);
    expect(noAudio?.fieldErrors).toEqual([expect.objectContaining({ loc: ["body", "generate_audio"], type: "extra_forbidden" })]);
    expect(formatError(noAudio!, { flags: FLAG_OF_FIELD }).join("\n")).toMatch(/field body\.generate_audio \(--no-audio\): not an input of fal-ai\/ltx-2\.3\/audio-to-video \(a2v\), which takes --audio/);

    const audioOnI2v = await flagError(["--image", "a.png", "--prompt", "x", "--audio", "a.mp3"]);
    expect(audioOnI2v?.fieldErrors.map((f) => f.loc)).toEqual([["body", "audio_url"]]);
    expect(formatError(audioOnI2v!, { flags: FLAG_OF_FIELD }).join("\n")).toContain("(--audio): not an input of fal-ai/ltx-2.3/image-to-video (i2v)");

    const t2v = await flagError(["--endpoint", "t2v", "--image", "a.png", "--end-image", "b.png", "--guidance-scale", "3"]);
    expect(t2v?.fieldErrors.map((f) => [f.loc[1], f.type])).toEqual([
      ["image_url", "extra_forbidden"], ["end_image_url", "extra_forbidden"], ["guidance_scale", "extra_forbidden"], ["prompt", "missing"],
    ]);
    expect(t2v?.message).toBe("input rejected: 4 fields are not valid for t2v");

    const missing = await flagError(["--endpoint", "a2v", "--prompt", "x"]);
    expect(missing?.fieldErrors).toEqual([expect.objectContaining({ loc: ["body", "audio_url"], type: "missing" })]);
    expect(await flagError(["--endpoint", "t2v-fast", "--prompt", "x", "--duration", "20", "--no-audio", "--camera-motion", "static"])).toBeUndefined();
  });

  it("lists each endpoint's flags from its schema", () => {
    const lines = Object.fromEntries(FAMILY_ENDPOINTS.map((e) => [e.alias, flagsLine(e)]));
    expect(lines.a2v).toBe("--audio [--image] [--prompt] [--resolution] [--aspect-ratio] [--fps] [--guidance-scale] [--seed]");
    expect(lines.t2v).toMatch(/^--prompt \[--duration\]/);
    expect(lines.t2v).not.toContain("--image");
  });
});

describe("--audio upload", () => {
  let svc: TestService;
  let dir: string;
  let wav: string;

  beforeAll(async () => {
    svc = await startTestService();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "cli-audio-"));
    wav = path.join(dir, "tone.wav");
    await promisify(execFile)(ffmpegBinary().path, ["-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-ac", "2", "-ar", "48000", wav]);
  }, 60_000);

  afterAll(async () => {
    await svc?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it("uploads a local audio file through the server's storage as audio/wav and passes URLs through", async () => {
    const fal = falClientFor(svc.url, svc.key);
    const uploads: { file: string; bytes: number; url: string }[] = [];
    const url = await audioUrlFor(fal, wav, (u) => uploads.push(u));
    expect(url.startsWith(svc.url)).toBe(true);
    expect(uploads).toEqual([{ file: wav, bytes: fs.statSync(wav).size, url }]);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^audio\/(wav|x-wav|wave)/);
    expect(Buffer.from(await res.arrayBuffer()).equals(fs.readFileSync(wav))).toBe(true);

    for (const remote of ["https://example.com/song.mp3", "data:audio/wav;base64,UklGRg=="]) {
      expect(await audioUrlFor(fal, remote, (u) => uploads.push(u))).toBe(remote);
    }
    expect(uploads).toHaveLength(1);

    const err = await audioUrlFor(fal, path.join(dir, "missing.mp3"), () => {}).catch((e: unknown) => e as CliError);
    expect(err).toBeInstanceOf(CliError);
    expect((err as CliError).exitCode).toBe(2);
    expect((err as CliError).message).toMatch(/^--audio .*missing\.mp3: no such file/);
    expect((err as CliError).hint).toContain("local audio file");
  });
});
