// The map page: catalogue footprints, a picked patch's low/high-resolution maps, statistics, downloads.
// Everything comes from the REST API (/api/v1/); Leaflet is django-leaflet's copy (global L).
import { api, errorText, escapeHtml, isActive, progressHtml, statusText, warningsHtml } from "./api.js";
import { initLegends } from "./legends.js";

const config = JSON.parse(document.getElementById("map-config").textContent);
const $ = (id) => document.getElementById(id);
const state = { patch: null, model: null, layers: { high: null, low: null, upload: null },
                confidence: { high: null, low: null, upload: null, area: null },
                poll: { high: null, low: null, upload: null },
                footprintRequest: null, selected: null };

const map = L.map("map", { center: config.center, zoom: config.zoom, worldCopyJump: true, preferCanvas: false });
L.control.scale({ imperial: false, maxWidth: 150 }).addTo(map);
// Country borders from Natural Earth under the tiles: what the map shows when no tile server can be reached.
map.createPane("countries").style.zIndex = 150;
api(config.api.countries).then(({ body }) => {
  L.geoJSON(body, { pane: "countries", interactive: false,
                    style: { color: "#8a9a93", weight: 0.8, fillColor: "#f3f0e6", fillOpacity: 1 } }).addTo(map);
  $("map").dataset.countries = String(body.features.length);
}).catch(() => { /* not fetched on this server: the tiles (if any) are the base map */ });
if (config.basemap.url) {
  L.tileLayer(config.basemap.url, { attribution: config.basemap.attribution, maxZoom: 19 }).addTo(map);
}
map.createPane("imagery").style.zIndex = 405;
map.createPane("maps-low").style.zIndex = 410;
map.createPane("maps-area").style.zIndex = 422;
map.createPane("maps-change").style.zIndex = 424;
map.createPane("local-imagery").style.zIndex = 432;
map.createPane("maps-high").style.zIndex = 420;
map.createPane("maps-upload").style.zIndex = 425;
map.createPane("confidence").style.zIndex = 428;
map.createPane("footprints").style.zIndex = 430;
const footprints = L.geoJSON(null, { pane: "footprints", style: footprintStyle, onEachFeature: bindFootprint }).addTo(map);
const sceneCounts = L.layerGroup().addTo(map);

function footprintStyle(feature) {
  const p = feature.properties;
  const picked = state.patch && feature.id === state.patch.id && p.patch_count === undefined;
  return { color: picked ? "#f0a500" : p.synthetic ? "#8a5cd0" : "#0b6e4f", weight: picked ? 3 : 1.5,
           fillOpacity: picked ? 0 : 0.08, dashArray: p.synthetic ? "4 3" : null };
}

function bindFootprint(feature, layer) {
  const p = feature.properties;
  if (p.patch_count !== undefined) { // a scene box, when zoomed out
    layer.bindTooltip(`${p.dataset} · ${p.roi} ${p.season} scene ${p.scene_id}: ${p.patch_count} patches — click to zoom in`
      + (p.synthetic ? " (synthetic)" : ""));
    layer.on("click", (e) => { L.DomEvent.stopPropagation(e); map.fitBounds(layer.getBounds()); });
  } else {
    layer.bindTooltip(`${p.dataset} · ${p.scene} · patch ${p.patch_id}${p.synthetic ? " (synthetic)" : ""}`);
    layer.on("click", (e) => { L.DomEvent.stopPropagation(e); selectPatch(feature); });
  }
}

function say(text, kind = "info") {
  const el = $("panel-message");
  el.textContent = text;
  el.className = `notice notice-${kind}`;
  el.hidden = !text;
}

// --- Footprints for the current view.
async function loadFootprints() {
  const b = map.getBounds();
  const west = Math.max(-180, b.getWest()), east = Math.min(180, b.getEast());
  const bbox = [west, Math.max(-90, b.getSouth()), east, Math.min(90, b.getNorth())].map((v) => v.toFixed(5)).join(",");
  const zoomedOut = map.getZoom() < config.patchZoom;
  const url = zoomedOut ? `${config.api.scenes}?bbox=${bbox}` : `${config.api.patches}?bbox=${bbox}&page_size=500`;
  const request = (state.footprintRequest = url);
  try {
    const { body } = await api(url);
    if (request !== state.footprintRequest) return; // the view moved on
    footprints.clearLayers();
    footprints.addData(body.features);
    sceneCounts.clearLayers();
    if (zoomedOut && map.getZoom() < 7) { // at world zoom the boxes are specks: a marker with the count
      for (const f of body.features) {
        const box = L.geoJSON(f).getBounds();
        L.marker(box.getCenter(), { icon: L.divIcon({ className: "scene-count", html: String(f.properties.patch_count),
                                                      iconSize: [26, 26] }), keyboard: false,
                                    title: `${f.properties.dataset}: ${f.properties.patch_count} patches` })
          .on("click", () => map.fitBounds(box)).addTo(sceneCounts);
      }
    }
    $("map").dataset.footprints = zoomedOut ? "scenes" : "patches";
    $("map").dataset.footprintCount = String(body.features.length);
    if (!zoomedOut && body.count > body.features.length) {
      say(`Showing ${body.features.length} of ${body.count} footprints here; zoom in to see all.`);
    }
  } catch (error) {
    say(`Could not load footprints: ${error.message}`, "error");
  }
}
map.on("moveend", loadFootprints);
map.on("click", (e) => {
  if (area.drawing || labelling) return;
  if (series.composites.length) pixelOverTime(e.latlng.lat, e.latlng.lng);  // a series shown: this pixel's dates
  else lookUp(e.latlng.lat, e.latlng.lng);
});

// --- Picking a place.
async function lookUp(lat, lon) {
  say("Looking up the patch here…");
  try {
    const { body } = await api(`${config.api.patchAt}?lat=${lat.toFixed(6)}&lon=${lon.toFixed(6)}`);
    selectPatch(body);
  } catch (error) {
    // No catalogue patch here: offer the square around the point, from imagery (local or STAC).
    const km = (config.areaSizeM / 1000).toFixed(1);
    say(`${error.message} You can map the ${km} km square around this point from Sentinel-2 imagery instead.`, "info");
    const el = $("panel-message");
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button small map-square";
    button.textContent = `Map the ${km} km square here`;
    button.addEventListener("click", () => {
      setArea({ point: [Number(lon.toFixed(6)), Number(lat.toFixed(6))] }, `the ${km} km square around ${lat.toFixed(4)}, ${lon.toFixed(4)}`);
      submitArea();
    });
    el.append(" ", button);
  }
}

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const lat = Number.parseFloat($("search-lat").value), lon = Number.parseFloat($("search-lon").value);
  if (!Number.isFinite(lat) || lat < -90 || lat > 90 || !Number.isFinite(lon) || lon < -180 || lon > 180) {
    say("Type a latitude between -90 and 90 and a longitude between -180 and 180, in degrees.", "error");
    return;
  }
  map.setView([lat, lon], Math.max(map.getZoom(), config.patchZoom + 3));
  lookUp(lat, lon);
});
document.querySelector("#search-form [type=submit]").disabled = false;  // ready: the form is ours now

