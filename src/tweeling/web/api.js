// Thin client of the twin's HTTP API (same origin). Problems (RFC 9457) become Errors
// carrying the server's detail, so the viewer can say what went wrong. The session cookie
// goes with every request (same origin); every change also carries the session's CSRF token
// in X-CSRF-Token, as the server asks of a signed-in browser.
let csrf = null;

/** The CSRF token of the session (from GET /auth/me or the sign-in answer). */
export function setCsrf(token) {
  csrf = token || null;
}

export async function getJSON(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const res = await fetch(url, { headers: { Accept: "application/json" } });
  return parse(res, url);
}

/** A change: POST, PUT, PATCH or DELETE with a JSON body (or none). */
export async function send(method, path, body, headers = {}) {
  const h = { Accept: "application/json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (csrf) h["X-CSRF-Token"] = csrf;
  const res = await fetch(new URL(path, location.origin), {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return parse(res, path);
}

export function postJSON(path, body, headers = {}) {
  return send("POST", path, body, headers);
}

export function putJSON(path, body, headers = {}) {
  return send("PUT", path, body, headers);
}

async function parse(res, url) {
  const text = await res.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { detail: text };
  }
  if (!res.ok) {
    const err = new Error(data?.detail || data?.title || `${res.status} ${url}`);
    err.status = res.status;
    throw err;
  }
  return { data, res };
}

/** The scenario query parameter for a view: nothing for the baseline. */
export function scenarioParam(scenario) {
  return scenario && scenario !== "baseline" ? scenario : undefined;
}

/** A path segment from a name (scenario names, ids). */
export function seg(name) {
  return encodeURIComponent(String(name));
}
