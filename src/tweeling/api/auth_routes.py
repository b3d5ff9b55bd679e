"""Signing in and one's own account: password sign-in with a session cookie, sign-out,
who am I (with the CSRF token a browser sends with its changes), personal API tokens and
notifications. Thin over :mod:`tweeling.services.accounts`; see docs/people.md.

The session cookie is HttpOnly, SameSite=Strict and Secure (except over plain http on the
loopback address, where browsers accept it without). A sign-in from a web page of another
origin is refused (login CSRF).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from tweeling.api import deps
from tweeling.api import resource_support as rs
from tweeling.api.settings import is_loopback
from tweeling.core import access
from tweeling.core.access import Denied
from tweeling.core.errors import InputError
from tweeling.core.people import MAX_PASSWORD, Person, Principal
from tweeling.services import accounts

router = APIRouter(prefix="/auth", tags=["people"])
PersonOnly = Annotated[Principal, Depends(deps.PERSON)]


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=64)
    password: str = Field(max_length=MAX_PASSWORD)


class NewPassword(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current: str = Field(max_length=MAX_PASSWORD)
    new: str = Field(max_length=MAX_PASSWORD)


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=100, description="what the token is for (e.g. QGIS)")
    scope: str = Field("read", description="read (GET only) or write")
    days: int = Field(accounts.TOKEN_DEFAULT_DAYS, ge=1, le=accounts.TOKEN_MAX_DAYS)


def person_json(person: Person) -> dict[str, Any]:
    return {
        "username": person.username,
        "display_name": person.display_name,
        "role": person.role.value,
        "disabled": person.disabled,
        "created": person.created_at,
        "sign_in": "openid-connect" if person.oidc_subject else "password",
    }


def _same_origin(request: Request) -> None:
    """A browser's sign-in must come from this server's own pages (or an allowed origin)."""
    origin = request.headers.get("origin")
    if origin is None:
        return  # not a browser (curl, scripts): nothing to forge
    own = f"{request.url.scheme}://{request.headers.get('host', '')}"
    if origin != own and origin not in deps.settings(request).cors_origins:
        raise Denied("sign in from this server's own pages", 403)


def _secure(request: Request) -> bool:
    """Whether the cookie gets the Secure flag; plain http is accepted on loopback only."""
    if not deps.settings(request).secure_cookies:
        return False
    if request.url.scheme == "https":
        return True
    host = (request.url.hostname or "").lower()
    if is_loopback(host):
        return False  # http://127.0.0.1: no TLS to require, and no one else on the wire
    raise InputError(
        "sign-in over plain http is refused: serve the twin over https (or set "
        "secure_cookies = false in twin.toml [server] on a trusted network)"
    )


def set_session_cookie(request: Request, response: Response, session) -> None:
    secure = _secure(request)
    response.set_cookie(
        deps.SECURE_SESSION_COOKIE if secure else deps.SESSION_COOKIE,
        session.secret,
        max_age=accounts.SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=secure,
        path="/",
    )


@router.post(
    "/login",
    summary="Sign in with a username and password: sets the session cookie",
    dependencies=[Depends(deps.PUBLIC)],
    responses={**rs.ERRORS, 401: {"description": "wrong username or password"}, 429: {}},
)
def login(request: Request, ws: deps.Twin, body: Annotated[SignIn, Body()]) -> Response:
    _same_origin(request)
    _secure(request)  # refuse plain http before a password is checked
    client = request.client.host if request.client else ""
    try:
        person = accounts.authenticate(ws.store, body.username, body.password, client=client)
    except accounts.SignInFailed as exc:
        raise Denied(str(exc), 401) from None
    session = accounts.start_session(ws.store, person)
    response = rs.reply({"person": person_json(person), "csrf_token": session.csrf})
    set_session_cookie(request, response, session)
    return response


@router.post(
    "/logout",
    summary="Sign out: ends the session",
    status_code=204,
    dependencies=[Depends(deps.PUBLIC)],
)
def logout(request: Request, ws: deps.Twin, p: deps.Who) -> Response:
    cookie = deps.session_cookie(request)
    if cookie:
        accounts.end_session(ws.store, cookie, p.person)
    response = Response(status_code=204)
    response.delete_cookie(deps.SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    response.delete_cookie(
        deps.SECURE_SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=True
    )
    return response


@router.put(
    "/password",
    summary="Change your password (the current one is needed); signs you out everywhere",
    status_code=204,
    responses=rs.ERRORS,
)
def change_password(p: PersonOnly, ws: deps.Twin, body: Annotated[NewPassword, Body()]) -> Response:
    if p.via not in ("session", "oidc"):
        raise Denied("change your password from a signed-in browser", 403)
    accounts.change_own_password(ws.store, p.person, body.current, body.new)
    response = Response(status_code=204)
    response.delete_cookie(deps.SESSION_COOKIE, path="/")
    response.delete_cookie(deps.SECURE_SESSION_COOKIE, path="/", secure=True)
    return response


@router.get(
    "/me",
    summary="Who is asking: person, role, what they may do, the session's CSRF token",
    dependencies=[Depends(deps.PUBLIC)],
)
def me(request: Request, ws: deps.Twin, p: deps.Who) -> Response:
    csrf = None
    if p.via in ("session", "oidc"):
        found = accounts.resolve_session(ws.store, deps.session_cookie(request) or "")
        csrf = found[1] if found else None
    public = accounts.twin_public(ws.store)
    oidc = deps.settings(request).oidc
    return rs.reply(
        {
            "signed_in": p.signed_in,
            "via": p.via,
            "person": None if p.person is None else person_json(p.person),
            "name": p.label,
            "role": None if p.role is None else p.role.value,
            "scope": p.scope,
            "csrf_token": csrf,
            "twin_public": public,
            "can_read": access.can_read_twin(p, public),
            "may": sorted(a for a in access.ROLE_ACTIONS if access.may(p, a)),
            "sign_in": {
                "password": True,
                "oidc": None
                if oidc is None
                else {"title": oidc.title, "href": f"{deps.base_url(request)}/auth/oidc/login"},
            },
        },
        headers={"Cache-Control": "no-store"},
    )


def _token_json(t) -> dict[str, Any]:
    return {
        "id": t.id,
        "name": t.name,
        "scope": t.scope,
        "created": t.created_at,
        "expires": t.expires_at,
        "revoked": t.revoked_at,
        "last_used": t.used_at,
    }


@router.get("/tokens", summary="Your personal API tokens (never their secrets)")
def list_tokens(ws: deps.Twin, p: PersonOnly) -> Response:
    return rs.reply({"tokens": [_token_json(t) for t in ws.store.people.tokens(p.person_id)]})


@router.post(
    "/tokens",
    summary="Create a personal API token: its secret is shown once, in this answer",
    status_code=201,
    responses=rs.ERRORS,
)
def create_token(ws: deps.Twin, p: PersonOnly, body: Annotated[NewToken, Body()]) -> Response:
    if p.via == "token":
        raise Denied("create tokens from a signed-in browser or the CLI, not with a token", 403)
    t = accounts.create_token(ws.store, p.person, body.name, scope=body.scope, days=body.days)
    return rs.reply(
        {
            "id": t.id,
            "name": t.name,
            "scope": t.scope,
            "expires": t.expires_at,
            "token": t.secret,
            "use": "Authorization: Bearer <token>",
        },
        201,
        {"Cache-Control": "no-store"},
    )


@router.delete("/tokens/{token_id}", summary="Revoke one of your tokens", status_code=204)
def revoke_token(
    ws: deps.Twin, p: PersonOnly, token_id: Annotated[int, Path(ge=1, le=2**62)]
) -> Response:
    access.require_write(p)
    accounts.revoke_token(ws.store, token_id, by=p.person)
    return Response(status_code=204)


@router.get("/notifications", summary="Messages to you (a hidden comment's reason, …)")
def notifications(ws: deps.Twin, p: PersonOnly) -> Response:
    items = ws.store.rounds.notifications(p.person_id)
    return rs.reply(
        {"notifications": items, "unread": sum(1 for n in items if n["read_at"] is None)},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/notifications/read", summary="Mark your notifications read", status_code=204)
def notifications_read(ws: deps.Twin, p: PersonOnly) -> Response:
    from tweeling.core.timeaxis import to_text, utc_now

    access.require_write(p)
    ws.store.rounds.mark_read(p.person_id, to_text(utc_now()))
    return Response(status_code=204)
