// The Nodes page: enrolled nodes (connected, last seen, labels, facts, version), enrol (token shown once), revoke.

import { api, ApiError } from "./api.js";
import { h } from "./cards.js";

const $ = (id) => document.getElementById(id);

function ago(iso) {
  if (!iso) return "never";
  const secs = (Date.now() - new Date(iso).getTime()) / 1000;
  if (secs < 60) return `${Math.max(0, Math.round(secs))} s ago`;
  if (secs < 3600) return `${Math.floor(secs / 60)} min ago`;
  if (secs < 86400) return `${Math.floor(secs / 3600)} h ago`;
  return new Date(iso).toLocaleString();
}

function stateOf(n) {
  return n.revoked ? "revoked" : n.connected ? "connected" : "offline";
}

function row(n) {
  const tr = h("tr");
  tr.dataset.node = n.name;
  const state = h("span", "node-state", stateOf(n));
  state.dataset.state = stateOf(n);
  const labels = h("div", "node-labels");
  for (const [k, v] of Object.entries(n.labels)) labels.append(h("span", "chip", `${k}=${v}`));
  const f = n.facts || {};
  const allows = (n.policy?.allow_tools || []).join(", ") + (n.policy?.read_only ? " (read-only)" : "");
  const cells = [h("td", "mono", n.name), h("td"), h("td", null, ago(n.last_seen)), h("td"),
    h("td", null, [f.os, f.kernel].filter(Boolean).join(" · ")),
    h("td", null, f.systemd === undefined ? "" : f.systemd ? "yes" : "no"), h("td", "mono", n.version),
    h("td", "mono", allows), h("td")];
  cells[1].append(state);
  cells[3].append(labels);
  if (!n.revoked) {
    const revoke = h("button", "btn btn-danger btn-small", "Revoke");
    revoke.type = "button";
    revoke.addEventListener("click", () => revokeNode(n.name));
    cells[8].append(revoke);
  }
  tr.append(...cells);
  return tr;
}

async function refresh() {
  try {
    const nodes = await api.nodes();
    $("nodes-body").replaceChildren(...nodes.map(row));
    $("nodes-empty").hidden = nodes.length > 0;
    $("nodes-error").textContent = "";
  } catch (err) {
    $("nodes-error").textContent = `Could not load nodes: ${err.message}`;
  }
}

async function revokeNode(name) {
  if (!window.confirm(`Revoke ${name}? Its connection is closed now and its token never works again.`)) return;
  try {
    await api.revokeNode(name);
  } catch (err) {
    $("nodes-error").textContent = err.message;
  }
  refresh();
}

function labelsOf(text) {
  const out = {};
  for (const part of text.split(",").map((p) => p.trim()).filter(Boolean)) {
    const [k, ...v] = part.split("=");
    out[k.trim()] = v.join("=").trim();
  }
  return out;
}

async function enroll(e) {
  e.preventDefault();
  $("enroll-error").textContent = "";
  $("enroll-submit").disabled = true;
  try {
    const res = await api.enrollNode($("enroll-name").value.trim(), labelsOf($("enroll-labels").value));
    $("enroll-config").textContent = res.config;
    $("enroll-result").hidden = false;
    refresh();
  } catch (err) {
    $("enroll-error").textContent = err instanceof ApiError ? err.message : String(err);
    $("enroll-submit").disabled = false;
  }
}

function openEnroll() {
  $("enroll-form").reset();
  $("enroll-result").hidden = true;
  $("enroll-config").textContent = "";
  $("enroll-submit").disabled = false;
  $("enroll-dialog").showModal();
  $("enroll-name").focus();
}

$("enroll-open").addEventListener("click", openEnroll);
$("enroll-form").addEventListener("submit", enroll);
$("enroll-close").addEventListener("click", () => $("enroll-dialog").close());
refresh();
setInterval(refresh, 5000);
