// `ltx-serve usage`: a key's charged requests, seconds and dollars over a time range, per endpoint
// (with its --endpoint short name) and resolution, read from
// the running server's /api/usage route. Shares --url/--key/--json, errors and exit codes with the
// other client commands (src/cli/lib).
import type { Command } from "commander";
import { shortNameOf } from "../lib/endpoint-flags.js";
import { callJson } from "../lib/http.js";
import { resolveServer, withServerOptions, type ServerOptions } from "../lib/options.js";
import { runCommand } from "../lib/output.js";

interface UsageBody {
  from: string;
  to: string;
  requests: number;
  seconds: number;
  cost_usd: number;
  by_endpoint: { endpoint: string; resolution: string; requests: number; seconds: number; cost_usd: number }[];
}

export function registerUsageCommand(program: Command): void {
  const cmd = program
    .command("usage")
    .description("show usage and cost for a key")
    .option("--from <date>", "start (ISO date or epoch ms)")
    .option("--to <date>", "end (ISO date or epoch ms)");
  withServerOptions(cmd);
  cmd.action(async (opts: ServerOptions & { from?: string; to?: string }) => {
    await runCommand(opts, async (out) => {
      const server = resolveServer(opts);
      const q = new URLSearchParams();
      if (opts.from) q.set("from", opts.from);
      if (opts.to) q.set("to", opts.to);
      const { body: b } = await callJson<UsageBody>(server, "GET", `/api/usage?${q}`, { phase: "status" });
      out.result(b);
      out.line(`${b.requests} requests, ${b.seconds} s of video, $${b.cost_usd.toFixed(2)} (${b.from} to ${b.to})`);
      for (const e of b.by_endpoint) {
        const short = shortNameOf(e.endpoint);
        out.line(`  ${e.endpoint}${short !== e.endpoint ? ` (${short})` : ""} ${e.resolution}: ${e.requests} requests, ${e.seconds} s, $${e.cost_usd.toFixed(2)}`);
      }
    });
  });
}
