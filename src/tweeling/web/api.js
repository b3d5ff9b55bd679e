// Thin client of the twin's HTTP API (same origin). Problems (RFC 9457) become Errors
// carrying the server's detail, so the viewer can say what went wrong.
export async function getJSON(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  const res = await fetch(url);
  return parse(res, url);
}

export async function postJSON(path, body, headers = {}) {
  const res = await fetch(new URL(path, location.origin), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return parse(res, path);
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