function selectPatch(feature) {
  const p = { ...feature.properties, id: feature.id };  // GeoJSON: the id is the feature's, not a property
  state.patch = p;
  const bounds = L.geoJSON(feature).getBounds();
  if (map.getZoom() < config.patchZoom || !map.getBounds().contains(bounds)) map.fitBounds(bounds, { maxZoom: 15 });
  footprints.setStyle(footprintStyle);
  $("patch-info").hidden = false;
  $("patch-summary").textContent = `${p.dataset} · scene ${p.scene} · patch ${p.patch_id} · ${p.width}×${p.height} px · ${p.crs}`
    + (p.others && p.others.length ? ` · ${p.others.length} more patch(es) here` : "");
  $("patch-synthetic").hidden = !p.synthetic;
  say("");
  for (const resolution of ["high", "low"]) clearLayer(resolution);
  requestMap("high");
  if (p.has_low_resolution) requestMap("low");
  else showCard("low", `<p class="help">This dataset has no MODIS labels, so there is no low-resolution map.</p>`);
}

// --- Maps.
function clearLayer(resolution) {
  if (state.layers[resolution]) map.removeLayer(state.layers[resolution]);
  if (state.confidence[resolution]) map.removeLayer(state.confidence[resolution]);
  state.layers[resolution] = null;
  state.confidence[resolution] = null;
  clearTimeout(state.poll[resolution]);
}

function showCard(resolution, html) {
  const card = $(`card-${resolution}`);
  card.hidden = false;
  card.querySelector(".layer-card-body").innerHTML = html;
  return card;
}

async function requestMap(resolution) {
  const patch = state.patch;
  const model = resolution === "high" && state.model ? `&model=${encodeURIComponent(state.model)}` : "";
  showCard(resolution, progressHtml(0, "Asking for the map…"));
  try {
    const { body } = await api(`${config.api[resolution]}?patch=${patch.id}${model}`);
    follow(resolution, body, patch);
  } catch (error) {
    showCard(resolution, `<p class="notice notice-error">${escapeHtml(error.message)}</p>`);
  }
}

function follow(resolution, m, patch) {
  if (state.patch !== patch) return; // another patch was picked meanwhile
  if (m.status === "done") return showMap(resolution, m);
  if (m.status === "failed") {
    const card = showCard(resolution, `<p class="notice notice-error">The map could not be computed: ${escapeHtml(m.error || "")}</p>`
      + `<button type="button" class="button small retry">Try again</button>`);
    card.querySelector(".retry").addEventListener("click", async () => {
      try { follow(resolution, (await api(m.retry, { method: "POST" })).body, patch); }
      catch (error) { showCard(resolution, `<p class="notice notice-error">${escapeHtml(error.message)}</p>`); }
    });
    return;
  }
  showCard(resolution, progressHtml(m.progress, statusText(m.status)));
  state.poll[resolution] = setTimeout(async () => {
    try { follow(resolution, (await api(m.url)).body, patch); }
    catch (error) { showCard(resolution, `<p class="notice notice-error">${escapeHtml(error.message)}</p>`); }
  }, 1000);
}

// A done map's card below its facts: show/hide and opacity, the confidence controls, the statistics, the downloads
// and the extras (catalogue maps, uploads and regions alike).
function mapBodyHtml(m, id, toggleLabel) {
  return `<div class="layer-controls">
      <label><input type="checkbox" class="toggle" checked> ${escapeHtml(toggleLabel)}</label>
      <label for="opacity-${id}">Opacity</label>
      <input type="range" id="opacity-${id}" class="opacity" min="0" max="1" step="0.05" value="0.8">
    </div>
    ${m.links.confidence_tiles ? confidenceControlsHtml(id) : ""}
    <div class="statistics">${chartHtml(m.statistics)}${tableHtml(m.statistics)}</div>
    <p class="downloads">Download:
      <a href="${m.links.cog}" download>GeoTIFF (COG)</a> ·
      ${m.links.probabilities ? `<a href="${m.links.probabilities}" download>probabilities (COG)</a> ·` : ""}
      <a href="${m.links.png}" download>PNG</a> ·
      <a href="${m.links.statistics_csv}" download>CSV</a> ·
      <a href="${m.links.statistics_json}" download>JSON</a></p>
    ${extrasHtml(m, id)}`;
}

function showMap(resolution, m) {
  clearLayer(resolution);
  const [west, south, east, north] = m.patch ? m.patch.bounds : m.bounds;
  const layer = L.tileLayer(m.links.tiles, { pane: `maps-${resolution}`, bounds: [[south, west], [north, east]],
                                             maxZoom: 19, opacity: 0.8, className: `overlay-${resolution}` });
  layer.addTo(map);
  state.layers[resolution] = layer;
  const id = `${resolution}-${m.id}`;
  const note = (m.note ? `<p class="badge-synthetic">${escapeHtml(m.note)}</p>` : "")
    + (m.attribution ? `<p class="attribution help">${escapeHtml(m.attribution)}</p>` : "");
  const card = showCard(resolution, `${warningsHtml(m.warnings)}${note}${mapBodyHtml(m, id, "Show on map")}`);
  card.dataset.status = "done";
  bindExtras(card, m);
  card.querySelector(".toggle").addEventListener("change", (e) => {
    if (e.target.checked) layer.addTo(map); else map.removeLayer(layer);
  });
  card.querySelector(".opacity").addEventListener("input", (e) => layer.setOpacity(Number(e.target.value)));
  if (m.links.confidence_tiles) bindConfidence(card, resolution, m, [[south, west], [north, east]]);
}

// --- What every done land-cover result offers beyond its layer: vector downloads, its WMTS address for a
// desktop GIS, and an accuracy assessment against the user's own reference points.
function extrasHtml(m, id) {
  const l = m.links;
  if (!l.vectors_geojson) return "";
  return `<p class="downloads vectors">Polygons:
      <a href="${l.vectors_geojson}" class="export">GeoJSON</a> ·
      <a href="${l.vectors_gpkg}" class="export">GeoPackage</a>
      <span class="export-status help" role="status" aria-live="polite"></span></p>
    <p class="wmts"><label for="wmts-${id}">WMTS address (QGIS, ArcGIS)</label>
      <input id="wmts-${id}" class="wmts-url" readonly value="${escapeHtml(l.wmts)}"></p>
    <details class="accuracy">
      <summary>Check its accuracy against your reference points</summary>
      <form class="accuracy-form">
        <label for="accuracy-file-${id}">Points: CSV (lon, lat, class) or GeoJSON points with a <code>class</code></label>
        <input type="file" id="accuracy-file-${id}" name="file" accept=".csv,.geojson,.json" required>
        <label for="accuracy-design-${id}">How the points were drawn</label>
        <select id="accuracy-design-${id}" name="design">
          <option value="unknown">Any way (accuracies only)</option>
          <option value="stratified">A stratified random sample of this map (areas with 95 % intervals)</option>
        </select>
        <button type="submit" class="button small">Assess</button>
      </form>
      <div class="accuracy-result" role="status" aria-live="polite"></div>
    </details>
    <details class="units">
      <summary>Statistics per unit (districts, farms, watersheds)</summary>
      <form class="units-form">
        <label for="units-file-${id}">Units: GeoJSON, KML or zipped Shapefile of polygons</label>
        <input type="file" id="units-file-${id}" name="file" accept=".geojson,.json,.kml,.zip" required>
        <button type="submit" class="button small">Count per unit</button>
      </form>
      <div class="units-result" role="status" aria-live="polite"></div>
    </details>`;
}

