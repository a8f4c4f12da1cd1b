#!/usr/bin/env node
// The `ltx-serve` command line: one file per command under commands/, registered here.
import { Command } from "commander";
import { registerKeysCommand } from "./commands/keys.js";
import { registerServeCommand } from "./commands/serve.js";
import { registerUsageCommand } from "./commands/usage.js";
import { registerWebhooksCommand } from "./commands/webhooks.js";

export function buildProgram(): Command {
  const program = new Command("ltx-serve")
    .description("Self-hosted LTX-2.3 image-to-video service with fal.ai's API")
    .version("0.1.0")
    .showHelpAfterError();
  registerServeCommand(program);
  registerKeysCommand(program);
  registerUsageCommand(program);
  registerWebhooksCommand(program);
  return program;
}

buildProgram()
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exit(1);
  });
