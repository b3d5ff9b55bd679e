// Consultation rounds: the round's page (question, alternatives, documents, what variants
// may change, the report), its comments as a thread with supports and as a map layer of
// their places, writing a comment pinned to a point, line or area drawn on the map or to a
// building, supporting and withdrawing, editing one's comment, moderators hiding a comment
// with a reason; the variants (variant.js) and what changes at an address (address.js).
// Everything people wrote goes into the page as text (textContent), never as HTML.
import { getJSON, postJSON, putJSON, scenarioParam, send, seg } from "./api.js";
import { dateText, t, tf } from "./i18n.js";
import { $, button, el, safeHref } from "./dom.js";
import { Sketch } from "./sketch.js";
import { Variants } from "./variant.js";
import { Address } from "./address.js";
import { mapTaken } from "./mapmode.js";

const THEMES = ["noise", "green", "traffic", "housing", "energy", "nature", "water", "safety", "other"];
const PURPLE = "#c2185b"; // comments: not the nitrogen sources' purple
const EMPTY = { type: "FeatureCollection", features: [] };

export class Rounds {
  constructor(map, state, { switchScenario, loadScenarios, message, auth, showTab }) {
    this.map = map;
    this.state = state;
    this.switchScenario = switchScenario;
    this.loadScenarios = loadScenarios;
    this.message = message;
    this.auth = auth;
    this.showTab = showTab;
    this.rounds = [];
    this.round = null;
    this.comments = [];
    this.replyTo = null; // the comment a new comment answers
    this.editing = null; // the comment being edited
    this.moderating = null; // the comment whose hiding reason is being written
    this.selected = null;
    this.places = new Map(); // "scenario|layer/id" -> [lon, lat] of an object's comment
    this.sketch = new Sketch(map, { onChange: () => this.renderPlace() });
    this.variants = new Variants(map, state, { rounds: this, switchScenario, loadScenarios, message, auth });
    this.address = new Address(map, state, { message });

    map.addSource("comments", { type: "geojson", data: EMPTY, promoteId: "cid" });
    const shown = ["!", ["get", "hidden"]];
    map.addLayer({ id: "comments-fill", type: "fill", source: "comments", filter: ["all", ["==", ["geometry-type"], "Polygon"], shown], paint: { "fill-color": PURPLE, "fill-opacity": 0.2 } });
    map.addLayer({
      id: "comments-line",
      type: "line",
      source: "comments",
      filter: ["all", ["!=", ["geometry-type"], "Point"], shown],
      paint: { "line-color": PURPLE, "line-width": ["case", ["boolean", ["feature-state", "selected"], false], 5, 3] },
    });
    map.addLayer({
      id: "comments-points",
      type: "circle",
      source: "comments",
      filter: ["==", ["geometry-type"], "Point"],
      paint: {
        "circle-color": ["case", ["get", "hidden"], "#767676", PURPLE],
        "circle-radius": ["case", ["boolean", ["feature-state", "selected"], false], 11, 8],
        "circle-stroke-color": "#fff",
        "circle-stroke-width": 2,
      },
    });
    for (const layer of ["comments-points", "comments-line", "comments-fill"]) {
      map.on("click", layer, (e) => {
        if (mapTaken() || e.originalEvent.tweelingDrawn) return;
        e.originalEvent.tweelingDrawn = true; // not the building or place information
        const id = e.features?.[0]?.properties?.cid;
        if (id) this.focusComment(Number(id), { fly: false });
      });
      map.on("mouseenter", layer, () => {
        if (!mapTaken()) map.getCanvas().style.cursor = "pointer";
      });
      map.on("mouseleave", layer, () => {
        if (!mapTaken()) map.getCanvas().style.cursor = "";
      });
    }

    $("comment-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.submitComment().catch((err) => this.fail("comment-status", err));
    });
    $("comment-reply-cancel").addEventListener("click", () => this.setReply(null));
    $("comment-edit-cancel").addEventListener("click", () => this.setEditing(null));
    $("comment-signin-button").addEventListener("click", () => this.auth.openSignIn());
    for (const b of document.querySelectorAll("[data-place]")) b.addEventListener("click", () => this.sketch.start(b.dataset.place));
    $("place-centre").addEventListener("click", () => this.sketch.addCentre());
    $("place-clear").addEventListener("click", () => {
      this.sketch.stop();
      this.sketch.clear();
    });
    this.renderThemes();
    this.renderPlace();
  }

  fail(statusId, err) {
    $(statusId).textContent = `${t("error")}: ${err.message}`;
    this.message(err.message);
  }

  // -------------------------------------------------------------------------- rounds

  /** The rounds this person may see (after start, signing in or out). */
  async reload() {
    const { data } = await getJSON("/rounds");
    this.rounds = data.rounds ?? [];
    this.renderList();
    if (this.round) {
      if (this.rounds.some((r) => r.id === this.round.id)) await this.open(this.round.id, { quiet: true });
      else this.close();
    }
  }

  /** The tab was opened: with one round only, its page opens at once. */
  shown() {
    if (!this.round && this.rounds.length === 1) this.open(this.rounds[0].id).catch((e) => this.message(e.message));
  }

  renderList() {
    const ul = $("round-list");
    ul.replaceChildren();
    if (!this.rounds.length) ul.append(el("li", t("noRounds"), "muted"));
    for (const r of this.rounds) {
      const li = el("li");
      const b = button(`${r.title} — ${t(`state_${r.state}`)}`, () => this.open(r.id).catch((e) => this.message(e.message)));
      b.setAttribute("aria-current", String(this.round?.id === r.id));
      li.append(b);
      ul.append(li);
    }
  }

  async open(id, { comment = null, quiet = false } = {}) {
    const { data: round } = await getJSON(`/rounds/${seg(id)}`);
    const changed = this.round?.id !== round.id;
    this.round = round;
    if (changed) {
      this.setReply(null, false);
      this.setEditing(null, false);
      this.sketch.clear(false);
    }
    await this.loadComments();
    this.render();
    $("round-page").hidden = false;
    const url = new URL(location.href);
    url.searchParams.set("round", String(round.id));
    history.replaceState(null, "", url);
    if (comment) this.focusComment(comment);
    else if (!quiet && changed) $("round-title").focus();
  }

  close() {
    this.round = null;
    this.comments = [];
    $("round-page").hidden = true;
    this.map.getSource("comments")?.setData(EMPTY);
    this.renderList();
  }

  /** The viewed scenario changed: the variant editor follows it. */
  scenarioChanged(name) {
    this.variants.scenarioChanged(name);
  }

  render() {
    this.renderThemes();
    this.renderPlace();
    this.renderList();
    $("comment-form-title").textContent = this.editing ? tf("commentEditing", { id: this.editing.id }) : t("commentWrite");
    $("comment-submit").textContent = this.editing ? t("commentSave") : t("commentSubmit");
    if (this.replyTo) this.setReply(this.replyTo, false);
    const r = this.round;
    if (!r) return;
    $("round-title").textContent = r.title;
    $("round-state").textContent = `${t(`state_${r.state}`)} · ${dateText(r.opens_at)} – ${dateText(r.closes_at)}`;
    $("round-question").textContent = r.question;
    const alts = $("round-alternatives");
    alts.replaceChildren();
    for (const a of r.alternatives) {
      const li = el("li", undefined, "item");
      li.append(el("strong", a.scenario));
      if (a.description) li.append(el("p", a.description, "text"));
      li.append(button(t("showOnMap"), () => this.view(a.scenario), { "aria-label": `${t("showOnMap")}: ${a.scenario}` }));
      alts.append(li);
    }
    const allowed = $("round-allowed");
    allowed.replaceChildren();
    for (const a of r.allowed ?? []) allowed.append(el("li", a.title || `${a.kind} ${a.layer}${a.fields?.length ? ` (${a.fields.join(", ")})` : ""}`));
    if (!r.allowed?.length) allowed.append(el("li", t("noVariantsInRound")));
    const docs = $("round-documents");
    docs.replaceChildren();
    for (const d of r.documents ?? []) {
      const li = el("li");
      const href = safeHref(d.href);
      if (href) {
        const a = el("a", d.title || d.href);
        a.href = href;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
        li.append(a);
      } else li.append(el("span", d.title || ""));
      docs.append(li);
    }
    if (!r.documents?.length) docs.append(el("li", t("noDocuments")));
    $("round-report").href = `/rounds/${seg(r.id)}/report?f=html&lang=${document.documentElement.lang}`;
    this.renderForm();
    this.renderComments();
    this.variants.render(r);
    this.address.render(r);
  }

  async view(scenario) {
    await this.switchScenario(scenario);
  }

  /** Scenarios a comment can be about: the alternatives and the visible variants. */
  roundScenarios() {
    const r = this.round;
    if (!r) return [];
    return [...r.alternatives.map((a) => a.scenario), ...(r.variants ?? []).map((v) => v.scenario)];
  }

  // -------------------------------------------------------------------------- form

  renderThemes() {
    const sel = $("comment-theme");
    const keep = sel.value;
    sel.replaceChildren(new Option(t("themeNone"), ""), ...THEMES.map((k) => new Option(t(`theme_${k}`), k)));
    sel.value = keep;
  }

  renderForm() {
    const r = this.round;
    const open = r.state === "open";
    const may = Boolean(r.may?.comment) && this.auth.signedIn;
    $("comment-form").hidden = !(open && may);
    $("comment-signin").hidden = this.auth.signedIn || !open;
    $("comment-closed").hidden = open;
    const sel = $("comment-scenario");
    const keep = sel.value;
    sel.replaceChildren(new Option(t("aboutRound"), ""));
    for (const name of this.roundScenarios()) sel.add(new Option(name, name));
    const viewed = this.state.scenario;
    sel.value = [...sel.options].some((o) => o.value === keep) && keep ? keep : this.roundScenarios().includes(viewed) ? viewed : "";
  }

  renderPlace() {
    const s = this.sketch;
    for (const b of document.querySelectorAll("[data-place]")) b.setAttribute("aria-pressed", String(s.mode === b.dataset.place));
    $("place-centre").disabled = !s.active;
    let text = t("placeNone");
    if (s.kind === "building" && s.building) text = `${t("placeBuilding")}: ${s.building.id}`;
    else if (s.kind && s.points.length) text = `${t(`place_${s.kind}`)}: ${s.points.length} ${t("vertices")}`;
    if (s.active) text = `${text} — ${t(`placeHelp_${s.mode}`)}`;
    $("place-status").textContent = text;
  }

  setReply(comment, focus = true) {
    this.replyTo = comment;
    $("comment-reply").hidden = !comment;
    $("comment-reply-text").textContent = comment ? tf("replyTo", { id: comment.id, author: comment.author || t("someone") }) : "";
    if (comment && focus) {
      $("comment-scenario").value = comment.scenario ?? "";
      $("comment-body").focus();
    }
  }

  setEditing(comment, focus = true) {
    this.editing = comment;
    $("comment-form-title").textContent = comment ? tf("commentEditing", { id: comment.id }) : t("commentWrite");
    $("comment-submit").textContent = comment ? t("commentSave") : t("commentSubmit");
    $("comment-edit-cancel").hidden = !comment;
    for (const id of ["comment-scenario"]) $(id).disabled = Boolean(comment);
    $("comment-place").disabled = Boolean(comment);
    if (comment) {
      this.setReply(null, false);
      $("comment-body").value = comment.body;
      $("comment-theme").value = comment.theme ?? "";
      if (focus) $("comment-body").focus();
    } else if (focus !== false) {
      $("comment-body").value = "";
    }
  }

  async submitComment() {
    const r = this.round;
    const body = $("comment-body").value.trim();
    if (!body) {
      $("comment-status").textContent = t("commentEmpty");
      $("comment-body").focus();
      return;
    }
    const theme = $("comment-theme").value || null;
    $("comment-submit").disabled = true;
    $("comment-status").textContent = t("saving");
    try {
      let id;
      if (this.editing) {
        id = this.editing.id;
        await send("PATCH", `/comments/${seg(id)}`, { body, theme });
      } else {
        const doc = { body, theme, scenario: $("comment-scenario").value || null };
        if (this.replyTo) doc.parent = this.replyTo.id;
        const geometry = this.sketch.geometry();
        const object = this.sketch.object();
        if (geometry) doc.geometry = geometry;
        if (object) doc.object = object;
        const { data } = await postJSON(`/rounds/${seg(r.id)}/comments`, doc);
        id = data.properties?.id ?? data.id;
      }
      this.sketch.stop();
      this.sketch.clear();
      this.setReply(null, false);
      this.setEditing(null, false);
      $("comment-body").value = "";
      $("comment-theme").value = "";
      $("comment-status").textContent = t("commentSaved");
      await this.loadComments();
      this.renderComments();
      this.focusComment(id, { fly: false });
    } finally {
      $("comment-submit").disabled = false;
    }
  }

  // -------------------------------------------------------------------------- comments

  async loadComments() {
    const { data } = await getJSON(`/rounds/${seg(this.round.id)}/comments`);
    this.comments = (data.features ?? []).map((f) => ({ ...f.properties, geometry: f.geometry }));
    await this.updateLayer();
  }

  byId(id) {
    return this.comments.find((c) => c.id === id) ?? null;
  }

  renderComments() {
    const ul = $("comment-list");
    ul.replaceChildren();
    $("comment-count").textContent = tf("commentCount", { n: this.comments.filter((c) => !c.hidden).length });
    const ids = new Set(this.comments.map((c) => c.id));
    const children = new Map();
    for (const c of this.comments) {
      const parent = c.parent && ids.has(c.parent) ? c.parent : null;
      if (!children.has(parent)) children.set(parent, []);
      children.get(parent).push(c);
    }
    const add = (list, parent) => {
      for (const c of children.get(parent) ?? []) {
        const li = this.commentItem(c);
        if (children.get(c.id)?.length) {
          const sub = el("ul", undefined, "thread");
          add(sub, c.id);
          li.append(sub);
        }
        list.append(li);
      }
    };
    add(ul, null);
    if (!this.comments.length) ul.append(el("li", t("noComments"), "muted"));
  }

  commentItem(c) {
    const li = el("li", undefined, "comment");
    const art = el("article");
    art.id = `comment-${c.id}`;
    art.tabIndex = -1;
    art.dataset.id = String(c.id);
    if (c.hidden) art.classList.add("hidden-comment");
    if (this.selected === c.id) art.classList.add("selected");
    const head = el("p", undefined, "meta");
    head.append(el("strong", c.hidden && !c.author ? t("hiddenAuthor") : c.author || t("someone")));
    const when = el("time", dateText(c.created, true));
    when.dateTime = c.created;
    head.append(document.createTextNode(" · "), when);
    if (c.edited) head.append(document.createTextNode(` · ${t("edited")}`));
    head.append(document.createTextNode(` · #${c.id}`));
    art.append(head);
    const tags = [];
    if (c.theme) tags.push(`${t("theme")}: ${t(`theme_${c.theme}`)}`);
    if (c.scenario) tags.push(`${t("commentAbout")}: ${c.scenario}`);
    const where = this.placeText(c);
    if (where) tags.push(where);
    if (tags.length) art.append(el("p", tags.join(" · "), "muted"));
    if (c.hidden) {
      const note = el("p", undefined, "hidden-note");
      note.textContent = c.hidden_reason ? tf("hiddenWithReason", { reason: c.hidden_reason }) : t("hiddenNote");
      art.append(note);
    }
    if (c.body) art.append(el("p", c.body, "text body"));

    const actions = el("div", undefined, "row actions");
    const r = this.round;
    const open = r.state === "open";
    const person = this.auth.signedIn && this.auth.me.person;
    if (!c.hidden) {
      if (person && open && !c.mine) {
        const b = button(tf("supportN", { n: c.supports }), () => this.toggleSupport(c, b), { "aria-pressed": String(Boolean(c.supported_by_me)), className: "support" });
        actions.append(b);
      } else {
        actions.append(el("span", tf("supportsN", { n: c.supports }), "muted supports"));
      }
      if (open && r.may?.comment && this.auth.signedIn) actions.append(button(t("reply"), () => this.setReply(c), { "aria-label": tf("replyToLabel", { id: c.id }) }));
    }
    if (c.geometry || c.object) actions.append(button(t("showOnMap"), () => this.focusComment(c.id, { fly: true }), { "aria-label": tf("showCommentOnMap", { id: c.id }) }));
    if (c.can_edit && open) actions.append(button(t("edit"), () => this.setEditing(c), { "aria-label": tf("editLabel", { id: c.id }) }));
    if (r.may?.moderate) {
      if (c.hidden) actions.append(button(t("unhide"), () => this.moderate(c, false).catch((e) => this.message(e.message)), { "aria-label": tf("unhideLabel", { id: c.id }) }));
      else actions.append(button(t("hide"), () => this.openModeration(c, art), { "aria-label": tf("hideLabel", { id: c.id }) }));
    }
    art.append(actions);
    if (this.moderating === c.id) art.append(this.moderationForm(c));
    li.append(art);
    return li;
  }

  placeText(c) {
    if (c.object) {
      const [layer, id] = c.object.split("/", 2);
      return layer === "buildings" ? `${t("placeBuilding")} ${id}` : c.object;
    }
    if (!c.geometry) return "";
    const kind = { Point: "point", LineString: "line", Polygon: "area" }[c.geometry.type] ?? "point";
    return `${t("place")}: ${t(`place_${kind}`)}`;
  }

  async toggleSupport(c, b) {
    const on = !c.supported_by_me;
    b.disabled = true;
    try {
      const { data } = await send(on ? "PUT" : "DELETE", `/comments/${seg(c.id)}/support`);
      Object.assign(c, { supports: data.properties.supports, supported_by_me: data.properties.supported_by_me });
      b.textContent = tf("supportN", { n: c.supports });
      b.setAttribute("aria-pressed", String(Boolean(c.supported_by_me)));
    } catch (e) {
      this.message(e.message);
    } finally {
      b.disabled = false;
    }
  }

  openModeration(c, art) {
    this.moderating = c.id;
    art.querySelector(".moderate")?.remove();
    const form = this.moderationForm(c);
    art.append(form);
    form.querySelector("input").focus();
  }

  moderationForm(c) {
    const form = el("form", undefined, "moderate");
    const id = `hide-reason-${c.id}`;
    const label = el("label", t("hideReason"));
    label.htmlFor = id;
    const input = el("input");
    input.id = id;
    input.type = "text";
    input.required = true;
    input.maxLength = 1000;
    const ok = el("button", t("hideConfirm"));
    ok.type = "submit";
    const cancel = button(t("cancel"), () => {
      this.moderating = null;
      form.remove();
    });
    const row = el("div", undefined, "row");
    row.append(ok, cancel);
    form.append(label, input, row);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const reason = input.value.trim();
      if (!reason) {
        input.focus();
        return;
      }
      this.moderate(c, true, reason).catch((err) => this.message(err.message));
    });
    return form;
  }

  async moderate(c, hidden, reason = "") {
    await putJSON(`/comments/${seg(c.id)}/hidden`, { hidden, reason });
    this.moderating = null;
    await this.loadComments();
    this.renderComments();
    this.focusComment(c.id, { fly: false });
  }

  /** Select a comment: in the list (scrolled to, focused) and on the map. */
  focusComment(id, { fly = false } = {}) {
    this.showTab("round");
    const map = this.map;
    if (this.selected !== null) map.setFeatureState({ source: "comments", id: this.selected }, { selected: false });
    this.selected = id;
    map.setFeatureState({ source: "comments", id }, { selected: true });
    for (const a of document.querySelectorAll("#comment-list article.selected")) a.classList.remove("selected");
    const art = document.getElementById(`comment-${id}`);
    if (art) {
      art.classList.add("selected");
      art.scrollIntoView({ block: "nearest" });
      art.focus({ preventScroll: true });
    }
    if (fly) {
      const at = this.placeOf(this.byId(id));
      if (at) map.flyTo({ center: at, zoom: Math.max(map.getZoom(), 16.5) });
    }
  }

  placeOf(c) {
    if (!c) return null;
    if (c.geometry) {
      const g = c.geometry;
      if (g.type === "Point") return g.coordinates;
      const ring = g.type === "Polygon" ? g.coordinates[0] : g.coordinates;
      return ring.reduce((a, p) => [a[0] + p[0] / ring.length, a[1] + p[1] / ring.length], [0, 0]);
    }
    if (c.object) return this.places.get(`${c.scenario ?? ""}|${c.object}`) ?? null;
    return null;
  }

  /** The comments' places on the map; a comment about a building sits at its middle. */
  async updateLayer() {
    const objects = this.comments.filter((c) => c.object && !c.geometry && !this.places.has(`${c.scenario ?? ""}|${c.object}`));
    await Promise.all(
      objects.map(async (c) => {
        const [layer, id] = c.object.split("/", 2);
        try {
          const { data } = await getJSON(`/collections/${seg(layer)}/items/${seg(id)}`, { scenario: scenarioParam(c.scenario ?? undefined) });
          this.places.set(`${c.scenario ?? ""}|${c.object}`, middle(data.geometry));
        } catch {
          this.places.set(`${c.scenario ?? ""}|${c.object}`, null);
        }
      }),
    );
    const features = [];
    for (const c of this.comments) {
      if (c.hidden && !c.body) continue;
      const props = { cid: c.id, hidden: Boolean(c.hidden) };
      if (c.geometry) features.push({ type: "Feature", geometry: c.geometry, properties: props });
      else if (c.object) {
        const at = this.placeOf(c);
        if (at) features.push({ type: "Feature", geometry: { type: "Point", coordinates: at }, properties: props });
      }
    }
    this.map.getSource("comments")?.setData({ type: "FeatureCollection", features });
    if (this.selected !== null) this.map.setFeatureState({ source: "comments", id: this.selected }, { selected: true });
  }
}

/** The middle of a GeoJSON geometry's first ring or line (good enough for a marker). */
export function middle(g) {
  if (!g) return null;
  if (g.type === "Point") return g.coordinates;
  let ring = g.coordinates;
  if (g.type === "Polygon") ring = g.coordinates[0];
  if (g.type === "MultiPolygon") ring = g.coordinates[0][0];
  if (g.type === "MultiLineString") ring = g.coordinates[0];
  const pts = ring.length > 1 && ring[0][0] === ring[ring.length - 1][0] && ring[0][1] === ring[ring.length - 1][1] ? ring.slice(0, -1) : ring;
  return pts.reduce((a, p) => [a[0] + p[0] / pts.length, a[1] + p[1] / pts.length], [0, 0]);
}
