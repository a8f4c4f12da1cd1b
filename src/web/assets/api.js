// HTTP calls the playground makes: the service's /api routes and fal's wire routes under their
// host-prefixed paths (/queue.fal.run/..., /rest.fal.ai/...), exactly as @fal-ai/client would send them.

/** An HTTP answer outside 2xx. `fieldErrors` holds fal's 422 `detail` entries (fal-wire-protocol.md section 5). */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {any} body parsed JSON body, or the text when it was not JSON
   * @param {string | null} requestId from the x-fal-request-id header
   */
  constructor(status, body, requestId = null) {
    super(errorMessage(status, body));
    this.name = "ApiError";
    this.status = status;
    this.body = body;
    this.requestId = requestId;
    /** @type {{loc: (string|number)[], msg: string, type: string}[]} */
    this.fieldErrors = Array.isArray(body?.detail) ? body.detail : [];
    /** @type {string | undefined} */
    this.errorType = body?.error_type;
  }
}

/** A readable message for an error body: fal's `message`, a string `detail`, or the field messages. */
export function errorMessage(status, body) {
  if (body && typeof body === "object") {
    if (typeof body.message === "string") return body.message;
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail) && body.detail.length > 0) {
      return body.detail.map((d) => `${fieldOf(d) ?? "input"}: ${d.msg}`).join("; ");
    }
  }
  if (typeof body === "string" && body.trim()) return `HTTP ${status}: ${body.trim().slice(0, 200)}`;
  return `HTTP ${status}`;
}

/** The input field a 422 entry is about: the last element of `loc`, as fal's getFieldErrors reads it. */
export function fieldOf(detail) {
  const loc = Array.isArray(detail?.loc) ? detail.loc : [];
  const last = loc[loc.length - 1];
  return typeof last === "string" && last !== "body" ? last : null;
}

/** Splits a text/event-stream into `data:` payloads; feed it text chunks as they arrive. */
export class SseParser {
  constructor() {
    this.buffer = "";
    /** @type {string[]} */
    this.dataLines = [];
  }

  /** @param {string} text  @returns {string[]} the data payloads of the events completed by this chunk */
  push(text) {
    this.buffer += text;
    const out = [];
    let newline;
    while ((newline = this.buffer.search(/\r\n|\r|\n/)) >= 0) {
      const line = this.buffer.slice(0, newline);
      const width = this.buffer.startsWith("\r\n", newline) ? 2 : 1;
      // A lone \r at the end of a chunk may be the first half of \r\n: wait for more text.
      if (width === 1 && this.buffer[newline] === "\r" && newline === this.buffer.length - 1) break;
      this.buffer = this.buffer.slice(newline + width);
      this.line(line, out);
    }
    return out;
  }

  /** Flushes an event left open when the stream ended without a blank line. */
  end() {
    const out = [];
    if (this.buffer) this.line(this.buffer, out);
    this.buffer = "";
    this.line("", out);
    return out;
  }

  line(line, out) {
    if (line === "") {
      if (this.dataLines.length > 0) out.push(this.dataLines.join("\n"));
      this.dataLines = [];
    } else if (line.startsWith("data:")) {
      const value = line.slice(5);
      this.dataLines.push(value.startsWith(" ") ? value.slice(1) : value);
    }
    // `event:`, `id:`, `retry:` and `: comments` carry nothing the playground needs (fal-wire-protocol.md 3.4).
  }
}

/**
 * @param {{ getKey: () => string | null, baseUrl?: string }} deps
 */
export function createApi({ getKey, baseUrl = "" }) {
  function headers(auth, extra = {}) {
    const h = { Accept: "application/json", ...extra };
    const key = getKey();
    if (auth && key) h.Authorization = `Key ${key}`;
    return h;
  }

  async function call(method, path, { body, auth = true, signal } = {}) {
    const init = { method, headers: headers(auth), signal };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(baseUrl + path, init);
    const parsed = await readBody(res);
    if (!res.ok) throw new ApiError(res.status, parsed, res.headers.get("x-fal-request-id"));
    return parsed;
  }

  async function readBody(res) {
    const text = await res.text();
    if ((res.headers.get("content-type") ?? "").includes("json") && text) {
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    }
    return text;
  }

  const requestPath = (app, id) => `/queue.fal.run/${app}/requests/${encodeURIComponent(id)}`;

  return {
    /** GET /api/endpoints: ids, titles, input JSON Schemas and prices. */
    endpoints: () => call("GET", "/api/endpoints", { auth: false }),
    usage: () => call("GET", "/api/usage"),
    requests: (limit = 50) => call("GET", `/api/requests?limit=${Math.min(limit, 100)}`),

    /** Uploads through the storage API (fal-wire-protocol.md 7.2) and resolves to the file URL. */
    async upload(file, { signal } = {}) {
      const contentType = file.type || "application/octet-stream";
      const subtype = contentType.split("/")[1]?.split(/[+;]/)[0] || "bin";
      const fileName = file.name || `${Date.now()}.${subtype}`;
      const started = await call("POST", "/rest.fal.ai/storage/upload/initiate?storage_type=fal-cdn-v3", {
        body: { content_type: contentType, file_name: fileName },
        signal,
      });
      // The upload URL carries its own token: no Authorization header, as the fal client sends it.
      const put = await fetch(started.upload_url, {
        method: "PUT",
        headers: { "Content-Type": contentType },
        body: file,
        signal,
      });
      if (!put.ok) throw new ApiError(put.status, await readBody(put));
      return started.file_url;
    },

    submit: (endpointId, input) => call("POST", `/queue.fal.run/${endpointId}`, { body: input }),
    status: (app, id) => call("GET", `${requestPath(app, id)}/status?logs=1`),
    result: (app, id) => call("GET", requestPath(app, id)),
    cancel: (app, id) => call("PUT", `${requestPath(app, id)}/cancel`),

    /**
     * Reads the SSE status stream (fal-wire-protocol.md 3.4) with fetch, because EventSource cannot send the
     * Authorization header. Calls `onStatus` per event; resolves when the server closes the stream.
     * @returns {Promise<{ completed: boolean }>} whether a COMPLETED event was seen
     */
    async streamStatus(app, id, onStatus, { signal } = {}) {
      const res = await fetch(`${baseUrl}${requestPath(app, id)}/status/stream?logs=1`, {
        headers: headers(true, { Accept: "application/json, text/event-stream" }),
        signal,
      });
      if (!res.ok) throw new ApiError(res.status, await readBody(res), res.headers.get("x-fal-request-id"));
      if (!res.body) throw new ApiError(res.status, "status stream has no body");
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser();
      let completed = false;
      const deliver = (payloads) => {
        for (const payload of payloads) {
          let status;
          try {
            status = JSON.parse(payload);
          } catch {
            continue; // keep-alive or a malformed line; the next event brings the state again
          }
          if (status?.status === "COMPLETED") completed = true;
          onStatus(status);
        }
      };
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        deliver(parser.push(value));
      }
      deliver(parser.end());
      return { completed };
    },
  };
}
