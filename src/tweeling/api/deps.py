"""What every route depends on: the twin, the base URL, the settings, the person asking
(session cookie or API token) and the authorisation rule of the route.

Every route carries exactly one :class:`Rule` among its dependencies — directly
(``dependencies=[Depends(READ)]``) or through a resource dependency such as
:func:`scenario_query`, which parses the ``scenario`` parameter and refuses a scenario the
person may not read. ``create_app`` refuses to start when a route has none, and the
OpenAPI document names each operation's rules (``x-tweeling-access``), from which the
permission-matrix test is generated.

Authentication, in order: ``Authorization: Bearer tw_…`` (a personal API token; a bad one
is a 401, never a silent downgrade to anonymous), else the session cookie (writes also need
the session's CSRF token in ``X-CSRF-Token``), else an anonymous visitor. A server bound to
127.0.0.1 for a twin without accounts serves its local user as the operator, as before.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from fastapi.routing import APIRoute

from tweeling.api import resource_support as rs
from tweeling.api.settings import Settings
from tweeling.core import access
from tweeling.core.access import Denied
from tweeling.core.errors import NotFoundError
from tweeling.core.people import ANONYMOUS, Principal, acting_as, local_operator
from tweeling.core.records import RunRecord
from tweeling.services import accounts, audit, permissions, results
from tweeling.services.workspace import Workspace

SESSION_COOKIE = "tweeling_session"  # over plain http on the loopback address only
# over https: the __Host- prefix makes browsers refuse it unless Secure, Path=/ and without
# a Domain, so no other host (a subdomain) can set or overwrite it (ASVS V3.4.4)
SECURE_SESSION_COOKIE = "__Host-tweeling_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def twin(request: Request) -> Workspace:
    """This thread's open workspace of the twin."""
    return request.app.state.twins.get()


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def settings(request: Request) -> Settings:
    return request.app.state.settings


class _ThreadsTwin:
    """The twin's workspace of whichever thread uses it.

    FastAPI may solve a sync dependency in one pool thread and run the endpoint in another;
    a SQLite connection belongs to the thread that opened it. So the dependency hands out
    this proxy, which looks up the calling thread's workspace at every use."""

    __slots__ = ("_twins",)

    def __init__(self, twins):
        self._twins = twins

    def __getattr__(self, name: str):
        return getattr(self._twins.get(), name)


async def _twin_proxy(request: Request) -> Workspace:
    return _ThreadsTwin(request.app.state.twins)  # type: ignore[return-value]


Twin = Annotated[Workspace, Depends(_twin_proxy)]
BaseUrl = Annotated[str, Depends(base_url)]


# ---------------------------------------------------------------------------- who asks


async def principal(request: Request) -> Principal:
    """Who is asking. Also sets the audit log's current principal for this request."""
    found = getattr(request.state, "principal", None)
    if found is not None:
        return found
    p = _authenticate(request)
    request.state.principal = p
    audit.set_current(p)
    return p


def _authenticate(request: Request) -> Principal:
    store = twin(request).store
    app_state = request.app.state
    if app_state.settings.loopback and not store.people.any():
        return local_operator(app_state.operator)
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise Denied("use 'Authorization: Bearer <API token>'", 401)
        token = accounts.resolve_token(store, credentials.strip())
        if token is None:
            raise Denied("the API token is unknown, expired or revoked", 401)
        person, token_id, scope = token
        return acting_as(person, "token", scope=scope, token_id=token_id)
    cookie = session_cookie(request)
    if cookie:
        session = accounts.resolve_session(store, cookie)
        if session is not None:
            person, csrf, via = session
            if request.method not in SAFE_METHODS:
                sent = request.headers.get(CSRF_HEADER, "")
                if not hmac.compare_digest(sent.encode(), csrf.encode()):
                    raise Denied(
                        f"a signed-in browser sends the session's CSRF token in {CSRF_HEADER} "
                        "(from GET /auth/me) with every change",
                        403,
                    )
            return acting_as(person, "oidc" if via == "oidc" else "session")
    return ANONYMOUS


def session_cookie(request: Request) -> str | None:
    return request.cookies.get(SECURE_SESSION_COOKIE) or request.cookies.get(SESSION_COOKIE)


Who = Annotated[Principal, Depends(principal)]


# ---------------------------------------------------------------------------- rules


class Rule:
    """An authorisation rule: a dependency that refuses (401/403) or returns the principal.

    ``name`` appears in the OpenAPI document (``x-tweeling-access``)."""

    def __init__(self, name: str, check: Callable[[Request, Principal], None], summary: str):
        self.name = name
        self.check = check
        self.summary = summary

    async def __call__(self, request: Request, p: Who) -> Principal:
        self.check(request, p)
        return p

    def __repr__(self) -> str:
        return f"Rule({self.name})"


def _nothing(request: Request, p: Principal) -> None:
    return None


def _twin_readable(request: Request, p: Principal) -> None:
    permissions.check_twin(twin(request).store, p)


def _person(request: Request, p: Principal) -> None:
    if p.person is None:
        if p.is_local:
            raise Denied("the local operator has no account; use the CLI ('tweeling user')", 403)
        raise Denied("sign in first", 401)


