// One session's view, rebuilt from its event log: apply(event) for every event in seq order.
// Replaying the log from seq 0 (reload, reconnect, another tab) gives the same picture as watching live.

import {
  approvalCard, approvalDeadline, commandText, fillToolResult, findingItem, fmtDuration, h, markResolved, settleApproval,
  timeTag, toolCard,
} from "./cards.js";
import { renderMarkdown } from "./md.js";

export class SessionView {
  constructor({ timeline, findings, findingsCount, findingsEmpty, onDecide, onStatus, extraCounts = [],
    onApprovals = () => {}, onQuestion = () => {}, approvalTimeoutS = 0 }) {
    this.extraCounts = extraCounts;
    this.onApprovals = onApprovals; // (pending approval cards) -> header indicator
    this.onQuestion = onQuestion; // a question was asked: the server may have named the session after it
    this.approvalTimeoutS = approvalTimeoutS;
    this.root = timeline;
    this.findingsRoot = findings;
    this.findingsCount = findingsCount;
    this.findingsEmpty = findingsEmpty;
    this.onDecide = onDecide;
    this.onStatus = onStatus;
    this.clearState();
  }

  reset() {
    this.clearState();
    this.root.replaceChildren();
    this.findingsRoot.replaceChildren();
    this.updateFindingsCount();
  }

  clearState() {
    this.lastSeq = 0;
    this.stream = null; // {node, text} of the assistant text being streamed
    this.calls = new Map();
    this.approvals = new Map();
    this.findingCount = 0;
    this.resolvedCount = 0;
    this.model = "";
    this.runningTurn = null;
    this.turnNode = null;
    this.dirty = false;
    this.pinned = false;
  }

  apply(ev) {
    if (typeof ev.seq === "number") {
      if (ev.seq <= this.lastSeq) return; // already shown (a resumed stream never repeats, but be sure)
      this.lastSeq = ev.seq;
    }
    const handler = this[`on_${ev.type}`];
    if (handler) handler.call(this, ev.data, ev);
  }

  // ---------------------------------------------------------------- containers

  turn(turnId) {
    if (!this.turnNode || this.turnNode.dataset.turn !== turnId) {
      this.turnNode = h("div", "turn");
      this.turnNode.dataset.turn = turnId || "";
      this.root.append(this.turnNode);
    }
    return this.turnNode;
  }

  add(node, ev) {
    this.turn(ev.turn_id).append(node);
    this.scroll();
    return node;
  }

  scroll() {
    const el = this.root;
    const nearBottom = el.scrollHeight - el.scrollTop - el.clientHeight < 160;
    if (nearBottom || this.pinned) requestAnimationFrame(() => { el.scrollTop = el.scrollHeight; });
  }

  setRunning(turnId) {
    this.runningTurn = turnId;
    this.onStatus(turnId);
  }

  closeStream() {
    if (!this.stream) return;
    this.renderStream(true);
    this.stream.node.classList.remove("streaming");
    this.stream = null;
  }

  renderStream(now = false) {
    if (!this.stream) return;
    if (now) {
      renderMarkdown(this.stream.text, this.stream.body);
      this.dirty = false;
      return;
    }
    if (this.dirty) return;
    this.dirty = true;
    requestAnimationFrame(() => {
      this.dirty = false;
      if (this.stream) renderMarkdown(this.stream.text, this.stream.body);
      this.scroll();
    });
  }

  assistantBubble(ev) {
    const node = h("div", "msg msg-assistant streaming");
    const meta = h("div", "msg-meta");
    meta.append(h("span", "who", "Firstline"), timeTag(ev.at));
    const body = h("div", "msg-body md");
    node.append(meta, body);
    this.add(node, ev);
    return { node, body, text: "", turn: ev.turn_id };
  }

  updateFindingsCount() {
    const open = this.findingCount - this.resolvedCount;
    this.findingsCount.textContent = String(this.findingCount);
    this.findingsCount.title = `${open} open, ${this.resolvedCount} resolved`;
    for (const el of this.extraCounts) el.textContent = String(open);
    this.findingsEmpty.hidden = this.findingCount > 0;
  }

  pendingApprovals() {
    return [...this.approvals.values()].filter((card) => card.dataset.state === "pending");
  }

  announceApprovals() {
    this.onApprovals(this.pendingApprovals());
  }

  // ---------------------------------------------------------------- events

  on_user_message(d, ev) {
    this.closeStream();
    const node = h("div", "msg msg-user");
    const meta = h("div", "msg-meta");
    meta.append(h("span", "who", d.author || "you"), timeTag(ev.at));
    node.append(meta, h("div", "msg-body plain", d.text));
    this.add(node, ev);
    this.pinned = true;
    this.setRunning(ev.turn_id);
    this.onQuestion(d.text);
  }

  on_turn_started(d, ev) {
    this.model = d.model;
    this.add(h("div", "turn-note", `Investigating on ${d.target} with ${d.model}`), ev);
    this.setRunning(ev.turn_id);
  }

  on_token(d, ev) {
    if (!this.stream || this.stream.turn !== ev.turn_id) {
      this.closeStream();
      this.stream = this.assistantBubble(ev);
    }
    this.stream.text += d.text;
    this.renderStream();
  }

  on_message(d, ev) {
    if (!this.stream || this.stream.turn !== ev.turn_id) {
      this.closeStream();
      this.stream = this.assistantBubble(ev);
    }
    this.stream.text = d.text;
    this.stream.node.classList.add("answer");
    this.closeStream();
  }

