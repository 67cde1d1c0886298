// The one helper module of the pages' scripts (map.js, uploads.js): API calls and their error
// messages, HTML escaping, the CSRF token, job status words and progress bars.

// The CSRF token Django put in the page (<meta name="csrf-token"> in base.html).
export function csrfToken() {
  const meta = document.querySelector("meta[name='csrf-token']");
  return meta ? meta.content : "";
}

// A person-readable message from an error answer: DRF's {"detail": …} or {field: message(s)}.
export function errorText(body, status) {
  if (!body || typeof body !== "object") return `The server answered ${status}.`;
  return body.detail || Object.values(body).flat().join(" ") || `The server answered ${status}.`;
}

// Call the API: GET by default, JSON back. `body`: FormData (sent as a form) or a plain object (sent as
// JSON). Resolves to {status, body}; throws an Error whose message is the server's explanation when the
// answer is not 2xx.
export async function api(url, { method = "GET", body = null } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
  if (body !== null && !(body instanceof FormData) && typeof body === "object") {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(body);
  }
  const response = await fetch(url, { method, headers, body, credentials: "same-origin" });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) throw new Error(errorText(data, response.status));
  return { status: response.status, body: data };
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// Jobs (maps and uploads) share their words: pending/queued → running → done / failed / cancelled.
const STATUS_TEXT = { pending: "Queued…", queued: "Queued…", running: "Computing…", done: "Done",
                      failed: "Failed", cancelled: "Cancelled" };
export function statusText(status) { return STATUS_TEXT[status] || status; }
export function isActive(status) { return status === "pending" || status === "queued" || status === "running"; }

export function progressHtml(percent, label) {
  const text = escapeHtml(label);
  return `<div class="progress-wrap"><label>${text}</label>`
    + `<progress class="map-progress" max="100" value="${percent}" aria-label="${text}">${percent} %</progress> <span>${percent} %</span></div>`;
}

// What a result cannot say (the API's `warnings`: imagery of another processing level than the model's,
// undated imagery for the dates asked, two maps of the same imagery), as notices above the result.
export function warningsHtml(warnings) {
  return (warnings || []).map((w) => `<p class="notice notice-warning result-warning">${escapeHtml(w)}</p>`).join("");
}
