// `ltx-serve status <request-id>`: where a request is (queue position, stage and percentage, or its
// outcome), read from the queue status URL. Exits 0 whenever the status could be read, also for a
// failed request: `result` is the command whose exit code says whether the video was made.
import type { Command } from "commander";
import { callJson, requestPaths } from "../lib/http.js";
import { appOf, checkRequestId, resolveEndpoint, resolveServer, withEndpointOption, withServerOptions, type ServerOptions } from "../lib/options.js";
import { runCommand } from "../lib/output.js";
import type { StatusEvent } from "../lib/progress.js";

/** One human line for a status body, e.g. `IN_PROGRESS  render 65/144 (45%)`. */
export function describeStatus(s: StatusEvent & { metrics?: { inference_time?: number | null } }): string {
  if (s.status === "IN_QUEUE") return `IN_QUEUE  ${s.queue_position ?? 0} ahead`;
  if (s.status === "IN_PROGRESS") {
    return s.progress ? `IN_PROGRESS  ${s.progress.stage} ${s.progress.step}/${s.progress.total} (${Math.floor(s.progress.percent)}%)` : "IN_PROGRESS  starting";
  }
  if (s.status === "COMPLETED") {
    if (s.error) return `COMPLETED  failed: ${s.error}${s.error_type ? ` (${s.error_type})` : ""}`;
    const t = s.metrics?.inference_time;
    return `COMPLETED  ok${typeof t === "number" ? ` in ${t.toFixed(1)} s` : ""}`;
  }
  return s.status;
}

export function registerStatusCommand(program: Command): void {
  const cmd = program
    .command("status")
    .argument("<request-id>", "the id printed by generate --async")
    .description("show a request's state: queue position, stage and percentage, or its outcome");
  withEndpointOption(withServerOptions(cmd));
  cmd.action(async (id: string, opts: ServerOptions & { endpoint?: string }) => {
    await runCommand(opts, async (out) => {
      const server = resolveServer(opts);
      const paths = requestPaths(appOf(resolveEndpoint(opts.endpoint)), checkRequestId(id));
      const { body } = await callJson<StatusEvent>(server, "GET", `${paths.status}?logs=1`, { phase: "status", requestId: id });
      out.result(body);
      out.line(`${id}  ${describeStatus(body)}`);
      const logs = body.logs ?? [];
      if (logs.length) out.note(`last log: ${logs[logs.length - 1].message}  (${logs.length} lines: ltx-serve logs ${id})`);
      if (body.status === "COMPLETED") out.note(body.error ? `details: ltx-serve result ${id}` : `video: ltx-serve result ${id} -o ${id}.mp4`);
    }, () => ({ phase: "status", requestId: id }));
  });
}
