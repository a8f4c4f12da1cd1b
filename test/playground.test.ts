// The playground page driven in real headless Chromium against a real ltx-serve: key, upload, submit,
// live progress, a video that plays, text-to-video from its own form, the audio-to-video form (audio
// picker, player, payload), cancel, field errors, history and usage, phone width, keyboard.
// Screenshots go to test-output/playground/ for a reviewer to look at.
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { Browser, BrowserContext, Page } from "playwright-core";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { audioToVideoSchema, FAMILY_ENDPOINTS } from "../src/endpoints.js";
import { ffmpegBinary } from "../src/media/ffmpeg.js";
import { probeVideo } from "../src/media/probe.js";
import { chromiumAvailability, launchChromium } from "./helpers/browser.js";
import { startTestService, type TestService } from "./helpers/service.js";

const OUT_DIR = path.resolve("test-output/playground");
const PRO = "fal-ai/ltx-2.3/image-to-video";
const T2V = "fal-ai/ltx-2.3/text-to-video";
const A2V = "fal-ai/ltx-2.3/audio-to-video";
const APP = "fal-ai/ltx-2.3";
/** Upper bounds for waits on a shared, noisy machine; nothing asserts how fast anything is. */
const LONG = 240_000;

const availability = chromiumAvailability();

let svc: TestService;
let browser: Browser;
let context: BrowserContext;
let page: Page;
let imagePath: string;
/** A 2 s stereo tone (WAV) for the audio picker. */
let audioPath: string;
const pageErrors: string[] = [];
const requestedUrls: string[] = [];
/** Request ids the page made, by what the test did with them. */
const made: { succeeded?: string; cancelled?: string; t2v?: string } = {};

async function shot(p: Page, name: string, fullPage = false) {
  await p.screenshot({ path: path.join(OUT_DIR, `${name}.png`), fullPage });
}

