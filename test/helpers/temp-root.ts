// Vitest global setup: every test process gets one fresh temporary folder for the whole run
// (TMPDIR, so os.tmpdir() in tests, the service and child processes points there). At the end it
// names whatever was left in it, then removes it, so a run leaves no temporary folders behind.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export default function setup(): () => void {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "ltx-serve-tests-"));
  const previous = process.env.TMPDIR;
  process.env.TMPDIR = root;
  return () => {
    const left = fs.existsSync(root) ? fs.readdirSync(root) : [];
    if (left.length) process.stderr.write(`[temp] removing ${left.length} temporary entries tests left behind: ${left.slice(0, 20).join(", ")}\n`);
    fs.rmSync(root, { recursive: true, force: true });
    if (previous === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = previous;
  };
}
