// The OpenAPI 3.1 document of this server, generated from the same zod schemas that validate input.
import { z } from "zod";
import { ENDPOINTS } from "../endpoints.js";
import { QUEUE_HOST, RUN_HOST } from "./wire.js";

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: unknown, description: string) => ({ description, content: { "application/json": { schema } } });

export function buildOpenApi(publicUrl: string, version: string): Record<string, unknown> {
  const schemas: Record<string, unknown> = {
    VideoFile: {
      type: "object",
      required: ["url", "content_type", "file_name", "file_size"],
      properties: {
        url: { type: "string", format: "uri" },
        content_type: { type: "string", const: "video/mp4" },
        file_name: { type: "string" },
        file_size: { type: "integer" },
        width: { type: "integer" },
        height: { type: "integer" },
        fps: { type: "number" },
        duration: { type: "number" },
        num_frames: { type: "integer" },
      },
    },
    VideoOutput: { type: "object", required: ["video"], properties: { video: ref("VideoFile"), seed: { type: "integer" } } },
    QueueStatus: {
      type: "object",
      required: ["status", "request_id", "response_url", "status_url", "cancel_url"],
      properties: {
        status: { type: "string", enum: ["IN_QUEUE", "IN_PROGRESS", "COMPLETED"] },
        request_id: { type: "string" },
        response_url: { type: "string" },
        status_url: { type: "string" },
        cancel_url: { type: "string" },
        queue_position: { type: "integer" },
        logs: { type: ["array", "null"], items: { type: "object" } },
        metrics: { type: "object", properties: { inference_time: { type: ["number", "null"] } } },
        error: { type: "string" },
        error_type: { type: "string" },
      },
    },
    ValidationError: {
      type: "object",
      properties: {
        detail: {
          type: "array",
          items: {
            type: "object",
            required: ["loc", "msg", "type"],
            properties: { loc: { type: "array", items: { type: ["string", "integer"] } }, msg: { type: "string" }, type: { type: "string" } },
          },
        },
      },
    },
  };
  const security = [{ apiKey: [] }];
  const paths: Record<string, unknown> = {};
  for (const e of ENDPOINTS) {
    const name = e.id.split("/").slice(1).map((s) => s.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string) => (c ? c.toUpperCase() : ""))).join("") + "Input";
    schemas[name] = z.toJSONSchema(e.schema, { io: "input", unrepresentable: "any", target: "draft-2020-12" });
    const body = { required: true, content: { "application/json": { schema: ref(name) } } };
    paths[`/${QUEUE_HOST}/${e.id}`] = {
      post: {
        summary: `Submit to the queue: ${e.title}`,
        security,
        parameters: [{ name: "fal_webhook", in: "query", schema: { type: "string", format: "uri" } }],
        requestBody: body,
        responses: { "200": json(ref("QueueStatus"), "Queued"), "422": json(ref("ValidationError"), "Invalid input") },
      },
    };
    paths[`/${RUN_HOST}/${e.id}`] = {
      post: {
        summary: `Run and wait for the output: ${e.title}`,
        security,
        requestBody: body,
        responses: { "200": json(ref("VideoOutput"), "The video"), "422": json(ref("ValidationError"), "Invalid input") },
      },
    };
  }
  const app = ENDPOINTS[0].app;
  const idParam = [{ name: "request_id", in: "path", required: true, schema: { type: "string" } }];
  paths[`/${QUEUE_HOST}/${app}/requests/{request_id}/status`] = {
    get: {
      summary: "Request status (202 while queued or running, 200 when completed)",
      security,
      parameters: [...idParam, { name: "logs", in: "query", schema: { type: "string", enum: ["0", "1", "true", "false"] } }],
      responses: { "200": json(ref("QueueStatus"), "Completed"), "202": json(ref("QueueStatus"), "Queued or running") },
    },
  };
  paths[`/${QUEUE_HOST}/${app}/requests/{request_id}/status/stream`] = {
    get: { summary: "Status as server-sent events; closes after COMPLETED", security, parameters: idParam, responses: { "200": { description: "text/event-stream" } } },
  };
  paths[`/${QUEUE_HOST}/${app}/requests/{request_id}`] = {
    get: { summary: "Result", security, parameters: idParam, responses: { "200": json(ref("VideoOutput"), "The video") } },
  };
  paths[`/${QUEUE_HOST}/${app}/requests/{request_id}/cancel`] = {
    put: { summary: "Cancel", security, parameters: idParam, responses: { "202": { description: "CANCELLATION_REQUESTED" }, "400": { description: "ALREADY_COMPLETED" } } },
  };
  paths["/rest.fal.ai/storage/upload/initiate"] = {
    post: { summary: "Start an upload; PUT the bytes to upload_url", security, responses: { "200": { description: "{upload_url, file_url}" } } },
  };
  return {
    openapi: "3.1.0",
    info: { title: "ltx-serve", version, description: "Self-hosted fal.ai-compatible LTX-2.3 image-to-video API" },
    servers: [{ url: publicUrl }],
    components: {
      securitySchemes: { apiKey: { type: "apiKey", in: "header", name: "Authorization", description: "Key <your key>" } },
      schemas,
    },
    paths,
  };
}
