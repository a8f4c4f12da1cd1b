// The `ltx-serve` command tree: one file per command under commands/, registered here.
import { Command } from "commander";
import { registerCancelCommand } from "./commands/cancel.js";
import { registerDoctorCommand } from "./commands/doctor.js";
import { registerGenerateCommand } from "./commands/generate.js";
import { registerKeysCommand } from "./commands/keys.js";
import { registerLogsCommand } from "./commands/logs.js";
import { registerResultCommand } from "./commands/result.js";
import { registerSheetCommand } from "./commands/sheet.js";
import { registerStatusCommand } from "./commands/status.js";
import { registerServeCommand } from "./commands/serve.js";
import { registerUsageCommand } from "./commands/usage.js";
import { registerWebhooksCommand } from "./commands/webhooks.js";
import { registerModelsCommand } from "./commands/models.js";
import { registerEndpointsCommand } from "./commands/endpoints.js";
import { exitCodeHelp } from "./lib/exit-codes.js";

export function buildProgram(): Command {
  const program = new Command("ltx-serve")
    .description("Self-hosted LTX-2.3 video service (image, text and audio to video) with fal.ai's API")
    .version("0.1.0")
    .showHelpAfterError();
  registerServeCommand(program);
  registerGenerateCommand(program);
  registerStatusCommand(program);
  registerResultCommand(program);
  registerCancelCommand(program);
  registerLogsCommand(program);
  registerSheetCommand(program);
  registerDoctorCommand(program);
  registerKeysCommand(program);
  registerUsageCommand(program);
  registerWebhooksCommand(program);
  registerModelsCommand(program);
  registerEndpointsCommand(program);
  program.addHelpText("after", exitCodeHelp());
  return program;
}
