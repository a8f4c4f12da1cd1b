// The playground's page logic: API key, endpoint choice, the schema-built form and its price, submit,
// live status over SSE, cancel, the result with code snippets, and this key's history and usage.
import { ApiError, createApi } from "./api.js";
import { buildForm } from "./form.js";
import { curlSnippet, jsSnippet, pythonSnippet } from "./snippets.js";

const KEY_STORAGE = "ltx-serve.key";
const ENDPOINT_STORAGE = "ltx-serve.endpoint";
const TERMINAL_STATES = new Set(["succeeded", "failed", "cancelled"]);

const $ = (id) => {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id}`);
  return node;
};

const storage = {
  get(name) {
    try {
      return localStorage.getItem(name);
    } catch {
      return null; // storage disabled: the key lives for this page only
    }
  },
  set(name, value) {
    try {
      if (value === null) localStorage.removeItem(name);
      else localStorage.setItem(name, value);
    } catch {
      /* see get() */
    }
  },
};

let apiKey = storage.get(KEY_STORAGE);
/**
 * Where this server is, as the page sees it: the page's own folder, so the playground also works when a
 * proxy mounts the service under a sub-path (/ltx/ -> /). No request uses a root-absolute path.
 */
const BASE_URL = new URL(".", window.location.href).href.replace(/\/+$/, "");
const api = createApi({ getKey: () => apiKey, baseUrl: BASE_URL });

/** @type {{ id: string, app: string, title: string, input_schema: any, price_per_second: Record<string, number> }[]} */
let endpoints = [];
let endpoint = null;
let form = null;
/** The values typed so far, by field name, across endpoint switches (text-to-video has no image, but the image comes back with image-to-video). */
let carried = {};
/** The request shown in the output panel. */
let run = null;
let snippetLang = "curl";

// ---------- formatting ----------

const USD = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: 2, maximumFractionDigits: 4 });
const usd = (n) => (typeof n === "number" && Number.isFinite(n) ? USD.format(n) : "–");

function seconds(ms) {
  const s = Math.max(0, ms) / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${String(Math.floor(s % 60)).padStart(2, "0")} s`;
}

