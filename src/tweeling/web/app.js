// The Tweeling viewer: one map of the twin in 3D, a scenario switcher with a swipe
// comparison against the current situation, results as overlays, building information,
// search, findings, charts, and drawing interventions into a draft scenario; signing in,
// and consultation rounds (comments on the map, supports, moderation, participants'
// variants and what changes at an address). Which panels show follows what the person may
// do (GET /auth/me "may", each scenario's can_*): a visitor sees no drawing tools and no drafts.
import * as maplibregl from "/viewer/vendor/maplibre-gl/maplibre-gl.mjs";
import { getJSON, putJSON, scenarioParam, seg } from "./api.js";
import { applyTexts, setLang, t, tf } from "./i18n.js";
import { buildStyle, LAYERS, setScenario } from "./mapstyle.js";
import { Compare } from "./compare.js";
import { Results } from "./results.js";
import { showBuilding, showPlace } from "./info.js";
import { Findings } from "./findings.js";
import { Charts } from "./charts.js";
import { Drawing } from "./draw.js";
import { Search } from "./search.js";
import { Auth } from "./auth.js";
import { Rounds } from "./round.js";
import { mapTaken } from "./mapmode.js";
import { $, el } from "./dom.js";

export const state = {
  scenario: "baseline",
  scenarios: [],
  available: new Set(),
  version: 0, // bumped when the viewed draft changes, so tiles are fetched again
  map: null,
  me: null,
};

// the scenario asked for in the URL: kept while it cannot be shown (sign in to see it)
let wanted = null;

export function message(text) {
  const el = $("message");
  el.textContent = text;
  el.hidden = !text;
  if (text) setTimeout(() => (el.hidden = true), 8000);
}

const STATUS_GROUP = { published: "groupPlans", decided: "groupPlans", draft: "groupWork", shared: "groupWork", archived: "groupWork" };

/** The scenarios the person may read, grouped: plans, variants in rounds, work in progress. */
async function loadScenarios() {
  const { data } = await getJSON("/scenarios");
  state.scenarios = Array.isArray(data) ? data : data.scenarios;
  const sel = $("scenario");
  sel.replaceChildren();
  sel.add(new Option(t("baseline"), "baseline"));
  const groups = new Map();
  for (const key of ["groupPlans", "groupVariants", "groupWork"]) {
    const g = document.createElement("optgroup");
    g.label = t(key);
    groups.set(key, g);
  }
  for (const s of state.scenarios) {
    if (!s.parent && s.name === "baseline") continue;
    const key = s.round ? "groupVariants" : STATUS_GROUP[s.status] ?? "groupWork";
    const label = key === "groupPlans" ? s.name : `${s.name} (${t(s.round ? (s.mine ? "mine" : "variant") : `status_${s.status}`)})`;
    groups.get(key).append(new Option(label, s.name));
  }
  for (const g of groups.values()) if (g.children.length) sel.append(g);
  sel.value = known(state.scenario) ? state.scenario : "baseline";
  describeScenario();
}

function known(name) {
  return name === "baseline" || state.scenarios.some((s) => s.name === name);
}

export function scenarioInfo(name = state.scenario) {
  return state.scenarios.find((x) => x.name === name) ?? null;
}

function describeScenario() {
  const s = scenarioInfo();
  $("scenario-description").textContent = s ? s.description || "" : t("baseline");
  const meta = [];
  if (s) {
    meta.push(`${t("statusLabelShort")}: ${t(`status_${s.status}`)}`);
    if (s.round) meta.push(tf(s.public_in_round ? "variantPublicIn" : "variantPrivateIn", { round: s.round }));
    if (s.author) meta.push(`${t("by")} ${s.author}`);
  }
  $("scenario-meta").textContent = meta.join(" · ");
  statusControl(s);
  interventionLog(s).catch(() => {});
}

const STATUSES = ["draft", "shared", "published", "decided", "archived"];

/** Status of the viewed scenario: draft ↔ shared for those who may edit it, publishing,
 * deciding and archiving for planners (a variant's is its round's business). */
