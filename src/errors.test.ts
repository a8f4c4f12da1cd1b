import { describe, expect, it } from "vitest";
import { BadRequestError, EngineError, InfrastructureError, InputError, toWireError } from "./errors.js";

const TRACE = [
  "Preview engine process exited unexpectedly (1): TypeError: boom at /srv/app/dist/render.js:12",
  "    at render (/srv/app/dist/engines/preview/render.js:120:11)",
  "    at process.processTicksAndRejections (node:internal/process/task_queues:95:5)",
].join("\n");

const PY_TRACE = [
  "worker failed: Traceback (most recent call last):",
  '  File "/opt/ltx/python/ltx_worker/runner.py", line 88, in run',
  "    frames = pipe(**kwargs)",
  "RuntimeError: CUDA out of memory (pid 48213)",
].join("\n");

describe("wire errors say nothing internal", () => {
  const cases: [string, Error][] = [
    ["fs error", new InfrastructureError("Could not write the prepared image_url image: ENOENT: no such file or directory, open '/home/me/ltx/data/work/abc-1/image_url.png.4242.partial'")],
    ["node stack", new InfrastructureError(TRACE)],
    ["python traceback", new EngineError(PY_TRACE)],
    ["windows path", new EngineError("cannot open C:\\Users\\me\\ltx\\data\\x.mp4")],
    ["pid", new InfrastructureError("The LTX-2.3 worker (pid=31337) exited; PID 31337 is gone")],
    ["bad request", new BadRequestError("Unsupported file /var/lib/ltx-serve/files/x")],
  ];
  for (const [name, err] of cases) {
    it(`${name}: no absolute path, pid or stack frame in body, message or headers`, () => {
      const wire = toWireError(err);
      const text = JSON.stringify(wire);
      expect(text).not.toMatch(/\/(home|srv|opt|var)\//);
      expect(text).not.toMatch(/C:\\\\/);
      expect(text).not.toMatch(/\b(31337|48213|4242)\b/);
      expect(text).not.toMatch(/\n\s+at\s|Traceback|File \\"/);
      expect(err.message).toBe(wire.message);
    });
  }

  it("keeps what the caller needs: the kind of failure and the exception line", () => {
    expect(toWireError(new EngineError(PY_TRACE)).message).toContain("RuntimeError: CUDA out of memory");
    expect(toWireError(new InfrastructureError(TRACE)).message).toContain("TypeError: boom");
    expect(toWireError(cases[0][1]).message).toContain("ENOENT: no such file or directory");
  });

  it("leaves URLs, routes and relative doc paths alone", () => {
    const msg = "fetch https://example.com/a/b.png failed; see docs/ltx-engine.md or GET /health";
    expect(new EngineError(msg).message).toBe(msg);
    const field = InputError.field("image_url", "could not fetch http://127.0.0.1:9/x/y.png");
    expect(JSON.stringify(toWireError(field).body)).toContain("http://127.0.0.1:9/x/y.png");
  });

  it("keeps the unredacted text for the server's own log", () => {
    const err = new InfrastructureError("open '/home/me/data/x'");
    expect(err.internalMessage).toContain("/home/me/data/x");
  });
});