function toDate(value) {
  if (value === null || value === undefined) return null;
  const d = typeof value === "number" ? new Date(value < 1e12 ? value * 1000 : value) : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

function ago(date) {
  if (!date) return "";
  const s = (Date.now() - date.getTime()) / 1000;
  if (s < 45) return "just now";
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  if (s < 86400) return `${Math.round(s / 3600)} h ago`;
  return date.toLocaleDateString();
}

function bytes(n) {
  if (typeof n !== "number") return "";
  return n < 1024 * 1024 ? `${Math.round(n / 1024)} KB` : `${(n / 1024 / 1024).toFixed(1)} MB`;
}

const shortEndpoint = (id) => (id ?? "").replace(/^fal-ai\/ltx-2\.3\//, "");

// ---------- API key ----------

const keyDialog = $("key-dialog");

function openKeyDialog(message = "") {
  $("key-input").value = apiKey ?? "";
  $("key-error").textContent = message;
  $("key-forget").hidden = !apiKey;
  if (!keyDialog.open) keyDialog.showModal();
  $("key-input").focus();
}

$("key-button").addEventListener("click", () => openKeyDialog());
$("key-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const candidate = $("key-input").value.trim();
  if (!candidate) {
    $("key-error").textContent = "Enter an API key.";
    return;
  }
  $("key-save").disabled = true;
  $("key-error").textContent = "Checking the key…";
  const previous = apiKey;
  apiKey = candidate;
  try {
    await api.usage();
    storage.set(KEY_STORAGE, candidate);
    $("key-error").textContent = "";
    keyDialog.close();
    updateKeyButton();
    refreshAccount();
    $("submit").focus();
  } catch (err) {
    apiKey = previous;
    $("key-error").textContent =
      err instanceof ApiError && err.status === 401 ? "This key was not accepted by the server." : `Could not check the key: ${err.message}`;
  } finally {
    $("key-save").disabled = false;
  }
});
$("key-forget").addEventListener("click", () => {
  apiKey = null;
  storage.set(KEY_STORAGE, null);
  updateKeyButton();
  renderHistory([]);
  renderUsage(null);
  openKeyDialog("Key forgotten. Enter a key to continue.");
});

function updateKeyButton() {
  const button = $("key-button");
  button.textContent = apiKey ? `Key ••••${apiKey.slice(-4)}` : "Set API key";
  button.setAttribute("aria-label", apiKey ? "Change API key" : "Set API key");
}

/** A 401 anywhere means the stored key stopped working: ask again. */
function handleAuthError(err) {
  if (err instanceof ApiError && err.status === 401) {
    openKeyDialog("The server did not accept this key. Enter another one.");
    return true;
  }
  return false;
}

// ---------- endpoint and form ----------

async function loadEndpoints() {
  try {
    endpoints = await api.endpoints();
  } catch (err) {
    $("fields").replaceChildren(Object.assign(document.createElement("p"), {
      className: "alert alert-error",
      textContent: `Could not load the endpoints: ${err.message}`,
    }));
    return;
  }
  const select = $("endpoint");
  select.replaceChildren(...endpoints.map((e) => new Option(e.title || e.id, e.id)));
  const remembered = storage.get(ENDPOINT_STORAGE);
  selectEndpoint(endpoints.find((e) => e.id === remembered)?.id ?? endpoints[0]?.id);
}

function selectEndpoint(id) {
  if (form) {
    // What this form shows replaces what was carried for its fields (a removed image stays removed).
    for (const field of form.fields) delete carried[field.name];
    carried = { ...carried, ...form.read() };
  }
  endpoint = endpoints.find((e) => e.id === id) ?? null;
  if (!endpoint) return;
  $("endpoint").value = endpoint.id;
  $("endpoint-title").textContent = endpoint.id;
  $("endpoint-rates").textContent = ratesText(endpoint);
  storage.set(ENDPOINT_STORAGE, endpoint.id);
  form = buildForm($("fields"), endpoint.input_schema, {
    upload: (file) => api.upload(file).catch((err) => {
      handleAuthError(err);
      throw err;
    }),
    onChange: updatePrice,
  });
  if (Object.keys(carried).length > 0) form.apply(keepAllowed(carried));
  updatePrice();
}

/** "Price per second of video: $0.06 at 1080p · $0.12 at 1440p · $0.24 at 2160p" for an endpoint. */
function ratesText(e) {
  const rates = Object.entries(e.price_per_second ?? {}).filter(([, rate]) => typeof rate === "number");
  if (rates.length === 0) return "";
  const follows = describesAudio(e) ? " (the clip lasts as long as the audio)" : "";
  return `Price per second of video${follows}: ${rates.map(([res, rate]) => `${usd(rate)} at ${res}`).join(" · ")}`;
}

/** Whether an endpoint's input is an audio track (audio-to-video): its schema has an audio URL field. */
const describesAudio = (e) => Object.keys(e?.input_schema?.properties ?? {}).some((name) => /(^|_)audio_url$/.test(name));

/** Values of the previous endpoint that the new one also allows (e.g. duration 16 is fast-only). */
function keepAllowed(input) {
  const kept = {};
  for (const field of form.fields) {
    const value = input[field.name];
    if (value === undefined) continue;
    if (field.options && !field.options.map(String).includes(String(value))) continue;
    kept[field.name] = value;
  }
  return kept;
}

$("endpoint").addEventListener("change", (e) => selectEndpoint(e.target.value));

/**
 * The price of the request as the form stands: seconds × the rate at the chosen resolution. The seconds
 * are the duration field's, or, for audio-to-video, the chosen audio's length once its player has read
 * it (`perSecond` only before that).
 */
function currentPrice() {
  if (!endpoint || !form) return null;
  const input = form.read();
  const durationField = form.fields.find((f) => f.name === "duration");
  const resolutionField = form.fields.find((f) => f.name === "resolution");
  const resolution = String(input.resolution ?? resolutionField?.default);
  const rate = endpoint.price_per_second?.[resolution];
  if (typeof rate !== "number") return null;
  if (!durationField && form.fields.some((f) => f.kind === "audio")) {
    const audioSeconds = form.audioSeconds;
    if (audioSeconds === null) return { perSecond: true, resolution, rate };
    const duration = Math.round(audioSeconds * 10) / 10;
    return { duration, resolution, rate, total: Math.round(audioSeconds * rate * 1e6) / 1e6, ofAudio: true };
  }
  const duration = Number(input.duration ?? durationField?.default);
  if (!Number.isFinite(duration)) return null;
  return { duration, resolution, rate, total: Math.round(duration * rate * 1e6) / 1e6 };
}

function updatePrice() {
  const price = currentPrice();
  const node = $("price");
  if (!price) {
    node.textContent = "";
  } else if (price.perSecond) {
    node.replaceChildren(
      Object.assign(document.createElement("strong"), { textContent: `${usd(price.rate)}/s` }),
      ` of video at ${price.resolution}, as long as the audio`,
    );
  } else {
    node.replaceChildren(
      Object.assign(document.createElement("strong"), { textContent: usd(price.total) }),
      ` = ${price.duration} s${price.ofAudio ? " of audio" : ""} × ${usd(price.rate)}/s at ${price.resolution}`,
    );
  }
  const submit = $("submit");
  const total = price && !price.perSecond ? price.total : null;
  submit.textContent = form?.uploading ? "Uploading…" : total !== null ? `Generate · ${usd(total)}` : "Generate";
}

// Paste an image anywhere on the page: it goes to the focused image field, else the start image.
document.addEventListener("paste", (event) => {
  const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith("image/"));
  if (file && form?.paste(file)) event.preventDefault();
});

