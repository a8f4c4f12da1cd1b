// The progress view: the terminal line fits its width, plain output prints only on real changes,
// and log lines that merely repeat the bar are left out.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createProgressView, isProgressEcho, renderPlainLine, renderStatusLine, type StatusEvent } from "./progress.js";

const running = (percent: number, stage = "render"): StatusEvent => ({ status: "IN_PROGRESS", progress: { stage, step: Math.round(percent * 1.44), total: 144, percent } });

function capture(): { stream: NodeJS.WriteStream; text: () => string } {
  let text = "";
  const w = new Writable({ write: (chunk, _enc, cb) => ((text += chunk), cb()) });
  return { stream: w as unknown as NodeJS.WriteStream, text: () => text };
}

describe("renderStatusLine", () => {
  it("shows the bar, percentage, stage, step and elapsed time within the terminal width", () => {
    for (const columns of [40, 80, 200]) {
      const line = renderStatusLine(running(45), 83_000, columns);
      expect(line.length).toBeLessThan(columns);
      expect(line).toContain("45%");
    }
    expect(renderStatusLine(running(45), 83_000, 120)).toMatch(/█+░+ {2}45% render 65\/144 · 1:23$/);
  });

  it("shows the queue position while queued and the error when failed", () => {
    expect(renderStatusLine({ status: "IN_QUEUE", queue_position: 2 }, 5_000, 80)).toContain("queued, 2 ahead · 0:05");
    expect(renderPlainLine({ status: "COMPLETED", error: "Request was cancelled" }, 0)).toBe("[0:00] failed: Request was cancelled");
  });
});

describe("createProgressView without a terminal", () => {
  it("prints a line per state, stage and 10 % step, plus log lines that are not progress echoes", () => {
    const { stream, text } = capture();
    let now = 0;
    const view = createProgressView({ stream, tty: false, startedAt: 0, clock: () => now });
    view.update({ status: "IN_QUEUE", queue_position: 0, logs: [{ message: "Request queued", level: "INFO" }] });
    view.update({ status: "IN_QUEUE", queue_position: 0 });
    now = 2_000;
    for (const p of [1, 3, 9, 10, 15, 22]) view.update({ ...running(p), logs: [{ message: `render ${p}% (${p}/144)`, level: "INFO" }] });
    view.update({ ...running(95, "encode") });
    view.update({ status: "COMPLETED", logs: [{ message: "Completed in 9.0 s", level: "INFO" }] });
    view.stop();
    expect(text().split("\n").filter(Boolean)).toEqual([
      "  INFO  Request queued",
      "[0:00] queued, 0 ahead",
      "[0:02] render 1/144 (1%)",
      "[0:02] render 14/144 (10%)",
      "[0:02] render 32/144 (22%)",
      "[0:02] encode 137/144 (95%)",
      "  INFO  Completed in 9.0 s",
      "[0:02] completed",
    ]);
  });

  it("recognises the server's progress log lines and nothing else", () => {
    expect(isProgressEcho("render 40% (58/144)")).toBe(true);
    expect(isProgressEcho("denoise-1 12.5% (3/24)")).toBe(true);
    expect(isProgressEcho("Loading image_url")).toBe(false);
    expect(isProgressEcho("Completed in 12.6 s; charged $0.36")).toBe(false);
  });
});
