// Opens and holds the benchmark's SSE status streams in a process of its own (so that reading them does
// not slow the load generator): BENCH_SSE_URLS (JSON array) round-robin, BENCH_SSE_COUNT streams. Reports
// over IPC how many answered 200 and sent their first event, and how many are still open.
import http from "node:http";

const urls = JSON.parse(process.env.BENCH_SSE_URLS ?? "[]") as string[];
const count = Number(process.env.BENCH_SSE_COUNT ?? 1000);
const auth = process.env.BENCH_KEY ?? "";
let started = 0;
let open = 0;
let events = 0;
let failed = 0;

function openStream(url: string) {
  const req = http.get(url, { headers: { authorization: `Key ${auth}`, accept: "text/event-stream" }, agent: false }, (res) => {
    if (res.statusCode !== 200) {
      failed += 1;
      res.resume();
      return;
    }
    open += 1;
    let first = true;
    res.setEncoding("utf8");
    res.on("data", (chunk: string) => {
      const n = chunk.split("data: ").length - 1;
      events += n;
      if (first && n > 0) {
        first = false;
        started += 1;
      }
    });
    res.on("close", () => (open -= 1));
  });
  req.on("error", () => (failed += 1));
}

for (let i = 0; i < count; i++) {
  openStream(urls[i % urls.length]);
  if (i % 100 === 99) await new Promise((r) => setTimeout(r, 20));
}
process.on("message", (msg: unknown) => {
  if (msg === "report") process.send!({ kind: "report", started, open, events, failed });
});
