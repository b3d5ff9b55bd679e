// Design by drawing: place a wind turbine or draw a building block. The intervention goes into
// a draft scenario (created on first use, built on the scenario being viewed) through the
// scenario API, and the model it concerns runs again as an OGC API Processes job with the
// parameters of that model's latest run, so the draft compares like for like.
import { getJSON, postJSON } from "./api.js";
import { t } from "./i18n.js";
import { releaseMap, takeMap } from "./mapmode.js";

const $ = (id) => document.getElementById(id);
const DRAFT_PREFIX = "concept-";

// Illustrative turbine (a 4–4.5 MW class machine with round-number octave sound power, the
// same values as examples/scenarios/wind-turbines.yaml): not the data of a real type.
export const TURBINE = {
  name: "Concept turbine",
  turbine_type: "illustrative 4.2 MW class, 126 m rotor",
  hub_height_m: 125.0,
  rotor_diameter_m: 126.0,
  lw_63hz_dba: 88.0,
  lw_125hz_dba: 95.0,
  lw_250hz_dba: 98.5,
  lw_500hz_dba: 100.0,
  lw_1khz_dba: 100.0,
  lw_2khz_dba: 97.5,
  lw_4khz_dba: 92.5,
  lw_8khz_dba: 83.0,
};

function stamp() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export class Drawing {
  constructor(map, state, { switchScenario, loadScenarios, message }) {
    this.map = map;
    this.state = state;
    this.switchScenario = switchScenario;
    this.loadScenarios = loadScenarios;
    this.message = message;
    this.mode = null; // "turbine" | "block"
    this.points = [];
    map.addSource("draft", { type: "geojson", data: { type: "FeatureCollection", features: [] } });
    map.addLayer({ id: "draft-fill", type: "fill", source: "draft", filter: ["==", ["geometry-type"], "Polygon"], paint: { "fill-color": "#ff7f00", "fill-opacity": 0.5 } });
    map.addLayer({ id: "draft-line", type: "line", source: "draft", filter: ["==", ["geometry-type"], "LineString"], paint: { "line-color": "#ff7f00", "line-width": 2 } });
    map.addLayer({ id: "draft-points", type: "circle", source: "draft", filter: ["==", ["geometry-type"], "Point"], paint: { "circle-color": "#ff7f00", "circle-radius": 5, "circle-stroke-color": "#fff", "circle-stroke-width": 2 } });
    $("draw-turbine").addEventListener("click", () => this.begin("turbine"));
    $("draw-block").addEventListener("click", () => this.begin("block"));
    $("draw-finish").addEventListener("click", () => this.finish());
    $("draw-cancel").addEventListener("click", () => this.end());
    $("draw-centre").addEventListener("click", () => this.add(this.map.getCenter()));
    map.on("click", (e) => {
      if (!this.active) return;
      e.originalEvent.tweelingDrawn = true; // the info handlers leave this click alone
      this.add(e.lngLat);
    });
    map.getContainer().addEventListener("keydown", (e) => {
      if (!this.active) return;
      if (e.key === "Escape") this.end();
      if (e.key === "Enter") this.finish();
    });
  }

  get active() {
    return this.mode !== null;
  }

  status(text) {
    $("draw-status").textContent = text;
  }

  begin(mode) {
    this.end();
    takeMap(this);
    this.mode = mode;
    this.points = [];
    $(mode === "turbine" ? "draw-turbine" : "draw-block").setAttribute("aria-pressed", "true");
    for (const id of ["draw-finish", "draw-cancel", "draw-centre"]) $(id).disabled = false;
    this.map.getCanvas().style.cursor = "crosshair";
    this.status(t(mode === "turbine" ? "clickTurbine" : "clickBlock"));
  }

  stop() {
    this.end();
  }

  end() {
    releaseMap(this);
    this.mode = null;
    this.points = [];
    for (const id of ["draw-turbine", "draw-block"]) $(id).setAttribute("aria-pressed", "false");
    for (const id of ["draw-finish", "draw-cancel", "draw-centre"]) $(id).disabled = true;
    this.map.getCanvas().style.cursor = "";
    this.redraw();
  }

  add(lngLat) {
    this.points.push([lngLat.lng, lngLat.lat]);
    this.redraw();
    if (this.mode === "turbine") this.finish();
    else this.status(`${this.points.length} ${t("corners")} – ${t("clickBlock")}`);
  }

  redraw() {
    const pts = this.points;
    const features = pts.map((p) => ({ type: "Feature", geometry: { type: "Point", coordinates: p }, properties: {} }));
    if (pts.length >= 3) features.push({ type: "Feature", geometry: { type: "Polygon", coordinates: [[...pts, pts[0]]] }, properties: {} });
    else if (pts.length === 2) features.push({ type: "Feature", geometry: { type: "LineString", coordinates: pts }, properties: {} });
    this.map.getSource("draft")?.setData({ type: "FeatureCollection", features });
  }

  intervention() {
    if (this.mode === "turbine") {
      return {
        model: "wind-turbines",
        body: {
          kind: "add",
          layer: "wind_turbines",
          title: "Concept wind turbine (drawn in the viewer)",
          rationale: "Placed in the viewer to see its effects; illustrative turbine data.",
          geometry: { type: "Point", coordinates: this.points[0] },
          properties: TURBINE,
        },
      };
    }
    const height = Number($("block-height").value);
    return {
      model: "road-noise",
      body: {
        kind: "add",
        layer: "buildings",
        title: `Concept building block, ${height} m (drawn in the viewer)`,
        rationale: "Drawn in the viewer to see its effects.",
        geometry: { type: "Polygon", coordinates: [[...this.points, this.points[0]]] },
        properties: { cityjson_type: "Building", height_m: height },
      },
    };
  }

  async finish() {
    if (!this.active) return;
    if (this.mode === "block" && this.points.length < 3) {
      this.status(t("clickBlock"));
      return;
    }
    const { model, body } = this.intervention();
    this.end();
    try {
      const draft = await this.draft();
      this.status(t("adding"));
      await postJSON(`/scenarios/${encodeURIComponent(draft)}/interventions`, { interventions: [body] });
      await this.loadScenarios();
      await this.switchScenario(draft, { bump: true });
      await this.rerun(model, draft);
    } catch (e) {
      this.status(`${t("error")}: ${e.message}`);
      this.message(e.message);
    }
  }

  /** The draft being viewed, or a new one built on the viewed scenario. */
  async draft() {
    const current = this.state.scenario;
    if (current.startsWith(DRAFT_PREFIX)) return current;
    this.status(t("creatingDraft"));
    const name = `${DRAFT_PREFIX}${stamp()}`;
    const spec = { name, description: `${t("draftOf")} ${current === "baseline" ? t("baseline") : current}` };
    if (current !== "baseline") spec.parent = current;
    await postJSON("/scenarios", spec);
    return name;
  }

  async rerun(model, draft) {
    await runModel(this.state, model, draft, { status: (text) => this.status(text) });
    this.status(t("runDone"));
  }
}

