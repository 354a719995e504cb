// DOM builders for the timeline: tool cards, approval cards, findings. Text goes in via textContent only.

import { renderMarkdown } from "./md.js";

export function h(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60000)} m ${Math.round((ms % 60000) / 1000)} s`;
}

export function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// Every message and card carries its moment: the time on screen, the date and UTC offset on hover,
// focus or tap (a tap toggles the full form, for touch screens without hover).
export function fullTime(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(Math.abs(n)).padStart(2, "0");
  const off = -d.getTimezoneOffset();
  const zone = `UTC${off < 0 ? "−" : "+"}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:` +
    `${pad(d.getSeconds())} ${zone}`;
}

export function timeTag(iso) {
  const t = h("time", "when", fmtTime(iso));
  if (!t.textContent) return t;
  t.dateTime = iso;
  t.title = fullTime(iso);
  t.tabIndex = 0;
  t.addEventListener("click", () => {
    t.textContent = t.textContent === t.title ? fmtTime(iso) : t.title;
  });
  return t;
}

// What a card shows as its command: a shell line, or who supplied the text (a paste has no command).
export const PASTE_TOOL = "pasted_log";

export function commandText(tool, command, args) {
  if (tool === PASTE_TOOL) return "Pasted by the engineer";
  return command ? `$ ${command}` : `${tool}${args ? ` ${JSON.stringify(args)}` : ""}`;
}

export function copyButton(getText, label = "Copy") {
  const btn = h("button", "btn btn-small copy", label);
  btn.type = "button";
  btn.addEventListener("click", async (e) => {
    e.preventDefault();
    try {
      await navigator.clipboard.writeText(getText());
      btn.textContent = "Copied";
    } catch {
      btn.textContent = "Copy failed";
    }
    setTimeout(() => { btn.textContent = label; }, 1500);
  });
  return btn;
}

// ---------------------------------------------------------------- tool calls

export function toolCard(call, at) {
  const card = h("article", "tool-card");
  card.id = `call-${call.call_id}`;
  card.dataset.tool = call.tool;
  card.dataset.state = "running";
  card.dataset.risk = call.risk || "read";
  const head = h("header", "tool-head");
  const status = h("span", "tool-status");
  status.setAttribute("aria-label", "running");
  head.append(status, h("span", "tool-name", call.tool));
  if (call.risk === "write") head.append(h("span", "chip chip-write", "write"));
  head.append(h("span", "spacer"));
  head.append(h("span", "tool-meta tool-exit"), h("span", "tool-meta tool-dur"), timeTag(at));
  const cmd = h("div", "tool-cmd");
  const code = h("code", null, commandText(call.tool, call.command, call.args || {}));
  cmd.append(code, h("span", "tool-target", call.target ? `on ${call.target}` : ""));
  card.append(head, cmd);
  return card;
}

const STATUS_LABELS = {
  ok: "ok", error: "failed", refused: "refused", timeout: "timed out", unsupported: "not on this target",
  needs_approval: "needs approval", no_data: "no data",
};

export function fillToolResult(card, res) {
  const status = res.status || (res.ok ? "ok" : "error");
  const failed = !res.ok;
  card.dataset.state = failed ? "fail" : "ok";
  card.dataset.status = status;
  card.querySelector(".tool-status").setAttribute("aria-label", STATUS_LABELS[status] || status);
  const exit = card.querySelector(".tool-exit");
  const exitText = res.exit_code === null || res.exit_code === undefined ? "" : `exit ${res.exit_code}`;
  exit.textContent = status === "ok" || status === "error" ? exitText || (failed ? "failed" : "")
    : [STATUS_LABELS[status] || status, exitText].filter(Boolean).join(" · ");
  card.querySelector(".tool-dur").textContent = `${fmtDuration(res.duration_ms)}${res.cached ? " · cached" : ""}`;
  if (res.command) card.querySelector(".tool-cmd code").textContent = commandText(res.tool, res.command);
  card.querySelector(".tool-output")?.remove();
  card.querySelector(".tool-error")?.remove();
  if (res.error) card.append(h("p", "tool-error", res.error));
  const output = res.output || "";
  if (!output) return;
  const lines = output.split("\n").length;
  const details = h("details", "tool-output");
  const summary = h("summary", null, `Output · ${lines} line${lines === 1 ? "" : "s"}${res.truncated ? " · truncated" : ""}`);
  const pre = h("pre", "output", output);
  const actions = h("div", "output-actions");
  actions.append(copyButton(() => output, "Copy output"));
  if (res.source) actions.append(h("span", "muted", `source: ${res.source}`));
  details.append(summary, actions, pre);
  card.append(details);
}

// ---------------------------------------------------------------- approvals

export function approvalCard(req, onDecide) {
  const card = h("article", "approval-card");
  card.id = `approval-${req.approval_id}`;
  card.dataset.state = "pending";
  const head = h("header", "approval-head");
  head.append(h("span", "approval-icon", "!"), h("span", null, "Approval needed: write action"));
  const cmd = h("div", "tool-cmd");
  cmd.append(h("code", null, `$ ${req.command || req.tool}`), h("span", "tool-target", req.target ? `on ${req.target}` : ""));
  card.append(head, cmd);
  if (req.reason) {
    const reason = h("div", "approval-reason md");
    renderMarkdown(req.reason, reason);
    card.append(reason);
  }
  const form = h("form", "approval-actions");
  const comment = h("input", "approval-comment");
  comment.placeholder = "Comment (optional)";
  comment.maxLength = 2000;
  comment.setAttribute("aria-label", "Comment on this decision");
  const approve = h("button", "btn btn-approve", "Approve");
  approve.type = "submit";
  const deny = h("button", "btn btn-danger", "Deny");
  deny.type = "button";
  const decide = async (decision) => {
    approve.disabled = deny.disabled = true;
    const err = await onDecide(req.approval_id, decision, comment.value.trim());
    if (err) {
      card.querySelector(".approval-error").textContent = err;
      approve.disabled = deny.disabled = false;
    }
  };
  form.addEventListener("submit", (e) => { e.preventDefault(); decide("approve"); });
  deny.addEventListener("click", () => decide("deny"));
  form.append(comment, approve, deny);
  card.append(form, h("p", "approval-error"), h("p", "approval-decision"));
  return card;
}

export function settleApproval(card, state, text, at) {
  card.dataset.state = state;
  card.querySelector(".approval-actions")?.remove();
  card.querySelector(".approval-deadline")?.remove();
  card.querySelector(".approval-error").textContent = "";
  const decision = card.querySelector(".approval-decision");
  decision.textContent = text;
  if (at) decision.append(" · ", timeTag(at));
  const head = card.querySelector(".approval-head span:last-child");
  if (head && state === "expired") head.textContent = "Approval expired: write action not run";
  else if (head) head.textContent = state === "approved" ? "Write action approved" : "Write action denied";
}

// A pending request says when it lapses (the server expires it after approval_timeout_s).
export function approvalDeadline(card, at, timeoutS) {
  const start = new Date(at).getTime();
  if (!timeoutS || Number.isNaN(start)) return;
  const iso = new Date(start + timeoutS * 1000).toISOString();
  const line = h("p", "approval-deadline", "Expires at ");
  line.append(timeTag(iso), ` if nobody decides (after ${timeoutS >= 120 ? `${Math.round(timeoutS / 60)} min` : `${timeoutS} s`}).`);
  card.querySelector(".approval-actions")?.before(line);
}

// ---------------------------------------------------------------- findings

export function findingItem(f, onEvidence) {
  const li = h("li", "finding");
  li.dataset.severity = f.severity;
  li.id = `finding-${f.finding_id}`;
  const head = h("div", "finding-head");
  head.append(h("span", `sev sev-${f.severity}`, f.severity), h("span", "finding-id", f.finding_id),
    h("span", "finding-conf", `${Math.round((f.confidence || 0) * 100)}%`));
  li.append(head, h("p", "finding-title", f.title));
  for (const ev of f.evidence || []) {
    const block = h("div", "evidence");
    const src = h("button", "evidence-src", commandText(ev.tool, ev.command));
    src.type = "button";
    src.title = "Show this command's output";
    src.addEventListener("click", () => onEvidence(ev.call_id));
    block.append(src, h("pre", "evidence-lines", (ev.lines || []).join("\n")));
    li.append(block);
  }
  if (f.remediation) {
    const fix = h("div", "finding-fix");
    fix.append(h("span", "label", "Fix"));
    const body = h("div", "md");
    renderMarkdown(f.remediation, body);
    fix.append(body);
    li.append(fix);
  }
  if (f.next_checks && f.next_checks.length) {
    const next = h("ul", "next-checks");
    for (const c of f.next_checks) next.append(h("li", null, c));
    li.append(h("span", "label", "Next checks"), next);
  }
  return li;
}

// A verified fix: the finding stays listed (the PIR cites it) but reads as resolved, with its proof.
export function markResolved(li, r, at) {
  if (!li || li.dataset.resolved === "true") return;
  li.dataset.resolved = "true";
  li.querySelector(".finding-head")?.append(h("span", "resolved-badge", "resolved"));
  const proof = h("p", "finding-verified",
    `Verified fixed: ${commandText("", r.verify_command)} no longer shows it after ${commandText("", r.fix_command)}`);
  if (at) proof.append(" · ", timeTag(at));
  li.querySelector(".finding-title")?.after(proof);
}
