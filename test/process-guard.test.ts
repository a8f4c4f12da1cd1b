// The serve path's process guard: an error that escapes every handler is logged and the process lives on.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";

describe("process guard", () => {
  it("logs an uncaught exception and an unhandled rejection and keeps running", () => {
    const script = `
      import { installProcessGuard } from "./src/service.ts";
      import { createLogger } from "./src/log.ts";
      installProcessGuard(createLogger("error"));
      setTimeout(() => { throw new Error("boom-uncaught"); }, 10);
      setTimeout(() => { Promise.reject(new Error("boom-rejected")); }, 20);
      setTimeout(() => { process.stdout.write("still-alive\\n"); process.exit(0); }, 200);`;
    const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
    const out = r.stdout + r.stderr;
    expect(r.status, out).toBe(0);
    expect(out).toContain("still-alive");
    expect(out).toContain("boom-uncaught");
    expect(out).toContain("boom-rejected");
  });
});