// Statistics per unit: the export job's progress, then the first rows as a table and the three downloads.
async function unitsFor(m, form, target) {
  target.textContent = "Sending the units…";
  try {
    let job = (await api(m.links.units, { method: "POST", body: new FormData(form) })).body;
    while (isActive(job.status)) {
      target.innerHTML = progressHtml(job.progress, "Counting per unit…");
      await new Promise((resolve) => { setTimeout(resolve, 1000); });
      job = (await api(job.url)).body;
    }
    if (job.status !== "done") throw new Error(job.error || job.status);
    const text = await (await fetch(job.links.units_csv, { credentials: "same-origin" })).text();
    const [header, ...rows] = text.trim().split(/\r?\n/).map((line) => line.split(","));
    const shown = header.map((h, i) => [h, i]).filter(([h]) => h === "unit" || h.endsWith("_ha"));
    target.innerHTML = `<p>${rows.length} unit(s). Download: <a href="${job.links.units_csv}" download>CSV</a> ·
        <a href="${job.links.units_geojson}" download>GeoJSON</a> · <a href="${job.links.units_gpkg}" download>GeoPackage</a></p>
      <div class="units-table-wrap"><table class="stats-table units-table"><thead><tr>${shown.map(([h]) => `<th scope="col">${escapeHtml(h.replace(/^lc_/, "").replace(/_ha$/, " ha"))}</th>`).join("")}</tr></thead>
      <tbody>${rows.slice(0, 50).map((r) => `<tr>${shown.map(([, i]) => `<td>${escapeHtml(r[i] ?? "")}</td>`).join("")}</tr>`).join("")}</tbody></table></div>
      ${rows.length > 50 ? `<p class="help">The first 50 rows; the downloads hold all ${rows.length}.</p>` : ""}`;
  } catch (error) {
    target.innerHTML = `<p class="notice notice-error">${escapeHtml(error.message)}</p>`;
  }
}

function bindExtras(card, m) {
  const status = card.querySelector(".export-status");
  for (const link of card.querySelectorAll("a.export")) {
    link.addEventListener("click", (event) => { event.preventDefault(); exportFile(link.href, status); });
  }
  const unitsForm = card.querySelector(".units-form");
  unitsForm?.addEventListener("submit", (event) => {
    event.preventDefault();
    unitsFor(m, unitsForm, card.querySelector(".units-result"));
  });
  const form = card.querySelector(".accuracy-form");
  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    const target = card.querySelector(".accuracy-result");
    target.textContent = "Assessing…";
    try {
      target.innerHTML = accuracyHtml((await api(m.links.accuracy, { method: "POST", body: new FormData(form) })).body);
    } catch (error) {
      target.innerHTML = `<p class="notice notice-error">${escapeHtml(error.message)}</p>`;
    }
  });
}

// A small map's polygons come at once; a large one's are made by a job (202): follow it, then download.
async function exportFile(url, status) {
  status.textContent = "Preparing…";
  try {
    for (;;) {
      const response = await fetch(url, { credentials: "same-origin" });
      if (response.status === 202) {
        let job = (await response.json());
        while (isActive(job.status)) {
          status.textContent = `Making the polygons… ${job.progress} %`;
          await new Promise((resolve) => { setTimeout(resolve, 1000); });
          job = (await api(job.url)).body;
        }
        if (job.status !== "done") throw new Error(job.error || job.status);
        continue;  // made: asking again gives the file
      }
      if (!response.ok) {
        let body = null;
        try { body = await response.json(); } catch (e) { body = null; }
        throw new Error(errorText(body, response.status));
      }
      const name = (response.headers.get("Content-Disposition") || "").match(/filename="?([^";]+)"?/);
      const link = document.createElement("a");
      link.href = URL.createObjectURL(await response.blob());
      link.download = name ? name[1] : url.split("/").pop();
      link.click();
      URL.revokeObjectURL(link.href);
      status.textContent = "";
      return;
    }
  } catch (error) {
    status.textContent = `Could not export: ${error.message}`;
  }
}

function accuracyHtml(r) {
  const pct = (v) => (v === null || v === undefined ? "–" : `${(100 * v).toFixed(1)} %`);
  const pm = (v) => (v === null || v === undefined ? "" : ` ± ${(100 * v).toFixed(1)}`);
  const ha = (v) => (v === null || v === undefined ? "–" : v.toFixed(1));
  const rows = r.classes.map((c) => `<tr><th scope="row"><span class="swatch" style="background:${escapeHtml(colourOf(c.code))}"></span> ${escapeHtml(c.name)}</th>
      <td>${c.map_points}</td><td>${c.reference_points}</td>
      <td>${pct(c.users_accuracy)}${r.stratified ? pm(c.users_accuracy_ci95) : ""}</td>
      <td>${pct(c.producers_accuracy)}${r.stratified ? pm(c.producers_accuracy_ci95) : ""}</td>
      ${r.stratified ? `<td>${ha(c.mapped_area_ha)}</td><td>${ha(c.estimated_area_ha)}${c.estimated_area_ci95_ha !== null ? ` ± ${ha(c.estimated_area_ci95_ha)}` : ""}</td>` : ""}</tr>`).join("");
  return `<p class="overall-accuracy">Overall accuracy <strong>${pct(r.overall_accuracy)}</strong>${r.stratified ? pm(r.overall_accuracy_ci95) : ""}
      from ${r.points} points${r.points_off_the_map ? ` (${r.points_off_the_map} off the map, not counted)` : ""}.</p>
    <table class="stats-table accuracy-table"><thead><tr><th scope="col">Class</th><th scope="col">map pts</th><th scope="col">ref. pts</th>
      <th scope="col">user's</th><th scope="col">producer's</th>${r.stratified ? `<th scope="col">mapped ha</th><th scope="col">estimated ha</th>` : ""}</tr></thead>
      <tbody>${rows}</tbody></table>
    <p class="help">${escapeHtml(r.note)}</p>`;
}

