// Launches the system's headless Chromium (Debian `chromium`) through playwright-core for browser tests.
// Missing Chromium fails the suite in CI and skips it locally, with the reason printed.
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

/** Chromium binary; CHROMIUM_PATH overrides the Debian location. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export type ChromiumAvailability = { run: true } | { run: false; mustFail: boolean; reason: string };

/** Whether browser tests can run here; in CI (env CI set) a missing browser is a failure, not a skip. */
export function chromiumAvailability(): ChromiumAvailability {
  if (existsSync(CHROMIUM_PATH)) return { run: true };
  const reason = `Chromium not found at ${CHROMIUM_PATH} (install Debian's chromium, or set CHROMIUM_PATH)`;
  return { run: false, mustFail: Boolean(process.env.CI), reason };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}
