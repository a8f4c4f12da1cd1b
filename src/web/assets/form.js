// Builds the request form from an endpoint's input JSON Schema (every property with its default, enums
// as selects, booleans as checkboxes, image and audio URLs as drop zones, an audio one with a player),
// reads it back as typed input, and shows 422 field errors at their fields.

/** Labels for the fields whose name alone reads badly; all others are derived from the name. */
const LABELS = { image_url: "Start image", end_image_url: "End image", audio_url: "Audio", fps: "Frame rate" };

/** Audio files by name when the browser gives no type (the formats fal accepts for audio_url). */
const AUDIO_NAME = /\.(mp3|wav|m4a|aac|ogg|oga|opus|flac|webm)$/i;

/** Whether a file fits a media field: an image for image fields, an audio file for audio fields. */
export function acceptsFile(kind, file) {
  const type = file?.type ?? "";
  if (kind === "audio") return type.startsWith("audio/") || (!type.startsWith("image/") && AUDIO_NAME.test(file?.name ?? ""));
  return type.startsWith("image/");
}

/** "camera_motion" -> "Camera motion"; "end_image_url" -> "End image url" (unless in LABELS). */
export function labelOf(name, schema = {}) {
  if (typeof schema.title === "string" && schema.title) return schema.title;
  if (LABELS[name]) return LABELS[name];
  const words = name.replace(/_/g, " ").trim();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/**
 * The allowed values of an enum-like schema: `enum`, or `const`s in `anyOf`/`oneOf` branches. Numeric
 * enums that also accept the same numbers as strings ("6") are reduced to one value each, keeping the
 * JSON type of the default (else numbers).
 * @returns {{ values: (string|number|boolean)[], nullable: boolean } | null}
 */
export function enumOf(schema) {
  if (!schema || typeof schema !== "object") return null;
  if (Array.isArray(schema.enum)) return { values: schema.enum.filter((v) => v !== null), nullable: schema.enum.includes(null) };
  const branches = schema.anyOf ?? schema.oneOf;
  if (!Array.isArray(branches)) return null;
  const raw = [];
  let nullable = false;
  for (const branch of branches) {
    if (branch?.type === "null" || branch?.const === null) nullable = true;
    else if ("const" in (branch ?? {})) raw.push(branch.const);
    else if (Array.isArray(branch?.enum)) raw.push(...branch.enum.filter((v) => v !== null));
    else return null; // a free-form branch: not an enum
  }
  if (raw.length === 0) return null;
  const preferType = schema.default !== undefined ? typeof schema.default : raw.some((v) => typeof v === "number") ? "number" : typeof raw[0];
  const byText = new Map();
  for (const value of raw) {
    const key = String(value);
    const seen = byText.get(key);
    if (seen === undefined || (typeof seen !== preferType && typeof value === preferType)) byText.set(key, value);
  }
  return { values: [...byText.values()], nullable };
}

/** The JSON type a field's value is sent as. */
function valueTypeOf(schema, options) {
  if (options) {
    const types = new Set(options.map((v) => typeof v));
    return types.size === 1 ? [...types][0] : "string";
  }
  const type = Array.isArray(schema.type) ? schema.type.find((t) => t !== "null") : schema.type;
  if (type === "integer" || type === "number") return "number";
  if (type === "boolean") return "boolean";
  return "string";
}

/**
 * One form field per schema property, media fields (audio, images) first, then prompt-like text, then
 * the rest in schema order.
 */
export function describeFields(schema) {
  const props = schema?.properties ?? {};
  const required = new Set(schema?.required ?? []);
  const fields = Object.entries(props).map(([name, prop]) => {
    const e = enumOf(prop);
    const options = e?.values ?? null;
    const valueType = valueTypeOf(prop, options);
    const isImage = /(^|_)image_url$/.test(name) || (prop.format === "uri" && /image/.test(name));
    const isAudio = /(^|_)audio_url$/.test(name) || (prop.format === "uri" && /audio/.test(name));
    const isLongText = valueType === "string" && !options && (name === "prompt" || (prop.maxLength ?? 0) > 300);
    const kind = isAudio ? "audio" : isImage ? "image" : options ? "select" : valueType === "boolean" ? "checkbox" : valueType === "number" ? "number" : isLongText ? "textarea" : "text";
    return {
      name,
      kind,
      valueType,
      integer: prop.type === "integer",
      label: labelOf(name, prop),
      description: typeof prop.description === "string" ? prop.description : "",
      default: prop.default,
      required: required.has(name),
      options,
      minimum: prop.minimum,
      maximum: prop.maximum,
      maxLength: prop.maxLength,
    };
  });
  const rank = (f) => (f.kind === "audio" || f.kind === "image" ? 0 : f.kind === "textarea" ? 1 : 2);
  return fields.map((f, i) => ({ f, i })).sort((a, b) => rank(a.f) - rank(b.f) || a.i - b.i).map(({ f }) => f);
}

/** Option text: enum values read as words ("dolly_in" -> "dolly in"); numbers with the field's unit. */
function optionLabel(field, value) {
  if (typeof value === "number") {
    if (field.name === "duration") return `${value} s`;
    if (field.name === "fps") return `${value} fps`;
    return String(value);
  }
  return String(value).replace(/_/g, " ");
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * Renders the fields into `container` and returns the controller of the form.
 * @param {HTMLElement} container
 * @param {any} schema JSON Schema of the input
 * @param {{ upload: (file: File) => Promise<string>, onChange: () => void }} deps
 */
export function buildForm(container, schema, { upload, onChange }) {
  const fields = describeFields(schema);
  /** @type {Map<string, { field: any, root: HTMLElement, control: HTMLInputElement|HTMLSelectElement|HTMLTextAreaElement, error: HTMLElement, image?: any }>} */
  const views = new Map();
  const pending = new Set();
  /** Seconds of each audio field's track, once its player has read them (for the price). */
  const audioSeconds = new Map();
  container.replaceChildren();

  const imageRow = el("div", { class: "image-row" });
  const grid = el("div", { class: "grid" });

  for (const field of fields) {
    const id = `field-${field.name}`;
    const descId = `${id}-desc`;
    const errId = `${id}-error`;
    const error = el("p", { class: "field-error", id: errId });
    const desc = field.description ? el("p", { class: "hint", id: descId, text: field.description }) : null;
    const describedBy = [desc ? descId : null, errId].filter(Boolean).join(" ");
    // Fields with a default are never "missing"; only the ones that may be left out entirely are tagged.
    const optionalTag = field.required || field.default !== undefined ? null : el("span", { class: "optional", text: "optional" });
    let root;
    let control;
    let image;

    if (field.kind === "image" || field.kind === "audio") {
      ({ root, control, image } = mediaField(field, { id, describedBy, desc, error, optionalTag }));
      imageRow.append(root);
    } else if (field.kind === "checkbox") {
      control = el("input", { type: "checkbox", id, name: field.name, "aria-describedby": describedBy });
      control.checked = field.default === true;
      root = el("div", { class: "field field-checkbox", "data-field": field.name },
        el("div", { class: "check" }, control, el("label", { for: id, text: field.label })), desc, error);
      grid.append(root);
    } else {
      if (field.kind === "select") {
        control = el("select", { id, name: field.name, "aria-describedby": describedBy });
        if (field.default === undefined) control.append(el("option", { value: "", text: field.required ? "Choose…" : "Not set" }));
        for (const value of field.options) control.append(el("option", { value: String(value), text: optionLabel(field, value) }));
        if (field.default !== undefined) control.value = String(field.default);
      } else if (field.kind === "textarea") {
        control = el("textarea", { id, name: field.name, rows: 4, maxlength: field.maxLength, "aria-describedby": describedBy,
          placeholder: "A slow dolly in on the scene, soft morning light…" });
        if (typeof field.default === "string") control.value = field.default;
      } else {
        const isNumber = field.kind === "number";
        control = el("input", {
          id, name: field.name, type: isNumber ? "number" : "text", inputmode: isNumber && field.integer ? "numeric" : undefined,
          step: isNumber ? (field.integer ? 1 : "any") : undefined, min: field.minimum, max: field.maximum,
          placeholder: field.default === undefined && !field.required ? "Not set" : undefined,
          "aria-describedby": describedBy, autocomplete: "off",
        });
        if (field.default !== undefined) control.value = String(field.default);
      }
      if (field.required) control.setAttribute("aria-required", "true");
      root = el("div", { class: `field field-${field.kind}`, "data-field": field.name },
        el("label", { for: id }, field.label, optionalTag ? " " : null, optionalTag), control, desc, error);
      (field.kind === "textarea" ? imageRow : grid).append(root);
    }
    control.addEventListener("input", () => {
      clearError(field.name);
      onChange();
    });
    control.addEventListener("change", () => onChange());
    views.set(field.name, { field, root, control, error, image });
  }
  // Prompt and other long texts follow the images at full width; the short settings share a grid.
  container.append(imageRow, grid);

  /** A drop zone with a file picker, a URL box and a preview: an image, or an audio player for audio fields. */
  function mediaField(field, { id, describedBy, desc, error, optionalTag }) {
    const audio = field.kind === "audio";
    const noun = audio ? "audio file" : "image";
    const fileId = `${id}-file`;
    const statusId = `${id}-status`;
    const fileInput = el("input", { type: "file", id: fileId, accept: audio ? "audio/*,.mp3,.wav,.m4a,.aac,.ogg,.opus,.flac" : "image/*", class: "visually-hidden", tabindex: "-1", "aria-hidden": "true" });
    const chooseButton = el("button", { type: "button", class: "btn btn-small", "aria-describedby": describedBy, text: "Choose file" });
    const removeButton = el("button", { type: "button", class: "btn btn-small btn-quiet", text: "Remove", hidden: true });
    const preview = audio
      ? el("audio", { class: "audio-preview", id: `${id}-player`, controls: true, preload: "metadata", "aria-label": `${field.label} player`, hidden: true })
      : el("img", { class: "preview", alt: `${field.label} preview`, hidden: true });
    const status = el("p", { class: "upload-status", id: statusId, "aria-live": "polite" });
    const hint = el("div", { class: "drop-hint" },
      el("p", { text: audio ? "Drop an audio file here (MP3, WAV, M4A, OGG, FLAC), or" : "Drop an image here, paste one, or" }),
      el("div", { class: "drop-actions" }, chooseButton, removeButton));
    const zone = el("div", { class: `dropzone${audio ? " dropzone-audio" : ""}`, "data-dropzone": field.name }, preview, hint, fileInput);
    const control = el("input", {
      id, name: field.name, type: "url", inputmode: "url", autocomplete: "off", spellcheck: "false",
      placeholder: audio ? "…or an audio URL" : "…or an image URL", "aria-describedby": `${describedBy} ${statusId}`,
    });
    if (field.required) control.setAttribute("aria-required", "true");
    const root = el("div", { class: `field field-${field.kind}`, "data-field": field.name },
      el("label", { for: id }, field.label, optionalTag ? " " : null, optionalTag), zone, control, status, desc, error);

    let objectUrl = null;
    const setPreview = (src) => {
      if (objectUrl && src !== objectUrl) {
        URL.revokeObjectURL(objectUrl);
        objectUrl = null;
      }
      preview.hidden = !src;
      removeButton.hidden = !src && !control.value;
      zone.classList.toggle(audio ? "has-audio" : "has-image", Boolean(src));
      if (audio && audioSeconds.delete(field.name)) onChange();
      if (src) preview.src = src;
      else preview.removeAttribute("src");
    };
    preview.addEventListener("error", () => {
      if (preview.getAttribute("src")) status.textContent = `This URL does not play as ${audio ? "audio" : "an image"} here; the server will try to fetch it.`;
      preview.hidden = true;
      zone.classList.remove(audio ? "has-audio" : "has-image");
    });
    if (audio) {
      preview.addEventListener("loadedmetadata", () => {
        if (Number.isFinite(preview.duration) && preview.duration > 0) {
          audioSeconds.set(field.name, preview.duration);
          onChange();
        }
      });
    }

    async function takeFile(file) {
      clearError(field.name);
      if (!acceptsFile(field.kind, file)) {
        showError(field.name, `${file.name || "That file"} is not ${audio ? "an audio file" : "an image"} (${file.type || "unknown type"}).`);
        return;
      }
      objectUrl = URL.createObjectURL(file);
      setPreview(objectUrl);
      control.value = "";
      const what = file.name || `pasted ${noun}`;
      status.textContent = `Uploading ${what} (${formatBytes(file.size)})…`;
      zone.classList.add("busy");
      const job = upload(file);
      pending.add(job);
      onChange();
      try {
        const url = await job;
        control.value = url;
        status.textContent = `Uploaded ${what} (${formatBytes(file.size)}).`;
      } catch (err) {
        status.textContent = "";
        setPreview(null);
        showError(field.name, `Upload failed: ${err instanceof Error ? err.message : String(err)}`);
      } finally {
        pending.delete(job);
        zone.classList.remove("busy");
        onChange();
      }
    }

    chooseButton.addEventListener("click", () => fileInput.click());
    fileInput.addEventListener("change", () => {
      const file = fileInput.files?.[0];
      if (file) takeFile(file);
      fileInput.value = "";
    });
    removeButton.addEventListener("click", () => {
      control.value = "";
      status.textContent = "";
      setPreview(null);
      removeButton.hidden = true;
      onChange();
      chooseButton.focus();
    });
    zone.addEventListener("dragover", (e) => {
      e.preventDefault();
      zone.classList.add("dragging");
    });
    zone.addEventListener("dragleave", () => zone.classList.remove("dragging"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      zone.classList.remove("dragging");
      const file = e.dataTransfer?.files?.[0];
      if (file) return takeFile(file);
      const text = e.dataTransfer?.getData("text/uri-list") || e.dataTransfer?.getData("text/plain");
      if (text) {
        control.value = text.trim().split(/\s+/)[0];
        control.dispatchEvent(new Event("input"));
      }
    });
    control.addEventListener("input", () => {
      const v = control.value.trim();
      status.textContent = "";
      setPreview(previewable(v) ? v : null);
    });
    const previewable = (v) => (audio ? /^(https?:|data:audio\/|blob:)/i : /^(https?:|data:image\/|blob:)/i).test(v);
    return { root, control, image: { takeFile, setPreview, previewable, kind: field.kind } };
  }

  function showError(name, msg) {
    const view = views.get(name);
    if (!view) return false;
    view.error.textContent = msg;
    view.root.classList.add("invalid");
    view.control.setAttribute("aria-invalid", "true");
    return true;
  }

  function clearError(name) {
    const view = views.get(name);
    if (!view) return;
    view.error.textContent = "";
    view.root.classList.remove("invalid");
    view.control.removeAttribute("aria-invalid");
  }

  return {
    fields,

    /** The input to send: typed values, optional fields left out when empty. */
    read() {
      const input = {};
      for (const { field, control } of views.values()) {
        if (field.kind === "checkbox") {
          input[field.name] = control.checked;
          continue;
        }
        const raw = control.value.trim();
        if (raw === "") continue; // omitted: the server applies the default or reports "required"
        if (field.valueType === "number") {
          const n = Number(raw);
          input[field.name] = Number.isFinite(n) ? n : raw; // a non-number goes as typed, for the server to reject
        } else if (field.valueType === "boolean") input[field.name] = raw === "true";
        else input[field.name] = field.kind === "textarea" ? control.value : raw;
      }
      return input;
    },

    /** Puts a previous request's input back into the form (history). */
    apply(input) {
      for (const { field, control, image } of views.values()) {
        const value = input?.[field.name];
        if (field.kind === "checkbox") control.checked = value === undefined ? field.default === true : Boolean(value);
        else control.value = value === undefined || value === null ? (field.default === undefined ? "" : String(field.default)) : String(value);
        clearError(field.name);
        if (image) image.setPreview(image.previewable(control.value) && !/^blob:/i.test(control.value) ? control.value : null);
      }
      onChange();
    },

    /** Resolves once every upload in flight has finished. */
    async settled() {
      await Promise.allSettled([...pending]);
    },
    get uploading() {
      return pending.size > 0;
    },
    /** Seconds of the chosen audio track (the first audio field), once its player knows them; else null. */
    get audioSeconds() {
      const first = fields.find((f) => f.kind === "audio");
      return (first && audioSeconds.get(first.name)) ?? null;
    },

    /**
     * Shows fal 422 entries at their fields and focuses the first one.
     * @returns {string[]} the messages that belong to no field of this form
     */
    showErrors(details) {
      const unplaced = [];
      let first = null;
      for (const d of details) {
        const loc = Array.isArray(d.loc) ? d.loc : [];
        const name = [...loc].reverse().find((part) => typeof part === "string" && views.has(part));
        if (name && showError(name, d.msg)) first ??= views.get(name).control;
        else unplaced.push(`${loc.filter((p) => p !== "body").join(".") || "input"}: ${d.msg}`);
      }
      if (first) {
        first.focus();
        first.closest(".field")?.scrollIntoView({ block: "center" });
      }
      return unplaced;
    },
    showError,
    clearErrors() {
      for (const name of views.keys()) clearError(name);
    },

    /** Routes a pasted image file to the image field that has focus, else to the first image field. */
    paste(file) {
      const focused = document.activeElement?.closest?.(".field-image")?.getAttribute("data-field");
      const target = (focused && views.get(focused)?.image) || [...views.values()].find((v) => v.image?.kind === "image")?.image;
      if (target) target.takeFile(file);
      return Boolean(target);
    },
  };
}
