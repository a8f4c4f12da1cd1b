// `ltx-serve usage`: a key's charged requests, seconds and dollars over a time range, read from
// the running server's /api/usage route.
import type { Command } from "commander";

export function registerUsageCommand(program: Command): void {
  program
    .command("usage")
    .description("show usage and cost for a key")
    .option("--url <url>", "server URL", process.env.LTX_SERVE_URL ?? "http://127.0.0.1:8787")
    .option("--key <key>", "API key (default: LTX_SERVE_KEY)", process.env.LTX_SERVE_KEY)
    .option("--from <date>", "start (ISO date or epoch ms)")
    .option("--to <date>", "end (ISO date or epoch ms)")
    .option("--json", "print JSON")
    .action(async (opts: { url: string; key?: string; from?: string; to?: string; json?: boolean }) => {
      if (!opts.key) throw new Error("an API key is needed: --key or LTX_SERVE_KEY");
      const q = new URLSearchParams();
      if (opts.from) q.set("from", opts.from);
      if (opts.to) q.set("to", opts.to);
      const res = await fetch(`${opts.url.replace(/\/+$/, "")}/api/usage?${q}`, { headers: { authorization: `Key ${opts.key}` } });
      const body = (await res.json()) as Record<string, unknown>;
      if (!res.ok) {
        process.stderr.write(`HTTP ${res.status}: ${JSON.stringify(body)}\n`);
        process.exitCode = 3;
        return;
      }
      if (opts.json) return void process.stdout.write(`${JSON.stringify(body)}\n`);
      const b = body as { from: string; to: string; requests: number; seconds: number; cost_usd: number; by_endpoint: { endpoint: string; resolution: string; requests: number; seconds: number; cost_usd: number }[] };
      process.stdout.write(`${b.requests} requests, ${b.seconds} s of video, $${b.cost_usd.toFixed(2)} (${b.from} to ${b.to})\n`);
      for (const e of b.by_endpoint) process.stdout.write(`  ${e.endpoint} ${e.resolution}: ${e.requests} requests, ${e.seconds} s, $${e.cost_usd.toFixed(2)}\n`);
    });
}
