// Wiring: sessions sidebar, new-session dialog, composer, the live event stream, keyboard shortcuts.

import { api, ApiError } from "./api.js";
import { fullTime, h } from "./cards.js";
import { Layout } from "./layout.js";
import { distinctTitles, filterSessions, targetsOf } from "./sessionlist.js";
import { SessionView } from "./timeline.js";

const $ = (id) => document.getElementById(id);
// The closed vocabulary of events, from the Python enum (assistant/events.py EventType) via the page.
const EVENT_TYPES = (document.body.dataset.eventTypes || "").split(" ").filter(Boolean);
const LIMITS = {
  message: Number(document.body.dataset.maxMessageChars) || 20000,
  attachment: Number(document.body.dataset.maxAttachmentChars) || 200000,
  approvalS: Number(document.body.dataset.approvalTimeoutS) || 0,
};

const state = { session: null, source: null, retry: 0, retryTimer: null, sessions: [] };

const view = new SessionView({
  timeline: $("timeline"), findings: $("findings"), findingsCount: $("findings-count"),
  findingsEmpty: $("findings-empty"), onDecide: decide, onStatus: showRunning,
  extraCounts: [$("side-count")], onApprovals: showApprovals, onQuestion: learnTitle, approvalTimeoutS: LIMITS.approvalS,
});

const layout = new Layout({
  layout: $("layout"), scrim: $("scrim"), sessionsButton: $("toggle-sessions"), sideButton: $("toggle-side"),
  closeSide: $("close-side"),
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
  syncTargetFilter();
  const names = distinctTitles(state.sessions);
  const shown = filterSessions(state.sessions, { query: $("session-search").value,
    target: $("session-filter-target").value, state: $("session-filter-state").value });
  for (const s of shown) {
    const li = h("li");
    const btn = h("button", "session-item");
    btn.type = "button";
    btn.title = `${s.title || "Untitled session"}\n${s.target} · started ${fullTime(s.created_at)} · ${s.id}`;
    if (state.session && s.id === state.session.id) btn.setAttribute("aria-current", "true");
    const top = h("span", "session-item-title", names.get(s.id));
    if (s.status === "running") top.prepend(h("span", "dot-running", ""));
    btn.append(top, h("span", "session-item-meta", `${relTime(s.updated_at)} · #${s.id.slice(-4)} · ${s.target}`));
    btn.addEventListener("click", () => { layout.closeDrawers(); openSession(s.id, true); });
    li.append(btn);
    list.append(li);
  }
  if (!shown.length && state.sessions.length) list.append(h("li", "session-empty", "No session matches."));
}

function syncTargetFilter() {
  const select = $("session-filter-target");
  const targets = targetsOf(state.sessions);
  const have = [...select.options].slice(1).map((o) => o.value);
  if (have.join("\n") === targets.join("\n")) return;
  const chosen = select.value;
  select.replaceChildren(select.options[0]);
  for (const t of targets) {
    const opt = h("option", null, t);
    opt.value = t;
    select.append(opt);
  }
  select.value = targets.includes(chosen) ? chosen : "";
}

// The server names an untitled session after its first question: show that name at once.
async function learnTitle() {
  const s = state.session;
  if (!s || s.title) return;
  try {
    const fresh = await api.session(s.id);
    if (state.session?.id !== fresh.id) return;
    state.session = { ...state.session, title: fresh.title };
    renderHeader();
    document.title = `${fresh.title || "Session"} · Firstline`;
    refreshSessions();
  } catch {
    // the next list refresh names it
  }
}

function showApprovals(pending) {
  const btn = $("approvals-pending");
  btn.hidden = !pending.length;
  btn.textContent = pending.length === 1 ? "1 approval waiting" : `${pending.length} approvals waiting`;
  btn.onclick = () => {
    const card = pending[0];
    card?.scrollIntoView({ block: "center", behavior: "smooth" });
    card?.querySelector(".approval-comment")?.focus({ preventScroll: true });
  };
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

// A paste over the message limit goes as an attachment: stored as a tool output the analyzers read.
function outgoing(text) {
  if (text.length <= LIMITS.message) return { content: text };
  const lines = text.split("\n");
  const last = lines.map((l) => l.trim()).filter(Boolean).pop() || ""; // where a trace names its error
  const about = `pasted log attached (${lines.length.toLocaleString()} lines, ${text.length.toLocaleString()} characters)`;
  return { content: last ? `${last.slice(0, 160)} — ${about}` : about, attachment: text };
}

function composerHint() {
  const n = $("message").value.length;
  const hint = $("composer-hint");
  const limit = LIMITS.message.toLocaleString();
  if (n > LIMITS.message) {
    hint.dataset.state = "attach";
    hint.textContent = `${n.toLocaleString()} characters: over the ${limit}-character message limit, so it is sent as ` +
      `an attachment (a pasted log; the first and last ${LIMITS.attachment.toLocaleString()} characters are kept).`;
  } else {
    hint.dataset.state = "";
    hint.textContent = n > LIMITS.message * 0.8 ? `${n.toLocaleString()} / ${limit} characters` :
      `Messages up to ${limit} characters; paste a longer log and it is attached.`;
  }
}

async function send(e) {
  e?.preventDefault();
  const box = $("message");
  const text = box.value.trim();
  if (!text || !state.session) return;
  $("send").disabled = true;
  try {
    const body = outgoing(text);
    await api.send(state.session.id, body.content, body.attachment);
    box.value = "";
    autosize();
    composerHint();
    refreshSessions();
  } catch (err) {
    toast(err.status === 409 ? "A turn is already running; wait for it or stop it." :
      err.status === 413 ? `Too long to send: ${err.message}` : `Could not send: ${err.message}`);
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
  $("message").addEventListener("input", () => { autosize(); composerHint(); });
  for (const id of ["session-search", "session-filter-target", "session-filter-state"]) {
    $(id).addEventListener("input", renderSessionList);
  }
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
  composerHint();
  await refreshSessions();
  const sid = document.body.dataset.sessionId;
  if (sid) await openSession(sid, false);
  else if (state.sessions.length) await openSession(state.sessions[0].id, true);
  else setConn("idle", "idle");
}

boot();
