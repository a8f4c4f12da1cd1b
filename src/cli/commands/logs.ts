// `ltx-serve logs <request-id> [--follow]`: a request's log lines; with --follow, new lines as they
// come (from the SSE status stream) until the request completes.
import type { Command } from "commander";
import { falClientFor } from "../lib/fal.js";
import { callJson, requestPaths } from "../lib/http.js";
import { appOf, checkRequestId, resolveEndpoint, resolveServer, withEndpointOption, withServerOptions, type ServerOptions } from "../lib/options.js";
import { runCommand } from "../lib/output.js";
import type { StatusEvent, StatusLog } from "../lib/progress.js";
import { watchRequest } from "../lib/watch.js";

export function formatLogLine(l: StatusLog): string {
  return `${l.timestamp ?? ""}  ${(l.level ?? "INFO").padEnd(5)}  ${l.message}`.trimStart();
}

export function registerLogsCommand(program: Command): void {
  const cmd = program
    .command("logs")
    .argument("<request-id>", "the id printed by generate --async")
    .option("-f, --follow", "keep printing new lines until the request completes (with --json: one JSON object per line)")
    .description("print a request's log lines");
  withEndpointOption(withServerOptions(cmd));
  cmd.action(async (id: string, opts: ServerOptions & { endpoint?: string; follow?: boolean }) => {
    await runCommand(opts, async (out) => {
      const server = resolveServer(opts);
      const endpoint = resolveEndpoint(opts.endpoint);
      const app = appOf(endpoint);
      checkRequestId(id);
      if (!opts.follow) {
        const { body } = await callJson<StatusEvent>(server, "GET", `${requestPaths(app, id).status}?logs=1`, { phase: "status", requestId: id });
        const logs = body.logs ?? [];
        out.result({ request_id: id, status: body.status, logs });
        for (const l of logs) out.line(formatLogLine(l));
        if (!logs.length) out.note(`no log lines yet (${body.status})`);
        return;
      }
      // Follow: JSON Lines with --json (one document per log line), so it can be piped as it comes.
      const final = await watchRequest({ fal: falClientFor(server.url, server.key), server, endpoint, app, requestId: id }, (e) => {
        for (const l of e.logs ?? []) {
          if (opts.json) process.stdout.write(`${JSON.stringify(l)}\n`);
          else out.line(formatLogLine(l));
        }
      });
      out.note(final.error ? `completed with an error: ${final.error}` : "completed");
    }, () => ({ phase: "status", requestId: id }));
  });
}