// --- Confidence: a layer of where the model is unsure, and statistics that count only sure pixels.
function confidenceControlsHtml(id) {
  return `<div class="confidence-controls">
      <label><input type="checkbox" class="confidence-toggle"> Show where the model is unsure</label>
      <label for="confidence-${id}">Minimum confidence <output class="confidence-value">none</output></label>
      <input type="range" id="confidence-${id}" class="confidence" min="0" max="0.95" step="0.05" value="0"
             aria-describedby="confidence-help-${id}">
      <p class="help" id="confidence-help-${id}">Pixels whose most likely class is less probable than this are
        counted as “uncertain”, not as a class.</p>
    </div>`;
}

function bindConfidence(card, resolution, m, bounds) {
  const toggle = card.querySelector(".confidence-toggle");
  const slider = card.querySelector(".confidence");
  const tilesUrl = (t) => m.links.confidence_tiles + (t > 0 ? `?min_confidence=${t}` : "");
  const layer = L.tileLayer(tilesUrl(0), { pane: "confidence", bounds, maxZoom: 19, className: `confidence-${resolution}` });
  state.confidence[resolution] = layer;
  toggle.addEventListener("change", () => { if (toggle.checked) layer.addTo(map); else map.removeLayer(layer); });
  slider.addEventListener("input", () => {
    const t = Number(slider.value);
    card.querySelector(".confidence-value").textContent = t > 0 ? t.toFixed(2) : "none";
  });
  slider.addEventListener("change", async () => {
    const t = Number(slider.value);
    layer.setUrl(tilesUrl(t));
    const target = card.querySelector(".statistics");
    try {
      const { body } = await api(`${m.links.statistics_json}${t > 0 ? `?min_confidence=${t}` : ""}`);
      target.innerHTML = chartHtml(body.classes, body.uncertain) + tableHtml(body.classes, body.uncertain);
    } catch (error) {
      target.innerHTML = `<p class="notice notice-error">${escapeHtml(error.message)}</p>`;
    }
  });
}

const UNCERTAIN_COLOUR = "#d81b60";

// The statistics rows, plus (with a confidence threshold) the uncertain pixels as a row of their own.
function withUncertain(rows, uncertain) {
  if (!uncertain) return rows;
  return [...rows, { name: `Uncertain (< ${uncertain.min_confidence})`, colour: UNCERTAIN_COLOUR, pixels: uncertain.pixels,
                     percent: uncertain.percent, area_km2: uncertain.area_km2, uncertain: true }];
}

function chartHtml(classes, uncertain = null) {
  const present = withUncertain(classes, uncertain).filter((r) => r.pixels > 0);
  const label = present.map((r) => `${r.name} ${r.percent.toFixed(1)} %`).join(", ");
  return `<div class="share-chart" role="img" aria-label="Class shares: ${escapeHtml(label)}">`
    + present.map((r) => `<span style="width:${r.percent}%;background:${r.colour}" title="${escapeHtml(r.name)} ${r.percent.toFixed(1)} %"></span>`).join("")
    + "</div>";
}

function tableHtml(classes, uncertain = null) {
  const hectares = classes.some((r) => r.area_ha !== undefined);
  const body = withUncertain(classes, uncertain).filter((r) => r.pixels > 0).map((r) => `<tr${r.uncertain ? ' class="uncertain"' : ""}>
      <th scope="row"><span class="swatch" style="background:${r.colour}"></span> ${escapeHtml(r.name)}</th>
      <td>${r.percent.toFixed(1)}</td>${hectares ? `<td>${(r.area_km2 * 100).toFixed(1)}</td>` : ""}<td>${r.area_km2.toFixed(3)}</td>
      <td class="bar-cell"><span class="bar" style="width:${r.percent}%;background:${r.colour}"></span></td></tr>`).join("");
  return `<table class="stats-table"><thead><tr><th scope="col">Class</th><th scope="col">Share %</th>`
    + (hectares ? `<th scope="col">ha</th>` : "")
    + `<th scope="col">km²</th><th scope="col"><span class="visually-hidden">Chart</span></th></tr></thead><tbody>${body}</tbody></table>`;
}

// --- Models.
let models = [];
function describeModel() {
  const select = $("model-select");
  const m = models.find((x) => x.name === select.value);
  state.model = m ? m.name : null;
  const miou = m && m.metrics && m.metrics.mIoU !== undefined ? ` Test mIoU ${(100 * m.metrics.mIoU).toFixed(1)} %.` : "";
  const own = m && m.method === "legend" ? " Your own legend's model: maps areas, regions and composites in your classes." : "";
  $("model-note").textContent = m ? `${m.note || ""}${miou}${own}`.trim() : "No model registered yet.";
}
$("model-select").addEventListener("change", () => { describeModel(); if (state.patch) { clearLayer("high"); requestMap("high"); } });

async function loadModels(chosen = null) {
  const select = $("model-select");
  try {
    const { body } = await api(config.api.models);
    models = body;
    select.innerHTML = body.map((m) => `<option value="${escapeHtml(m.name)}">${escapeHtml(m.name)} (${escapeHtml(m.method)})`
      + `${m.is_default ? " — default" : ""}</option>`).join("");
    if (chosen) select.value = chosen;
    describeModel();
    select.disabled = !body.length;
    if (!body.length) $("model-note").textContent = "No model is registered yet.";
  } catch (error) {
    $("model-note").textContent = `Could not load models: ${error.message}`;
  }
}

// A signed-in user's own legends (legends.js): while labelling, map clicks are theirs; a trained model becomes the
// model areas are mapped with.
let labelling = false;
if (config.signedIn) {
  initLegends({ map, legendsUrl: config.api.legends, isLabelling: (on) => { labelling = on; },
    onModel: async (name) => {
      await loadModels(name);
      say(`Areas you map now use ${name}, in your legend's classes: draw or upload an area.`);
      $("area-tools").scrollIntoView({ behavior: "smooth" });
    } });
}

// --- A user's upload (/map/?upload=ID): its map, statistics and downloads.
async function showUpload(id) {
  try {
    const { body } = await api(`${config.api.uploads}${id}/`);
    if (body.status !== "done") {
      showCard("upload", progressHtml(body.progress, `${body.name}: ${statusText(body.status)}`));
      if (isActive(body.status)) state.poll.upload = setTimeout(() => showUpload(id), 1500);
      return;
    }
    const [west, south, east, north] = body.bounds;
    map.fitBounds([[south, west], [north, east]]);
    showMap("upload", { ...body, note: body.synthetic_model ? "Mapped by a demo model trained on synthetic data." : "" });
    $("title-upload").textContent = `Your upload: ${body.name}`;
  } catch (error) {
    showCard("upload", `<p class="notice notice-error">${escapeHtml(error.message)}</p>`);
  }
}

// --- Areas of interest: drawn, uploaded or around a clicked point; mapped from imagery anywhere.
const area = { request: null, drawing: false, layers: [], poll: null, outline: L.featureGroup().addTo(map),
               compareWith: null, change: { layer: null, poll: null } };
const drawStyle = { color: "#f0a500", weight: 2, fillOpacity: 0.05 };

