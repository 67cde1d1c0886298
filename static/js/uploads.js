// The uploads page: send a file to the API with progress, then follow every job until it ends.
import { api, errorText, escapeHtml, isActive, statusText, csrfToken } from "./api.js";

const jobs = document.getElementById("jobs");
const uploadsUrl = jobs.dataset.api;
const message = document.getElementById("upload-message");
let timer = null;

function say(text, kind = "info") {
  message.hidden = !text;
  message.textContent = text;
  message.className = `notice notice-${kind}`;
}

// XMLHttpRequest, not fetch: it reports upload progress for the bar.
document.getElementById("upload-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const file = document.getElementById("upload-file").files[0];
  if (!file) { say("Choose a GeoTIFF or zip file first.", "error"); return; }
  const form = new FormData();
  form.append("file", file);
  form.append("model", document.getElementById("upload-model").value);
  const xhr = new XMLHttpRequest();
  const bar = document.getElementById("send-bar");
  document.getElementById("send-progress").hidden = false;
  xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) bar.value = (100 * e.loaded) / e.total; });
  xhr.addEventListener("load", () => {
    document.getElementById("send-progress").hidden = true;
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
    if (xhr.status === 202) { say(`${file.name} was accepted; the map is being computed.`, "success"); refresh(); }
    else say(errorText(body, xhr.status), "error");
  });
  xhr.addEventListener("error", () => say("The upload did not reach the server; check your connection.", "error"));
  xhr.open("POST", uploadsUrl);
  xhr.setRequestHeader("X-CSRFToken", csrfToken());
  xhr.send(form);
});

async function act(url, method) {
  try { await api(url, { method }); } catch (error) { say(error.message, "error"); }
  refresh();
}

function render(list) {
  jobs.innerHTML = list.map((u) => {
    const result = u.status === "done"
      ? `<a href="${jobs.dataset.map}?upload=${u.id}">Show on the map</a> · <a href="${u.links.cog}">GeoTIFF</a> ·
         <a href="${u.links.png}">PNG</a> · <a href="${u.links.statistics_csv}">CSV</a> · <a href="${u.links.statistics_json}">JSON</a>`
      : u.status === "failed" ? `<span class="field-errors">${escapeHtml(u.error || "")}</span>` : "";
    return `<li class="job" data-id="${u.id}" data-status="${u.status}">
      <strong>${escapeHtml(u.name)}</strong> · ${u.width}×${u.height} px, ${u.bands} bands · ${escapeHtml(u.model)}
      <div class="progress-wrap"><span class="job-status">${statusText(u.status)}</span>
        <progress max="100" value="${u.progress}" aria-label="Progress of ${escapeHtml(u.name)}">${u.progress} %</progress>
        <span class="job-percent">${u.progress} %</span></div>
      <p>${result}</p>
      <div class="button-row">${isActive(u.status) ? `<button type="button" class="button small secondary cancel">Cancel</button>` : ""}
        <button type="button" class="button small danger delete">Delete</button></div></li>`;
  }).join("") || "<li>No uploads yet.</li>";
  for (const li of jobs.querySelectorAll(".job")) {
    const url = `${uploadsUrl}${li.dataset.id}/`;
    li.querySelector(".cancel")?.addEventListener("click", () => act(`${url}cancel/`, "POST"));
    li.querySelector(".delete").addEventListener("click", () => act(url, "DELETE"));
  }
}

async function refresh() {
  clearTimeout(timer);
  let list;
  try { list = (await api(uploadsUrl)).body; } catch (error) { say(error.message, "error"); return; }
  render(list);
  if (list.some((u) => isActive(u.status))) timer = setTimeout(refresh, 1000);
}

document.querySelector("#upload-form [type=submit]").disabled = false;  // ready: the form is ours now
refresh();
