// Tests that need an outside server (PostgreSQL, the moto S3 server): where it is missing, the suite
// skips with its reason printed; in CI (env CI set) a missing server fails the suite instead.
import net from "node:net";
import { describe, it } from "vitest";

export type Availability = { run: true } | { run: false; mustFail: boolean; reason: string };

export function unavailable(reason: string): Availability {
  return { run: false, mustFail: Boolean(process.env.CI), reason };
}

/** describe() that runs `body` when available, else one failing test (CI) or one visible skip. */
export function describeIfAvailable(title: string, availability: Availability, body: () => void): void {
  if (availability.run) {
    describe(title, body);
    return;
  }
  const { reason, mustFail } = availability;
  describe(title, () => {
    if (mustFail) {
      it("needs its test server in CI", () => {
        throw new Error(reason);
      });
    } else {
      console.warn(`[${title}] skipped: ${reason}`);
      it.skip(`runs only where its test server is installed: ${reason}`, () => {});
    }
  });
}

/**
 * A free loopback TCP port below 32768. The ephemeral range (32768-60999 here) is avoided: a port
 * picked there can be taken by an outgoing connection before the server binds it.
 */
export async function lowPort(min = 20000, max = 32767): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = min + Math.floor(Math.random() * (max - min + 1));
    const free = await new Promise<boolean>((resolve) => {
      const srv = net.createServer();
      srv.once("error", () => resolve(false));
      srv.listen(port, "127.0.0.1", () => srv.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error(`no free loopback port found in ${min}-${max}`);
}
