// Charts comparing scenarios on one indicator (Chart.js from npm), with the same numbers in
// a table for screen readers.
import { getJSON } from "./api.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

export class Charts {
  constructor(state) {
    this.state = state;
    this.chart = null;
    this.series = []; // [{key, label, unit, values: {scenario: number|null}}]
    $("indicator").addEventListener("change", () => this.render());
  }

  async load() {
    const names = ["baseline", ...this.state.scenarios.map((s) => s.name).filter((n) => n !== "baseline")];
    const { data } = await getJSON("/comparisons", { scenarios: names.join(",") });
    this.series = flatten(data);
    const sel = $("indicator");
    const keep = sel.value;
    sel.replaceChildren();
    for (const s of this.series) sel.add(new Option(`${s.label}${s.unit && s.unit !== "1" ? ` (${s.unit})` : ""}`, s.key));
    if (keep && this.series.some((s) => s.key === keep)) sel.value = keep;
    this.render();
  }

  render() {
    const s = this.series.find((x) => x.key === $("indicator").value) ?? this.series[0];
    const canvas = $("chart");
    const tbl = $("chart-table");
    tbl.replaceChildren();
    if (!s) {
      canvas.setAttribute("aria-label", t("noIndicators"));
      this.chart?.destroy();
      this.chart = null;
      return;
    }
    const labels = Object.keys(s.values).map((n) => (n === "baseline" ? t("baseline") : n));
    const values = Object.values(s.values);
    canvas.setAttribute("aria-label", `${t("charts")}: ${s.label}`);
    for (const [i, l] of labels.entries()) {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.textContent = l;
      const td = document.createElement("td");
      td.textContent = values[i] ?? "–";
      tr.append(th, td);
      tbl.append(tr);
    }
    const data = { labels, datasets: [{ label: s.label, data: values, backgroundColor: "#0b5cad" }] };
    if (this.chart) {
      this.chart.data = data;
      this.chart.update();
    } else {
      // global Chart from the UMD build served under /viewer/vendor
      this.chart = new window.Chart(canvas, {
        type: "bar",
        data,
        options: { responsive: true, maintainAspectRatio: false, animation: false, plugins: { legend: { display: false } } },
      });
    }
  }
}

/** The comparison document as one series per model indicator. */
export function flatten(doc) {
  const out = [];
  const models = doc.models ?? doc;
  for (const [model, body] of Object.entries(models ?? {})) {
    const indicators = body.indicators ?? body;
    for (const [name, ind] of Object.entries(indicators ?? {})) {
      const values = {};
      for (const [scenario, v] of Object.entries(ind.values ?? ind.scenarios ?? {})) {
        values[scenario] = v && typeof v === "object" ? v.value ?? null : v;
      }
      if (Object.values(values).some((v) => v !== null && v !== undefined)) {
        out.push({ key: `${model}/${name}`, label: `${model} · ${name}`, unit: ind.unit, values });
      }
    }
  }
  return out;
}
