// Model results of the viewed scenario: grids as image overlays with their legend, and
// per-building values (e.g. facade Lden) as building colours, through feature state.
import { getJSON } from "./api.js";
import { t } from "./i18n.js";
import { sourceOf } from "./mapstyle.js";

const $ = (id) => document.getElementById(id);
const RAMP = ["#ffffcc", "#a1dab4", "#41b6c4", "#2c7fb8", "#253494"]; // ColorBrewer YlGnBu 5

export function legendHTML(el, legend, unit, title) {
  el.replaceChildren();
  if (!legend?.length) return;
  const head = document.createElement("div");
  head.textContent = `${title ?? ""} (${unit ?? ""})`;
  el.append(head);
  for (const c of legend) {
    const row = document.createElement("div");
    row.className = "item";
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = c.color;
    sw.setAttribute("aria-hidden", "true");
    const label = document.createElement("span");
    label.textContent = c.label ?? `${c.from ?? ""} – ${c.to ?? ""}`;
    row.append(sw, label);
    el.append(row);
  }
}

function classOf(legend, v) {
  for (const c of legend) {
    const lo = c.from ?? -Infinity;
    const hi = c.to ?? Infinity;
    if (v >= lo && v < hi) return c.color;
  }
  return null;
}

// A run's files never change: fetch each per-object output once per page, not on every
// scenario switch (a nitrogen run's hexagons are about 2 MB).
const OBJECTS = new Map();
function objectsOf(runId, output) {
  const key = `${runId}/${output}`;
  if (!OBJECTS.has(key)) {
    const request = getJSON(`/runs/${runId}/objects`, { output }).then((r) => r.data);
    request.catch(() => OBJECTS.delete(key)); // a failed request may be tried again
    OBJECTS.set(key, request);
  }
  return OBJECTS.get(key);
}

/** Per model, the scenario's up-to-date run (its inputs are what the scenario shows now),
 * else its latest run. */
export function latestRuns(runs, scenario) {
  const mine = runs.filter((r) => (r.scenario ?? "baseline") === scenario);
  mine.sort((a, b) => Number(b.current === true) - Number(a.current === true) || String(b.started_at).localeCompare(String(a.started_at)));
  const seen = new Map();
  for (const r of mine) if (!seen.has(r.model)) seen.set(r.model, r);
  return [...seen.values()];
}

export class Results {
  constructor(map, state, { message }) {
    this.map = map;
    this.state = state;
    this.runs = [];
    const fail = (e) => message(e.message);
    $("overlay").addEventListener("change", () => this.showOverlay().catch(fail));
    $("colour-by").addEventListener("change", () => this.colourBuildings().catch(fail));
  }

  async load(scenario) {
    const { data } = await getJSON("/runs");
    const all = Array.isArray(data) ? data : data.runs;
    this.runs = await Promise.all(
      latestRuns(all, scenario).map(async (r) => (r.outputs ? r : (await getJSON(`/runs/${r.id}`)).data)),
    );
    const keepOverlay = $("overlay").value;
    const keepColour = $("colour-by").value;
    const overlay = $("overlay");
    overlay.replaceChildren(new Option(t("none"), ""));
    const colour = $("colour-by");
    colour.replaceChildren(new Option(t("none"), ""));
    this.objects = {};
    for (const run of this.runs) {
      for (const [name, out] of Object.entries(run.outputs)) {
        if (out.kind === "grid") {
          overlay.add(new Option(`${run.model} · ${name} (${out.unit ?? ""})`, `${run.id}/${name}`));
        } else if (out.kind === "objects") {
          const objs = await objectsOf(run.id, name);
          const values = objs.objects ?? objs;
          const first = Object.values(values)[0];
          if (!first || (first.layer && first.layer !== "buildings")) continue;
          for (const [field, v] of Object.entries(first)) {
            if (typeof v !== "number" || field === "dwellings") continue;
            const key = `${run.id}/${name}/${field}`;
            this.objects[key] = { run, values, field, units: objs.units };
            colour.add(new Option(`${run.model} · ${field}`, key));
          }
        }
      }
    }
    overlay.value = [...overlay.options].some((o) => o.value === keepOverlay) ? keepOverlay : "";
    if (!overlay.value && keepOverlay) {
      // same output of this scenario's run of that model, if any
      const [, name] = keepOverlay.split("/");
      const alt = [...overlay.options].find((o) => o.value.endsWith(`/${name}`));
      if (alt) overlay.value = alt.value;
    }
    const sameField = [...colour.options].find((o) => keepColour && o.value.split("/").slice(1).join("/") === keepColour.split("/").slice(1).join("/"));
    colour.value = sameField ? sameField.value : "";
    await Promise.all([this.showOverlay(), this.colourBuildings()]);
  }

  async showOverlay() {
    const map = this.map;
    if (map.getLayer("result")) map.removeLayer("result");
    if (map.getSource("result")) map.removeSource("result");
    $("overlay-legend").replaceChildren();
    const key = $("overlay").value;
    if (!key) return;
    const [run, name] = key.split("/");
    const { data: ov } = await getJSON(`/runs/${run}/outputs/${name}/overlay`);
    this.legend = ov.legend;
    map.addSource("result", { type: "image", url: new URL(ov.url, location.origin).href, coordinates: ov.coordinates });
    const before = map.getLayer("buildings") ? "buildings" : undefined;
    map.addLayer({ id: "result", type: "raster", source: "result", paint: { "raster-opacity": 0.75, "raster-resampling": "nearest" } }, before);
    legendHTML($("overlay-legend"), ov.legend, ov.unit, ov.title ?? name);
  }

  async colourBuildings() {
    const map = this.map;
    const src = sourceOf("buildings");
    if (map.getSource(src)) map.removeFeatureState({ source: src, sourceLayer: "buildings" });
    $("colour-legend").replaceChildren();
    const key = $("colour-by").value;
    if (!key || !this.objects[key]) return;
    const { run, values, field } = this.objects[key];
    const legend = await this.legendFor(run, field, values);
    for (const [id, row] of Object.entries(values)) {
      const v = row[field];
      if (typeof v !== "number") continue;
      const colour = classOf(legend, v);
      if (colour) map.setFeatureState({ source: src, sourceLayer: "buildings", id: row.id ?? id }, { colour, value: v });
    }
    legendHTML($("colour-legend"), legend, field.endsWith("_db") ? "dB" : "", field);
  }

  async legendFor(run, field, values) {
    // noise at facades: the same classes as the run's noise map
    const grid = field.replace(/_db$/, "");
    if (run.outputs[grid]?.kind === "grid") {
      const { data } = await getJSON(`/runs/${run.id}/outputs/${grid}/overlay`);
      return data.legend;
    }
    const vs = Object.values(values).map((r) => r[field]).filter((v) => typeof v === "number").sort((a, b) => a - b);
    if (!vs.length) return [];
    const breaks = [0.2, 0.4, 0.6, 0.8].map((q) => vs[Math.floor(q * (vs.length - 1))]);
    const edges = [vs[0], ...breaks, vs[vs.length - 1] + 1e-9];
    return RAMP.map((color, i) => ({ from: edges[i], to: edges[i + 1], color, label: `${edges[i].toPrecision(3)} – ${edges[i + 1].toPrecision(3)}` }));
  }
}
