// `ltx-serve serve`: starts the service, prints where it is and how to get a key, and shuts down
// gracefully on SIGTERM/SIGINT (running jobs are handed back to the queue).
import type { Command } from "commander";
import { loadConfig } from "../../config.js";
import { ffmpegBinary } from "../../media/ffmpeg.js";
import { startService } from "../../service.js";

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("start the HTTP service (configuration from environment variables, see README)")
    .action(async () => {
      const config = loadConfig();
      const ffmpeg = ffmpegBinary(config.ffmpegPath);
      const service = await startService(config);
      const out = (s: string) => process.stdout.write(`${s}\n`);
      out("");
      out(`ltx-serve is running at ${config.publicUrl}`);
      out(`  playground  ${config.publicUrl}/`);
      out(`  health      ${config.publicUrl}/health`);
      out(`  openapi     ${config.publicUrl}/openapi.json`);
      out(`  engines     ${service.engines.all().map((e) => e.name).join(", ")}${service.engines.all().some((e) => e.name === "preview") ? " (preview = CPU preview engine, not the LTX-2.3 model)" : ""}`);
      out(`  ffmpeg      ${ffmpeg.version} (${ffmpeg.source}: ${ffmpeg.path})`);
      if (service.keys.count() === 0) {
        const { key } = service.keys.create("default");
        out("");
        out(`  First start: created an API key (shown once, keep it): ${key}`);
      }
      out(`  API keys    create one with: npx ltx-serve keys create NAME   (or set API_KEYS)`);
      out("");
      let stopping = false;
      const stop = async (signal: string) => {
        if (stopping) return;
        stopping = true;
        service.log.info({ signal }, "shutting down");
        await service.close();
        process.exit(0);
      };
      process.on("SIGTERM", () => void stop("SIGTERM"));
      process.on("SIGINT", () => void stop("SIGINT"));
    });
}
