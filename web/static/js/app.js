// Wiring: sessions sidebar, new-session dialog, composer, the live event stream, keyboard shortcuts.

import { api, ApiError } from "./api.js";
import { h } from "./cards.js";
import { SessionView } from "./timeline.js";

const $ = (id) => document.getElementById(id);
// The closed vocabulary of events, from the Python enum (assistant/events.py EventType) via the page.
const EVENT_TYPES = (document.body.dataset.eventTypes || "").split(" ").filter(Boolean);

const state = { session: null, source: null, retry: 0, retryTimer: null, sessions: [] };

const view = new SessionView({
  timeline: $("timeline"), findings: $("findings"), findingsCount: $("findings-count"),
  findingsEmpty: $("findings-empty"), onDecide: decide, onStatus: showRunning,
});

// ---------------------------------------------------------------- event stream

function setConn(text, cls) {
  const c = $("conn");
  c.textContent = text;
  c.dataset.state = cls;
}

function closeStream() {
  clearTimeout(state.retryTimer);
  if (state.source) state.source.close();
  state.source = null;
}

// Follow the session from the last seq we have; EventSource resends Last-Event-ID on its own
// reconnects, and after a hard failure we reopen with ?after=<last seq>. Either way: no gap, no repeat.
function openStream() {
  closeStream();
  const sid = state.session.id;
  const es = new EventSource(api.eventsUrl(sid, view.lastSeq));
  state.source = es;
  setConn("connecting", "wait");
  es.addEventListener("open", () => { state.retry = 0; setConn("live", "live"); });
  for (const type of EVENT_TYPES) {
    es.addEventListener(type, (msg) => {
      if (state.source !== es) return;
      let ev;
      try { ev = JSON.parse(msg.data); } catch { return; }
      view.apply(ev);
      if (type === "turn_finished") refreshSessions();
    });
  }
  es.addEventListener("error", () => {
    if (state.source !== es) return;
    if (es.readyState === EventSource.CLOSED) {
      const delay = Math.min(15000, 500 * 2 ** state.retry++);
      setConn("reconnecting", "wait");
      state.retryTimer = setTimeout(() => { if (state.source === es) openStream(); }, delay);
    } else {
      setConn("reconnecting", "wait");
    }
  });
}

// ---------------------------------------------------------------- sessions

function showRunning(turnId) {
  if (!state.session) return;
  state.session.running_turn_id = turnId;
  $("cancel-turn").hidden = !turnId;
  const badge = $("status-badge");
  badge.textContent = turnId ? "running" : "idle";
  badge.dataset.state = turnId ? "running" : "idle";
  $("send").disabled = Boolean(turnId);
}

function renderHeader() {
  const s = state.session;
  $("session-title").textContent = s ? (s.title || "Untitled session") : "No session";
  $("chip-target").textContent = s ? s.target : "";
  $("chip-model").textContent = s ? s.model : "";
  $("chip-target").hidden = $("chip-model").hidden = !s;
  $("rename-session").disabled = $("delete-session").disabled = !s;
  $("message").disabled = !s;
  $("send").disabled = !s;
  $("status-badge").hidden = !s;
  if (!s) $("cancel-turn").hidden = true;
}