function setArea(request, label) {
  area.request = request;
  $("area-go").disabled = false;
  $("area-note").textContent = `Ready: ${label}. Pick dates and a cloud limit if you like, then “Map this area”.`;
}

function startDrawing(Tool, options) {
  area.drawing = true;
  new Tool(map, { shapeOptions: drawStyle, ...options }).enable();
}
map.on(L.Draw.Event.CREATED, (e) => {
  area.outline.clearLayers();
  area.outline.addLayer(e.layer);
  setArea({ geometry: e.layer.toGeoJSON().geometry }, "the area drawn");
});
map.on(L.Draw.Event.DRAWSTOP, () => setTimeout(() => { area.drawing = false; }, 300));
$("draw-rectangle").addEventListener("click", () => startDrawing(L.Draw.Rectangle, {}));
$("draw-polygon").addEventListener("click", () => startDrawing(L.Draw.Polygon, { allowIntersection: false, showArea: false }));
$("area-file").addEventListener("change", (e) => {
  const file = e.target.files[0];
  if (file) { area.outline.clearLayers(); setArea({ file }, `the area in ${file.name}`); }
});
$("draw-rectangle").disabled = $("draw-polygon").disabled = false;  // ready: Leaflet.draw is loaded
$("area-go").addEventListener("click", submitArea);

function areaParameters() {
  const params = { source: "auto" };
  if ($("area-start").value) params.start = $("area-start").value;
  if ($("area-end").value) params.end = $("area-end").value;
  if ($("area-cloud").value !== "" && Number($("area-cloud").value) < 100) params.max_cloud = Number($("area-cloud").value);
  if (state.model) params.model = state.model;
  return params;
}

function placeBody() {
  if (!area.request.file) return { ...area.request, ...areaParameters() };
  const body = new FormData();
  body.append("file", area.request.file);
  for (const [k, v] of Object.entries(areaParameters())) body.append(k, v);
  return body;
}

async function submitArea(keepComparison = false) {
  if (!area.request) return;
  if (keepComparison !== true) area.compareWith = null;
  say("");  // the "no catalogue patch here" message has been answered
  clearArea();
  if ($("area-region").checked) return submitRegion();
  showCard("area", progressHtml(0, "Asking for the map of this area…"));
  try {
    followArea((await api(config.api.areas, { method: "POST", body: placeBody() })).body);
  } catch (error) {
    // Too large for one area: offer to map it as a region (tiles, many workers).
    const card = showCard("area", `<p class="notice notice-error">${escapeHtml(error.message)}</p>`
      + (/as a region/.test(error.message) ? `<button type="button" class="button small as-region">Map it as a region</button>` : ""));
    card.querySelector(".as-region")?.addEventListener("click", () => { $("area-region").checked = true; submitRegion(); });
  }
}

// --- Regions: a large area mapped tile by tile by every worker; the tiles fill in on the map as they finish.
const TILE_COLOURS = { queued: "#9e9e9e", running: "#f0a500", done: "#0b6e4f", empty: "#c8c8c8", failed: "#c62828",
                       cancelled: "#616161" };
const region = { poll: null, grid: null, layers: [] };

async function submitRegion() {
  clearRegion();
  showCard("area", progressHtml(0, "Asking for the map of this region…"));
  try {
    followRegion((await api(config.api.regions, { method: "POST", body: placeBody() })).body);
  } catch (error) {
    showCard("area", `<p class="notice notice-error">${escapeHtml(error.message)}</p>`);
  }
}

function clearRegion() {
  clearTimeout(region.poll);
  if (region.grid) map.removeLayer(region.grid);
  for (const layer of region.layers) map.removeLayer(layer);
  region.grid = null;
  region.layers = [];
}

async function drawTiles(job) {
  try {
    const { body } = await api(job.tiles_url);
    if (region.grid) map.removeLayer(region.grid);
    region.grid = L.geoJSON(body, { pane: "footprints", interactive: false, className: "region-tile",
      style: (f) => ({ color: TILE_COLOURS[f.properties.status] || "#999", weight: 1, fillOpacity: f.properties.status === "done" ? 0.05 : 0.25 }) }).addTo(map);
    $("map").dataset.regionTiles = JSON.stringify(body.features.map((f) => f.properties.status));
  } catch (error) { /* the card still says how far it is */ }
}

function followRegion(job) {
  region.job = job;
  if (!region.fitted) {
    const [west, south, east, north] = job.bounds;
    map.fitBounds([[south, west], [north, east]]);
    region.fitted = true;
  }
  drawTiles(job);
  if (job.status === "done") { region.fitted = false; return showRegion(job); }
  if (job.status === "failed" || job.status === "cancelled") {
    region.fitted = false;
    const card = showCard("area", `<p class="notice notice-error">This region could not be mapped: ${escapeHtml(job.error || job.status)}</p>`
      + (job.retry ? `<button type="button" class="button small retry">Try again (unfinished tiles only)</button>` : ""));
    keepFollowing(card, job, followRegion, region, 2000);
    return;
  }
  const finished = (job.tiles.done || 0) + (job.tiles.empty || 0);
  const card = showCard("area", progressHtml(job.progress, `Tiles mapped: ${finished} of ${job.tiles.total || "…"}`)
    + `<p class="help region-tiles-help">Each square on the map is a tile: grey waiting, orange being mapped, green done.</p>`
    + (job.cancel ? `<button type="button" class="button small cancel">Cancel</button>` : ""));
  keepFollowing(card, job, followRegion, region, 2000);
}

function showRegion(m) {
  const [west, south, east, north] = m.bounds;
  const bounds = [[south, west], [north, east]];
  const cover = L.tileLayer(m.links.tiles, { pane: "maps-area", bounds, maxZoom: 19, opacity: 0.8, className: "overlay-region" }).addTo(map);
  region.layers = [cover];
  const im = m.imagery;
  const card = showCard("area", `${warningsHtml(m.warnings)}
    <dl class="area-facts">
      <dt>Region</dt><dd>${(m.area_km2).toLocaleString(undefined, { maximumFractionDigits: 1 })} km² in ${m.tiles.total} tiles${im.empty_tiles ? ` (${im.empty_tiles} without imagery)` : ""}</dd>
      <dt>Model</dt><dd>${escapeHtml(m.model)}</dd>
      <dt>Imagery</dt><dd>${im.items.length} scene(s); cloud ${im.cloud_percent.toFixed(1)} % of the region, not mapped</dd>
    </dl>
    ${mapBodyHtml(m, `region-${m.id}`, "Land cover")}`);
  card.dataset.status = "done";
  history.replaceState(null, "", `?region=${m.id}`);
  bindExtras(card, m);
  if (m.links.confidence_tiles) bindConfidence(card, "area", m, bounds);
  card.querySelector(".toggle").addEventListener("change", (e) => { if (e.target.checked) cover.addTo(map); else map.removeLayer(cover); });
  card.querySelector(".opacity").addEventListener("input", (e) => cover.setOpacity(Number(e.target.value)));
}

