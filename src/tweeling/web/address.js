// The address page of a round: find a place, a building (id) or a coordinate, or click a
// building or a spot on the map (from the keyboard: the map centre), and see per alternative
// and variant what changes there — model results against the current situation (and a
// variant against its alternative), the findings of the rules, and the interventions nearby.
import { getJSON, seg } from "./api.js";
import { t, tf } from "./i18n.js";
import { $, button, el, fmt } from "./dom.js";
import { findingItem } from "./info.js";
import { hasMap, releaseMap, takeMap } from "./mapmode.js";

export class Address {
  constructor(map, state, { message }) {
    this.map = map;
    this.state = state;
    this.message = message;
    this.round = null;
    $("address-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.find($("address-q").value).catch((err) => this.fail(err));
    });
    $("address-pick").addEventListener("click", () => (hasMap(this) ? this.stop() : this.start()));
    $("address-centre").addEventListener("click", () => {
      const rect = map.getCanvas().getBoundingClientRect();
      this.at({ x: rect.width / 2, y: rect.height / 2 }, map.getCenter()).catch((err) => this.fail(err));
    });
    map.on("click", (e) => {
      if (!hasMap(this)) return;
      e.originalEvent.tweelingDrawn = true;
      this.stop();
      this.at(e.point, e.lngLat).catch((err) => this.fail(err));
    });
    map.getContainer().addEventListener("keydown", (e) => {
      if (hasMap(this) && e.key === "Escape") this.stop();
    });
  }

  fail(err) {
    $("address-status").textContent = `${t("error")}: ${err.message}`;
    this.message(err.message);
  }

  render(round) {
    this.round = round;
  }

  start() {
    takeMap(this);
    $("address-pick").setAttribute("aria-pressed", "true");
    this.map.getCanvas().style.cursor = "crosshair";
    $("address-status").textContent = t("addressClick");
  }

  stop() {
    releaseMap(this);
    $("address-pick").setAttribute("aria-pressed", "false");
    this.map.getCanvas().style.cursor = "";
  }

  /** A building under the point, else the point itself. */
  async at(point, lngLat) {
    const hit = this.map.queryRenderedFeatures(point, { layers: ["buildings"].filter((l) => this.map.getLayer(l)) })[0];
    if (hit) await this.lookup({ building: String(hit.properties.id ?? hit.id) });
    else await this.lookup({ point: [lngLat.lng, lngLat.lat] });
  }

  async find(q) {
    const ul = $("address-hits");
    ul.replaceChildren();
    if (!q.trim()) return;
    const { data } = await getJSON("/search", { q, limit: 10 });
    const hits = data.results ?? [];
    if (!hits.length) {
      ul.append(el("li", t("noResults")));
      return;
    }
    for (const h of hits) {
      const li = el("li");
      li.append(button(`${h.label} (${h.kind ?? h.layer ?? ""})`, () => this.go(h).catch((err) => this.fail(err))));
      ul.append(li);
    }
    if (hits.length === 1) await this.go(hits[0]);
  }

  async go(hit) {
    if (hit.point) this.map.flyTo({ center: hit.point, zoom: Math.max(this.map.getZoom(), 16.5) });
    if (hit.layer === "buildings" && hit.id) await this.lookup({ building: hit.id });
    else if (hit.point) await this.lookup({ point: hit.point });
  }

  async lookup({ building = null, point = null }) {
    const r = this.round;
    if (!r) return;
    $("address-status").textContent = t("loading");
    const params = building ? { building } : { point: `${point[0]},${point[1]}` };
    const { data } = await getJSON(`/rounds/${seg(r.id)}/address`, params);
    const where = building ? `${t("building")} ${building}` : `${point[1].toFixed(5)}, ${point[0].toFixed(5)}`;
    this.show(data, where);
    $("address-status").textContent = tf("addressShown", { where });
  }

  /** The address page in the information panel. */
  show(data, where) {
    const body = $("info-body");
    const r = this.round;
    body.replaceChildren(el("h3", `${t("changesAt")} ${where}`));
    body.append(el("p", r.title, "muted"));
    if (data.buildings?.length) {
      body.append(el("p", `${t("buildingsHere")}: ${data.buildings.map((b) => `${b.id}${b.height_m ? ` (${fmt(b.height_m)} m)` : ""}`).join(", ")}`));
    }
    const scenarios = data.scenarios ?? [];
    const parentOf = new Map((r.variants ?? []).map((v) => [v.scenario, v.parent]));
    // one row per result, one column per alternative and variant, the current situation first
    const rows = new Map();
    for (const s of scenarios) {
      for (const res of s.results ?? []) {
        const key = `${res.model}|${res.output}|${res.field ?? ""}`;
        if (!rows.has(key)) rows.set(key, { label: `${res.model} · ${res.field ?? res.output}${res.unit && res.unit !== "1" ? ` (${res.unit})` : ""}`, baseline: res.baseline, values: {} });
        rows.get(key).values[s.scenario] = res.scenario;
      }
    }
    body.append(el("h4", t("resultsHere")));
    // one group of rows per result: the current situation, then each alternative and
    // variant with its value (a variant also against its alternative)
    const groups = [...rows.values()].filter((row) => known(row.baseline) || Object.values(row.values).some(known));
    if (!groups.length) body.append(el("p", t("addressNoResults")));
    else {
      const tb = el("table", undefined, "attrs address");
      tb.append(el("caption", t("addressCaption")));
      for (const row of groups) {
        const tbody = el("tbody");
        const head = el("tr");
        const th = el("th", row.label);
        th.colSpan = 2;
        th.scope = "colgroup";
        head.append(th);
        tbody.append(head);
        const line = (name, text) => {
          const tr = el("tr");
          const h = el("th", name);
          h.scope = "row";
          tr.append(h, el("td", text));
          tbody.append(tr);
        };
        if (known(row.baseline)) line(t("baseline"), value(row.baseline));
        for (const s of scenarios) {
          const v = row.values[s.scenario];
          if (!known(v)) continue;
          let text = value(v);
          const parent = parentOf.get(s.scenario);
          const pv = parent ? row.values[parent] : undefined;
          if (s.kind === "variant" && typeof v === "number" && typeof pv === "number") text += ` (${signed(v - pv)} ${t("vsAlternative")})`;
          else if (typeof v === "number" && typeof row.baseline === "number") text += ` (${signed(v - row.baseline)})`;
          line(`${s.scenario} (${t(s.kind)})`, text);
        }
        tb.append(tbody);
      }
      body.append(tb);
    }
    for (const s of scenarios) {
      const box = el("details", undefined, "scenario-at");
      box.open = true;
      const findings = s.findings ?? [];
      const counts = {};
      for (const f of findings) counts[f.verdict] = (counts[f.verdict] ?? 0) + 1;
      const summary = Object.entries(counts).map(([k, n]) => `${t(k)}: ${n}`).join(", ");
      box.append(el("summary", `${s.scenario} — ${findings.length} ${t("findingsFor")}${summary ? ` (${summary})` : ""}`));
      if (findings.length) {
        const ul = el("ul", undefined, "list findings");
        for (const f of findings) ul.append(findingItem(f));
        box.append(ul);
      }
      const near = s.interventions_nearby ?? [];
      box.append(el("h5", t("changesNear")));
      if (!near.length) box.append(el("p", "–"));
      else {
        const ul = el("ul", undefined, "list");
        for (const n of near) ul.append(el("li", `${n.title || `${n.kind} ${n.layer ?? ""}`} (${n.object_id ?? ""}, ${Math.round(n.distance_m ?? 0)} m)`));
        box.append(ul);
      }
      body.append(box);
    }
    $("info").hidden = false;
  }
}

function known(v) {
  return v !== null && v !== undefined;
}

function signed(d) {
  return `${d > 0 ? "+" : d < 0 ? "−" : "±"}${fmt(Math.abs(d))}`;
}

function value(v) {
  if (v === true) return t("yes");
  if (v === false) return t("no");
  return fmt(v);
}
