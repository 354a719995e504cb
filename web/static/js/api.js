// Thin JSON client for the Firstline API. Errors carry the server's `{error, detail}` body.

export class ApiError extends Error {
  constructor(status, body) {
    super(ApiError.describe(status, body));
    this.status = status;
    this.body = body;
  }

  static describe(status, body) {
    if (body && Array.isArray(body.detail)) {
      return body.detail.map((d) => `${d.field}: ${d.message}`).join("; ");
    }
    if (body && typeof body.detail === "string") return body.detail;
    return `HTTP ${status}`;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, { detail: "network error: the server cannot be reached" });
  }
  if (resp.status === 401) location.assign(`/login?next=${encodeURIComponent(location.pathname)}`); // token expired
  if (resp.status === 204) return null;
  let data;
  try {
    data = await resp.json();
  } catch {
    data = null; // an empty or non-JSON body
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

const enc = encodeURIComponent;

export const api = {
  sessions: () => request("GET", "/api/sessions"),
  session: (id) => request("GET", `/api/sessions/${enc(id)}`),
  createSession: (body) => request("POST", "/api/sessions", body),
  renameSession: (id, title) => request("PATCH", `/api/sessions/${enc(id)}`, { title }),
  deleteSession: (id) => request("DELETE", `/api/sessions/${enc(id)}`),
  send: (id, content, attachment) =>
    request("POST", `/api/sessions/${enc(id)}/messages`, attachment ? { content, attachment } : { content }),
  cancel: (id, turnId) => request("POST", `/api/sessions/${enc(id)}/turns/${enc(turnId)}/cancel`),
  decide: (id, approvalId, decision, comment) =>
    request("POST", `/api/sessions/${enc(id)}/approvals/${enc(approvalId)}`, { decision, comment: comment || null }),
  targets: () => request("GET", "/api/targets"),
  nodes: () => request("GET", "/api/nodes"),
  enrollNode: (name, labels) => request("POST", "/api/nodes", { name, labels }),
  revokeNode: (name) => request("POST", `/api/nodes/${enc(name)}/revoke`),
  models: () => request("GET", "/api/models"),
  eventsUrl: (id, after) => `/api/sessions/${enc(id)}/events?after=${after}`,
};
