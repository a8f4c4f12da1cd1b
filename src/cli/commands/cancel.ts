// `ltx-serve cancel <request-id>`: asks the server to stop a queued or running request. A queued
// request never runs; a running one is stopped and its result becomes a cancellation error.
import type { Command } from "commander";
import { CliError } from "../lib/errors.js";
import { EXIT } from "../lib/exit-codes.js";
import { callJson, requestPaths } from "../lib/http.js";
import { appOf, checkRequestId, resolveEndpoint, resolveServer, withEndpointOption, withServerOptions, type ServerOptions } from "../lib/options.js";
import { runCommand } from "../lib/output.js";

export function registerCancelCommand(program: Command): void {
  const cmd = program
    .command("cancel")
    .argument("<request-id>", "the id printed by generate --async")
    .description("cancel a queued or running request (exit 7 if it had already finished)");
  withEndpointOption(withServerOptions(cmd));
  cmd.action(async (id: string, opts: ServerOptions & { endpoint?: string }) => {
    await runCommand(opts, async (out) => {
      const server = resolveServer(opts);
      const paths = requestPaths(appOf(resolveEndpoint(opts.endpoint)), checkRequestId(id));
      let status: string;
      try {
        ({ body: { status } } = await callJson<{ status: string }>(server, "PUT", paths.cancel, { phase: "cancel", requestId: id }));
      } catch (err) {
        if (err instanceof CliError && err.exitCode === EXIT.wrongState) {
          throw new CliError(`request ${id} had already finished; nothing to cancel`, {
            exitCode: EXIT.wrongState,
            requestId: id,
            httpStatus: err.httpStatus,
            errorType: "ALREADY_COMPLETED",
            hint: `see its outcome with: ltx-serve result ${id}`,
          });
        }
        if (err instanceof CliError && err.exitCode === EXIT.notFound) {
          throw new CliError(`no request ${id} for this key`, { exitCode: EXIT.notFound, requestId: id, httpStatus: err.httpStatus });
        }
        throw err;
      }
      out.result({ request_id: id, status });
      out.line(`${id}  ${status}`);
      out.note(`follow it with: ltx-serve status ${id}`);
    }, () => ({ phase: "cancel", requestId: id }));
  });
}
