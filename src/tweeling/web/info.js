// The information panel: a building's attributes, the results there and the findings that
// concern it; or, for a point, what the viewed scenario means there.
import { getJSON, scenarioParam } from "./api.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function table(rows) {
  const tb = el("table", undefined, "attrs");
  for (const [k, v] of rows) {
    const tr = el("tr");
    tr.append(el("th", k), el("td", v === null || v === undefined ? "–" : String(v)));
    tb.append(tr);
  }
  return tb;
}

function fmt(v) {
  return typeof v === "number" ? (Math.round(v * 100) / 100).toString() : v;
}

export function findingItem(f) {
  const li = el("li", undefined, f.verdict);
  const v = el("span", `${t(f.verdict)}: `, `verdict-${f.verdict}`);
  li.append(v, document.createTextNode(f.explanation ?? f.norm_title ?? f.norm ?? ""));
  return li;
}

function open(title) {
  const body = $("info-body");
  body.replaceChildren(el("h3", title));
  $("info").hidden = false;
  return body;
}

export async function showBuilding(state, id) {
  const body = open(`${t("building")} ${id}`);
  body.append(el("p", t("loading")));
  const scenario = scenarioParam(state.scenario);
  const [{ data: feature }, findings] = await Promise.all([
    getJSON(`/collections/buildings/items/${encodeURIComponent(id)}`, { scenario }),
    scenario || state.scenario === "baseline"
      ? getJSON(`/scenarios/${encodeURIComponent(state.scenario)}/findings`, { object: id }).then((r) => r.data).catch(() => null)
      : null,
  ]);
  body.replaceChildren(el("h3", `${t("building")} ${id}`));
  body.append(el("h4", t("attributes")));
  const props = Object.entries(feature.properties).filter(([, v]) => typeof v !== "object" || v === null);
  body.append(table(props.map(([k, v]) => [k, fmt(v)])));

  const rows = [];
  for (const entry of Object.values(state.results.objects ?? {})) {
    const row = entry.values[id] ?? Object.values(entry.values).find((r) => r.id === id);
    if (row && typeof row[entry.field] === "number") rows.push([`${entry.run.model} · ${entry.field}`, fmt(row[entry.field])]);
  }
  body.append(el("h4", t("resultsHere")));
  body.append(rows.length ? table(rows) : el("p", "–"));

  body.append(el("h4", t("findingsHere")));
  const list = findings?.findings ?? [];
  if (!list.length) body.append(el("p", t("noFindings")));
  else {
    const ul = el("ul", undefined, "list findings");
    for (const f of list) ul.append(findingItem(f));
    body.append(ul);
  }
}

export async function showPlace(state, lonlat) {
  const body = open(`${lonlat[1].toFixed(5)}, ${lonlat[0].toFixed(5)}`);
  body.append(el("p", t("loading")));
  const { data } = await getJSON("/here", { point: `${lonlat[0]},${lonlat[1]}`, scenario: scenarioParam(state.scenario) });
  body.replaceChildren(el("h3", `${lonlat[1].toFixed(5)}, ${lonlat[0].toFixed(5)}`));
  renderHere(body, data);
}

/** What /here says about a point: results (scenario vs current), norms, nearby changes. */
export function renderHere(body, data) {
  const results = data.results ?? [];
  body.append(el("h4", t("resultsHere")));
  if (!results.length) body.append(el("p", "–"));
  else {
    body.append(
      table(
        results.map((r) => [
          `${r.model} · ${r.field ?? r.output ?? ""}${r.unit ? ` (${r.unit})` : ""}`,
          `${t("inScenario")} ${fmt(r.scenario ?? r.value)} · ${t("inBaseline")} ${fmt(r.baseline)} · ${t("difference")} ${fmt(r.difference)}`,
        ]),
      ),
    );
  }
  const norms = data.norms ?? [];
  body.append(el("h4", t("normsHere")));
  if (!norms.length) body.append(el("p", "–"));
  else {
    const ul = el("ul", undefined, "list");
    for (const n of norms.slice(0, 30)) ul.append(el("li", n.summary ?? n.name ?? n.id));
    body.append(ul);
  }
  const changes = data.interventions ?? [];
  body.append(el("h4", t("changesNear")));
  if (!changes.length) body.append(el("p", "–"));
  else {
    const ul = el("ul", undefined, "list");
    for (const c of changes) ul.append(el("li", `${c.kind} ${c.layer ?? ""}: ${c.title ?? c.object_id ?? ""}`));
    body.append(ul);
  }
  const findings = data.findings ?? [];
  if (findings.length) {
    body.append(el("h4", t("findingsHere")));
    const ul = el("ul", undefined, "list findings");
    for (const f of findings) ul.append(findingItem(f));
    body.append(ul);
  }
}
