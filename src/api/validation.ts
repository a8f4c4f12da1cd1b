// Validates a request body against an endpoint's schema and turns problems into fal/FastAPI-style
// 422 entries that name the field (fal-wire-protocol.md section 5).
import type { z } from "zod";
import type { EndpointDef, VideoInput } from "../endpoints.js";
import { InputError, type FieldError } from "../errors.js";

function typeOf(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === "invalid_type" && value === undefined) return "missing";
  switch (issue.code) {
    case "invalid_type":
      return `${issue.expected}_type`;
    case "invalid_value":
    case "invalid_union":
      return "enum";
    case "too_small":
      return issue.origin === "string" ? "string_too_short" : "greater_than_equal";
    case "too_big":
      return issue.origin === "string" ? "string_too_long" : "less_than_equal";
    default:
      return "value_error";
  }
}

function valueAt(body: unknown, path: PropertyKey[]): unknown {
  let v: unknown = body;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

function clip(value: unknown): unknown {
  if (typeof value === "string" && value.length > 200) return `${value.slice(0, 200)}...`;
  if (value !== null && typeof value === "object") return undefined;
  return value;
}

export function validateInput(endpoint: EndpointDef, body: unknown): VideoInput {
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new InputError([{ loc: ["body"], msg: "Input should be a JSON object", type: "model_attributes_type" }]);
  }
  const parsed = endpoint.schema.safeParse(body);
  if (parsed.success) return parsed.data as VideoInput;
  const detail: FieldError[] = parsed.error.issues.map((issue) => {
    const path = issue.path.filter((p): p is string | number => typeof p !== "symbol");
    const value = valueAt(body, path);
    const type = typeOf(issue, value);
    return {
      loc: ["body", ...path],
      msg: type === "missing" ? "Field required" : issue.message,
      type,
      ...(value !== undefined ? { input: clip(value) } : {}),
    };
  });
  throw new InputError(detail);
}