/** A landscape test picture: sky gradient, sun and hills, so the screenshots show a real preview. */
async function makeTestImage(file: string) {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="960" height="540">
    <defs><linearGradient id="sky" x1="0" y1="0" x2="0" y2="1">
      <stop offset="0" stop-color="#2b3a8c"/><stop offset="0.6" stop-color="#f08a5d"/><stop offset="1" stop-color="#f9d976"/>
    </linearGradient></defs>
    <rect width="960" height="540" fill="url(#sky)"/>
    <circle cx="640" cy="300" r="70" fill="#ffe9a8"/>
    <path d="M0 400 Q 200 300 420 390 T 960 360 V 540 H 0 Z" fill="#2f5d50"/>
    <path d="M0 460 Q 260 390 520 450 T 960 440 V 540 H 0 Z" fill="#1d3b33"/>
  </svg>`;
  await sharp(Buffer.from(svg)).png().toFile(file);
}

async function api<T>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${svc.url}${route}`, {
    method,
    headers: { authorization: `Key ${svc.key}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as T };
}

async function openPage(p: Page) {
  await p.goto(svc.url + "/");
  await p.waitForFunction(() => document.body.dataset.ready === "true");
}

async function setBasicInput(p: Page, opts: { prompt: string; duration: string; resolution: string; fps: string; audio: boolean }) {
  await p.fill("#field-prompt", opts.prompt);
  await p.selectOption("#field-duration", opts.duration);
  await p.selectOption("#field-resolution", opts.resolution);
  await p.selectOption("#field-fps", opts.fps);
  await p.setChecked("#field-generate_audio", opts.audio);
}

async function uploadStartImage(p: Page) {
  await p.setInputFiles("#field-image_url-file", imagePath);
  await p.waitForFunction(() => /^Uploaded/.test(document.getElementById("field-image_url-status")?.textContent ?? ""), null, { timeout: LONG });
  return p.inputValue("#field-image_url");
}

/** Records every status line and progress value the page shows for the next request. */
async function recordProgress(p: Page) {
  await p.evaluate(() => {
    const seen = { statuses: [] as string[], progress: [] as number[] };
    (window as unknown as { __seen: typeof seen }).__seen = seen;
    const status = document.getElementById("run-status")!;
    const bar = document.getElementById("run-progress") as HTMLProgressElement;
    new MutationObserver(() => {
      const text = status.textContent ?? "";
      if (seen.statuses.at(-1) !== text) seen.statuses.push(text);
      if (bar.hasAttribute("value") && seen.progress.at(-1) !== bar.value) seen.progress.push(bar.value);
    }).observe(document.getElementById("run")!, { subtree: true, childList: true, characterData: true, attributes: true });
  });
}

const badgeIs = (p: Page, states: string[]) =>
  p.waitForFunction((s) => s.includes(document.getElementById("run-badge")?.textContent ?? ""), states, { timeout: LONG });

if (!availability.run) {
  describe("the playground in headless Chromium", () => {
    if (availability.mustFail) {
      it("needs Chromium in CI", () => {
        throw new Error(availability.reason);
      });
    } else {
      console.warn(`[playground.test] skipped: ${availability.reason}`);
      it.skip(`runs only where Chromium is installed: ${availability.reason}`, () => {});
    }
  });
} else {
  describe("the playground in headless Chromium", () => {
    beforeAll(async () => {
      fs.mkdirSync(OUT_DIR, { recursive: true });
      imagePath = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "playground-")), "hills.png");
      await makeTestImage(imagePath);
      audioPath = path.join(path.dirname(imagePath), "tone.wav");
      await promisify(execFile)(ffmpegBinary().path, ["-v", "error", "-f", "lavfi", "-i", "sine=frequency=330:duration=2", "-ac", "2", "-ar", "48000", audioPath]);
      svc = await startTestService();
      browser = await launchChromium();
      context = await browser.newContext({ viewport: { width: 1360, height: 960 }, deviceScaleFactor: 1 });
      page = await context.newPage();
      context.on("request", (req) => requestedUrls.push(req.url()));
      page.on("pageerror", (err) => pageErrors.push(String(err)));
    }, LONG);

    afterAll(async () => {
      await browser?.close();
      await svc?.close();
    });

    it("asks for the API key once, keeps it in the browser, and gets no secret from the server", async () => {
      const html = await (await fetch(`${svc.url}/`)).text();
      expect(html).not.toContain(svc.key);

      await openPage(page);
      await expect.poll(() => page.evaluate(() => (document.getElementById("key-dialog") as HTMLDialogElement).open)).toBe(true);
      // The dialog's field has focus, so the key can be typed at once.
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("key-input");
      await page.fill("#key-input", "not-a-key");
      await page.click("#key-save");
      await expect.poll(() => page.textContent("#key-error")).toContain("not accepted");
      await page.fill("#key-input", svc.key);
      await shot(page, "01-api-key");
      await page.click("#key-save");
      await expect.poll(() => page.evaluate(() => (document.getElementById("key-dialog") as HTMLDialogElement).open)).toBe(false);
      expect(await page.evaluate(() => localStorage.getItem("ltx-serve.key"))).toBe(svc.key);

      await openPage(page);
      expect(await page.evaluate(() => (document.getElementById("key-dialog") as HTMLDialogElement).open)).toBe(false);
      expect(await page.textContent("#key-button")).toContain(svc.key.slice(-4));
    });

    it("builds the form from the endpoint's schema with every default and prices the request before it is sent", async () => {
      const { body: endpoints } = await api<{ id: string; input_schema: { properties: Record<string, { default?: unknown }> }; price_per_second: Record<string, number> }[]>(
        "GET",
        "/api/endpoints",
      );
      const pro = endpoints.find((e) => e.id === PRO)!;
      expect(await page.inputValue("#endpoint")).toBe(PRO);
      for (const [name, prop] of Object.entries(pro.input_schema.properties)) {
        expect(await page.locator(`#field-${name}`).count(), name).toBe(1);
        if (prop.default === undefined) continue;
        if (typeof prop.default === "boolean") expect(await page.isChecked(`#field-${name}`), name).toBe(prop.default);
        else expect(await page.inputValue(`#field-${name}`), name).toBe(String(prop.default));
      }
      const price = (d: number, r: string) => `$${(d * pro.price_per_second[r]).toFixed(2)}`;
      const duration = Number(pro.input_schema.properties.duration.default);
      const resolution = String(pro.input_schema.properties.resolution.default);
      await expect.poll(() => page.textContent("#price")).toContain(price(duration, resolution));
      await page.selectOption("#field-resolution", "1440p");
      await page.selectOption("#field-duration", "10");
      await expect.poll(() => page.textContent("#price")).toContain(price(10, "1440p"));
      expect(await page.textContent("#submit")).toContain(price(10, "1440p"));
      // The fast endpoint offers longer clips; switching keeps the values it allows.
      await page.selectOption("#endpoint", `${PRO}/fast`);
      expect(await page.locator("#field-duration option[value='20']").count()).toBe(1);
      expect(await page.inputValue("#field-duration")).toBe("10");
      await page.selectOption("#endpoint", PRO);
      expect(await page.locator("#field-duration option[value='20']").count()).toBe(0);
    });

    it("uploads an image, shows live progress and logs, and plays the finished video", async () => {
      const fileUrl = await uploadStartImage(page);
      expect(fileUrl).toMatch(/^https?:\/\//);
      const uploaded = await fetch(fileUrl);
      expect(uploaded.status).toBe(200);
      expect(Buffer.from(await uploaded.arrayBuffer()).equals(fs.readFileSync(imagePath))).toBe(true);

      await setBasicInput(page, { prompt: "Evening light over green hills, the sun sinks slowly", duration: "6", resolution: "1080p", fps: "24", audio: false });
      await expect.poll(() => page.textContent("#price")).toContain("$0.36");
      await shot(page, "02-form-filled");
      await recordProgress(page);
      await page.click("#submit");

      await page.waitForSelector("#run:not([hidden])");
      made.succeeded = (await page.textContent("#run-id")) ?? undefined;
      expect(made.succeeded).toMatch(/\S/);
      await badgeIs(page, ["succeeded", "failed", "cancelled"]);
      expect(await page.textContent("#run-badge")).toBe("succeeded");
      await page.waitForSelector("#result:not([hidden])");

      const seen = await page.evaluate(() => (window as unknown as { __seen: { statuses: string[]; progress: number[] } }).__seen);
      expect(seen.statuses.some((s) => /^Running: .*\d+%/.test(s)), JSON.stringify(seen.statuses)).toBe(true);
      expect(seen.progress.some((v) => v > 0 && v < 100), JSON.stringify(seen.progress)).toBe(true);
      expect((await page.textContent("#logs"))?.trim().length).toBeGreaterThan(0);
      expect(await page.textContent("#run-elapsed")).toMatch(/^\d+(\.\d)? s$|min/);

      // The browser itself decodes and plays the file.
      await page.waitForFunction(() => (document.getElementById("video") as HTMLVideoElement).readyState >= 1, null, { timeout: LONG });
      const played = await page.evaluate(async () => {
        const v = document.getElementById("video") as HTMLVideoElement;
        v.muted = true;
        await v.play();
        while (v.currentTime < 0.3 && !v.error) await new Promise((r) => setTimeout(r, 50));
        v.pause();
        return { width: v.videoWidth, height: v.videoHeight, duration: v.duration, currentTime: v.currentTime, error: v.error?.code ?? null };
      });
      expect(played).toMatchObject({ width: 1920, height: 1080, error: null });
      expect(Math.abs(played.duration - 6)).toBeLessThan(0.1);
      expect(played.currentTime).toBeGreaterThan(0);
      await page.evaluate(() => {
        (document.getElementById("video") as HTMLVideoElement).currentTime = 3;
        window.scrollTo(0, 0);
      });
      await shot(page, "03-result-video");

      // The download link is the file itself, as ffprobe sees it.
      const href = await page.getAttribute("#download", "href");
      const mp4 = path.join(path.dirname(imagePath), "download.mp4");
      fs.writeFileSync(mp4, Buffer.from(await (await fetch(href!)).arrayBuffer()));
      const probe = await probeVideo(mp4);
      expect(probe.video).toMatchObject({ width: 1920, height: 1080, fps: 24, frames: 144 });
      expect(probe.audio).toBeUndefined();

      const resultJson = JSON.parse((await page.textContent("#result-json")) ?? "{}");
      const { body: result } = await api<{ video: { url: string } }>("GET", `/queue.fal.run/${APP}/requests/${made.succeeded}`);
      expect(resultJson).toEqual(result);
    }, LONG);

    it("shows cURL, JavaScript and Python for the same request, and the JavaScript runs as shown", async () => {
      const snippet = async (tab: string) => {
        await page.click(tab);
        return (await page.textContent("#snippet")) ?? "";
      };
      const curl = await snippet("#tab-curl");
      expect(curl).toContain(`/queue.fal.run/${PRO}`);
      expect(curl).toContain('"fps": 24');
      const python = await snippet("#tab-python");
      expect(python).toContain("FAL_QUEUE_RUN_HOST");
      expect(python).toContain('"generate_audio": False');
      // Keyboard: arrow keys move between the tabs.
      await page.focus("#tab-python");
      await page.keyboard.press("ArrowLeft");
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("tab-js");
      const js = (await page.textContent("#snippet")) ?? "";
      expect(js).toContain("requestMiddleware");
      for (const text of [curl, python, js]) expect(text).not.toContain(svc.key);
      await shot(page, "04-snippets", true);

      // Run the JavaScript snippet unchanged with the official client against the server.
      const file = path.join(OUT_DIR, "snippet.mjs");
      fs.writeFileSync(file, js);
      const { stdout } = await promisify(execFile)(process.execPath, [file], { env: { ...process.env, LTX_SERVE_KEY: svc.key }, timeout: LONG });
      const videoUrl = stdout.trim().split("\n").at(-1)!;
      expect(videoUrl.startsWith(svc.url)).toBe(true);
      const video = await fetch(videoUrl);
      expect(video.headers.get("content-type")).toMatch(/video\/mp4/);
      expect((await video.arrayBuffer()).byteLength).toBeGreaterThan(0);
    }, LONG);

    it("offers every routed endpoint, and makes a text-to-video clip from its own form, with no image picker", async () => {
      const { body: endpoints } = await api<{ id: string; title: string }[]>("GET", "/api/endpoints");
      const options = await page.$$eval("#endpoint option", (els) => els.map((o) => (o as HTMLOptionElement).value));
      expect(options).toEqual(endpoints.map((e) => e.id));
      expect(options).toEqual(expect.arrayContaining([PRO, `${PRO}/fast`, T2V, `${T2V}/fast`]));
      const imageUrl = await page.inputValue("#field-image_url");
      expect(imageUrl).toMatch(/^https?:\/\//);

      await page.selectOption("#endpoint", T2V);
      expect(await page.textContent("#endpoint-title")).toBe(T2V);
      expect(await page.locator(".dropzone").count()).toBe(0);
      expect(await page.locator("#field-image_url, #field-end_image_url").count()).toBe(0);
      expect(await page.getAttribute("#field-prompt", "aria-required")).toBe("true");
      expect(await page.textContent("#endpoint-rates")).toContain("$0.08 at 1080p · $0.16 at 1440p · $0.32 at 2160p");
      await setBasicInput(page, { prompt: "A lighthouse at dusk, waves rolling below", duration: "6", resolution: "1080p", fps: "24", audio: false });
      // 6 s at text-to-video's 1080p rate.
      await expect.poll(() => page.textContent("#price")).toContain("$0.48");
      await shot(page, "03b-text-to-video-form");
      await page.click("#submit");
      await page.waitForSelector("#run:not([hidden])");
      made.t2v = (await page.textContent("#run-id")) ?? undefined;
      await badgeIs(page, ["succeeded", "failed", "cancelled"]);
      expect(await page.textContent("#run-badge")).toBe("succeeded");
      await page.waitForSelector("#result:not([hidden])");
      await page.waitForFunction(() => (document.getElementById("video") as HTMLVideoElement).readyState >= 1, null, { timeout: LONG });
      expect(await page.evaluate(() => {
        const v = document.getElementById("video") as HTMLVideoElement;
        return [v.videoWidth, v.videoHeight, Math.round(v.duration)];
      })).toEqual([1920, 1080, 6]);
      const mp4 = path.join(path.dirname(imagePath), "t2v.mp4");
      fs.writeFileSync(mp4, Buffer.from(await (await fetch((await page.getAttribute("#download", "href"))!)).arrayBuffer()));
      expect((await probeVideo(mp4)).video).toMatchObject({ width: 1920, height: 1080, fps: 24, frames: 144 });
      const { body: stored } = await api<{ requests: { request_id: string; endpoint: string; input: Record<string, unknown> }[] }>("GET", "/api/requests?limit=5");
      const row = stored.requests.find((r) => r.request_id === made.t2v);
      expect(row?.endpoint).toBe(T2V);
      expect(row?.input).not.toHaveProperty("image_url");
      expect(await page.textContent("#snippet")).toContain(`"${T2V}"`);

      // Back on image-to-video, the start image chosen before is still there.
      await page.selectOption("#endpoint", PRO);
      expect(await page.inputValue("#field-image_url")).toBe(imageUrl);
    }, LONG);

    it("builds the audio-to-video form from its schema: an audio picker with a player, an optional image, and the payload the schema accepts", async () => {
      const a2v = FAMILY_ENDPOINTS.find((e) => e.id === A2V)!;
      const schema = z.toJSONSchema(a2v.schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" });
      const { body: endpoints } = await api<{ id: string; input_schema: unknown }[]>("GET", "/api/endpoints");
      const routed = endpoints.find((e) => e.id === A2V);
      const p = await context.newPage();
      p.on("pageerror", (err) => pageErrors.push(String(err)));
      await openPage(p);
      if (routed) {
        // The server lists audio-to-video: the page's own selector brings its form.
        expect(routed.input_schema).toEqual(schema);
        await p.selectOption("#endpoint", A2V);
        expect(await p.textContent("#endpoint-rates")).toContain("as long as the audio");
      } else {
        // Not routed here yet: the page's own form builder, given the endpoint's schema, in place of the form.
        // (Passed as text: the test's bundler would rewrite a dynamic import() inside a function.)
        await p.evaluate(`(async () => {
          const { buildForm } = await import(new URL("web/form.js", location.href).href);
          const { createApi } = await import(new URL("web/api.js", location.href).href);
          const api = createApi({ getKey: () => ${JSON.stringify(svc.key)}, baseUrl: new URL(".", location.href).href.replace(/\\/+$/, "") });
          window.__a2v = buildForm(document.getElementById("fields"), ${JSON.stringify(schema)}, { upload: (f) => api.upload(f), onChange: () => {} });
        })()`);
      }
      const readForm = () => p.evaluate(() => (window as unknown as { __a2v: { read(): Record<string, unknown> } }).__a2v.read());

      // The audio field comes first, with its own picker and player; the image is optional; no duration.
      const fieldOrder = await p.$$eval("#fields [data-field]", (els) => els.map((e) => e.getAttribute("data-field")));
      expect(fieldOrder.slice(0, 2)).toEqual(["audio_url", "image_url"]);
      expect(await p.getAttribute("#field-audio_url-file", "accept")).toMatch(/^audio\/\*/);
      expect(await p.getAttribute("#field-audio_url", "aria-required")).toBe("true");
      expect(await p.locator('[data-field="image_url"] .optional').count()).toBe(1);
      expect(await p.locator("#field-duration, #field-generate_audio").count()).toBe(0);
      expect(await p.locator("#field-guidance_scale").inputValue()).toBe("3");
      expect(await p.isHidden("#field-audio_url-player")).toBe(true);

      // A file that is not audio is refused at the field.
      await p.setInputFiles("#field-audio_url-file", imagePath);
      await expect.poll(() => p.textContent("#field-audio_url-error")).toContain("not an audio file");

      await p.setInputFiles("#field-audio_url-file", audioPath);
      await p.waitForFunction(() => /^Uploaded tone\.wav/.test(document.getElementById("field-audio_url-status")?.textContent ?? ""), null, { timeout: LONG });
      expect(await p.textContent("#field-audio_url-error")).toBe("");
      const audioUrl = await p.inputValue("#field-audio_url");
      expect(audioUrl.startsWith(svc.url)).toBe(true);
      expect(Buffer.from(await (await fetch(audioUrl)).arrayBuffer()).equals(fs.readFileSync(audioPath))).toBe(true);
      // The player shows the chosen track and has read its length.
      expect(await p.isVisible("#field-audio_url-player")).toBe(true);
      await p.waitForFunction(() => (document.getElementById("field-audio_url-player") as HTMLAudioElement).readyState >= 1, null, { timeout: LONG });
      const seconds = await p.evaluate(() => (document.getElementById("field-audio_url-player") as HTMLAudioElement).duration);
      expect(Math.abs(seconds - 2)).toBeLessThan(0.1);
      await p.fill("#field-prompt", "A singer on a small stage");
      await p.fill("#field-guidance_scale", "4.5");
      await p.evaluate(() => window.scrollTo(0, 0));
      await shot(p, "03c-audio-to-video-form");

      const expected = { audio_url: audioUrl, prompt: "A singer on a small stage", resolution: "1080p", aspect_ratio: "auto", fps: 25, guidance_scale: 4.5 };
      if (routed) {
        // 2 s of audio at audio-to-video's 1080p rate; the submit sends exactly the form's payload.
        await expect.poll(() => p.textContent("#price")).toContain("$0.16");
        const [submitted] = await Promise.all([p.waitForRequest((r) => r.method() === "POST" && r.url().endsWith(`/queue.fal.run/${A2V}`)), p.click("#submit")]);
        expect(submitted.postDataJSON()).toEqual(expected);
        await badgeIs(p, ["succeeded", "failed", "cancelled"]);
        expect(await p.textContent("#run-badge")).toBe("succeeded");
        await p.waitForFunction(() => (document.getElementById("video") as HTMLVideoElement).readyState >= 1, null, { timeout: LONG });
        await p.selectOption("#endpoint", PRO);
      } else {
        const payload = await readForm();
        expect(payload).toEqual(expected);
        const parsed = audioToVideoSchema.safeParse(payload);
        expect(parsed.success, JSON.stringify(parsed.error?.issues)).toBe(true);
      }
      await p.close();
    }, LONG);

    it("cancels a running request from the page", async () => {
      // The largest request takes the preview engine long enough to be caught running.
      await setBasicInput(page, { prompt: "A long, detailed 4K pan to cancel", duration: "10", resolution: "2160p", fps: "50", audio: true });
      await page.click("#submit");
      await page.waitForSelector("#run:not([hidden])");
      made.cancelled = (await page.textContent("#run-id")) ?? undefined;
      await badgeIs(page, ["running"]);
      // A reload picks the running request up again from the history.
      await openPage(page);
      await badgeIs(page, ["running"]);
      expect(await page.textContent("#run-id")).toBe(made.cancelled);
      // Wait until a multi-step stage (frames) is partly done, so the screenshot shows real progress.
      await page.waitForFunction(
        () => {
          const m = /\((\d+) of (\d+)\)/.exec(document.getElementById("run-status")?.textContent ?? "");
          const value = (document.getElementById("run-progress") as HTMLProgressElement).value;
          return Boolean(m && Number(m[1]) > 0 && value > 0 && value < 100);
        },
        null,
        { timeout: LONG },
      );
      await page.evaluate(() => window.scrollTo(0, 0));
      await shot(page, "05-progress");
      await page.click("#cancel");
      await badgeIs(page, ["cancelled", "failed", "succeeded"]);
      expect(await page.textContent("#run-badge")).toBe("cancelled");
      expect(await page.textContent("#run-error")).toMatch(/cancel/i);
      await shot(page, "06-cancelled");
      const { body: status } = await api<{ status: string; error_type?: string }>("GET", `/queue.fal.run/${APP}/requests/${made.cancelled}/status`);
      expect(status.status).toBe("COMPLETED");
      expect(status.error_type).toBe("request_cancelled");
    }, LONG);

    it("shows an input error at the field it is about, with the server's message", async () => {
      await setBasicInput(page, { prompt: "Bad seed", duration: "6", resolution: "1080p", fps: "24", audio: false });
      await page.fill("#field-seed", "-5");
      const input = await page.evaluate(() => ({
        image_url: (document.getElementById("field-image_url") as HTMLInputElement).value,
        prompt: "Bad seed", duration: 6, resolution: "1080p", fps: 24, generate_audio: false, seed: -5,
      }));
      const direct = await api<{ detail: { loc: string[]; msg: string }[] }>("POST", `/queue.fal.run/${PRO}`, input);
      expect(direct.status).toBe(422);
      const seedError = direct.body.detail.find((d) => d.loc.at(-1) === "seed")!;

      await page.click("#submit");
      await expect.poll(() => page.textContent("#field-seed-error")).toBe(seedError.msg);
      expect(await page.getAttribute("#field-seed", "aria-invalid")).toBe("true");
      expect(await page.evaluate(() => document.activeElement?.id)).toBe("field-seed");
      expect(await page.textContent("#field-image_url-error")).toBe("");
      await shot(page, "07-field-error");
      // Editing the field clears its error.
      await page.fill("#field-seed", "");
      expect(await page.textContent("#field-seed-error")).toBe("");
    });

    it("puts the error about an image that is not an image at the image field", async () => {
      await page.fill("#field-image_url", "data:text/plain;base64,aGVsbG8gd29ybGQ=");
      await page.click("#submit");
      await expect.poll(() => page.textContent("#field-image_url-error"), { timeout: LONG }).toMatch(/\S/);
      expect(await page.getAttribute("#field-image_url", "aria-invalid")).toBe("true");
      await shot(page, "08-image-error");
    }, LONG);

    it("takes images by drag-and-drop and by paste, uploads them, and refuses a file that is not an image", async () => {
      const png = fs.readFileSync(imagePath).toString("base64");
      const drop = (field: string, name: string, type: string) =>
        page.evaluate(
          ({ b64, field, name, type }) => {
            const file = new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], name, { type });
            const data = new DataTransfer();
            data.items.add(file);
            const zone = document.querySelector(`[data-dropzone="${field}"]`)!;
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: data, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: data, bubbles: true, cancelable: true }));
          },
          { b64: png, field, name, type },
        );
      const uploadedAs = async (field: string, name: string) => {
        await expect.poll(() => page.textContent(`#field-${field}-status`), { timeout: LONG }).toContain(`Uploaded ${name}`);
        const url = await page.inputValue(`#field-${field}`);
        expect(url.startsWith(svc.url)).toBe(true);
        expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(fs.readFileSync(imagePath))).toBe(true);
      };

      await drop("end_image_url", "notes.txt", "text/plain");
      await expect.poll(() => page.textContent("#field-end_image_url-error")).toContain("not an image");
      await drop("end_image_url", "dropped.png", "image/png");
      await uploadedAs("end_image_url", "dropped.png");
      expect(await page.textContent("#field-end_image_url-error")).toBe("");

      // A pasted image goes to the image field that has focus.
      await page.fill("#field-image_url", "");
      await page.focus("#field-image_url");
      await page.evaluate((b64) => {
        const data = new DataTransfer();
        data.items.add(new File([Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))], "pasted.png", { type: "image/png" }));
        document.activeElement!.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
      }, png);
      await uploadedAs("image_url", "pasted.png");
      await shot(page, "09-dropped-and-pasted");
      await page.click('[data-field="end_image_url"] button:has-text("Remove")');
      expect(await page.inputValue("#field-end_image_url")).toBe("");
    }, LONG);

    it("keeps the history and usage of this key across a reload", async () => {
      await openPage(page);
      const { body: history } = await api<{ requests: { request_id: string; state: string; cost_usd: number }[] }>("GET", "/api/requests?limit=50");
      await expect.poll(() => page.locator(".history-open").count()).toBe(history.requests.length);
      const item = (id: string) => page.locator(`.history-open[data-request-id="${id}"]`);
      expect(await item(made.succeeded!).locator(".badge").textContent()).toBe("succeeded");
      expect(await item(made.succeeded!).locator(".cost").textContent()).toBe("$0.36");
      expect(await item(made.cancelled!).locator(".badge").textContent()).toBe("cancelled");
      expect(await item(made.t2v!).locator(".cost").textContent()).toBe("$0.48");
      expect(await item(made.t2v!).locator(".history-body .muted").textContent()).toMatch(/^text-to-video · 6 s · 1080p/);
      await page.waitForFunction(
        (id) => {
          const img = document.querySelector(`.history-open[data-request-id="${id}"] img.thumb`) as HTMLImageElement | null;
          return Boolean(img && img.complete && img.naturalWidth > 0);
        },
        made.succeeded,
        { timeout: LONG },
      );
      const { body: usage } = await api<{ requests: number; cost_usd: number }>("GET", "/api/usage");
      expect(await page.textContent("#usage-requests")).toBe(String(usage.requests));
      expect(Number((await page.textContent("#usage-cost"))?.replace("$", ""))).toBeCloseTo(usage.cost_usd, 6);
      await shot(page, "10-history", true);

      // Opening a past request shows its video again.
      await item(made.succeeded!).click();
      await page.waitForSelector("#result:not([hidden])", { timeout: LONG });
      expect(await page.inputValue("#field-prompt")).toContain("Evening light");
    }, LONG);

    it("fits a phone screen without sideways scrolling", async () => {
      const phone = await context.newPage();
      phone.on("pageerror", (err) => pageErrors.push(String(err)));
      await phone.setViewportSize({ width: 390, height: 844 });
      await openPage(phone);
      await phone.waitForSelector(".history-open");
      const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
      expect(overflow).toBeLessThanOrEqual(0);
      await shot(phone, "11-phone", true);
      // The result of a past request at phone width (dark theme): the output panel comes into view.
      await phone.emulateMedia({ colorScheme: "dark" });
      await phone.locator(`.history-open[data-request-id="${made.succeeded}"]`).click();
      await phone.waitForSelector("#result:not([hidden])", { timeout: LONG });
      await phone.waitForFunction(() => (document.getElementById("video") as HTMLVideoElement).readyState >= 1, null, { timeout: LONG });
      expect(await phone.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
      await shot(phone, "12-phone-result-dark");
      await phone.close();
    });

    it("can be used with the keyboard: every control is labelled, reachable in order and shows focus", async () => {
      await openPage(page);
      const unlabeled = await page.evaluate(() =>
        [...document.querySelectorAll("main input, main select, main textarea, main button")]
          .filter((el) => !(el as HTMLElement).closest("[hidden]") && el.getAttribute("aria-hidden") !== "true")
          .filter((el) => {
            const labels = (el as HTMLInputElement).labels;
            const named = el.getAttribute("aria-label") || el.getAttribute("aria-labelledby") || (el.tagName === "BUTTON" && el.textContent?.trim());
            return !named && !(labels && labels.length > 0);
          })
          .map((el) => el.id || el.outerHTML.slice(0, 80)),
      );
      expect(unlabeled).toEqual([]);

      await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
      const order: string[] = [];
      let outline = "";
      for (let i = 0; i < 40; i++) {
        await page.keyboard.press("Tab");
        const info = await page.evaluate(() => {
          const el = document.activeElement as HTMLElement;
          return { id: el.id || el.textContent?.trim() || el.tagName, outline: getComputedStyle(el).outlineStyle };
        });
        order.push(info.id);
        if (info.id === "field-prompt") outline = info.outline;
        if (info.id === "submit") break;
      }
      const at = (id: string) => order.indexOf(id);
      for (const id of ["endpoint", "Choose file", "field-image_url", "field-prompt", "field-duration", "field-seed", "submit"]) {
        expect(at(id), `${id} in ${order.join(" > ")}`).toBeGreaterThanOrEqual(0);
      }
      expect(at("endpoint")).toBeLessThan(at("field-image_url"));
      expect(at("field-image_url")).toBeLessThan(at("field-prompt"));
      expect(at("field-prompt")).toBeLessThan(at("submit"));
      expect(outline).not.toBe("none");
      expect(await page.getAttribute("#run-status", "aria-live")).toBe("polite");
      await shot(page, "13-keyboard-focus");
    });

    it("loads nothing from outside the server and raises no script errors", () => {
      const outside = requestedUrls.filter((u) => !u.startsWith(svc.url) && !/^(data|blob):/.test(u));
      expect(outside).toEqual([]);
      expect(pageErrors).toEqual([]);
    });
  });
}