/** Run a model again on a scenario as an OGC API Processes job, with the parameters and
 * extent of that model's latest run on ``like`` (a variant's alternative) or else its latest
 * run anywhere, so that the scenario compares like for like; then show its results. */
export async function runModel(state, model, scenario, { status = () => {}, like = null } = {}) {
  const { data } = await getJSON("/runs", { model });
  const runs = (Array.isArray(data) ? data : data.runs).filter((r) => r.model === model);
  runs.sort((a, b) => Number((b.scenario ?? "baseline") === like) - Number((a.scenario ?? "baseline") === like) || String(b.started_at).localeCompare(String(a.started_at)));
  const last = runs[0] ? (await getJSON(`/runs/${runs[0].id}`)).data : null;
  const inputs = { ...(last?.parameters ?? {}), scenario };
  if (last?.extent) inputs.extent = last.extent;
  status(`${t("running")}: ${model}…`);
  const { res } = await postJSON(`/processes/${model}/execution`, { inputs }, { Prefer: "respond-async" });
  const job = res.headers.get("Location");
  for (;;) {
    await new Promise((ok) => setTimeout(ok, 500));
    const { data: st } = await getJSON(job);
    if (st.status === "successful") break;
    if (st.status === "failed" || st.status === "dismissed") throw new Error(`${t("runFailed")}: ${st.message ?? ""}`);
    status(`${t("running")}: ${model} ${Math.round(st.progress ?? 0)} %`);
  }
  if (state.scenario !== scenario) return;
  await state.results.load(scenario);
  const overlay = document.getElementById("overlay");
  const lden = [...overlay.options].find((o) => o.text.startsWith(model) && o.value.endsWith("/lden"));
  if (lden) {
    overlay.value = lden.value;
    await state.results.showOverlay();
  }
  await state.findings.load(scenario);
  state.charts.load().catch(() => {});
}
