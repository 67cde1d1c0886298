// The map page's "My legends" panel (issue 27): a signed-in user's own classes, their labelled samples (uploaded
// or clicked on the map), training a legend model, its cross-validated accuracy beside the global model's, and
// mapping an area with it. Everything goes through the API (/api/v1/legends/); map.js owns the map and the model
// choice, and hands this module what it needs (initLegends).
import { api, escapeHtml, isActive, progressHtml, statusText } from "./api.js";

const $ = (id) => document.getElementById(id);
const state = { legends: [], legend: null, drawn: [], samples: null, poll: null };

// One class per line: "Name, #rrggbb[, our class]" — e.g. "Rice, #a0c040, Croplands".
export function parseClasses(text) {
  return text.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
    const [name, colour, crosswalk] = line.split(",").map((part) => part.trim());
    return { name, colour, crosswalk: crosswalk || null };
  });
}

function percent(value) { return value === null || value === undefined ? "—" : `${(100 * value).toFixed(1)} %`; }

function classOf(legend, code) { return legend.classes.find((c) => c.code === code); }

export function initLegends({ map, legendsUrl, onModel, isLabelling }) {
  const panel = $("legends");
  if (!panel || !legendsUrl) return;
  panel.hidden = false;
  const samplesLayer = L.featureGroup().addTo(map);
  const drawnLayer = L.featureGroup().addTo(map);

  function note(text, kind = "info") {
    const target = $("legend-note");
    target.textContent = text;
    target.className = `notice${kind === "error" ? " notice-error" : ""}`;
  }

  async function load(selected = null) {
    try {
      const { body } = await api(legendsUrl);
      state.legends = body;
      $("legend-select").innerHTML = `<option value="">—</option>` + body.map((l) =>
        `<option value="${l.id}">${escapeHtml(l.name)}${l.shared ? " (shared)" : ""}</option>`).join("");
      const chosen = selected ?? state.legend?.id;
      if (chosen) { $("legend-select").value = String(chosen); }
      await choose(body.find((l) => l.id === Number($("legend-select").value)) || null);
    } catch (error) {
      note(`Could not load your legends: ${error.message}`, "error");
    }
  }

  async function choose(legend) {
    state.legend = legend;
    state.drawn = [];
    drawnLayer.clearLayers();
    samplesLayer.clearLayers();
    $("legend-detail").hidden = !legend;
    if (!legend) return;
    $("legend-classes").innerHTML = legend.samples.map((row) => {
      const c = classOf(legend, row.code);
      return `<li><span class="swatch" style="background:${escapeHtml(c.colour)}"></span>${escapeHtml(c.name)}
        <span class="help">${row.training} for training${row.held_out ? `, ${row.held_out} held out` : ""}</span></li>`;
    }).join("");
    $("legend-draw-class").innerHTML = legend.classes.map((c) =>
      `<option value="${c.code}">${escapeHtml(c.name)}</option>`).join("");
    try {
      const { body } = await api(legend.samples_url);
      L.geoJSON(body, {
        pointToLayer: (feature, latlng) => L.circleMarker(latlng, { radius: 4, weight: 1, color: "#222",
          fillColor: classOf(legend, feature.properties.class)?.colour || "#888", fillOpacity: 0.9 }),
        style: (feature) => ({ color: classOf(legend, feature.properties.class)?.colour || "#888", weight: 2 }),
      }).eachLayer((layer) => samplesLayer.addLayer(layer));
      $("legend-samples-count").textContent = `${body.features.length} samples on the map.`;
      if (body.features.length) map.fitBounds(samplesLayer.getBounds(), { maxZoom: 15 });
    } catch (error) {
      note(error.message, "error");
    }
    const { body: trainings } = await api(legend.trainings_url).catch(() => ({ body: [] }));
    if (trainings.length) follow(trainings[0]); else $("legend-training").innerHTML = "";
  }

  $("legend-select").addEventListener("change", () =>
    choose(state.legends.find((l) => l.id === Number($("legend-select").value)) || null));

  $("legend-create").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const { body } = await api(legendsUrl, { method: "POST", body: {
        name: $("legend-name").value, classes: parseClasses($("legend-classes-text").value) } });
      $("legend-create").reset();
      await load(body.id);  // chosen first, then said: the upload and labelling controls are for this legend
      note(`Legend “${body.name}” made: add labelled samples.`);
    } catch (error) {
      note(error.message, "error");
    }
  });

  $("legend-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file || !state.legend) return;
    const form = new FormData();
    form.append("file", file);
    try {
      const { body } = await api(state.legend.samples_url, { method: "POST", body: form });
      note(`${body.added} samples added from ${file.name}.`);
      await load();
    } catch (error) {
      note(error.message, "error");
    }
    event.target.value = "";
  });

  // Labelling by clicking: map.js leaves map clicks to this panel while the button is pressed.
  const labelButton = $("legend-label");
  labelButton.addEventListener("click", () => {
    const on = labelButton.getAttribute("aria-pressed") !== "true";
    labelButton.setAttribute("aria-pressed", String(on));
    labelButton.textContent = on ? "Stop labelling" : "Label points on the map";
    isLabelling(on);
  });
  map.on("click", (e) => {
    if (labelButton.getAttribute("aria-pressed") !== "true" || !state.legend) return;
    const code = Number($("legend-draw-class").value);
    const colour = classOf(state.legend, code)?.colour || "#888";
    state.drawn.push({ type: "Feature", geometry: { type: "Point", coordinates: [e.latlng.lng, e.latlng.lat] },
      properties: { class: code } });
    drawnLayer.addLayer(L.circleMarker(e.latlng, { radius: 5, weight: 2, color: "#000", fillColor: colour, fillOpacity: 1 }));
    $("legend-save").disabled = false;
    $("legend-save").textContent = `Save ${state.drawn.length} labelled point${state.drawn.length > 1 ? "s" : ""}`;
  });
  $("legend-save").addEventListener("click", async () => {
    try {
      const { body } = await api(state.legend.samples_url, { method: "POST",
        body: { features: { type: "FeatureCollection", features: state.drawn } } });
      note(`${body.added} points saved.`);
      $("legend-save").disabled = true;
      $("legend-save").textContent = "Save labelled points";
      await load();
    } catch (error) {
      note(error.message, "error");
    }
  });

  $("legend-train").addEventListener("click", async () => {
    try {
      const { body } = await api(state.legend.trainings_url, { method: "POST",
        body: { block_m: Number($("legend-block").value) || 1000 } });
      follow(body);
    } catch (error) {
      note(error.message, "error");
    }
  });

  function follow(job) {
    clearTimeout(state.poll);
    const target = $("legend-training");
    if (isActive(job.status)) {
      target.innerHTML = progressHtml(job.progress, `Training: ${statusText(job.status)}`);
      state.poll = setTimeout(async () => follow((await api(job.url)).body), 2000);
      return;
    }
    if (job.status !== "done") {
      target.innerHTML = `<p class="notice notice-error">Training ${escapeHtml(statusText(job.status))}: ${escapeHtml(job.error)}</p>`;
      return;
    }
    target.innerHTML = trainingHtml(job);
    target.querySelector(".legend-map-with")?.addEventListener("click", () => onModel(job.model));
  }

  load();
}