function statusControl(s) {
  const wrap = $("status-wrap");
  const allowed = !s || s.round ? [] : STATUSES.filter((st) => (["draft", "shared"].includes(st) ? s.can_edit : s.can_publish));
  wrap.hidden = !allowed.length;
  if (!allowed.length) return;
  const sel = $("scenario-status");
  sel.replaceChildren(...[...new Set([s.status, ...allowed])].map((st) => new Option(t(`status_${st}`), st)));
  sel.value = s.status;
}

async function saveStatus() {
  const name = state.scenario;
  const status = $("scenario-status").value;
  await putJSON(`/scenarios/${seg(name)}/status`, { status });
  await loadScenarios();
  $("scenario-status").focus();
  state.charts.load().catch(() => {});
}

/** The interventions of the viewed scenario: title, rationale, who and when. */
async function interventionLog(s) {
  const box = $("scenario-log");
  const ul = $("scenario-interventions");
  if (!s || !s.interventions) {
    box.hidden = true;
    ul.replaceChildren();
    return;
  }
  const name = s.name;
  const { data } = await getJSON(`/scenarios/${seg(name)}/interventions`);
  if (state.scenario !== name) return;
  ul.replaceChildren();
  for (const iv of data.interventions ?? []) {
    const li = el("li");
    li.append(el("strong", iv.title || `${iv.kind} ${iv.layer ?? ""}`));
    li.append(el("span", ` (${iv.kind}${iv.layer ? ` ${iv.layer}` : ""}${iv.object_id ? ` ${iv.object_id}` : ""})`, "muted"));
    if (iv.rationale) li.append(el("p", iv.rationale, "text"));
    li.append(el("p", `${iv.author ?? ""} · ${String(iv.at ?? "").slice(0, 10)}`, "muted"));
    ul.append(li);
  }
  box.querySelector("summary").textContent = `${t("interventionLog")} (${data.interventions?.length ?? 0})`;
  box.hidden = !data.interventions?.length;
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
  if (!known(name)) name = "baseline";
  state.scenario = name;
  if (bump) state.version += 1;
  $("scenario").value = name;
  describeScenario();
  setScenario(state.map, name, state.version);
  state.rounds?.scenarioChanged(name);
  await Promise.all([state.results.load(name), state.findings.load(name)]);
  const url = new URL(location.href);
  if (name === "baseline") url.searchParams.delete("scenario");
  else url.searchParams.set("scenario", name);
  history.replaceState(null, "", url);
}

/** What the person may do decides what shows: drawing tools for those who make scenarios. */
function applyRoles() {
  const auth = state.auth;
  $("sec-draw").hidden = !auth.may("scenario.create");
  if ($("sec-draw").hidden && state.drawing?.active) state.drawing.end();
}

/** Before the session ends: show the baseline and wait until its tiles are in; the scenario
 * shown comes back after signing out when a visitor may see it (a published plan). */
async function leavePrivateView() {
  if (state.scenario === "baseline") return;
  wanted = state.scenario;
  const settled = new Promise((done) => {
    state.map.once("idle", done);
    setTimeout(done, 10_000); // a map that never settles must not keep anyone signed in
  });
  await switchScenario("baseline");
  await settled;
}

/** After signing in or out: the scenarios, rounds and results this person may see. */
async function identityChanged() {
  applyRoles();
  await loadScenarios();
  const target = wanted && known(wanted) ? wanted : known(state.scenario) ? state.scenario : "baseline";
  if (target === wanted) wanted = null;
  await switchScenario(target, { bump: true });
  state.charts.load().catch((e) => message(`${t("error")}: ${e.message}`));
  await state.rounds.reload();
  document.body.dataset.shownFor = state.me?.person?.username ?? ""; // browser tests wait for this
}

// ---------------------------------------------------------------------------- tabs

export function showTab(name) {
  for (const [tab, pane] of [["tab-map", "pane-map"], ["tab-round", "pane-round"]]) {
    const on = tab === `tab-${name}`;
    $(tab).setAttribute("aria-selected", String(on));
    $(tab).tabIndex = on ? 0 : -1;
    $(pane).hidden = !on;
  }
  if (name === "round") state.rounds?.shown();
}

