// Small DOM helpers. Every text the viewer shows goes in with textContent (or as an Option's
// text): names, comments, descriptions and reasons come from people, never as HTML.

export const $ = (id) => document.getElementById(id);

export function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

export function button(text, onClick, attrs = {}) {
  const b = el("button", text);
  b.type = "button";
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "className") b.className = v;
    else b.setAttribute(k, v);
  }
  if (onClick) b.addEventListener("click", onClick);
  return b;
}

/** A number rounded to two decimals; other values as they are. */
export function fmt(v) {
  if (typeof v === "number") return (Math.round(v * 100) / 100).toString();
  if (v === null || v === undefined) return "–";
  return String(v);
}

/** A link only to this server or to an http(s) address: never javascript: or data:. */
export function safeHref(href) {
  const text = String(href ?? "");
  if (text.startsWith("/") && !text.startsWith("//")) return text;
  try {
    const url = new URL(text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

/** A table with a caption, column heads and rows of cells (all text). */
export function dataTable(caption, heads, rows, cls = "attrs") {
  const tb = el("table", undefined, cls);
  if (caption) tb.append(el("caption", caption));
  const thead = el("thead");
  const hr = el("tr");
  for (const h of heads) {
    const th = el("th", h);
    th.scope = "col";
    hr.append(th);
  }
  thead.append(hr);
  const tbody = el("tbody");
  for (const row of rows) {
    const tr = el("tr");
    row.forEach((cell, i) => {
      const c = el(i === 0 ? "th" : "td", cell);
      if (i === 0) c.scope = "row";
      tr.append(c);
    });
    tbody.append(tr);
  }
  tb.append(thead, tbody);
  return tb;
}

/** Metres between two lon/lat points (equirectangular; fine over a few kilometres). */
export function metres(a, b) {
  const k = Math.PI / 180;
  const x = (b[0] - a[0]) * k * Math.cos(((a[1] + b[1]) / 2) * k);
  const y = (b[1] - a[1]) * k;
  return Math.round(Math.hypot(x, y) * 6_371_000);
}

/** A lon/lat point moved east and north by metres. */
export function offset(p, east, north) {
  const k = Math.PI / 180;
  return [p[0] + east / (6_371_000 * Math.cos(p[1] * k) * k), p[1] + north / (6_371_000 * k)];
}
