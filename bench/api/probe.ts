// Benchmark probe preloaded (`node --import`) into the servers that bench/api.ts measures: answers the
// bench's IPC message "sample" with the event-loop delay percentiles and the CPU time used since the last
// sample, and the RSS.
import { monitorEventLoopDelay } from "node:perf_hooks";

const histogram = monitorEventLoopDelay({ resolution: 5 });
histogram.enable();
let cpu = process.cpuUsage();

if (process.send) {
  process.channel?.unref();
  process.on("message", (msg: unknown) => {
    if (msg !== "sample") return;
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    process.send!({
      kind: "sample",
      eldP50Ms: ms(histogram.percentile(50)),
      eldP99Ms: ms(histogram.percentile(99)),
      eldMaxMs: ms(histogram.max),
      rssMb: Math.round(process.memoryUsage.rss() / 1048576),
      cpuMs: (() => {
        const d = process.cpuUsage(cpu);
        return (d.user + d.system) / 1000;
      })(),
    });
    histogram.reset();
    cpu = process.cpuUsage();
  });
}