// ---------- submit ----------

$("request-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!endpoint || !form) return;
  if (!apiKey) {
    openKeyDialog("Enter your API key to send requests.");
    return;
  }
  const formError = $("form-error");
  formError.hidden = true;
  form.clearErrors();
  const submit = $("submit");
  submit.disabled = true;
  try {
    if (form.uploading) {
      submit.textContent = "Waiting for the upload…";
      await form.settled();
    }
    const input = form.read();
    const queued = await api.submit(endpoint.id, input);
    startRun({
      id: queued.request_id,
      app: endpoint.app,
      endpointId: endpoint.id,
      input,
      startedAt: Date.now(),
      firstStatus: queued,
    });
    refreshAccount();
    revealOutput();
  } catch (err) {
    if (handleAuthError(err)) return;
    if (err instanceof ApiError && err.fieldErrors.length > 0) {
      const unplaced = form.showErrors(err.fieldErrors);
      if (unplaced.length > 0) showFormError(`The input was not accepted: ${unplaced.join("; ")}`);
    } else {
      showFormError(`Could not submit: ${err.message}`);
    }
  } finally {
    submit.disabled = false;
    updatePrice();
  }
});

/** On a phone (or a long form) the output panel may be off screen after submit: bring its top into view. */
function revealOutput() {
  const top = $("output-heading").getBoundingClientRect().top;
  if (top < 0 || top > window.innerHeight * 0.6) $("output-heading").scrollIntoView({ block: "start" });
}

function showFormError(message) {
  const node = $("form-error");
  node.textContent = message;
  node.hidden = false;
}

// ---------- a running request ----------

function setBadge(state) {
  const badge = $("run-badge");
  badge.hidden = !state;
  badge.textContent = state ?? "";
  badge.className = `badge state-${state}`;
}

function startRun(spec) {
  stopRun();
  run = { ...spec, controller: new AbortController(), timer: 0, finishedAt: null, logCount: 0, cancelRequested: false };
  $("empty-output").hidden = true;
  $("run").hidden = false;
  $("result").hidden = true;
  $("run-error").hidden = true;
  $("run-id").textContent = run.id;
  $("logs").textContent = "";
  $("logs-count").textContent = "";
  $("logs-box").open = true;
  $("cancel").hidden = false;
  $("cancel").disabled = false;
  $("cancel").textContent = "Cancel request";
  const progress = $("run-progress");
  progress.removeAttribute("value");
  progress.hidden = false;
  showSnippets(run);
  tick();
  run.timer = window.setInterval(tick, 100);
  if (spec.firstStatus) onStatus(run, spec.firstStatus);
  watch(run);
}

function stopRun() {
  if (!run) return;
  run.controller.abort();
  window.clearInterval(run.timer);
  run = null;
}

function tick() {
  if (!run) return;
  const end = run.finishedAt ?? Date.now();
  $("run-elapsed").textContent = seconds(end - run.startedAt);
}

