// The findings list of the viewed scenario: counts per verdict, the findings themselves
// (worst first); choosing one flies to the object it concerns and opens its information.
import { getJSON } from "./api.js";
import { t } from "./i18n.js";
import { showBuilding } from "./info.js";

const $ = (id) => document.getElementById(id);
const ORDER = { exceeds: 0, needs_permit: 1, cannot_judge: 2, complies: 3 };
const SHOWN = 100;

export class Findings {
  constructor(map, state) {
    this.map = map;
    this.state = state;
    this.data = null;
  }

  async load(scenario) {
    this.data = null;
    this.render();
    if (scenario === "baseline") return;
    try {
      const { data } = await getJSON(`/scenarios/${encodeURIComponent(scenario)}/findings`);
      this.data = data;
    } catch (e) {
      this.data = { error: e.message };
    }
    this.render();
  }

  render() {
    const ul = $("findings");
    ul.replaceChildren();
    const d = this.data;
    if (!d) {
      $("findings-summary").textContent = this.state.scenario === "baseline" ? "" : t("loading");
      return;
    }
    if (d.error) {
      $("findings-summary").textContent = `${t("error")}: ${d.error}`;
      return;
    }
    const list = [...(d.findings ?? [])].sort((a, b) => (ORDER[a.verdict] ?? 9) - (ORDER[b.verdict] ?? 9));
    const counts = d.counts ?? {};
    $("findings-summary").textContent = list.length
      ? Object.entries(counts).map(([k, v]) => `${t(k)}: ${v}`).join(" · ")
      : t("noFindings");
    for (const f of list.slice(0, SHOWN)) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.className = f.verdict;
      b.textContent = `${t(f.verdict)} – ${f.object ?? f.object_id ?? ""}: ${f.explanation ?? f.norm_title ?? ""}`;
      b.addEventListener("click", () => this.focus(f));
      li.append(b);
      ul.append(li);
    }
  }

  async focus(f) {
    const id = f.object ?? f.object_id;
    if (f.location) this.map.flyTo({ center: f.location, zoom: Math.max(this.map.getZoom(), 17) });
    const [layer, objectId] = id?.includes("/") ? id.split("/", 2) : ["buildings", id];
    if (layer === "buildings" && objectId) await showBuilding(this.state, objectId);
  }
}
