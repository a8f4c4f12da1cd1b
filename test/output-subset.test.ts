// Output sizes, frame counts, fps and audio, probed with ffprobe: the fast subset of the matrix
// (the whole matrix is `npm run test:matrix`; its smallest case is here too).
import { afterAll, beforeAll, describe, it } from "vitest";
import { allCases, caseName, checkCase, subsetCases } from "./helpers/output-cases.js";
import { startTestService, type TestService } from "./helpers/service.js";

let svc: TestService;
beforeAll(async () => {
  svc = await startTestService({ env: { RATE_LIMIT_PER_MINUTE: "0" } });
});
afterAll(async () => {
  await svc?.close();
});

describe("output matrix, fast subset", () => {
  it.each([allCases()[0], ...subsetCases()].map((c) => [caseName(c), c] as const))("%s probes exactly as asked", async (_name, c) => {
    await checkCase(svc, c);
  }, 600_000);
});