// The result of a training: blocked cross-validation per class, and the same pixels against the global model.
export function trainingHtml(job) {
  const cv = job.cv;
  const rows = cv.classes.map((c) => `<tr><th scope="row">${escapeHtml(c.name)}</th><td>${percent(c.users_accuracy)}</td>
    <td>${percent(c.producers_accuracy)}</td><td>${percent(c.f1)}</td></tr>`).join("");
  const comparison = job.comparison.pixels
    ? `<p>Against your labels through your crosswalk (${job.comparison.pixels} pixels): this model
       <strong>${percent(job.comparison.legend.overall_accuracy)}</strong>, ${escapeHtml(job.comparison.global.model)}
       <strong>${percent(job.comparison.global.overall_accuracy)}</strong>.</p>`
    : `<p class="help">No class has a crosswalk to ours: nothing to compare with the global model.</p>`;
  const held = job.assessment && job.assessment.overall_accuracy !== undefined
    ? `<p>Held-out samples: overall accuracy ${percent(job.assessment.overall_accuracy)}.</p>` : "";
  return `<p class="legend-cv">Spatially blocked cross-validation (${cv.folds} folds of ${cv.blocks} blocks of
      ${cv.block_m} m): overall accuracy <strong>${percent(cv.overall_accuracy)}</strong>.</p>
    <table class="stats-table legend-cv-table"><thead><tr><th>Class</th><th>User's</th><th>Producer's</th><th>F1</th></tr></thead>
    <tbody>${rows}</tbody></table>${comparison}${held}
    <button type="button" class="button small legend-map-with">Map an area with this model</button>`;
}
