// The bare baseline of bench/api.ts: one fastify route, the same fastify version as the service, with
// no auth, database or hooks, answering a JSON body the size of a status answer. It also serves the
// PNG that the benchmark's submits name as image_url.
import Fastify from "fastify";
import sharp from "sharp";

const png = await sharp({ create: { width: 640, height: 360, channels: 3, background: { r: 40, g: 90, b: 160 } } }).png().toBuffer();
const app = Fastify({ logger: false });
const body = {
  status: "COMPLETED",
  request_id: "00000000-0000-4000-8000-000000000000",
  response_url: "http://127.0.0.1/queue.fal.run/fal-ai/ltx-2.3/requests/00000000-0000-4000-8000-000000000000",
  status_url: "http://127.0.0.1/queue.fal.run/fal-ai/ltx-2.3/requests/00000000-0000-4000-8000-000000000000/status",
  cancel_url: "http://127.0.0.1/queue.fal.run/fal-ai/ltx-2.3/requests/00000000-0000-4000-8000-000000000000/cancel",
  gateway_request_id: "00000000-0000-4000-8000-000000000001",
  logs: null,
  metrics: { inference_time: 3.5 },
};
app.get("/bare/:id/status", async () => body);
app.get("/image.png", async (_req, reply) => reply.type("image/png").send(png));
await app.listen({ port: Number(process.env.PORT ?? 0), host: "127.0.0.1" });
process.stdout.write(`listening ${(app.server.address() as { port: number }).port}\n`);
process.on("SIGTERM", () => void app.close().then(() => process.exit(0)));