function appendLogs(current, logs) {
  if (!Array.isArray(logs) || logs.length === 0) return;
  const pre = $("logs");
  const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 8;
  const lines = logs.map((log) => {
    const time = toDate(log.timestamp);
    const stamp = time ? time.toLocaleTimeString([], { hour12: false }) : "";
    return `${stamp} ${log.level && log.level !== "INFO" ? `[${log.level}] ` : ""}${log.message ?? ""}`.trimStart();
  });
  pre.append(`${pre.textContent ? "\n" : ""}${lines.join("\n")}`);
  current.logCount += logs.length;
  $("logs-count").textContent = `(${current.logCount} ${current.logCount === 1 ? "line" : "lines"})`;
  if (atBottom) pre.scrollTop = pre.scrollHeight;
}

/** One status object from submit, the SSE stream or a poll. */
function onStatus(current, status) {
  if (run !== current) return;
  const progress = $("run-progress");
  const text = $("run-status");
  appendLogs(current, status.logs);
  if (status.status === "IN_QUEUE") {
    setBadge("queued");
    const pos = status.queue_position;
    text.textContent =
      typeof pos === "number" ? (pos === 0 ? "In queue: next to run." : `In queue: position ${pos + 1} (${pos} ahead).`) : "In queue.";
    progress.removeAttribute("value");
  } else if (status.status === "IN_PROGRESS") {
    setBadge(current.cancelRequested ? "cancelling" : "running");
    const p = status.progress;
    if (p && typeof p.percent === "number") {
      progress.value = Math.max(0, Math.min(100, p.percent));
      const steps = typeof p.step === "number" && typeof p.total === "number" && p.total > 1 ? ` (${p.step} of ${p.total})` : "";
      // `percent` is the current stage's share done (the dispatcher derives it from step/total).
      text.textContent = `Running: ${p.stage ?? "working"} ${Math.round(p.percent)}%${steps}.`;
    } else {
      text.textContent = "Running.";
    }
  } else if (status.status === "COMPLETED") {
    current.finishedAt ??= Date.now();
    tick();
    window.clearInterval(current.timer);
    $("cancel").hidden = true;
    if (status.error) {
      setBadge(status.error_type === "request_cancelled" ? "cancelled" : "failed");
      // The result URL carries the full error (and field errors); showOutcome puts it below.
      text.textContent = status.error_type === "request_cancelled" ? "Cancelled." : "Failed.";
      progress.hidden = true;
    } else {
      setBadge("succeeded");
      progress.value = 100;
      const took = status.metrics?.inference_time;
      text.textContent = `Completed${typeof took === "number" ? ` in ${took.toFixed(1)} s of generation` : ""}. Fetching the result…`;
    }
  }
}

const sleep = (ms, signal) =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

/** Follows the request until COMPLETED (stream, reconnecting on drops), then shows the result. */
async function watch(current) {
  const { signal } = current.controller;
  let failures = 0;
  for (;;) {
    if (signal.aborted) return;
    try {
      const { completed } = await api.streamStatus(current.app, current.id, (s) => onStatus(current, s), { signal });
      if (completed) break;
      // Closed before COMPLETED (server restart, proxy timeout): ask once, then listen again.
      const status = await api.status(current.app, current.id);
      onStatus(current, status);
      if (status.status === "COMPLETED") break;
    } catch (err) {
      if (signal.aborted) return;
      if (handleAuthError(err)) return;
      if (err instanceof ApiError && err.status < 500 && err.status !== 429) {
        showRunError(`Lost the request: ${err.message}`);
        return;
      }
      failures += 1;
      $("run-status").textContent = `Connection lost; reconnecting (attempt ${failures})…`;
    }
    await sleep(Math.min(500 * 2 ** failures, 8000), signal);
  }
  if (signal.aborted) return;
  await showOutcome(current);
}

async function showOutcome(current) {
  try {
    const data = await api.result(current.app, current.id);
    if (run !== current) return;
    showResult(current, data);
    $("run-status").textContent = `Completed in ${seconds((current.finishedAt ?? Date.now()) - current.startedAt)}.`;
  } catch (err) {
    if (run !== current) return;
    if (handleAuthError(err)) return;
    if (err instanceof ApiError && err.errorType === "request_cancelled") {
      setBadge("cancelled");
      $("run-status").textContent = "Cancelled.";
      showRunError(`${err.message}. Change the input or press Generate to run it again.`, "info");
    } else if (err instanceof ApiError && err.fieldErrors.length > 0) {
      // Input problems found while running (an image that does not decode): show them at the fields too.
      setBadge("failed");
      const unplaced = form?.showErrors(err.fieldErrors) ?? [];
      showRunError(`The input was not accepted: ${err.message}${unplaced.length ? "" : " (see the marked fields)"}`);
    } else {
      setBadge("failed");
      showRunError(`Failed${err instanceof ApiError ? ` (HTTP ${err.status}${err.errorType ? `, ${err.errorType}` : ""})` : ""}: ${err.message}`);
    }
  } finally {
    refreshAccount();
  }
}