function clearArea() {
  clearRegion();
  for (const layer of area.layers) map.removeLayer(layer);
  if (state.confidence.area) map.removeLayer(state.confidence.area);
  state.confidence.area = null;
  area.layers = [];
  clearTimeout(area.poll);
}

function followArea(job) {
  if (area.outline.getLayers().length === 0 || area.request.point || area.request.file) {
    area.outline.clearLayers();
    area.outline.addLayer(L.geoJSON(job.geometry, { style: drawStyle, interactive: false }));
    const [west, south, east, north] = job.bounds;
    map.fitBounds([[south, west], [north, east]], { maxZoom: 15 });
  }
  if (job.status === "done") {
    showArea(job);
    if (area.compareWith && area.compareWith.id !== job.id) requestChange(area.compareWith, job);
    area.compareWith = null;
    return;
  }
  // Only whoever asked for an area may cancel or retry it (the API sends those links to them alone); an area
  // asked for without signing in is public and runs to its end.
  const whose = job.private ? "" : `<p class="help">Asked for without signing in: this map is public and cannot be `
    + "cancelled. Sign in to keep your areas to yourself.</p>";
  if (job.status === "failed" || job.status === "cancelled") {
    const card = showCard("area", `<p class="notice notice-error">This area could not be mapped: ${escapeHtml(job.error || job.status)}</p>`
      + (job.retry ? `<button type="button" class="button small retry">Try again</button>` : whose));
    keepFollowing(card, job, followArea, area, 1000);
    return;
  }
  const card = showCard("area", progressHtml(job.progress, job.progress < 30 ? "Reading the imagery…" : "Mapping…")
    + (job.cancel ? `<button type="button" class="button small cancel">Cancel</button>` : whose));
  keepFollowing(card, job, followArea, area, 1000);
}

// A job's card in the area panel: its Cancel and Try again buttons and its next poll, each handing the job's new
// state to `follow`; `timer.poll` holds the poll (so a cancel or a new request stops it).
function keepFollowing(card, job, follow, timer, every) {
  const failed = (error) => showCard("area", `<p class="notice notice-error">${escapeHtml(error.message)}</p>`);
  card.querySelector(".cancel")?.addEventListener("click", async () => {
    clearTimeout(timer.poll);
    try { follow((await api(job.cancel, { method: "POST" })).body); } catch (error) { failed(error); }
  });
  card.querySelector(".retry")?.addEventListener("click", async () => {
    try { follow((await api(job.retry, { method: "POST" })).body); } catch (error) { failed(error); }
  });
  if (isActive(job.status)) {
    timer.poll = setTimeout(async () => {
      try { follow((await api(job.url)).body); } catch (error) { failed(error); }
    }, every);
  }
}

function sceneText(item) {
  const when = item.datetime ? item.datetime.slice(0, 10) : "date unknown";
  return `${escapeHtml(item.id)} (${when}, ${item.level}, clouds: ${item.cloud_mask}, ${item.percent_of_mapped.toFixed(0)} % of the map)`;
}

function showArea(m) {
  clearArea();
  const [west, south, east, north] = m.bounds;
  const bounds = [[south, west], [north, east]];
  const image = L.tileLayer(m.links.image_tiles, { pane: "imagery", bounds, maxZoom: 19, className: "overlay-image" }).addTo(map);
  const cover = L.tileLayer(m.links.tiles, { pane: "maps-area", bounds, maxZoom: 19, opacity: 0.8, className: "overlay-area" }).addTo(map);
  area.layers = [image, cover];
  const im = m.imagery;
  const sources = [...new Set(im.items.map((i) => i.source))].join(", ");
  const card = showCard("area", `${warningsHtml(m.warnings)}
    ${m.synthetic_model ? `<p class="badge-synthetic">Mapped by a demo model trained on synthetic data.</p>` : ""}
    ${m.attribution ? `<p class="attribution help">${escapeHtml(m.attribution)}</p>` : ""}
    <dl class="area-facts">
      <dt>Area</dt><dd>${m.area_ha.toFixed(1)} ha (${m.area_km2.toFixed(3)} km²)</dd>
      <dt>Model</dt><dd>${escapeHtml(m.model)} (${escapeHtml(m.engine)})</dd>
      <dt>Imagery</dt><dd>${escapeHtml(sources)}: ${im.items.map(sceneText).join("; ")}</dd>
      <dt>Cloud</dt><dd class="cloud-share">${im.cloud_percent.toFixed(1)} % of the area (${im.cloud_ha.toFixed(1)} ha), not mapped</dd>
      ${im.missing_pixels ? `<dt>No imagery</dt><dd>${im.missing_percent.toFixed(1)} % of the area</dd>` : ""}
    </dl>
    <div class="layer-controls">
      <label><input type="checkbox" class="toggle" checked> Land cover</label>
      <label for="opacity-area-${m.id}">Opacity</label>
      <input type="range" id="opacity-area-${m.id}" class="opacity" min="0" max="1" step="0.05" value="0.8">
      <label><input type="checkbox" class="image-toggle" checked> Sentinel-2 image</label>
    </div>
    ${m.links.confidence_tiles ? confidenceControlsHtml(`area-${m.id}`) : ""}
    <div class="statistics">${chartHtml(m.statistics)}${tableHtml(m.statistics)}</div>
    <p class="downloads">Download:
      <a href="${m.links.cog}" download>GeoTIFF (COG)</a> ·
      <a href="${m.links.probabilities}" download>probabilities (COG)</a> ·
      <a href="${m.links.image}" download>image (COG)</a> ·
      <a href="${m.links.png}" download>PNG</a> ·
      <a href="${m.links.statistics_csv}" download>CSV</a> ·
      <a href="${m.links.statistics_json}" download>JSON</a></p>
    ${extrasHtml(m, `area-${m.id}`)}
    <p class="compare"><button type="button" class="button small compare-button">Compare with a new map of this area</button>
      <span class="help">Change the dates or the model above first: the new map is made, then compared with this one.</span></p>`);
  card.dataset.status = "done";
  history.replaceState(null, "", `?area=${m.id}`);  // a permalink: reload or share it to see this area again
  bindExtras(card, m);
  if (m.links.confidence_tiles) bindConfidence(card, "area", m, bounds);
  card.querySelector(".compare-button").addEventListener("click", () => {
    area.compareWith = m;
    submitArea(true);
  });
  card.querySelector(".toggle").addEventListener("change", (e) => { if (e.target.checked) cover.addTo(map); else map.removeLayer(cover); });
  card.querySelector(".image-toggle").addEventListener("change", (e) => { if (e.target.checked) image.addTo(map); else map.removeLayer(image); });
  card.querySelector(".opacity").addEventListener("input", (e) => cover.setOpacity(Number(e.target.value)));
}

