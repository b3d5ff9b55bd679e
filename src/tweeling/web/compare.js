// Swipe comparison: a second map showing the current situation (baseline) lies over the
// scenario map and is clipped to the left of the swipe position; both cameras move together.
// The swipe is a range input, so it works with the keyboard too.
import * as maplibregl from "/viewer/vendor/maplibre-gl/maplibre-gl.mjs";
import { buildStyle } from "./mapstyle.js";

const $ = (id) => document.getElementById(id);

export class Compare {
  constructor(map, state) {
    this.map = map;
    this.state = state;
    this.other = null;
    this.syncing = false;
    $("compare").addEventListener("change", (e) => (e.target.checked ? this.open() : this.close()));
    $("swipe").addEventListener("input", () => this.clip());
    map.on("resize", () => this.clip());
  }

  open() {
    $("map-baseline").hidden = false;
    $("swipe-wrap").hidden = false;
    $("swipe-line").hidden = false;
    const m = this.map;
    this.other = new maplibregl.Map({
      container: "map-baseline",
      style: buildStyle(this.state.available, "baseline"),
      center: m.getCenter(),
      zoom: m.getZoom(),
      pitch: m.getPitch(),
      bearing: m.getBearing(),
      interactive: false, // the scenario map below takes the input; this one follows
      attributionControl: false,
      canvasContextAttributes: { preserveDrawingBuffer: true },
    });
    window.tweelingCompareMap = this.other; // for browser tests
    this.other.on("load", () => {
      // the same layers visible as on the main map
      for (const layer of m.getStyle().layers) {
        if (this.other.getLayer(layer.id)) {
          this.other.setLayoutProperty(layer.id, "visibility", m.getLayoutProperty(layer.id, "visibility") ?? "visible");
        }
      }
    });
    this.follow = () => {
      if (!this.other) return;
      this.other.jumpTo({ center: m.getCenter(), zoom: m.getZoom(), pitch: m.getPitch(), bearing: m.getBearing() });
    };
    m.on("move", this.follow);
    this.clip();
  }

  close() {
    $("map-baseline").hidden = true;
    $("swipe-wrap").hidden = true;
    $("swipe-line").hidden = true;
    if (this.follow) this.map.off("move", this.follow);
    this.other?.remove();
    this.other = null;
    window.tweelingCompareMap = null;
  }

  setLayerVisibility(id, vis) {
    if (this.other?.getLayer(id)) this.other.setLayoutProperty(id, "visibility", vis);
  }

  clip() {
    if (!this.other) return;
    const width = this.map.getContainer().clientWidth;
    const x = Math.round((Number($("swipe").value) / 100) * width);
    $("map-baseline").style.clipPath = `inset(0 ${width - x}px 0 0)`;
    $("swipe-line").style.left = `${x - 1}px`;
  }
}