def _signed_in(request: Request, p: Principal) -> None:
    if not p.signed_in:
        raise Denied("sign in first", 401)


PUBLIC = Rule("public", _nothing, "anyone: holds no data of the twin")
READ = Rule("read", _twin_readable, "whoever may read the twin (visitors if it is public)")
PERSON = Rule("person", _person, "a signed-in person (their own account)")
SIGNED_IN = Rule("signed-in", _signed_in, "a signed-in person or the local operator")
_ROLE_RULES: dict[str, Rule] = {}


def role(action: str) -> Rule:
    """The rule that the person's role grants ``action`` (core.access.ROLE_ACTIONS)."""
    if action not in access.ROLE_ACTIONS:
        raise KeyError(action)
    if action not in _ROLE_RULES:
        roles = ", ".join(sorted(r.value for r in access.ROLE_ACTIONS[action]))

        def check(request: Request, p: Principal, action=action) -> None:
            access.require(p, action)

        _ROLE_RULES[action] = Rule(f"role:{action}", check, f"roles: {roles}")
    return _ROLE_RULES[action]


# ---------------------------------------------------------------------------- resources


async def scenario_query(
    request: Request,
    p: Annotated[Principal, Depends(READ)],
    scenario: Annotated[
        str | None, Query(description="baseline, NAME or NAME@LABEL (default: the baseline)")
    ] = None,
) -> str | None:
    """The ``scenario`` query parameter, checked and readable by the person (None: the
    baseline). A scenario they may not see is a 404, as an unknown one."""
    if scenario is None or scenario == permissions.BASELINE:
        return None
    permissions.readable(twin(request).store, p, rs.ref(scenario))
    return scenario


async def scenario_path(
    request: Request,
    p: Annotated[Principal, Depends(READ)],
    name: Annotated[str, Path(description="baseline, NAME or NAME@LABEL")],
) -> str:
    permissions.readable(twin(request).store, p, rs.ref(name))
    return name


async def editable_scenario(
    request: Request,
    p: Annotated[Principal, Depends(SIGNED_IN)],
    name: Annotated[str, Path(description="NAME")],
) -> str:
    permissions.editable(twin(request).store, p, rs.ref(name))
    return name


async def readable_run(
    request: Request,
    p: Annotated[Principal, Depends(READ)],
    run_id: Annotated[str, Path(max_length=64)],
) -> RunRecord:
    """A model run whose scenario the person may read (else 404, as an unknown run)."""
    store = twin(request).store
    run = results.get_run(store, run_id)
    try:
        permissions.readable(store, p, run.scenario)
    except (Denied, NotFoundError):
        raise NotFoundError(f"no run {run_id!r}") from None
    return run


ScenarioQuery = Annotated[str | None, Depends(scenario_query)]
ScenarioPath = Annotated[str, Depends(scenario_path)]
EditableScenario = Annotated[str, Depends(editable_scenario)]
ReadableRun = Annotated[RunRecord, Depends(readable_run)]


# ---------------------------------------------------------------------------- checks


def rules_of(route: APIRoute) -> list[Rule]:
    """Every Rule in a route's dependency tree."""
    found: list[Rule] = []
    todo = list(route.dependant.dependencies)
    while todo:
        dep = todo.pop()
        if isinstance(dep.call, Rule) and dep.call not in found:
            found.append(dep.call)
        todo.extend(dep.dependencies)
    return found


def route_rules(app) -> dict[tuple[str, str], list[str]]:
    """(METHOD, path) -> the names of its Rules, for every API route of the app.

    FastAPI includes routers lazily: ``app.routes`` holds included routers, not their
    routes; ``iter_route_contexts`` walks them with their full paths. Rules must be
    dependencies of the routes themselves (in the decorator, the signature, or the
    ``APIRouter(dependencies=…)`` they are declared on — not ``include_router(dependencies=…)``,
    which this check does not see, so such a route would be refused, not let through)."""
    from fastapi.routing import iter_route_contexts

    out: dict[tuple[str, str], list[str]] = {}
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if not isinstance(route, APIRoute):
            continue
        names = sorted(r.name for r in rules_of(route))
        # as the OpenAPI document writes paths: {feature_id:path} -> {feature_id}
        path = re.sub(r"\{(\w+):[^}]+\}", r"{\1}", ctx.path or route.path)
        for method in route.methods:
            out[(method, path)] = names
    return out


def check_routes(app) -> None:
    """Refuse to start when a route has no Rule; name each operation's rules in the OpenAPI
    document (``x-tweeling-access``), from which the permission-matrix test is generated."""
    rules = route_rules(app)
    missing = [f"{m} {path}" for (m, path), names in sorted(rules.items()) if not names]
    if missing:
        raise RuntimeError(
            "routes without an authorisation rule (api/deps.py): " + "; ".join(missing)
        )
    plain = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            doc = plain()
            for (method, path), names in rules.items():
                operation = doc.get("paths", {}).get(path, {}).get(method.lower())
                if operation is not None:
                    operation["x-tweeling-access"] = names
        return app.openapi_schema

    app.openapi = openapi
