"""The server's outer guard, one ASGI middleware in front of every route:

* the ``Host`` header must name this server (``[server] hosts`` in twin.toml, or the
  loopback names when bound to 127.0.0.1): a page on another site that rebinds its DNS name
  to the planner's laptop gets a 421, not the twin (DNS rebinding);
* request bodies larger than ``max_body_bytes`` are refused with 413 (by Content-Length,
  or while a chunked body streams in) before a route reads them;
* security headers on every response: ``nosniff``, no framing (``frame-ancestors``,
  ``X-Frame-Options``), no referrer, a restrictive CSP unless the route set its own, and
  ``Vary: Cookie, Authorization`` because answers depend on who asks.

Pure ASGI (no BaseHTTPMiddleware), so it costs microseconds and does not buffer bodies.
"""

from __future__ import annotations

import orjson

_DEFAULT_CSP = b"default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


def _problem(status: int, title: str, detail: str) -> tuple[list, bytes]:
    body = orjson.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
        *_HEADERS,
        (b"content-security-policy", _DEFAULT_CSP),
    ]
    return headers, body


class Guard:
    def __init__(self, app, *, hosts: set[str], max_body_bytes: int):
        self.app = app
        self.hosts = {h.lower() for h in hosts}
        self.max_body = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        host = _host(scope)
        if host not in self.hosts:
            # 421 Misdirected Request (RFC 9110 §15.5.20): this server is not that host
            return await _send_problem(
                send, 421, "Misdirected Request", "this server does not serve that host name"
            )
        length = _content_length(scope)
        if length is not None and length > self.max_body:
            return await _send_problem(
                send,
                413,
                "Content Too Large",
                f"the request body is {length} bytes; at most {self.max_body} are accepted",
            )
        if length is None and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            # a streamed (chunked) body: read it here, up to the limit, then replay it
            chunks, seen = [], 0
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    break
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    return await _send_problem(
                        send,
                        413,
                        "Content Too Large",
                        f"at most {self.max_body} bytes are accepted",
                    )
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            body = b"".join(chunks)
            replayed = False

            async def receive_again():
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()

            receive = receive_again

        https = scope.get("scheme") == "https"

        async def guarded_send(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                extra = [h for h in _HEADERS if h[0] not in names]
                if b"content-security-policy" not in names and _renderable(headers):
                    extra.append((b"content-security-policy", _DEFAULT_CSP))
                vary = [v for k, v in headers if k.lower() == b"vary"]
                headers = [(k, v) for k, v in headers if k.lower() != b"vary"]
                values = {p.strip() for v in vary for p in v.decode("latin-1").split(",")}
                values |= {"Cookie", "Authorization"}
                headers.append((b"vary", ", ".join(sorted(v for v in values if v)).encode()))
                if https:  # browsers keep to https for this host for a year (ASVS V14.4.5)
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message = {**message, "headers": headers + extra}
            await send(message)

        await self.app(scope, receive, guarded_send)


async def _send_problem(send, status: int, title: str, detail: str) -> None:
    headers, body = _problem(status, title, detail)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _renderable(headers) -> bool:
    """Responses a browser could show as a page (HTML, JSON, XML, text) get the restrictive
    CSP. Scripts do not: a worker's script brings its own policy, and MapLibre's tile worker
    under ``default-src 'none'`` could fetch nothing. Binary ones (tiles, images, GeoTIFF)
    are never rendered as pages (nosniff)."""
    for k, v in headers:
        if k.lower() == b"content-type":
            kind = v.decode("latin-1").lower()
            if "javascript" in kind or kind.startswith("text/css"):
                return False
            return kind.startswith("text/") or "json" in kind or "xml" in kind
    return True


def _host(scope) -> str:
    for k, v in scope.get("headers", ()):
        if k == b"host":
            text = v.decode("latin-1").strip().lower()
            if text.startswith("["):  # [::1]:8000
                return text.split("]", 1)[0] + "]"
            return text.rsplit(":", 1)[0] if text.count(":") == 1 else text
    return ""


def _content_length(scope) -> int | None:
    for k, v in scope.get("headers", ()):
        if k == b"content-length":
            try:
                return int(v)
            except ValueError:
                return None
    return None
