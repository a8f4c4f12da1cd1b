// SSE status streams of one request share one reader: streams opened at different times, with and
// without logs, each get their own first event (every log line so far), only new lines after it, and
// all close after COMPLETED; a stream of a queued request sees its queue position move.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ENDPOINT, falClient, smallInput } from "./helpers/fal.js";
import { startTestService, type TestService } from "./helpers/service.js";

const APP = "fal-ai/ltx-2.3";
let svc: TestService;

beforeAll(async () => {
  svc = await startTestService({ env: { PREVIEW_CONCURRENCY: "1" } });
});
afterAll(async () => {
  await svc?.close();
});

interface Event {
  status: string;
  queue_position?: number;
  logs: { message: string; timestamp: string }[] | null;
}

/** Reads an SSE stream to its end and returns its events. */
async function readStream(id: string, logs: boolean, onEvent?: (e: Event) => void): Promise<Event[]> {
  const res = await fetch(`${svc.url}/queue.fal.run/${APP}/requests/${id}/status/stream${logs ? "?logs=1" : ""}`, {
    headers: { authorization: `Key ${svc.key}` },
  });
  expect(res.status).toBe(200);
  const events: Event[] = [];
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of res.body!) {
    buffer += decoder.decode(chunk as Uint8Array, { stream: true });
    let at: number;
    while ((at = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, at);
      buffer = buffer.slice(at + 2);
      if (frame.startsWith("data: ")) {
        const e = JSON.parse(frame.slice(6)) as Event;
        events.push(e);
        onEvent?.(e);
      }
    }
  }
  return events;
}

describe("status streams", () => {
  it("serves several streams of one request, each with its own first event and only new log lines after it", async () => {
    const fal = falClient(svc.url, svc.key);
    // One request renders, one waits, and the streams watch the one behind it.
    for (let i = 0; i < 2; i++) await fal.queue.submit(ENDPOINT, { input: await smallInput() });
    const queued = (await fal.queue.submit(ENDPOINT, { input: await smallInput() })).request_id;

    let late: Promise<Event[]> | undefined;
    const early = readStream(queued, true, (e) => {
      // A second stream joins once the first has seen the request start.
      if (!late && e.status === "IN_PROGRESS") late = readStream(queued, true);
    });
    const plain = readStream(queued, false);
    const positions: number[] = [];
    const watcher = readStream(queued, false, (e) => e.queue_position !== undefined && positions.push(e.queue_position));
    const [earlyEvents, plainEvents] = await Promise.all([early, plain, watcher]);
    expect(late).toBeDefined();
    const lateEvents = await late!;

    // Every stream ends with COMPLETED; the plain one never carries logs.
    for (const events of [earlyEvents, plainEvents, lateEvents]) expect(events.at(-1)?.status).toBe("COMPLETED");
    expect(plainEvents.every((e) => e.logs === null)).toBe(true);
    // The queue position moved from 1 to 0 as the request ahead finished.
    expect(positions[0]).toBe(1);
    expect(positions).toContain(0);

    // Each log line reaches a logs stream exactly once, in order, and the late stream's first event
    // holds every line written before it joined.
    const all = (await (await fetch(`${svc.url}/queue.fal.run/${APP}/requests/${queued}/status?logs=1`, { headers: { authorization: `Key ${svc.key}` } })).json()) as Event;
    const messages = (all.logs ?? []).map((l) => `${l.timestamp} ${l.message}`);
    for (const events of [earlyEvents, lateEvents]) {
      expect(events.flatMap((e) => (e.logs ?? []).map((l) => `${l.timestamp} ${l.message}`))).toEqual(messages);
    }
    const lateFirst = lateEvents[0].logs ?? [];
    expect(lateFirst.length).toBeGreaterThan(1);
    expect(lateFirst.map((l) => l.message)).toContain("Request queued");
  }, 120_000);
});