// --- Change between two maps of the area: the change layer, the biggest transitions, the matrix.
async function requestChange(before, after) {
  clearChange();
  showCard("change", progressHtml(0, "Comparing the two maps…"));
  try {
    followChange((await api(config.api.changes, { method: "POST", body: {
      before: { kind: "area", id: before.id }, after: { kind: "area", id: after.id } } })).body);
  } catch (error) {
    showCard("change", `<p class="notice notice-error">${escapeHtml(error.message)}</p>`);
  }
}

function clearChange() {
  if (area.change.layer) map.removeLayer(area.change.layer);
  area.change.layer = null;
  clearTimeout(area.change.poll);
}

function followChange(job) {
  if (job.status === "done") return showChange(job);
  if (job.status === "failed" || job.status === "cancelled") {
    showCard("change", `<p class="notice notice-error">The maps could not be compared: ${escapeHtml(job.error || job.status)}</p>`);
    return;
  }
  showCard("change", progressHtml(job.progress, "Comparing the two maps…"));
  area.change.poll = setTimeout(async () => {
    try { followChange((await api(job.url)).body); }
    catch (error) { showCard("change", `<p class="notice notice-error">${escapeHtml(error.message)}</p>`); }
  }, 1000);
}

function showChange(c) {
  clearChange();
  const [west, south, east, north] = c.bounds;
  const layer = L.tileLayer(c.links.tiles, { pane: "maps-change", bounds: [[south, west], [north, east]], maxZoom: 19,
                                             className: "overlay-change" }).addTo(map);
  area.change.layer = layer;
  const ch = c.change;
  const rows = ch.transitions.filter((t) => t.from !== t.to).sort((a, b) => b.ha - a.ha).map((t) => `<tr>
      <th scope="row"><span class="swatch" style="background:${escapeHtml(colourOf(t.from))}"></span> ${escapeHtml(t.from_name)} →
        <span class="swatch" style="background:${escapeHtml(colourOf(t.to))}"></span> ${escapeHtml(t.to_name)}</th>
      <td>${t.ha.toFixed(2)}</td><td>${t.percent.toFixed(2)}</td></tr>`).join("");
  const net = ch.classes.map((k) => `<tr><th scope="row"><span class="swatch" style="background:${escapeHtml(colourOf(k.code))}"></span> ${escapeHtml(k.name)}</th>
      <td>${k.before_ha.toFixed(2)}</td><td>${k.after_ha.toFixed(2)}</td><td>${k.net_change_ha > 0 ? "+" : ""}${k.net_change_ha.toFixed(2)}</td></tr>`).join("");
  const excluded = Object.entries(ch.excluded).filter(([, v]) => v.pixels > 0)
    .map(([k, v]) => `${escapeHtml(k.replaceAll("_", " "))}: ${v.ha.toFixed(2)} ha`).join("; ");
  const card = showCard("change", `${warningsHtml(c.warnings)}
    ${c.warning ? `<p class="notice notice-warning different-models">${escapeHtml(c.warning)}</p>` : ""}
    <p>${escapeHtml(ch.before)} → ${escapeHtml(ch.after)}: ${ch.changed_percent.toFixed(1)} % of ${ch.compared_ha.toFixed(1)} ha changed.
      ${excluded ? `<span class="help">Not compared: ${excluded}.</span>` : ""}</p>
    <h3 class="h4">Biggest changes</h3>
    <ul class="biggest-changes">${ch.biggest_changes.map((b) => `<li>${escapeHtml(b)}</li>`).join("") || "<li>No change.</li>"}</ul>
    <label><input type="checkbox" class="toggle" checked> Show the change on the map</label>
    <table class="stats-table transitions"><thead><tr><th scope="col">From → to</th><th scope="col">ha</th><th scope="col">%</th></tr></thead><tbody>${rows}</tbody></table>
    <table class="stats-table net-change"><thead><tr><th scope="col">Class</th><th scope="col">before ha</th><th scope="col">after ha</th><th scope="col">net ha</th></tr></thead><tbody>${net}</tbody></table>
    <p class="downloads">Download: <a href="${c.links.cog}" download>change (COG)</a> ·
      <a href="${c.links.transitions_csv}" download>matrix (CSV)</a> · <a href="${c.links.transitions_json}" download>JSON</a> ·
      <a href="${c.links.chart}" download>chart (PNG)</a></p>`);
  card.dataset.status = "done";
  card.querySelector(".toggle").addEventListener("change", (e) => { if (e.target.checked) layer.addTo(map); else map.removeLayer(layer); });
}

function colourOf(code) {
  const c = config.classes.find((k) => k.code === code);
  return c ? c.colour : "#999";
}

// The local imagery catalogue's footprints: where a map can be made with no internet at all.
async function loadLocalImagery() {
  try {
    const { body } = await api(config.api.imagery);
    L.geoJSON(body, { pane: "local-imagery", interactive: false,
                      style: { color: "#1f6fb2", weight: 1.5, dashArray: "6 4", fillOpacity: 0 } }).addTo(map);
    $("map").dataset.localImagery = String(body.features.length);
  } catch (error) { /* the map still works without the outlines */ }
}

loadModels();
loadFootprints();
loadLocalImagery();
const asked = new URLSearchParams(location.search);
const uploadId = asked.get("upload");
if (uploadId && /^\d+$/.test(uploadId)) showUpload(uploadId);
const areaId = asked.get("area");
if (areaId && /^\d+$/.test(areaId)) {
  api(`${config.api.areas}${areaId}/`).then(({ body }) => followArea(body))
    .catch((error) => showCard("area", `<p class="notice notice-error">${escapeHtml(error.message)}</p>`));
}
const regionId = asked.get("region");
if (regionId && /^\d+$/.test(regionId)) {
  api(`${config.api.regions}${regionId}/`).then(({ body }) => followRegion(body))
    .catch((error) => showCard("area", `<p class="notice notice-error">${escapeHtml(error.message)}</p>`));
}
const seriesId = asked.get("series");
if (seriesId && /^\d+$/.test(seriesId)) {
  api(`${config.api.series}${seriesId}/`).then(({ body }) => followSeries(body, asked))
    .catch((error) => showCard("area", `<p class="notice notice-error">${escapeHtml(error.message)}</p>`));
}
loadEarlierAreas();

// --- A time series: a slider across its periods (each period's composite on the map, its statistics in the card),
// a swipe between two periods, and a permalink (?series=ID&period=K&swipe=J) that restores all three.
const series = { job: null, composites: [], layer: null, right: null, swipe: null, poll: null };

function followSeries(job, params) {
  series.job = job;
  if (isActive(job.status)) {
    showCard("area", `<p>Time series ${job.id}: ${escapeHtml(statusText(job.status))}</p>${progressHtml(job.progress)}`);
    series.poll = setTimeout(() => api(job.url).then(({ body }) => followSeries(body, params)), 2000);
    return;
  }
  if (job.status !== "done") {
    showCard("area", `<p class="notice notice-error">Time series ${job.id}: ${escapeHtml(job.error || job.status)}</p>`);
    return;
  }
  const done = job.periods.filter((p) => p.status === "done");
  Promise.all(done.map((p) => api(p.composite_url).then(({ body }) => body))).then((composites) => {
    series.composites = composites.map((c, k) => ({ ...c, period: done[k].period }));
    showSeries(params);
  });
}

