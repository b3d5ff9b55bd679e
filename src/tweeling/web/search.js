// Search for a place, a building id or a coordinate; choosing a hit flies there and shows
// what the viewed scenario means at that point.
import { getJSON } from "./api.js";
import { t } from "./i18n.js";
import { showPlace } from "./info.js";

const $ = (id) => document.getElementById(id);

export class Search {
  constructor(map, state, { message }) {
    this.map = map;
    this.state = state;
    $("search-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.run($("search").value).catch((err) => message(err.message));
    });
  }

  async run(q) {
    const ul = $("search-results");
    ul.replaceChildren();
    if (!q.trim()) return;
    const { data } = await getJSON("/search", { q, limit: 10 });
    const hits = data.results ?? data;
    if (!hits.length) {
      const li = document.createElement("li");
      li.textContent = t("noResults");
      ul.append(li);
      return;
    }
    for (const h of hits) {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = `${h.label} (${h.kind ?? h.layer ?? ""})`;
      b.addEventListener("click", () => this.go(h));
      li.append(b);
      ul.append(li);
    }
    if (hits.length === 1) this.go(hits[0]);
  }

  go(hit) {
    const small = hit.bbox && Math.abs(hit.bbox[2] - hit.bbox[0]) < 0.01;
    if (hit.bbox && !small) this.map.fitBounds(hit.bbox, { padding: 40, pitch: this.map.getPitch() });
    else this.map.flyTo({ center: hit.point, zoom: Math.max(this.map.getZoom(), 17) });
    if (hit.point) showPlace(this.state, hit.point).catch(() => {});
  }
}
