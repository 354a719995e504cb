// The "Draft PIR" view: the latest post-incident review draft of a session, its versions,
// regenerate (with severity/authors edits) and a download of the exact Markdown the CLI prints.
//
// The draft's Markdown is shown through md.js, the renderer the chat uses (DOM nodes and text
// only, never innerHTML; unsafe links dropped), so a PIR looks in the page as it does in chat.
import { renderMarkdown } from "./md.js";

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

async function api(path, options) {
  const opts = Object.assign({}, options || {});
  opts.headers = Object.assign({ Accept: "application/json" }, opts.headers || {});  // the session cookie authenticates
  const res = await fetch(path, opts);
  if (!res.ok) {
    let detail = res.statusText;
    try {
      const body = await res.json();
      detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || body);
    } catch (_) { /* not JSON */ }
    throw new Error(`${res.status}: ${detail}`);
  }
  return res;
}

function filenameOf(res, fallback) {
  const header = res.headers.get("Content-Disposition") || "";
  const m = /filename="([^"]+)"/.exec(header);
  return m ? m[1] : fallback;
}

// Download the server's bytes for this version (never a re-serialisation of what is on screen).
async function download(draft) {
  const res = await api(draft.download_url, { headers: { Accept: "text/markdown" } });
  const blob = await res.blob();
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filenameOf(res, `pir-v${draft.version}.md`) });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

function severityPicker() {
  const select = el("select", { "aria-label": "Severity", "data-pir": "severity" });
  select.appendChild(el("option", { value: "" }, "Severity: keep"));
  for (const s of ["SEV1", "SEV2", "SEV3", "SEV4"]) select.appendChild(el("option", { value: s }, s));
  return select;
}

function editsFrom(severity, authors) {
  const edits = {};
  if (severity.value) edits.severity = severity.value;
  const names = authors.value.split(",").map((s) => s.trim()).filter(Boolean);
  if (names.length) edits.authors = names;
  return edits;
}

function mount(container, sessionId) {
  const base = `/api/sessions/${encodeURIComponent(sessionId)}/pir`;
  container.replaceChildren();
  const bar = el("div", { class: "pir-toolbar", role: "toolbar" });
  const versions = el("select", { "aria-label": "Version", "data-pir": "versions" });
  const severity = severityPicker();
  const authors = el("input", { type: "text", placeholder: "Authors (comma separated)", "aria-label": "Authors",
    "data-pir": "authors" });
  const regen = el("button", { type: "button", class: "btn btn-small", "data-pir": "regenerate" }, "Regenerate");
  const dl = el("button", { type: "button", class: "btn btn-small btn-primary", "data-pir": "download" },
    "Download .md");
  const status = el("span", { class: "pir-status", role: "status", "data-pir": "status" });
  bar.append(versions, severity, authors, regen, dl, status);
  const doc = el("article", { class: "pir-doc md", "data-pir": "document" });
  container.append(bar, doc);
  let current = null;

  function show(draft) {
    current = draft;
    renderMarkdown(draft.markdown, doc);
    status.textContent = `Version ${draft.version} · ${draft.severity} · narrative: ${draft.model} · ` +
      `${draft.created_at.replace("T", " ").slice(0, 19)} UTC`;
    container.dataset.version = String(draft.version);
  }

  async function refreshVersions() {
    const list = await (await api(`${base}/versions`)).json();
    versions.replaceChildren();
    for (const v of list.slice().reverse()) {
      versions.appendChild(el("option", { value: String(v.version) }, `v${v.version} · ${v.severity} · ${v.model}`));
    }
    if (current) versions.value = String(current.version);
  }

  async function run(label, fn) {
    status.textContent = label;
    for (const b of [regen, dl]) b.disabled = true;
    try {
      await fn();
    } catch (err) {
      status.textContent = `Error: ${err.message}`;
    } finally {
      for (const b of [regen, dl]) b.disabled = false;
    }
  }

  versions.addEventListener("change", () => run("Loading…", async () => {
    show(await (await api(`${base}?version=${encodeURIComponent(versions.value)}`)).json());
  }));
  regen.addEventListener("click", () => run("Drafting a new version…", async () => {
    const res = await api(base, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(editsFrom(severity, authors)) });
    show(await res.json());
    await refreshVersions();
  }));
  dl.addEventListener("click", () => run("Downloading…", async () => {
    if (!current) throw new Error("no draft loaded yet");
    await download(current);
    status.textContent = `Downloaded version ${current.version}`;
  }));

  return run("Loading the draft…", async () => {
    show(await (await api(base)).json());
    await refreshVersions();
  });
}

// The chat page (index.html) leaves a slot for a "Draft PIR" button and a side panel for the view;
// app.js announces the open session with a `firstline:session` event.
function pageUrl(sessionId) {
  return `/s/${encodeURIComponent(sessionId)}/pir`;
}

function attachToChat(sessionId) {
  const slot = document.getElementById("pir-slot");
  const panel = document.getElementById("pir-panel");
  if (!slot || !panel) return;
  // The page's own data and app.js may both announce the same session, the second after the user has
  // already opened the panel: keep it then, instead of closing it under their click.
  if (sessionId && slot.dataset.sessionId === sessionId && slot.childElementCount) return;
  slot.dataset.sessionId = sessionId || "";
  panel.hidden = true;
  panel.replaceChildren();
  slot.replaceChildren();
  if (!sessionId) return;
  const button = el("button", { type: "button", class: "btn", "data-pir": "open", "aria-expanded": "false" },
    "Draft PIR");
  button.addEventListener("click", () => {
    const opening = panel.hidden;
    panel.hidden = !opening;
    button.setAttribute("aria-expanded", String(opening));
    if (!opening) return;
    const head = el("div", { class: "pir-panel-head" });
    head.append(el("h2", { class: "panel-title" }, "Post-incident review"),
      el("a", { href: pageUrl(sessionId), target: "_blank", rel: "noopener" }, "Full page ↗"));
    const view = el("div", { class: "pir-view-embedded" });
    panel.replaceChildren(head, view);
    mount(view, sessionId);
    panel.scrollIntoView({ block: "nearest" });
  });
  slot.append(button);
}

const match = /^\/s\/([^/]+)\/pir\/?$/.exec(window.location.pathname);
const root = document.getElementById("pir-root");
if (root && match) {  // the standalone page: /s/{id}/pir
  const sessionId = decodeURIComponent(match[1]);
  const back = document.getElementById("pir-back");
  if (back) back.setAttribute("href", `/s/${encodeURIComponent(sessionId)}`);
  mount(root, sessionId);
} else {
  document.addEventListener("firstline:session", (e) => attachToChat(e.detail && e.detail.id));
  if (document.body && document.body.dataset.sessionId) attachToChat(document.body.dataset.sessionId);
}
