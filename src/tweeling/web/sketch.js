// Drawing a comment's place on the map: a point, a line or an area (click the vertices), or
// a building (click it). From the keyboard: "add the map centre" adds a vertex there, or
// takes the building at the map centre; Enter finishes, Escape stops.
import { hasMap, releaseMap, takeMap } from "./mapmode.js";

const COLOUR = "#00796b";

export class Sketch {
  constructor(map, { onChange }) {
    this.map = map;
    this.onChange = onChange;
    this.mode = null; // "point" | "line" | "area" | "building" while drawing
    this.kind = null; // what the drawn place is
    this.points = [];
    this.building = null; // {id, at: [lon, lat]}
    const empty = { type: "FeatureCollection", features: [] };
    map.addSource("sketch", { type: "geojson", data: empty });
    const poly = ["==", ["geometry-type"], "Polygon"];
    map.addLayer({ id: "sketch-fill", type: "fill", source: "sketch", filter: poly, paint: { "fill-color": COLOUR, "fill-opacity": 0.3 } });
    map.addLayer({ id: "sketch-line", type: "line", source: "sketch", filter: ["!=", ["geometry-type"], "Point"], paint: { "line-color": COLOUR, "line-width": 3 } });
    map.addLayer({
      id: "sketch-points",
      type: "circle",
      source: "sketch",
      filter: ["==", ["geometry-type"], "Point"],
      paint: { "circle-color": COLOUR, "circle-radius": 6, "circle-stroke-color": "#fff", "circle-stroke-width": 2 },
    });
    map.on("click", (e) => {
      if (!hasMap(this)) return;
      e.originalEvent.tweelingDrawn = true; // the information panel leaves this click alone
      this.clickAt(e.point, e.lngLat);
    });
    map.getContainer().addEventListener("keydown", (e) => {
      if (!hasMap(this)) return;
      if (e.key === "Escape" || e.key === "Enter") this.stop();
    });
  }

  get active() {
    return this.mode !== null;
  }

  start(mode) {
    if (this.mode === mode) {
      this.stop();
      return;
    }
    takeMap(this);
    if (mode !== this.kind) this.clear(false);
    this.mode = mode;
    this.kind = mode;
    this.map.getCanvas().style.cursor = "crosshair";
    this.onChange();
  }

  stop() {
    releaseMap(this);
    this.mode = null;
    this.map.getCanvas().style.cursor = "";
    this.onChange();
  }

  clear(notify = true) {
    this.points = [];
    this.building = null;
    this.kind = null;
    this.redraw();
    if (notify) this.onChange();
  }

  clickAt(point, lngLat) {
    if (this.mode === "building") {
      const hit = this.map.queryRenderedFeatures(point, { layers: ["buildings"].filter((l) => this.map.getLayer(l)) })[0];
      if (!hit) return;
      this.building = { id: String(hit.properties.id ?? hit.id), at: [lngLat.lng, lngLat.lat] };
      this.redraw();
      this.stop();
      return;
    }
    this.add([lngLat.lng, lngLat.lat]);
  }

  add(p) {
    if (this.mode === "point") this.points = [p];
    else this.points.push(p);
    this.redraw();
    if (this.mode === "point") this.stop();
    else this.onChange();
  }

  /** The keyboard's way: the map centre as a vertex, or the building there. */
  addCentre() {
    if (!this.mode) return;
    const c = this.map.getCenter();
    if (this.mode === "building") {
      const canvas = this.map.getCanvas();
      const rect = canvas.getBoundingClientRect();
      this.clickAt({ x: rect.width / 2, y: rect.height / 2 }, c);
    } else this.add([c.lng, c.lat]);
  }

  geometry() {
    const p = this.points;
    if (this.kind === "point" && p.length) return { type: "Point", coordinates: p[0] };
    if (this.kind === "line" && p.length >= 2) return { type: "LineString", coordinates: p };
    if (this.kind === "area" && p.length >= 3) return { type: "Polygon", coordinates: [[...p, p[0]]] };
    return null;
  }

  object() {
    return this.kind === "building" && this.building ? `buildings/${this.building.id}` : null;
  }

  redraw() {
    const features = this.points.map((p) => ({ type: "Feature", geometry: { type: "Point", coordinates: p }, properties: {} }));
    const g = this.geometry();
    if (g && g.type !== "Point") features.push({ type: "Feature", geometry: g, properties: {} });
    else if (this.kind === "area" && this.points.length === 2) {
      features.push({ type: "Feature", geometry: { type: "LineString", coordinates: this.points }, properties: {} });
    }
    if (this.building) features.push({ type: "Feature", geometry: { type: "Point", coordinates: this.building.at }, properties: {} });
    this.map.getSource("sketch")?.setData({ type: "FeatureCollection", features });
  }
}
