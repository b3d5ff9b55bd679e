// Participants' variants in a round: the list (public ones, one's own; staff see all), forking
// an alternative into one's own variant, moving a turbine in it (drag the turbine, click its
// new place, or from the keyboard: the map centre, or arrow keys on the focused turbine),
// the model run again on the variant with its alternative's parameters, making it public
// within the round, and comparing a variant with its alternative on the same indicators.
import * as maplibregl from "/viewer/vendor/maplibre-gl/maplibre-gl.mjs";
import { getJSON, postJSON, putJSON, seg } from "./api.js";
import { t, tf } from "./i18n.js";
import { $, button, dataTable, el, fmt, metres, offset } from "./dom.js";
import { flatten } from "./charts.js";
import { runModel } from "./draw.js";
import { hasMap, releaseMap, takeMap } from "./mapmode.js";

const STEP_M = 25;
const BIG_STEP_M = 100;

export class Variants {
  constructor(map, state, { rounds, switchScenario, loadScenarios, message, auth }) {
    this.map = map;
    this.state = state;
    this.rounds = rounds;
    this.switchScenario = switchScenario;
    this.loadScenarios = loadScenarios;
    this.message = message;
    this.auth = auth;
    this.round = null;
    this.editing = null; // the variant in the editor
    this.turbines = [];
    this.turbine = null; // {id, name, at}
    this.target = null; // its new place [lon, lat]
    this.marker = null;
    this.busy = false;
    $("fork-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.fork().catch((err) => this.fail(err));
    });
    $("turbine-pick").addEventListener("change", () => this.pick($("turbine-pick").value));
    $("turbine-place").addEventListener("click", () => (hasMap(this) ? this.stop() : this.startPlacing()));
    $("turbine-centre").addEventListener("click", () => {
      const c = this.map.getCenter();
      this.setTarget([c.lng, c.lat]);
    });
    $("turbine-reset").addEventListener("click", () => this.reset());
    $("turbine-save").addEventListener("click", () => this.save().catch((err) => this.fail(err)));
    $("variant-public").addEventListener("click", () => this.togglePublic().catch((err) => this.fail(err)));
    map.on("click", (e) => {
      if (!hasMap(this)) return;
      e.originalEvent.tweelingDrawn = true;
      this.setTarget([e.lngLat.lng, e.lngLat.lat]);
      this.stop();
    });
    map.getContainer().addEventListener("keydown", (e) => {
      if (hasMap(this) && e.key === "Escape") this.stop();
    });
  }

  status(text) {
    $("variant-status").textContent = text;
  }

  fail(err) {
    this.status(`${t("error")}: ${err.message}`);
    this.message(err.message);
  }

  info(name) {
    return this.state.scenarios.find((s) => s.name === name) ?? null;
  }

  entry(name) {
    return this.round?.variants?.find((v) => v.scenario === name) ?? null;
  }

  render(round) {
    this.round = round;
    const ul = $("variant-list");
    ul.replaceChildren();
    for (const v of round.variants ?? []) {
      const li = el("li", undefined, "item");
      const head = el("p");
      head.append(el("strong", v.scenario));
      const who = v.mine ? t("yourVariant") : v.owner || t("someone");
      head.append(document.createTextNode(` — ${who} · ${t(v.public ? "isPublic" : "isPrivate")}`));
      li.append(head);
      const description = this.info(v.scenario)?.description;
      if (description) li.append(el("p", description, "text"));
      li.append(el("p", `${t("basedOn")} ${v.parent ?? "–"}`, "muted"));
      const row = el("div", undefined, "row");
      row.append(
        button(t("showOnMap"), () => this.switchScenario(v.scenario).catch((e) => this.message(e.message)), { "aria-label": `${t("showOnMap")}: ${v.scenario}` }),
        button(t("compareAlt"), () => this.compare(v.scenario).catch((e) => this.message(e.message)), { "aria-label": tf("compareLabel", { name: v.scenario }) }),
      );
      li.append(row);
      ul.append(li);
    }
    if (!round.variants?.length) ul.append(el("li", t("noVariants"), "muted"));
    const canFork = round.state === "open" && Boolean(round.may?.variant) && this.auth.signedIn;
    $("fork-form").hidden = !canFork;
    const sel = $("fork-alternative");
    const keep = sel.value;
    sel.replaceChildren(...round.alternatives.map((a) => new Option(a.scenario, a.scenario)));
    if (keep && [...sel.options].some((o) => o.value === keep)) sel.value = keep;
    this.scenarioChanged(this.state.scenario);
  }

  /** The editor shows for one's own variant when it is the viewed scenario. */
  scenarioChanged(name) {
    const v = this.entry(name);
    const info = this.info(name);
    const mine = Boolean(v?.mine && info);
    if (!mine || this.editing !== name) {
      this.clearTurbine();
      $("variant-results").replaceChildren();
    }
    $("variant-editor").hidden = !mine;
    if (!mine) {
      this.editing = null;
      return;
    }
    const round = this.round;
    const canMove = round.state === "open" && info.can_edit && (round.allowed ?? []).some((a) => a.kind === "modify" && a.layer === "wind_turbines" && a.fields?.includes("geometry"));
    $("variant-editor-title").textContent = tf("editorTitle", { name });
    $("variant-editor-help").textContent = canMove ? t("editorHelp") : t("editorNoMove");
    for (const id of ["turbine-pick", "turbine-place", "turbine-centre", "turbine-rationale"]) $(id).disabled = !canMove || this.busy;
    const pub = $("variant-public");
    pub.setAttribute("aria-pressed", String(Boolean(v.public)));
    pub.textContent = t("makePublic");
    if (this.editing !== name) {
      this.editing = name;
      this.status("");
      if (canMove) this.loadTurbines(name).catch((e) => this.fail(e));
    }
  }

  async loadTurbines(name) {
    const { data } = await getJSON("/collections/wind_turbines/items", { scenario: name, limit: 100 });
    if (this.editing !== name) return;
    this.turbines = (data.features ?? []).filter((f) => f.geometry?.type === "Point").map((f) => ({ id: String(f.id ?? f.properties.id), name: f.properties.name || String(f.id), at: f.geometry.coordinates }));
    const sel = $("turbine-pick");
    sel.replaceChildren(new Option(t("turbineChoose"), ""), ...this.turbines.map((x) => new Option(`${x.name} (${x.id})`, x.id)));
    sel.value = "";
  }

  pick(id) {
    this.clearTurbine(false);
    const turbine = this.turbines.find((x) => x.id === id);
    if (!turbine) return;
    this.turbine = turbine;
    const elm = el("div", undefined, "turbine-marker");
    elm.tabIndex = 0;
    elm.setAttribute("role", "button");
    elm.setAttribute("aria-label", tf("turbineMarker", { name: turbine.name }));
    elm.setAttribute("aria-describedby", "variant-editor-help");
    elm.addEventListener("keydown", (e) => this.nudge(e));
    this.marker = new maplibregl.Marker({ element: elm, draggable: true }).setLngLat(turbine.at).addTo(this.map);
    this.marker.on("dragend", () => {
      const p = this.marker.getLngLat();
      this.setTarget([p.lng, p.lat]);
    });
    this.map.easeTo({ center: turbine.at, zoom: Math.max(this.map.getZoom(), 15) });
    this.status(tf("turbineChosen", { name: turbine.name }));
  }

  nudge(e) {
    const step = e.shiftKey ? BIG_STEP_M : STEP_M;
    const d = { ArrowUp: [0, step], ArrowDown: [0, -step], ArrowLeft: [-step, 0], ArrowRight: [step, 0] }[e.key];
    if (!d) return;
    e.preventDefault();
    e.stopPropagation(); // not the map's own arrow keys
    this.setTarget(offset(this.target ?? this.turbine.at, d[0], d[1]));
  }

  startPlacing() {
    if (!this.turbine) {
      this.status(t("turbineChooseFirst"));
      $("turbine-pick").focus();
      return;
    }
    takeMap(this);
    $("turbine-place").setAttribute("aria-pressed", "true");
    this.map.getCanvas().style.cursor = "crosshair";
    this.status(t("turbineClick"));
  }

  stop() {
    releaseMap(this);
    $("turbine-place").setAttribute("aria-pressed", "false");
    this.map.getCanvas().style.cursor = "";
  }

  setTarget(p) {
    if (!this.turbine) {
      this.status(t("turbineChooseFirst"));
      return;
    }
    this.target = p;
    this.marker?.setLngLat(p);
    $("turbine-save").disabled = this.busy;
    $("turbine-reset").disabled = false;
    this.status(tf("turbineTarget", { lat: p[1].toFixed(5), lon: p[0].toFixed(5), m: metres(this.turbine.at, p) }));
  }

  reset() {
    this.target = null;
    if (this.turbine) this.marker?.setLngLat(this.turbine.at);
    $("turbine-save").disabled = true;
    $("turbine-reset").disabled = true;
    this.stop();
    this.status("");
  }

  clearTurbine(all = true) {
    this.stop();
    this.marker?.remove();
    this.marker = null;
    this.turbine = null;
    this.target = null;
    $("turbine-save").disabled = true;
    $("turbine-reset").disabled = true;
    if (all) {
      this.turbines = [];
      $("turbine-pick").replaceChildren();
    }
  }

  /** The move as an intervention in the variant, then the wind model on the variant. */
  async save() {
    const name = this.editing;
    const turbine = this.turbine;
    if (!name || !turbine || !this.target || this.busy) return;
    const v = this.entry(name);
    this.busy = true;
    $("turbine-save").disabled = true;
    try {
      this.status(t("adding"));
      const body = {
        kind: "modify",
        layer: "wind_turbines",
        id: turbine.id,
        title: tf("movedTitle", { name: turbine.name, m: metres(turbine.at, this.target) }),
        rationale: $("turbine-rationale").value.trim() || t("movedRationale"),
        geometry: { type: "Point", coordinates: this.target },
      };
      await postJSON(`/scenarios/${seg(name)}/interventions`, { interventions: [body] });
      const at = this.target;
      this.clearTurbine(false);
      $("turbine-rationale").value = "";
      await this.loadScenarios();
      await this.switchScenario(name, { bump: true });
      await runModel(this.state, "wind-turbines", name, { status: (text) => this.status(text), like: v?.parent });
      await this.compare(name, $("variant-results"));
      this.map.easeTo({ center: at, zoom: Math.min(this.map.getZoom(), 14.5) });
      await this.loadTurbines(name);
      this.status(t("variantRunDone"));
    } finally {
      this.busy = false;
      this.scenarioChanged(this.state.scenario);
    }
  }

  async fork() {
    const round = this.round;
    const alternative = $("fork-alternative").value;
    $("fork-submit").disabled = true;
    try {
      const { data } = await postJSON(`/rounds/${seg(round.id)}/variants`, { alternative, description: $("fork-description").value.trim() });
      $("fork-description").value = "";
      await this.loadScenarios();
      await this.rounds.open(round.id, { quiet: true });
      await this.switchScenario(data.name);
      this.status(tf("forked", { name: data.name, alternative }));
      $("variant-editor-title").focus();
    } finally {
      $("fork-submit").disabled = false;
    }
  }

  async togglePublic() {
    const name = this.editing;
    const v = this.entry(name);
    if (!v) return;
    await putJSON(`/rounds/${seg(this.round.id)}/variants/${seg(name)}/public`, { public: !v.public });
    await this.loadScenarios();
    await this.rounds.open(this.round.id, { quiet: true });
    this.status(t(v.public ? "madePrivate" : "madePublic"));
    $("variant-public").focus();
  }

  /** A variant against its alternative on the same indicators: those that differ first,
   * per model; the ones that stay the same folded away. */
  async compare(name, box = $("variant-compare")) {
    const parent = this.entry(name)?.parent ?? this.info(name)?.parent;
    if (!parent) return;
    const { data } = await getJSON("/comparisons", { scenarios: `${parent},${name}` });
    const changed = [];
    const same = [];
    for (const s of flatten(data)) {
      const a = s.values[parent];
      const b = s.values[name];
      if (typeof a !== "number" && typeof b !== "number") continue;
      const diff = typeof a === "number" && typeof b === "number" ? b - a : null;
      const [model, indicator] = s.key.split("/");
      const row = { model, cells: [`${indicator}${s.unit && s.unit !== "1" ? ` (${s.unit})` : ""}`, fmt(a), fmt(b), diff === null ? "–" : signed(diff)] };
      (diff === 0 ? same : changed).push(row);
    }
    box.replaceChildren();
    const head = el("h3", tf("compareTitle", { name, parent }));
    head.tabIndex = -1;
    box.append(head);
    if (!changed.length && !same.length) box.append(el("p", t("compareNothing"), "muted"));
    if (changed.length) box.append(table(t("compareChanged"), [t("indicator"), parent, name, t("difference")], changed));
    else if (same.length) box.append(el("p", t("compareNoChange"), "muted"));
    if (same.length) {
      const more = el("details");
      more.append(el("summary", tf("compareSame", { n: same.length })));
      more.append(table(null, [t("indicator"), parent, name, t("difference")], same));
      box.append(more);
    }
    box.append(button(t("close"), () => box.replaceChildren(), { "aria-label": `${t("close")}: ${tf("compareTitle", { name, parent })}` }));
  }
}

/** A comparison table with a row of the model's name above its indicators. */
function table(caption, heads, rows) {
  const tb = dataTable(caption, heads, [], "attrs compare");
  const tbody = tb.querySelector("tbody");
  let model = null;
  for (const row of rows) {
    if (row.model !== model) {
      model = row.model;
      const tr = el("tr", undefined, "group");
      const th = el("th", model);
      th.colSpan = heads.length;
      th.scope = "colgroup";
      tr.append(th);
      tbody.append(tr);
    }
    const tr = el("tr");
    row.cells.forEach((cell, i) => {
      const c = el(i === 0 ? "th" : "td", cell);
      if (i === 0) c.scope = "row";
      tr.append(c);
    });
    tbody.append(tr);
  }
  return tb;
}

function signed(d) {
  return `${d > 0 ? "+" : d < 0 ? "−" : "±"}${fmt(Math.abs(d))}`;
}