  on_tool_call(d, ev) {
    this.closeStream();
    const card = toolCard(d, ev.at);
    this.calls.set(d.call_id, card);
    this.add(card, ev);
  }

  on_tool_result(d, ev) {
    let card = this.calls.get(d.call_id);
    if (!card) {
      card = toolCard({ call_id: d.call_id, tool: d.tool, command: d.command, args: {} }, ev.at);
      this.calls.set(d.call_id, card);
      this.add(card, ev);
    }
    fillToolResult(card, d);
    this.scroll();
  }

  on_finding(d, ev) {
    this.findingCount += 1;
    this.findingsRoot.append(findingItem(d, (callId) => this.reveal(callId)));
    this.updateFindingsCount();
    const note = h("button", `finding-note sev-border-${d.severity}`);
    note.type = "button";
    note.append(h("span", `sev sev-${d.severity}`, d.severity), h("span", null, `${d.finding_id} · ${d.title}`));
    note.addEventListener("click", () => {
      const item = document.getElementById(`finding-${d.finding_id}`);
      item?.scrollIntoView({ block: "nearest", behavior: "smooth" });
      item?.classList.add("flash");
      setTimeout(() => item?.classList.remove("flash"), 1200);
    });
    this.add(note, ev);
  }

  on_approval_required(d, ev) {
    this.closeStream();
    const card = approvalCard(d, this.onDecide);
    approvalDeadline(card, ev.at, this.approvalTimeoutS);
    this.approvals.set(d.approval_id, card);
    const host = this.calls.get(d.call_id);
    if (host) { // the decision belongs to its tool card: it runs (or not) right there
      host.dataset.state = "waiting";
      card.classList.add("embedded");
      host.append(card);
      this.scroll();
    } else {
      this.add(card, ev);
    }
    this.announceApprovals();
  }

  on_approval_decided(d, ev) {
    const card = this.approvals.get(d.approval_id);
    if (!card) return;
    if (d.expired) {
      settleApproval(card, "expired", `Expired: ${d.comment || "no decision in time"}; not run`, ev.at);
    } else {
      const verb = d.decision === "approve" ? "Approved" : "Denied";
      settleApproval(card, d.decision === "approve" ? "approved" : "denied",
        `${verb} by ${d.by}${d.comment ? `: ${d.comment}` : ""}`, ev.at);
    }
    this.announceApprovals();
  }

  on_finding_resolved(d, ev) {
    this.resolvedCount += 1;
    markResolved(document.getElementById(`finding-${d.finding_id}`), d, ev.at);
    this.updateFindingsCount();
    const note = h("div", "verify-note");
    note.append(h("strong", null, `✓ ${d.finding_id} resolved`),
      h("span", null, `“${d.title}” is gone: ${commandText("", d.verify_command)} no longer shows it after ` +
        `${commandText("", d.fix_command)}.`),
      timeTag(ev.at));
    this.add(note, ev);
  }

  on_error(d, ev) {
    this.closeStream();
    const box = h("div", "error-box");
    box.setAttribute("role", "alert");
    box.append(h("strong", null, d.kind === "interrupted" ? "Interrupted" : "Error"), h("span", null, ` ${d.message}`));
    if (d.hint) box.append(h("p", "hint", d.hint));
    this.add(box, ev);
  }

  on_turn_finished(d, ev) {
    this.closeStream();
    this.settleTurn(ev);
    const parts = [d.status];
    if (d.steps) parts.push(`${d.steps} step${d.steps === 1 ? "" : "s"}`);
    parts.push(`${d.tool_calls} tool call${d.tool_calls === 1 ? "" : "s"}`);
    const tokens = this.tokenLine(d);
    if (tokens) parts.push(tokens);
    if (d.cost_usd) parts.push(`$${d.cost_usd.toFixed(4)}`);
    if (d.wall_ms) parts.push(fmtDuration(d.wall_ms));
    const foot = h("div", "turn-foot", parts.join(" · "));
    foot.dataset.status = d.status;
    foot.append(" · ", timeTag(ev.at));
    this.add(foot, ev);
    this.pinned = false;
    if (this.runningTurn === ev.turn_id || !ev.turn_id) this.setRunning(null);
  }

  // A turn that ended leaves nothing that looks alive: undecided approvals lapse, unfinished cards stop.
  settleTurn(ev) {
    for (const card of this.pendingApprovals()) {
      settleApproval(card, "expired", "Not run: the turn ended before anyone decided", ev.at);
    }
    for (const card of this.calls.values()) {
      if (card.dataset.state === "running" || card.dataset.state === "waiting") {
        card.dataset.state = "stopped";
        card.querySelector(".tool-status")?.setAttribute("aria-label", "stopped");
      }
    }
    this.announceApprovals();
  }

  // The offline model has no tokenizer of its own: its counts are estimates, and say so.
  tokenLine(d) {
    if (!d.prompt_tokens && !d.completion_tokens) return "";
    const line = `${d.prompt_tokens}+${d.completion_tokens} tokens`;
    return this.model.startsWith("firstline/") ? `≈${line} (estimate, offline model)` : line;
  }

  reveal(callId) {
    const card = this.calls.get(callId);
    if (!card) return;
    const details = card.querySelector("details");
    if (details) details.open = true;
    card.scrollIntoView({ block: "center", behavior: "smooth" });
    card.classList.add("flash");
    setTimeout(() => card.classList.remove("flash"), 1200);
  }
}