function showRunError(message, tone = "error") {
  const node = $("run-error");
  node.textContent = message;
  node.className = `alert alert-${tone}`;
  node.hidden = false;
  $("run-progress").hidden = true;
  $("cancel").hidden = true;
}

$("cancel").addEventListener("click", async () => {
  const current = run;
  if (!current) return;
  const button = $("cancel");
  button.disabled = true;
  button.textContent = "Cancelling…";
  current.cancelRequested = true;
  try {
    await api.cancel(current.app, current.id);
    $("run-status").textContent = "Cancellation requested…";
    setBadge("cancelling");
  } catch (err) {
    if (handleAuthError(err)) return;
    // 400 ALREADY_COMPLETED: the stream brings the outcome.
    if (!(err instanceof ApiError && err.status === 400)) {
      button.disabled = false;
      button.textContent = "Cancel request";
      $("run-status").textContent = `Could not cancel: ${err.message}`;
    }
  }
});

// ---------- result ----------

function showResult(current, data) {
  const video = data?.video ?? {};
  const player = $("video");
  player.src = video.url ?? "";
  const download = $("download");
  download.href = video.url ?? "#";
  download.setAttribute("download", video.file_name ?? "video.mp4");
  const facts = [
    video.width && video.height ? `${video.width}×${video.height}` : null,
    video.fps ? `${video.fps} fps` : null,
    typeof video.duration === "number" ? `${video.duration.toFixed(1)} s` : null,
    video.num_frames ? `${video.num_frames} frames` : null,
    bytes(video.file_size) || null,
    data?.seed !== undefined ? `seed ${data.seed}` : null,
  ].filter(Boolean);
  $("video-facts").textContent = facts.join(" · ");
  $("result-json").textContent = JSON.stringify(data, null, 2);
  $("result").hidden = false;
  $("logs-box").open = false; // the video takes the space; the logs stay one click away
  $("cancel").hidden = true;
  $("run-progress").hidden = true;
  setBadge("succeeded");
  showSnippets(current);
}

function showSnippets(current) {
  const req = { baseUrl: BASE_URL, endpointId: current.endpointId, app: current.app, input: current.input ?? {} };
  const text = snippetLang === "js" ? jsSnippet(req) : snippetLang === "python" ? pythonSnippet(req) : curlSnippet(req);
  $("snippet").textContent = text;
  $("snippets").hidden = false;
}

const tabs = [...document.querySelectorAll('[role="tab"]')];
function selectTab(tab, focus = false) {
  for (const t of tabs) {
    const selected = t === tab;
    t.setAttribute("aria-selected", String(selected));
    t.tabIndex = selected ? 0 : -1;
  }
  $("snippet-panel").setAttribute("aria-labelledby", tab.id);
  snippetLang = tab.dataset.lang;
  if (focus) tab.focus();
  if (run) showSnippets(run);
}
for (const tab of tabs) {
  tab.addEventListener("click", () => selectTab(tab));
  tab.addEventListener("keydown", (e) => {
    const i = tabs.indexOf(tab);
    const next = e.key === "ArrowRight" ? tabs[(i + 1) % tabs.length] : e.key === "ArrowLeft" ? tabs[(i - 1 + tabs.length) % tabs.length] : e.key === "Home" ? tabs[0] : e.key === "End" ? tabs[tabs.length - 1] : null;
    if (next) {
      e.preventDefault();
      selectTab(next, true);
    }
  });
}
$("copy-snippet").addEventListener("click", async () => {
  const button = $("copy-snippet");
  try {
    await navigator.clipboard.writeText($("snippet").textContent ?? "");
    button.textContent = "Copied";
  } catch {
    // No clipboard permission (http page, old browser): select the text for a manual copy.
    const range = document.createRange();
    range.selectNodeContents($("snippet"));
    const selection = window.getSelection();
    selection?.removeAllRanges();
    selection?.addRange(range);
    button.textContent = "Selected: press Ctrl+C";
  }
  setTimeout(() => (button.textContent = "Copy"), 2000);
});