function periodLayer(c, pane) {
  const [west, south, east, north] = c.bounds;
  return L.tileLayer(c.links.tiles, { pane, bounds: [[south, west], [north, east]], maxZoom: 19, opacity: 0.85,
                                      className: `overlay-period period-${c.period}` });
}

function showSeries(params) {
  const job = series.job;
  const periods = series.composites;
  const gaps = job.periods.filter((p) => p.status !== "done").map((p) => p.period);
  const card = showCard("area", `
    <dl class="area-facts">
      <dt>Time series</dt><dd>${periods.length} of ${job.periods.length} ${escapeHtml(job.step)}s mapped (${escapeHtml(job.method)} composites)${gaps.length ? `; no clear imagery: ${gaps.map(escapeHtml).join(", ")}` : ""}</dd>
      <dt>Model</dt><dd>${escapeHtml(job.model)}</dd>
    </dl>
    <div class="time-slider">
      <label for="series-period">Period <output id="series-label"></output></label>
      <input type="range" id="series-period" min="0" max="${Math.max(periods.length - 1, 0)}" step="1" value="0"
             list="series-ticks">
      <datalist id="series-ticks">${periods.map((p, k) => `<option value="${k}" label="${escapeHtml(p.period)}"></option>`).join("")}</datalist>
    </div>
    <p class="swipe-controls"><label><input type="checkbox" id="series-swipe"> Swipe against</label>
      <select id="series-swipe-period">${periods.map((p, k) => `<option value="${k}">${escapeHtml(p.period)}</option>`).join("")}</select></p>
    <div class="statistics" id="series-statistics"></div>
    <div id="series-pixel" class="series-pixel"><p class="help">Click the map for a pixel's class probabilities on
      every date of the period shown.</p></div>
    <p class="downloads">Download: <a href="${job.links.csv}" download>CSV</a> · <a href="${job.links.json}" download>JSON</a> ·
      <a href="${job.links.chart}" download>chart (PNG)</a></p>
    <img class="series-chart" src="${job.links.chart}" alt="Class areas per period">`);
  card.dataset.status = "done";
  const slider = $("series-period");
  const swipe = $("series-swipe");
  const other = $("series-swipe-period");
  const wanted = Number(params.get("period"));
  if (Number.isInteger(wanted) && wanted >= 0 && wanted < periods.length) slider.value = String(wanted);
  const swipeWanted = params.get("swipe");
  if (swipeWanted !== null && /^\d+$/.test(swipeWanted) && Number(swipeWanted) < periods.length) {
    other.value = swipeWanted;
    swipe.checked = true;
  } else if (periods.length > 1) {
    other.value = String(periods.length - 1);
  }
  const redraw = () => showPeriod(Number(slider.value), swipe.checked ? Number(other.value) : null);
  slider.addEventListener("input", redraw);
  swipe.addEventListener("change", redraw);
  other.addEventListener("change", redraw);
  if (periods.length) {
    const [west, south, east, north] = periods[0].bounds;
    map.fitBounds([[south, west], [north, east]]);
    redraw();
  }
}

function showPeriod(k, against) {
  const c = series.composites[k];
  for (const layer of [series.layer, series.right]) if (layer) map.removeLayer(layer);
  if (series.swipe) { map.removeControl(series.swipe); series.swipe = null; }
  series.layer = periodLayer(c, "maps-area").addTo(map);
  series.right = null;
  if (against !== null && against !== k) {
    series.right = periodLayer(series.composites[against], "maps-change").addTo(map);
    series.swipe = L.control.sideBySide(series.layer, series.right).addTo(map);
  }
  $("series-label").textContent = c.period;
  $("series-statistics").innerHTML = `<h3>${escapeHtml(c.period)}</h3>${chartHtml(c.statistics)}${tableHtml(c.statistics)}`;
  $("series-statistics").dataset.period = c.period;
  const link = new URLSearchParams({ series: series.job.id, period: k });
  if (series.right) link.set("swipe", against);
  history.replaceState(null, "", `?${link}`);  // a permalink: the series, the period and the swipe
}

// One pixel over time: its class probabilities on each date the shown period's composite combines, as bars.
async function pixelOverTime(lat, lon) {
  const c = series.composites[Number($("series-period").value)];
  const target = $("series-pixel");
  try {
    const { body } = await api(`${c.links.pixel}?lon=${lon.toFixed(6)}&lat=${lat.toFixed(6)}`);
    const rows = body.dates.map((d) => {
      const day = escapeHtml((d.datetime || "undated").slice(0, 10));
      if (!d.probabilities) return `<tr><th scope="row">${day}</th><td class="help">not seen clear (cloud or no data)</td></tr>`;
      const bars = body.classes.map((k) => {
        const p = 100 * (d.probabilities[k.name] || 0);
        return `<span style="width:${p.toFixed(1)}%;background:${colourOf(k.code)}" title="${escapeHtml(k.name)} ${p.toFixed(0)} %"></span>`;
      }).join("");
      const top = body.classes.reduce((a, k) => ((d.probabilities[k.name] || 0) > (d.probabilities[a.name] || 0) ? k : a));
      return `<tr><th scope="row">${day}</th><td><div class="share-chart" role="img"
        aria-label="Class probabilities on ${day}">${bars}</div>${escapeHtml(top.name)}</td></tr>`;
    }).join("");
    target.innerHTML = `<h3>This pixel, ${escapeHtml(c.period)}</h3>
      <table class="pixel-table"><tbody>${rows}</tbody></table>
      <p>Composite (${escapeHtml(body.method)}): ${body.composite_class ? escapeHtml(config.classes.find((k) => k.code === body.composite_class)?.name || String(body.composite_class)) : "no data"}</p>`;
    target.dataset.dates = String(body.dates.length);
  } catch (error) {
    target.innerHTML = `<p class="notice notice-error">${escapeHtml(error.message)}</p>`;
  }
}

// A signed-in user's earlier areas, newest first: each a permalink back to its map.
async function loadEarlierAreas() {
  if (!config.signedIn) return;
  try {
    const { body } = await api(`${config.api.areas}?page_size=20`);
    if (!body.results.length) return;
    $("earlier-areas-list").innerHTML = body.results.map((a) => `<li><a href="?area=${a.id}">Area ${a.id}</a>
      · ${a.area_km2.toFixed(2)} km² · ${escapeHtml(a.created_at.slice(0, 10))} · ${escapeHtml(statusText(a.status))}</li>`).join("");
    $("earlier-areas").hidden = false;
  } catch (error) { /* the page works without the list */ }
}
window.hrmarsMap = map; // for tests and the console
