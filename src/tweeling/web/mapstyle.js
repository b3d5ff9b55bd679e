// The map style, drawn only from the twin's own layers (no online base map): land, green,
// water and roads as the base map, buildings extruded from their heights, model inputs on
// top. The layers shown from the start come from one source of dataset tiles (OGC API
// Tiles, /tiles?collections=…): one request per tile for all of them instead of one per
// layer (under 200 people opening the map at once, 4 times fewer requests:
// benchmarks/results_participation.md). Layers hidden at first are sources of their own, so
// they are fetched only when shown. Every source carries the scenario being viewed.

export const LAYERS = [
  { id: "land_use", kind: "fill", color: "#e6e0d2", on: true, base: true },
  { id: "plant_cover", kind: "fill", color: "#b5d69f", on: true, base: true },
  { id: "water_bodies", kind: "fill", color: "#96bfe3", on: true, base: true },
  { id: "roads", kind: "fill", color: "#cfcfcf", on: true, base: true },
  { id: "bridges", kind: "fill", color: "#bdb5aa", on: true, base: true },
  { id: "natura2000", kind: "fill", color: "#3f8f3a", opacity: 0.25, on: false },
  { id: "zoning_plan_objects", kind: "line", color: "#7d3c98", on: false },
  { id: "cbs_buurten", kind: "line", color: "#555555", on: false },
  { id: "road_traffic", kind: "line", color: "#c0392b", width: 3, on: false },
  { id: "buildings", kind: "extrusion", color: "#d8c8ae", on: true },
  { id: "wind_turbines", kind: "circle", color: "#174a8b", radius: 7, on: true },
  { id: "nitrogen_sources", kind: "circle", color: "#6a1b9a", radius: 6, on: true },
];

export const BACKGROUND = "#f3f1ec";
export const BUILDING_NO_VALUE = "#d8c8ae";

export const TWIN_SOURCE = "twin"; // the dataset tiles of the layers shown from the start

function query(scenario, version, extra = {}) {
  const q = new URLSearchParams(extra);
  if (scenario && scenario !== "baseline") q.set("scenario", scenario);
  if (version) q.set("v", String(version)); // a new draft edit: do not reuse the browser's tiles
  const qs = q.toString();
  return qs ? "?" + qs : "";
}

export function tileURL(collection, scenario, version = 0) {
  return `${location.origin}/collections/${collection}/tiles/WebMercatorQuad/{z}/{y}/{x}${query(scenario, version)}`;
}

function datasetURL(collections, scenario, version = 0) {
  const q = query(scenario, version, { collections: collections.join(",") });
  return `${location.origin}/tiles/WebMercatorQuad/{z}/{y}/{x}${q}`;
}

/** Which source each shown layer comes from: the dataset source, or its own. */
export function sourceOf(id) {
  const l = LAYERS.find((x) => x.id === id);
  return l && l.on ? TWIN_SOURCE : id;
}

function vector(url, maxzoom) {
  return { type: "vector", tiles: [url], minzoom: 0, maxzoom, promoteId: "id" };
}

function shared(available) {
  return LAYERS.filter((l) => l.on && available.has(l.id)).map((l) => l.id);
}

/** The MapLibre style for the given collections (ids present in the twin) and scenario. */
export function buildStyle(available, scenario, version = 0, maxzoom = 16) {
  const sources = {};
  const together = shared(available);
  if (together.length) sources[TWIN_SOURCE] = vector(datasetURL(together, scenario, version), maxzoom);
  const layers = [{ id: "background", type: "background", paint: { "background-color": BACKGROUND } }];
  for (const l of LAYERS) {
    if (!available.has(l.id)) continue;
    if (!l.on) sources[l.id] = vector(tileURL(l.id, scenario, version), maxzoom);
    const visibility = l.on ? "visible" : "none";
    const common = { id: l.id, source: sourceOf(l.id), "source-layer": l.id, layout: { visibility } };
    if (l.kind === "fill") {
      layers.push({ ...common, type: "fill", paint: { "fill-color": l.color, "fill-opacity": l.opacity ?? 1 } });
    } else if (l.kind === "line") {
      layers.push({ ...common, type: "line", paint: { "line-color": l.color, "line-width": l.width ?? 1.2 } });
    } else if (l.kind === "circle") {
      layers.push({
        ...common,
        type: "circle",
        paint: { "circle-color": l.color, "circle-radius": l.radius, "circle-stroke-color": "#fff", "circle-stroke-width": 2 },
      });
    } else if (l.kind === "extrusion") {
      layers.push({
        ...common,
        type: "fill-extrusion",
        paint: {
          // coloured by a model result through feature state when one is chosen
          "fill-extrusion-color": [
            "case",
            ["!=", ["feature-state", "colour"], null],
            ["feature-state", "colour"],
            l.color,
          ],
          "fill-extrusion-height": ["coalesce", ["get", "height_m"], 9],
          "fill-extrusion-base": 0,
          "fill-extrusion-opacity": 0.95,
        },
      });
    }
  }
  return { version: 8, sources, layers };
}

/** Point every twin source at another scenario (or a new draft version) without a reload. */
export function setScenario(map, scenario, version = 0) {
  const together = LAYERS.filter((l) => l.on && map.getLayer(l.id)).map((l) => l.id);
  const twin = map.getSource(TWIN_SOURCE);
  if (twin && twin.setTiles) twin.setTiles([datasetURL(together, scenario, version)]);
  for (const l of LAYERS) {
    if (l.on) continue;
    const src = map.getSource(l.id);
    if (src && src.setTiles) src.setTiles([tileURL(l.id, scenario, version)]);
  }
}
