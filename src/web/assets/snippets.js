// Code that makes the same request as the playground: cURL against the wire routes, @fal-ai/client
// redirected with requestMiddleware (fal-wire-protocol.md 9.1) and Python fal_client via FAL_*_HOST (fal-wire-protocol.md section 10).
// The key is never written into a snippet; each reads LTX_SERVE_KEY from the environment.

/** data: URIs longer than this are shortened in snippets (a photo inline would be megabytes of text). */
const MAX_INLINE_DATA_URI = 160;

/** The input as shown in snippets, with long data: URIs shortened; `shortened` lists the fields. */
export function displayInput(input) {
  const shown = {};
  const shortened = [];
  for (const [key, value] of Object.entries(input ?? {})) {
    if (typeof value === "string" && value.startsWith("data:") && value.length > MAX_INLINE_DATA_URI) {
      shown[key] = `${value.slice(0, value.indexOf(",") + 1)}…(${value.length} characters)`;
      shortened.push(key);
    } else shown[key] = value;
  }
  return { shown, shortened };
}

/** Single-quotes a string for POSIX shells. */
export function shellQuote(text) {
  return `'${String(text).replace(/'/g, `'\\''`)}'`;
}

/** A Python literal for a JSON value (True/False/None, dicts and lists), indented like json.dumps(indent=4). */
export function pythonLiteral(value, indent = 0) {
  const pad = " ".repeat(indent + 4);
  const end = " ".repeat(indent);
  if (value === null || value === undefined) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "None";
  if (typeof value === "string") return JSON.stringify(value); // JSON string escapes are valid Python
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return `[\n${value.map((v) => pad + pythonLiteral(v, indent + 4)).join(",\n")},\n${end}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return "{}";
  return `{\n${entries.map(([k, v]) => `${pad}${JSON.stringify(k)}: ${pythonLiteral(v, indent + 4)}`).join(",\n")},\n${end}}`;
}

function indentBlock(text, spaces) {
  const pad = " ".repeat(spaces);
  return text.split("\n").map((line, i) => (i === 0 ? line : pad + line)).join("\n");
}

function shortenedNote(shortened, comment) {
  if (shortened.length === 0) return "";
  return `${comment} ${shortened.join(", ")}: the data: URI is shortened here; upload the file or paste the full URI.\n`;
}

/**
 * @param {{ baseUrl: string, endpointId: string, app: string, input: object }} req
 */
export function curlSnippet({ baseUrl, endpointId, app, input }) {
  const { shown, shortened } = displayInput(input);
  return [
    `export LTX_SERVE_KEY="your key"`,
    `BASE=${shellQuote(baseUrl)}`,
    shortened.length > 0 ? shortenedNote(shortened, "#").trimEnd() : null,
    `# Submit to the queue; the answer carries the request_id`,
    `REQUEST_ID=$(curl -sS -X POST "$BASE/queue.fal.run/${endpointId}" \\`,
    `  -H "Authorization: Key $LTX_SERVE_KEY" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d ${shellQuote(JSON.stringify(shown, null, 2))} | jq -r .request_id)`,
    ``,
    `# Live status, progress and logs (Server-Sent Events); ends when the request completes`,
    `curl -sS -N "$BASE/queue.fal.run/${app}/requests/$REQUEST_ID/status/stream?logs=1" \\`,
    `  -H "Authorization: Key $LTX_SERVE_KEY"`,
    ``,
    `# The result: {"video": {"url": …}, "seed": …}`,
    `curl -sS "$BASE/queue.fal.run/${app}/requests/$REQUEST_ID" \\`,
    `  -H "Authorization: Key $LTX_SERVE_KEY"`,
  ].filter((line) => line !== null).join("\n");
}

export function jsSnippet({ baseUrl, endpointId, input }) {
  const { shown, shortened } = displayInput(input);
  return `// npm install @fal-ai/client
import { createFalClient } from "@fal-ai/client";

// Send the client's fal.ai URLs to this server instead (ltx-serve keeps fal's routes under /<host>/).
const BASE = ${JSON.stringify(baseUrl)};
const FAL_HOST = /^(?:[a-z0-9-]+\\.)*fal\\.(?:run|ai)$/;

const fal = createFalClient({
  credentials: process.env.LTX_SERVE_KEY,
  requestMiddleware: async (req) => {
    const u = new URL(req.url);
    return FAL_HOST.test(u.host) ? { ...req, url: \`\${BASE}/\${u.host}\${u.pathname}\${u.search}\` } : req;
  },
});
${shortenedNote(shortened, "//")}
let printed = 0;
const result = await fal.subscribe(${JSON.stringify(endpointId)}, {
  input: ${indentBlock(JSON.stringify(shown, null, 2), 2)},
  logs: true,
  // Every status update carries all log lines so far: print only the new ones.
  onQueueUpdate: (update) => {
    const logs = update.logs ?? [];
    for (const log of logs.slice(printed)) console.log(log.message);
    printed = Math.max(printed, logs.length);
  },
});
console.log(result.data.video.url);
`;
}

export function pythonSnippet({ baseUrl, endpointId, input }) {
  const { shown, shortened } = displayInput(input);
  const url = new URL(baseUrl);
  const hostPath = `${url.host}${url.pathname.replace(/\/+$/, "")}`;
  const httpNote =
    url.protocol === "https:"
      ? ""
      : `# This page is served over ${url.protocol.replace(":", "")}; fal_client always uses https, so reach the
# server through a TLS proxy and use that host below.
`;
  return `# pip install fal-client
# fal_client builds https://{FAL_QUEUE_RUN_HOST}/{endpoint}; point both hosts at this server:
#   export LTX_SERVE_KEY="your key"
#   export FAL_KEY="$LTX_SERVE_KEY"   # fal_client reads its key from FAL_KEY
#   export FAL_RUN_HOST="${hostPath}/fal.run"
#   export FAL_QUEUE_RUN_HOST="${hostPath}/queue.fal.run"
${httpNote}${shortenedNote(shortened, "#")}import fal_client


def on_queue_update(update):
    if isinstance(update, fal_client.InProgress):
        for log in update.logs:
            print(log["message"])


result = fal_client.subscribe(
    ${JSON.stringify(endpointId)},
    arguments=${pythonLiteral(shown, 4)},
    with_logs=True,
    on_queue_update=on_queue_update,
)
print(result["video"]["url"])
`;
}