function tabs() {
  const names = ["map", "round"];
  for (const name of names) {
    $(`tab-${name}`).addEventListener("click", () => showTab(name));
    $(`tab-${name}`).addEventListener("keydown", (e) => {
      const i = names.indexOf(name);
      let next = null;
      if (e.key === "ArrowRight") next = names[(i + 1) % names.length];
      if (e.key === "ArrowLeft") next = names[(i + names.length - 1) % names.length];
      if (e.key === "Home") next = names[0];
      if (e.key === "End") next = names[names.length - 1];
      if (next) {
        e.preventDefault();
        showTab(next);
        $(`tab-${next}`).focus();
      }
    });
  }
}

async function start() {
  applyTexts();
  tabs();
  const auth = new Auth(state, {
    onChange: identityChanged,
    beforeSignOut: leavePrivateView,
    message,
    openComment: (round, comment) => {
      showTab("round");
      state.rounds.open(round, { comment }).catch((e) => message(e.message));
    },
  });
  state.auth = auth;
  await auth.load();
  if (state.me && state.me.can_read === false) await auth.requireSignIn(); // a private twin

  const { data: cols } = await getJSON("/collections");
  state.available = new Set(cols.collections.map((c) => c.id));
  const buildings = cols.collections.find((c) => c.id === "buildings");
  const bbox = buildings?.extent?.spatial?.bbox?.[0] ?? [3.3, 50.7, 7.3, 53.6];
  const params = new URLSearchParams(location.search);
  wanted = params.get("scenario");
  state.scenario = "baseline";

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
  if (wanted && known(wanted)) {
    state.scenario = wanted;
    wanted = null;
  }
  layerList();
  state.compare = new Compare(map, state);
  state.results = new Results(map, state, { message });
  state.findings = new Findings(map, state);
  state.charts = new Charts(state);
  // those that take the map's clicks come before the information panel's handlers
  state.drawing = new Drawing(map, state, { switchScenario, loadScenarios, message });
  state.rounds = new Rounds(map, state, { switchScenario, loadScenarios, message, auth, showTab });
  state.search = new Search(map, state, { message });
  applyRoles();
  await switchScenario(state.scenario);
  state.charts.load().catch((e) => message(`${t("error")}: ${e.message}`));
  await state.rounds.reload().catch((e) => message(`${t("error")}: ${e.message}`));
  const round = params.get("round");
  if (round) {
    showTab("round");
    await state.rounds.open(Number(round)).catch((e) => message(e.message));
  }

  $("scenario").addEventListener("change", (e) => switchScenario(e.target.value).catch((err) => message(err.message)));
  $("status-save").addEventListener("click", () => saveStatus().catch((err) => message(err.message)));
  map.on("click", "buildings", (e) => {
    if (mapTaken() || e.originalEvent.tweelingDrawn) return;
    const f = e.features?.[0];
    if (f) showBuilding(state, String(f.properties.id ?? f.id)).catch((err) => message(err.message));
  });
  map.on("click", (e) => {
    if (mapTaken() || e.originalEvent.tweelingDrawn) return;
    const hit = map.queryRenderedFeatures(e.point, { layers: ["buildings"].filter((l) => map.getLayer(l)) });
    if (!hit.length) showPlace(state, [e.lngLat.lng, e.lngLat.lat]).catch((err) => message(err.message));
  });
  map.on("mouseenter", "buildings", () => (map.getCanvas().style.cursor = mapTaken() ? "crosshair" : "pointer"));
  map.on("mouseleave", "buildings", () => (map.getCanvas().style.cursor = mapTaken() ? "crosshair" : ""));
  $("info-close").addEventListener("click", () => ($("info").hidden = true));
  for (const b of document.querySelectorAll("[data-lang]")) {
    b.addEventListener("click", () =>
      setLang(b.dataset.lang, () => {
        layerList();
        loadScenarios();
        auth.render();
        state.results.load(state.scenario);
        state.findings.render();
        state.charts.render();
        state.rounds.render();
      }),
    );
  }
  document.body.dataset.shownFor = state.me?.person?.username ?? "";
  document.body.dataset.ready = "true"; // browser tests wait for this
}

start().catch((e) => {
  console.error(e);
  message(`${t("error")}: ${e.message}`);
  document.body.dataset.ready = "error";
});

export { scenarioParam };