// ---------- history and usage ----------

function renderUsage(usage) {
  $("usage-requests").textContent = usage ? String(usage.requests ?? 0) : "–";
  $("usage-seconds").textContent = usage ? `${Math.round(usage.seconds ?? 0)} s` : "–";
  $("usage-cost").textContent = usage ? usd(usage.cost_usd ?? 0) : "–";
}

function historyItem(item) {
  const li = document.createElement("li");
  li.className = "history-item";
  const button = document.createElement("button");
  button.type = "button";
  button.className = "history-open";
  button.dataset.requestId = item.request_id;
  const created = toDate(item.created_at);
  const prompt = item.input?.prompt ?? "";
  button.setAttribute("aria-label", `${item.state} request from ${ago(created)}: ${prompt.slice(0, 80)}`);

  const thumb = document.createElement(item.thumbnail_url ? "img" : "div");
  thumb.className = "thumb";
  if (item.thumbnail_url) {
    thumb.src = item.thumbnail_url;
    thumb.alt = "";
  } else {
    thumb.textContent = item.state === "failed" ? "!" : item.state === "cancelled" ? "×" : "…";
    thumb.setAttribute("aria-hidden", "true");
  }
  const body = document.createElement("div");
  body.className = "history-body";
  const top = document.createElement("div");
  top.className = "history-top";
  const badge = document.createElement("span");
  badge.className = `badge state-${item.state}`;
  badge.textContent = item.state;
  const cost = document.createElement("span");
  cost.className = "cost";
  cost.textContent = typeof item.cost_usd === "number" ? usd(item.cost_usd) : "";
  top.append(badge, cost);
  const text = document.createElement("p");
  text.className = "history-prompt";
  text.textContent = prompt || "(no prompt)";
  const meta = document.createElement("p");
  meta.className = "muted small";
  const input = item.input ?? {};
  meta.textContent = [shortEndpoint(item.endpoint), input.duration ? `${input.duration} s` : null, input.resolution, ago(created)]
    .filter(Boolean)
    .join(" · ");
  body.append(top, text, meta);
  button.append(thumb, body);
  button.addEventListener("click", () => openHistoryItem(item));
  li.append(button);
  return li;
}

function renderHistory(items) {
  $("history-list").replaceChildren(...items.map(historyItem));
  $("history-empty").hidden = items.length > 0;
}

/** Shows a past request: its input in the form, then the live status or the stored outcome. */
function openHistoryItem(item) {
  const target = endpoints.find((e) => e.id === item.endpoint);
  if (target && target !== endpoint) selectEndpoint(target.id);
  form?.apply(item.input ?? {});
  const app = target?.app ?? endpoint?.app ?? item.endpoint.split("/").slice(0, 2).join("/");
  startRun({
    id: item.request_id,
    app,
    endpointId: item.endpoint,
    input: item.input ?? {},
    startedAt: toDate(item.created_at)?.getTime() ?? Date.now(),
  });
  if (TERMINAL_STATES.has(item.state)) run.finishedAt = toDate(item.finished_at)?.getTime() ?? Date.now();
  revealOutput();
}

/** Reloads history and usage; returns the history items (empty when they could not be read). */
async function refreshAccount() {
  if (!apiKey) return [];
  const [history, usage] = await Promise.allSettled([api.requests(50), api.usage()]);
  if (usage.status === "fulfilled") renderUsage(usage.value);
  if (history.status === "rejected") {
    handleAuthError(history.reason);
    return [];
  }
  const items = history.value?.requests ?? [];
  renderHistory(items);
  return items;
}

$("refresh-history").addEventListener("click", () => refreshAccount());

// ---------- start ----------

updateKeyButton();
await loadEndpoints();
if (apiKey) {
  // A reload during a generation picks the live request up again.
  const items = await refreshAccount();
  const live = items.find((item) => !TERMINAL_STATES.has(item.state));
  if (live && !run) openHistoryItem(live);
} else {
  openKeyDialog();
}
document.body.dataset.ready = "true";
