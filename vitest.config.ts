// Default suite: unit tests beside the code and service tests under test/ (fast subset of slow matrices).
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts"],
    exclude: ["test/**/*.matrix.test.ts", "node_modules/**", "dist/**"],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: "forks",
    reporters: ["default", "./test/helpers/summary-reporter.ts"],
    globalSetup: ["./test/helpers/temp-root.ts"],
    maxWorkers: 2,
  },
});
