// The Tweeling viewer: one map of the twin in 3D, a scenario switcher with a swipe
// comparison against the current situation, results as overlays, building information,
// search, findings, charts, and drawing interventions into a draft scenario.
import * as maplibregl from "/viewer/vendor/maplibre-gl/maplibre-gl.mjs";
import { getJSON, scenarioParam } from "./api.js";
import { applyTexts, setLang, t } from "./i18n.js";
import { buildStyle, LAYERS, setScenario } from "./mapstyle.js";
import { Compare } from "./compare.js";
import { Results } from "./results.js";
import { showBuilding, showPlace } from "./info.js";
import { Findings } from "./findings.js";
import { Charts } from "./charts.js";
import { Drawing } from "./draw.js";
import { Search } from "./search.js";

const $ = (id) => document.getElementById(id);

export const state = {
  scenario: "baseline",
  scenarios: [],
  available: new Set(),
  version: 0, // bumped when the viewed draft changes, so tiles are fetched again
  map: null,
};

export function message(text) {
  const el = $("message");
  el.textContent = text;
  el.hidden = !text;
  if (text) setTimeout(() => (el.hidden = true), 8000);
}

async function loadScenarios() {
  const { data } = await getJSON("/scenarios");
  state.scenarios = Array.isArray(data) ? data : data.scenarios;
  const sel = $("scenario");
  sel.replaceChildren();
  const base = new Option(t("baseline"), "baseline");
  sel.add(base);
  for (const s of state.scenarios) {
    if (!s.parent && s.name === "baseline") continue;
    sel.add(new Option(s.name, s.name));
  }
  sel.value = state.scenarios.some((s) => s.name === state.scenario) ? state.scenario : "baseline";
  describeScenario();
}

function describeScenario() {
  const s = state.scenarios.find((x) => x.name === state.scenario);
  $("scenario-description").textContent = s ? s.description || "" : t("baseline");
}

function layerList() {
  const ul = $("layers");
  ul.replaceChildren();
  for (const l of LAYERS) {
    if (!state.available.has(l.id)) continue;
    const li = document.createElement("li");
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = `layer-${l.id}`;
    box.checked = state.map.getLayoutProperty(l.id, "visibility") !== "none";
    box.addEventListener("change", () => {
      const vis = box.checked ? "visible" : "none";
      state.map.setLayoutProperty(l.id, "visibility", vis);
      state.compare?.setLayerVisibility(l.id, vis);
    });
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = l.color;
    if (l.kind === "line") sw.style.height = "4px";
    if (l.kind === "circle") sw.style.borderRadius = "50%";
    sw.setAttribute("aria-hidden", "true");
    const label = document.createElement("label");
    label.htmlFor = box.id;
    label.textContent = t(`layer_${l.id}`);
    li.append(box, sw, label);
    ul.append(li);
  }
}

export async function switchScenario(name, { bump = false } = {}) {
  state.scenario = name;
  if (bump) state.version += 1;
  $("scenario").value = name;
  describeScenario();
  setScenario(state.map, name, state.version);
  await Promise.all([state.results.load(name), state.findings.load(name)]);
  const url = new URL(location.href);
  if (name === "baseline") url.searchParams.delete("scenario");
  else url.searchParams.set("scenario", name);
  history.replaceState(null, "", url);
}

async function start() {
  applyTexts();
  const { data: cols } = await getJSON("/collections");
  state.available = new Set(cols.collections.map((c) => c.id));
  const buildings = cols.collections.find((c) => c.id === "buildings");
  const bbox = buildings?.extent?.spatial?.bbox?.[0] ?? [3.3, 50.7, 7.3, 53.6];
  const wanted = new URLSearchParams(location.search).get("scenario");
  state.scenario = wanted || "baseline";

  const map = new maplibregl.Map({
    container: "map",
    style: buildStyle(state.available, state.scenario),
    center: [(bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2],
    zoom: 16,
    maxPitch: 80,
    attributionControl: { compact: false, customAttribution: "Kadaster (BGT, BAG), AHN, RVO, CBS, 3DBAG (CC BY 4.0)" },
    canvasContextAttributes: { preserveDrawingBuffer: true }, // screenshots and pixel checks
  });
  state.map = map;
  // frame the buildings from straight above, then tilt around the same centre for 3D
  map.jumpTo({ ...map.cameraForBounds([bbox[0], bbox[1], bbox[2], bbox[3]], { padding: 40 }), pitch: 55, bearing: -20 });
  window.tweelingMap = map; // for browser tests and the curious
  map.addControl(new maplibregl.NavigationControl({ visualizePitch: true }), "top-right");
  map.addControl(new maplibregl.ScaleControl({ unit: "metric" }), "bottom-right");
  await new Promise((ok) => map.once("load", ok));

  await loadScenarios();
  layerList();
  state.compare = new Compare(map, state);
  state.results = new Results(map, state, { message });
  state.findings = new Findings(map, state);
  state.charts = new Charts(state);
  state.drawing = new Drawing(map, state, { switchScenario, loadScenarios, message });
  state.search = new Search(map, state, { message });
  await switchScenario(state.scenario);
  state.charts.load().catch((e) => message(`${t("error")}: ${e.message}`));

  $("scenario").addEventListener("change", (e) => switchScenario(e.target.value).catch((err) => message(err.message)));
  map.on("click", "buildings", (e) => {
    if (state.drawing.active || e.originalEvent.tweelingDrawn) return;
    const f = e.features?.[0];
    if (f) showBuilding(state, String(f.properties.id ?? f.id)).catch((err) => message(err.message));
  });
  map.on("click", (e) => {
    if (state.drawing.active || e.originalEvent.tweelingDrawn) return;
    const hit = map.queryRenderedFeatures(e.point, { layers: ["buildings"].filter((l) => map.getLayer(l)) });
    if (!hit.length) showPlace(state, [e.lngLat.lng, e.lngLat.lat]).catch((err) => message(err.message));
  });
  map.on("mouseenter", "buildings", () => (map.getCanvas().style.cursor = state.drawing.active ? "crosshair" : "pointer"));
  map.on("mouseleave", "buildings", () => (map.getCanvas().style.cursor = state.drawing.active ? "crosshair" : ""));
  $("info-close").addEventListener("click", () => ($("info").hidden = true));
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.addEventListener("click", () =>
      setLang(b.dataset.lang, () => {
        layerList();
        loadScenarios();
        state.results.load(state.scenario);
        state.findings.render();
        state.charts.render();
      }),
    );
  }
  document.body.dataset.ready = "true"; // browser tests wait for this
}

start().catch((e) => {
  console.error(e);
  message(`${t("error")}: ${e.message}`);
  document.body.dataset.ready = "error";
});

export { scenarioParam };
