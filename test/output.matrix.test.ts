// The whole output matrix (72 cases): `npm run test:matrix`. Slow: minutes per 2160p 50 fps case.
import { afterAll, beforeAll, describe, it } from "vitest";
import { allCases, caseName, checkCase } from "./helpers/output-cases.js";
import { startTestService, type TestService } from "./helpers/service.js";

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { RATE_LIMIT_PER_MINUTE: "0", MAX_QUEUED_PER_KEY: "0" } });
});
afterAll(async () => {
  await svc?.close();
});

describe("output matrix", () => {
  it.each(allCases().map((c) => [caseName(c), c] as const))("%s probes exactly as asked", async (_name, c) => {
    await checkCase(svc, c);
  }, 1_800_000);
});
