#!/usr/bin/env node
// The `ltx-serve` command line: parses the arguments with the command tree of program.ts.
import { buildProgram } from "./program.js";

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(1);
  });
