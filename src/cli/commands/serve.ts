// `ltx-serve serve`: starts the service, prints where it is and the next step (banner.ts), and shuts down
// gracefully on SIGTERM/SIGINT (running jobs are handed back to the queue).
// The service and its TLS code are imported when the command runs, so that every other command starts
// without loading the whole server.
import type { Command } from "commander";
import { loadConfig } from "../../config.js";
import { ffmpegBinary } from "../../media/ffmpeg.js";
import type { Service } from "../../service.js";
import { portInUseMessage, startBanner } from "../lib/banner.js";

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("start the HTTP service (configuration from environment variables, see README)")
    .action(async () => {
      const [{ installProcessGuard, startService }, { loadTls, tlsBanner }] = await Promise.all([import("../../service.js"), import("../../api/tls.js")]);
      const config = loadConfig();
      const ffmpeg = ffmpegBinary(config.ffmpegPath);
      let service: Service;
      try {
        service = await startService(config);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
        process.stderr.write(portInUseMessage(config.host, config.port));
        process.exit(1);
      }
      installProcessGuard(service.log);
      const newKey = service.keys.count() === 0 ? service.keys.create("default").key : undefined;
      const engines = service.engines.all().map((e) => e.name);
      for (const line of startBanner({ url: config.publicUrl, engines, ffmpeg, newKey })) process.stdout.write(`${line}\n`);
      for (const line of tlsBanner({ publicUrl: config.publicUrl, tls: loadTls(config), key: newKey })) process.stdout.write(`${line}\n`);
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