function relTime(iso) {
  const secs = (Date.now() - new Date(iso).getTime()) / 1000;
  if (secs < 60) return "just now";
  if (secs < 3600) return `${Math.floor(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

function renderSessionList() {
  const list = $("session-list");
  list.replaceChildren();
  for (const s of state.sessions) {
    const li = h("li");
    const btn = h("button", "session-item");
    btn.type = "button";
    if (state.session && s.id === state.session.id) btn.setAttribute("aria-current", "true");
    const top = h("span", "session-item-title", s.title || "Untitled session");
    if (s.status === "running") top.prepend(h("span", "dot-running", ""));
    btn.append(top, h("span", "session-item-meta", `${s.target} · ${relTime(s.updated_at)}`));
    btn.addEventListener("click", () => openSession(s.id, true));
    li.append(btn);
    list.append(li);
  }
}

async function refreshSessions() {
  try {
    state.sessions = await api.sessions();
    renderSessionList();
  } catch (err) {
    setConn(err.status === 503 ? "database down" : "offline", "down");
  }
}

async function openSession(id, push) {
  let session;
  try {
    session = await api.session(id);
  } catch (err) {
    toast(err.status === 404 ? "That session no longer exists." : err.message);
    if (push !== false) history.replaceState(null, "", "/");
    return;
  }
  state.session = session;
  if (push) history.pushState({ id }, "", `/s/${encodeURIComponent(id)}`);
  document.title = `${session.title || "Session"} · Firstline`;
  $("empty-state")?.remove();
  view.reset();
  renderHeader();
  showRunning(session.running_turn_id);
  renderSessionList();
  openStream();
  document.dispatchEvent(new CustomEvent("firstline:session", { detail: session }));
  $("message").focus();
}

function showEmpty() {
  state.session = null;
  closeStream();
  view.reset();
  renderHeader();
  setConn("idle", "idle");
  const empty = h("div", "empty");
  empty.id = "empty-state";
  empty.append(h("h2", null, "What is on fire?"),
    h("p", null, "Start a session with Ctrl+K, pick a target and describe the symptom."));
  $("timeline").append(empty);
}

// ---------------------------------------------------------------- actions

async function send(e) {
  e?.preventDefault();
  const box = $("message");
  const text = box.value.trim();
  if (!text || !state.session) return;
  $("send").disabled = true;
  try {
    await api.send(state.session.id, text);
    box.value = "";
    autosize();
    refreshSessions();
  } catch (err) {
    toast(err.status === 409 ? "A turn is already running; wait for it or stop it." :
      err.status === 413 ? "That message is too long." : `Could not send: ${err.message}`);
    $("send").disabled = Boolean(state.session?.running_turn_id);
  }
}

async function decide(approvalId, decision, comment) {
  try {
    await api.decide(state.session.id, approvalId, decision, comment);
    return null;
  } catch (err) {
    return err.status === 409 ? "Already decided (or the turn ended)." : err.message;
  }
}

async function cancelTurn() {
  const s = state.session;
  if (!s?.running_turn_id) return;
  $("cancel-turn").disabled = true;
  try {
    await api.cancel(s.id, s.running_turn_id);
  } catch (err) {
    if (err.status !== 409) toast(err.message);
  } finally {
    $("cancel-turn").disabled = false;
  }
}

async function renameSession() {
  const s = state.session;
  if (!s) return;
  const title = window.prompt("Session title", s.title || "");
  if (title === null || !title.trim()) return;
  try {
    state.session = { ...s, ...(await api.renameSession(s.id, title.trim())) };
    renderHeader();
    refreshSessions();
  } catch (err) {
    toast(err.message);
  }
}

async function deleteSession() {
  const s = state.session;
  if (!s || !window.confirm(`Delete session "${s.title || s.id}" and its whole history?`)) return;
  try {
    await api.deleteSession(s.id);
    history.pushState(null, "", "/");
    showEmpty();
    refreshSessions();
  } catch (err) {
    toast(err.status === 409 ? "Stop the running turn first." : err.message);
  }
}

function toast(text) {
  const t = h("div", "toast", text);
  t.setAttribute("role", "status");
  document.body.append(t);
  setTimeout(() => t.remove(), 5000);
}

// ---------------------------------------------------------------- new session dialog

async function openDialog() {
  const dlg = $("new-session-dialog");
  if (dlg.open) return;
  $("ns-error").textContent = "";
  dlg.showModal();
  try {
    const [targets, models] = await Promise.all([api.targets(), api.models()]);
    const select = $("ns-target");
    select.replaceChildren();
    const groups = new Map();
    for (const t of targets) {
      if (!groups.has(t.kind)) groups.set(t.kind, h("optgroup"));
      const g = groups.get(t.kind);
      g.label = t.kind;
      const opt = h("option", null, `${t.name} · ${t.title}`);
      opt.value = t.name;
      g.append(opt);
    }
    for (const g of groups.values()) select.append(g);
    select.value = document.body.dataset.defaultTarget;
    const list = $("ns-models");
    list.replaceChildren();
    for (const m of [...models.models, ...models.hints]) {
      const opt = h("option");
      opt.value = m;
      list.append(opt);
    }
    $("ns-model").value = models.default;
    $("ns-model-hint").textContent = "Any litellm model string; firstline/runbook works offline.";
  } catch (err) {
    $("ns-error").textContent = `Could not load targets/models: ${err.message}`;
  }
  $("ns-target").focus();
}

async function createSession(e) {
  e.preventDefault();
  const body = { target: $("ns-target").value, model: $("ns-model").value.trim() || null,
    title: $("ns-title").value.trim() || null };
  $("ns-create").disabled = true;
  try {
    const s = await api.createSession(body);
    $("new-session-dialog").close();
    $("ns-title").value = "";
    await refreshSessions();
    await openSession(s.id, true);
  } catch (err) {
    $("ns-error").textContent = err instanceof ApiError ? err.message : String(err);
  } finally {
    $("ns-create").disabled = false;
  }
}

// ---------------------------------------------------------------- keyboard + boot

function autosize() {
  const box = $("message");
  box.style.height = "auto";
  box.style.height = `${Math.min(240, box.scrollHeight + 2)}px`;
}

function bind() {
  $("composer").addEventListener("submit", send);
  $("message").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) send(e);
  });
  $("message").addEventListener("input", autosize);
  $("new-session").addEventListener("click", openDialog);
  $("new-session-form").addEventListener("submit", createSession);
  $("ns-cancel").addEventListener("click", () => $("new-session-dialog").close());
  $("cancel-turn").addEventListener("click", cancelTurn);
  $("rename-session").addEventListener("click", renameSession);
  $("delete-session").addEventListener("click", deleteSession);
  document.addEventListener("keydown", (e) => {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
      e.preventDefault();
      openDialog();
    }
  });
  window.addEventListener("popstate", () => {
    const m = /^\/s\/([^/]+)$/.exec(location.pathname);
    if (m) openSession(decodeURIComponent(m[1]), false);
    else showEmpty();
  });
  window.addEventListener("online", () => { if (state.session) openStream(); });
  setInterval(refreshSessions, 10000);
}

async function boot() {
  bind();
  renderHeader();
  await refreshSessions();
  const sid = document.body.dataset.sessionId;
  if (sid) await openSession(sid, false);
  else if (state.sessions.length) await openSession(state.sessions[0].id, true);
  else setConn("idle", "idle");
}

boot();
