// `ltx-serve endpoints`: the endpoints a running server routes (GET /api/endpoints, no key needed),
// each with its --endpoint short name, the engine that serves it, its price per second of video by
// resolution and the generate flags it takes.
import type { Command } from "commander";
import { RESOLUTIONS, type Resolution } from "../../endpoints.js";
import { findKnownEndpoint, flagsLine, shortNameOf } from "../lib/endpoint-flags.js";
import { callJson } from "../lib/http.js";
import { serverUrl, withServerOptions, type ServerOptions } from "../lib/options.js";
import { runCommand } from "../lib/output.js";

interface EndpointBody {
  id: string;
  title?: string;
  engine?: string;
  price_per_second?: Partial<Record<Resolution, number>>;
}

/** "t2v  fal-ai/ltx-2.3/text-to-video  engine preview  $0.08/s 1080p, ..." lines for one endpoint. */
export function endpointLines(e: EndpointBody): string[] {
  const rates = RESOLUTIONS.filter((r) => typeof e.price_per_second?.[r] === "number")
    .map((r) => `$${e.price_per_second![r]!.toFixed(2)}/s at ${r}`)
    .join(", ");
  const def = findKnownEndpoint(e.id);
  const lines = [`${shortNameOf(e.id).padEnd(9)} ${e.id}${e.engine ? `  (engine ${e.engine})` : ""}`];
  if (rates) lines.push(`          ${rates}`);
  if (def) lines.push(`          ltx-serve generate --endpoint ${shortNameOf(e.id)} ${flagsLine(def)}`);
  return lines;
}

export function registerEndpointsCommand(program: Command): void {
  const cmd = program.command("endpoints").description("list the endpoints a server routes, with the engine, price per second and flags of each");
  withServerOptions(cmd);
  cmd.action(async (opts: ServerOptions) => {
    await runCommand(opts, async (out) => {
      const url = serverUrl(opts);
      const { body } = await callJson<EndpointBody[]>({ url }, "GET", "/api/endpoints", { phase: "status" });
      out.result({
        endpoints: body.map((e) => ({ id: e.id, short_name: shortNameOf(e.id), title: e.title, engine: e.engine, price_per_second: e.price_per_second })),
      });
      for (const e of body) for (const line of endpointLines(e)) out.line(line);
    });
  });
}
