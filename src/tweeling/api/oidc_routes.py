"""Signing in through an organisation's OpenID Connect provider (``[oidc]`` in twin.toml).

``GET /auth/oidc/login`` sends the browser to the provider (authorization code flow with
``state``, ``nonce`` and PKCE S256; endpoints from the provider's discovery document);
``GET /auth/oidc/callback`` exchanges the code, validates the ID token (signature through
the provider's JWKS, ``iss``, ``aud``, ``exp``, ``nonce``, ``at_hash``), finds the person by
(issuer, subject) or creates one with the configured default role, and starts a session as
a password sign-in does (``via = "oidc"``), then sends the browser to the viewer. Both
answer 404 when the twin has no ``[oidc]``. Built on Authlib's Starlette client.

Choices (docs/people.md, "OpenID Connect"):

* A person is known by (issuer, ``sub``) only. A username or e-mail address the provider
  sends never links to an existing account: that would let whoever controls a name at the
  provider take over an account here.
* A new account's username comes from ``preferred_username``, else ``email``, else
  ``name`` — of an e-mail-like value only the part before the ``@`` (the address itself is
  not shown to others) — made valid (lower case ASCII letters, digits, ``_.-``) and unique
  (``-2``, ``-3``, …). Its display name is the ``name`` claim. Both are set once; an
  administrator changes the role.
* The state of a sign-in in progress (state, nonce, PKCE verifier) travels in a signed,
  HttpOnly cookie for ``/auth/oidc/`` only, SameSite=Lax (the provider's redirect back is a
  cross-site navigation), ``__Secure-`` over https, and valid for 10 minutes; its key is
  ``TWEELING_OIDC_STATE_SECRET`` or, without it, random per server process.
* Errors are problem documents naming the cause, never a token, code or secret: the
  provider refused (403 for ``access_denied``), the state does not match (400), the ID token
  is invalid (401), the provider is unreachable or misconfigured (502).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import unicodedata
from typing import Annotated, Any

from authlib.common.security import is_secure_transport
from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc.errors import JoseError
from starlette.concurrency import run_in_threadpool

from tweeling.api import deps
from tweeling.api.auth_routes import _secure, set_session_cookie
from tweeling.api.settings import OidcSettings
from tweeling.core.errors import AlreadyExists, InputError, NotFoundError
from tweeling.core.people import ANONYMOUS, MAX_DISPLAY_NAME, Person, check_username
from tweeling.services import accounts, audit

try:  # Authlib's HTTP client (httpx2; older installations: httpx)
    import httpx2 as _http
except ImportError:  # pragma: no cover
    import httpx as _http

log = logging.getLogger(__name__)

router = APIRouter(prefix="/auth/oidc", tags=["people"])

CLIENT = "tweeling"  # the name of the client in Authlib's registry (and its state keys)
STATE_COOKIE = "tweeling_oidc"  # without TLS (loopback, or secure_cookies = false)
# over https: browsers accept a __Secure- cookie only from a secure origin, with Secure
SECURE_STATE_COOKIE = "__Secure-tweeling_oidc"
STATE_PATH = "/auth/oidc/"
STATE_MAX_AGE_S = 600
STATE_SECRET_ENV = "TWEELING_OIDC_STATE_SECRET"
# ID token signatures: asymmetric algorithms only (never "none", never HMAC with a key
# the provider would have to share)
ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
ALGORITHMS += ("EdDSA", "Ed25519")
NAME_CLAIMS = ("preferred_username", "email", "name")
_ERROR_CODE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_REFUSED = {
    "access_denied",
    "login_required",
    "consent_required",
    "interaction_required",
    "account_selection_required",
}
_PROVIDER_DOWN = {"server_error", "temporarily_unavailable"}
_NO_STORE = {"Cache-Control": "no-store"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the sign-in's state or the provider's answer is wrong (problem)"},
    401: {"description": "the ID token was refused (problem)"},
    403: {"description": "the provider refused, or the account is disabled (problem)"},
    404: {"description": "OpenID Connect is not configured for this twin (problem)"},
    409: {"description": "the twin has no accounts yet (problem)"},
    502: {"description": "the provider could not be reached or answered wrongly (problem)"},
}

Param = Annotated[str | None, Query(max_length=4096)]


class Failure(Exception):
    """A sign-in that cannot go on; becomes a problem document."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status
        self.detail = detail


_TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    409: "Conflict",
    502: "Bad Gateway",
}


def _problem(failure: Failure) -> Response:
    from tweeling.api.app import problem

    response = problem(failure.status, _TITLES.get(failure.status, "Error"), failure.detail)
    response.headers.update(_NO_STORE)
    return response


# ---------------------------------------------------------------------------- the client


def _settings(request: Request) -> OidcSettings:
    oidc = deps.settings(request).oidc
    if oidc is None:
        raise NotFoundError(
            "OpenID Connect sign-in is not configured for this twin (twin.toml [oidc])"
        )
    return oidc


def _scope(text: str) -> str:
    scopes = text.split()
    return " ".join(scopes if "openid" in scopes else ["openid", *scopes])


def _client(request: Request, cfg: OidcSettings):
    """The Authlib client of this app for these settings (made once, keeps the provider's
    discovery document and keys)."""
    state = request.app.state
    found = getattr(state, "oidc_client", None)
    if found is None or found[0] is not cfg:
        oauth = OAuth()
        client = oauth.register(
            CLIENT,
            client_id=cfg.client_id,
            client_secret=cfg.client_secret,
            server_metadata_url=cfg.metadata_url
            or f"{cfg.issuer}/.well-known/openid-configuration",
            client_kwargs={
                "scope": _scope(cfg.scope),
                "code_challenge_method": "S256",
                "timeout": 10,
            },
        )
        found = state.oidc_client = (cfg, client)
    return found[1]


async def _metadata(client, cfg: OidcSettings) -> dict[str, Any]:
    """The provider's discovery document, checked once: it names the configured issuer
    (OpenID Connect Discovery §4.3), its endpoints use https (or http on loopback), and it
    signs ID tokens with an asymmetric algorithm."""
    try:
        meta = await client.load_server_metadata()
    except (_http.HTTPError, ValueError) as exc:
        raise Failure(
            502,
            f"the identity provider's discovery document could not be read ({type(exc).__name__})",
        ) from None
    if meta.get("_tweeling_checked"):
        return meta
    try:
        issuer = meta.get("issuer")
        if not isinstance(issuer, str) or issuer.rstrip("/") != cfg.issuer:
            raise Failure(
                502,
                f"the identity provider's discovery document names the issuer "
                f"{str(issuer)[:200]!r}, not the configured {cfg.issuer!r}",
            )
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            url = meta.get(key)
            if not isinstance(url, str) or not is_secure_transport(url):
                raise Failure(
                    502,
                    f"the identity provider's discovery document has no https {key}",
                )
        offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
        algorithms = [a for a in offered if a in ALGORITHMS]
        if not algorithms:
            raise Failure(
                502,
                f"the identity provider signs ID tokens with none of {', '.join(ALGORITHMS)}",
            )
    except Failure:
        client.server_metadata.clear()  # read it again next time (the provider may be fixed)
        raise
    meta["id_token_signing_alg_values_supported"] = algorithms
    meta["_tweeling_checked"] = True
    return meta


# ---------------------------------------------------------------------------- state cookie


def _serializer(request: Request) -> URLSafeTimedSerializer:
    state = request.app.state
    secret = getattr(state, "oidc_state_secret", None)
    if secret is None:
        secret = state.oidc_state_secret = os.environ.get(
            STATE_SECRET_ENV
        ) or secrets.token_urlsafe(32)
    return URLSafeTimedSerializer(secret, salt="tweeling.oidc.state")


def _state_cookie(secure: bool) -> str:
    return SECURE_STATE_COOKIE if secure else STATE_COOKIE


def _read_state(request: Request, secure: bool) -> dict[str, Any] | None:
    text = request.cookies.get(_state_cookie(secure))
    if not text or len(text) > 4096:
        return None
    try:
        data = _serializer(request).loads(text, max_age=STATE_MAX_AGE_S)
    except BadSignature:  # also expired (SignatureExpired)
        return None
    return data if isinstance(data, dict) else None


def _write_state(request: Request, response: Response, data: dict, secure: bool) -> None:
    response.set_cookie(
        _state_cookie(secure),
        _serializer(request).dumps(data),
        max_age=STATE_MAX_AGE_S,
        path=STATE_PATH,
        httponly=True,
        samesite="lax",  # sent on the provider's (cross-site) redirect back; never on POSTs
        secure=secure,
    )


def _clear_state(response: Response, secure: bool) -> None:
    response.delete_cookie(
        _state_cookie(secure), path=STATE_PATH, secure=secure, httponly=True, samesite="lax"
    )


# ---------------------------------------------------------------------------- routes


@router.get(
    "/login",
    summary="Sign in with the organisation's OpenID Connect provider (redirects to it)",
    status_code=302,
    dependencies=[Depends(deps.PUBLIC)],
    responses={302: {"description": "to the provider's authorization endpoint"}, **_ERRORS},
)
async def login(request: Request) -> Response:
    cfg = _settings(request)
    secure = _secure(request)  # plain http off loopback: refused before leaving for the provider
    try:
        await run_in_threadpool(_check_accounts, request)
        client = _client(request, cfg)
        await _metadata(client, cfg)
        request.scope["session"] = {}  # Authlib keeps the sign-in's state here
        callback = f"{deps.base_url(request)}/auth/oidc/callback"
        response = await client.authorize_redirect(request, callback)
    except Failure as failure:
        return _problem(failure)
    except (_http.HTTPError, OAuthError, ValueError) as exc:
        return _problem(
            Failure(502, f"the identity provider could not be used ({type(exc).__name__})")
        )
    _write_state(request, response, request.scope["session"], secure)
    response.headers.update(_NO_STORE)
    return response


@router.get(
    "/callback",
    summary="Where the OpenID Connect provider sends the browser back: starts the session",
    status_code=303,
    dependencies=[Depends(deps.PUBLIC)],
    responses={303: {"description": "signed in: to the viewer, with the cookie"}, **_ERRORS},
)
async def callback(
    request: Request,
    code: Param = None,
    state: Param = None,
    error: Param = None,
    error_description: Param = None,
    iss: Param = None,
) -> Response:
    cfg = _settings(request)
    secure = _secure(request)  # plain http off loopback: refused (the cookies need TLS)
    try:
        pending = _read_state(request, secure)
        person, session = await _complete(
            request, cfg, pending, code, state, error, error_description, iss
        )
    except Failure as failure:
        response = _problem(failure)
        _clear_state(response, secure)  # one attempt per sign-in: start again
        return response
    response = RedirectResponse(f"{deps.base_url(request)}/viewer/", status_code=303)
    set_session_cookie(request, response, session)
    _clear_state(response, secure)
    response.headers.update(_NO_STORE)
    log.info("%s signed in through OpenID Connect", person.username)
    return response


async def _complete(
    request: Request,
    cfg: OidcSettings,
    pending: dict[str, Any] | None,
    code: str | None,
    state: str | None,
    error: str | None,
    error_description: str | None,
    iss: str | None,
):
    # Authlib keeps a sign-in's data under this key of the (cookie) session
    started_here = bool(state) and pending is not None and f"_state_{CLIENT}_{state}" in pending
    if error is not None:
        raise _provider_error(error, error_description if started_here else None)
    if not started_here:
        raise Failure(
            400,
            "this sign-in does not match one started in this browser (its state): it was "
            f"started elsewhere, took longer than {STATE_MAX_AGE_S // 60} minutes or was "
            "used already; start again at /auth/oidc/login",
        )
    if not code:
        raise Failure(400, "the identity provider sent no authorization code")
    client = _client(request, cfg)
    meta = await _metadata(client, cfg)
    # RFC 9207: the authorization response names its issuer (a mix-up defence)
    if iss is not None and iss != meta["issuer"]:
        raise Failure(400, "the authorization response comes from another issuer (iss)")
    if iss is None and meta.get("authorization_response_iss_parameter_supported") is True:
        raise Failure(400, "the authorization response lacks the issuer (iss) it promises")
    request.scope["session"] = pending
    try:
        token = await client.authorize_access_token(
            request,
            claims_options={
                "iss": {"essential": True, "value": meta["issuer"]},
                "aud": {"essential": True, "value": cfg.client_id},
                "sub": {"essential": True},
            },
        )
    except JoseError as exc:
        raise Failure(401, f"the identity provider's ID token was refused: {_why(exc)}") from None
    except OAuthError as exc:
        raise _token_error(exc) from None
    except _http.HTTPError as exc:
        raise Failure(
            502, f"the identity provider's token endpoint failed ({type(exc).__name__})"
        ) from None
    except (ValueError, TypeError, KeyError) as exc:
        raise Failure(
            502, f"the identity provider's answer could not be read ({type(exc).__name__})"
        ) from None
    claims = token.get("userinfo")
    if not claims:
        raise Failure(502, "the identity provider answered without an ID token")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not 1 <= len(subject) <= 255:
        raise Failure(401, "the ID token's subject (sub) is missing or too long")
    profile = {k: claims[k] for k in (*NAME_CLAIMS, "given_name", "family_name") if k in claims}
    if not any(profile.get(k) for k in NAME_CLAIMS) and meta.get("userinfo_endpoint"):
        profile.update(await _userinfo(client, token, subject))
    return await run_in_threadpool(_sign_in, request, cfg, subject, profile)


async def _userinfo(client, token: dict, subject: str) -> dict[str, Any]:
    """Naming claims from the UserInfo endpoint, when the ID token has none (providers
    differ in what they put in it). Only for a name: the person is the ID token's."""
    try:
        info = await client.userinfo(token=token)
    except (_http.HTTPError, OAuthError, ValueError) as exc:
        log.warning("OpenID Connect userinfo failed: %s", type(exc).__name__)
        return {}
    if info.get("sub") != subject:  # OpenID Connect Core §5.3.4
        log.warning("OpenID Connect userinfo is about another subject: ignored")
        return {}
    return {k: info[k] for k in (*NAME_CLAIMS, "given_name", "family_name") if k in info}


def _why(exc: JoseError) -> str:
    """What is wrong with an ID token, in words (claim names, never values)."""
    if exc.error == "bad_signature":
        return "its signature does not match the provider's published keys (JWKS)"
    if exc.error == "invalid_key_id":
        return "it is signed with a key the provider does not publish (kid)"
    return _clean(exc.description or exc.error or type(exc).__name__, 200)


def _provider_error(error: str, description: str | None) -> Failure:
    code = error if _ERROR_CODE.fullmatch(error) else "an unknown error"
    detail = f"the identity provider did not sign you in ({code})"
    if description:  # only for a sign-in this browser started: not a text anyone can link
        detail += f": {_clean(description, 200)}"
    if code in _REFUSED:
        return Failure(403, detail)
    if code in _PROVIDER_DOWN:
        return Failure(502, detail)
    return Failure(400, detail)


def _token_error(exc: OAuthError) -> Failure:
    code = exc.error if isinstance(exc.error, str) and _ERROR_CODE.fullmatch(exc.error) else ""
    if code == "mismatching_state":
        return Failure(400, "this sign-in's state does not match: start again")
    if code == "invalid_grant":
        return Failure(
            400,
            "the identity provider refused the authorization code (invalid_grant): it "
            "expired or was used already; sign in again",
        )
    return Failure(
        502, f"the identity provider refused to issue tokens ({code or 'no reason given'})"
    )


# ---------------------------------------------------------------------------- accounts


def _check_accounts(request: Request) -> None:
    if not deps.twin(request).store.people.any():
        raise Failure(
            409,
            "this twin has no accounts yet (its server serves the local user as operator): "
            "add an administrator first ('tweeling user add NAME --role administrator')",
        )


def _sign_in(request: Request, cfg: OidcSettings, subject: str, profile: dict[str, Any]):
    """(person, new session) for the provider's subject; creates the account at the first
    sign-in. A disabled account is refused."""
    _check_accounts(request)
    store = deps.twin(request).store
    person = store.people.by_oidc(cfg.issuer, subject)
    if person is None:
        person = _create(store, cfg, subject, profile)
    if person.disabled:
        raise Failure(
            403, f"the account {person.username!r} is disabled in this twin; ask its administrator"
        )
    return person, accounts.start_session(store, person, via="oidc")


def _create(store, cfg: OidcSettings, subject: str, profile: dict[str, Any]) -> Person:
    base = username_from(profile)
    display = display_name_from(profile)
    for attempt in range(40):
        name = _candidate(base, attempt)
        try:
            store.people.by_name(name)
            continue  # taken
        except NotFoundError:
            pass
        try:
            # nobody is signed in yet: the entry is the provider's word, the login follows
            with audit.acting(ANONYMOUS):
                person, _ = accounts.add_person(
                    store, name, cfg.default_role, display_name=display, oidc=(cfg.issuer, subject)
                )
            return person
        except AlreadyExists as exc:
            if exc.field != "oidc":
                continue  # the name was taken meanwhile
            found = store.people.by_oidc(cfg.issuer, subject)  # a sign-in in parallel
            if found is not None:
                return found
            raise
        except InputError:
            continue  # a name this account cannot have: the next candidate
    raise Failure(409, "no free username could be made for this account")


def _candidate(base: str, attempt: int) -> str:
    if attempt == 0:
        return base
    suffix = f"-{attempt + 1}" if attempt < 20 else f"-{secrets.token_hex(3)}"
    return base[: 64 - len(suffix)].rstrip("_.@-") + suffix


# letters that Unicode does not decompose into ASCII ones
_LETTERS = str.maketrans(
    {"ß": "ss", "æ": "ae", "Æ": "ae", "ø": "o", "Ø": "o", "œ": "oe", "Œ": "oe", "ł": "l",
     "Ł": "l", "đ": "d", "Đ": "d", "þ": "th", "Þ": "th", "ð": "d", "Ð": "d", "ı": "i"}
)  # fmt: skip


def _slug(text: str) -> str:
    ascii_text = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    ascii_text = ascii_text.encode("ascii", "ignore").decode()
    name = re.sub(r"\s+", ".", ascii_text.strip().lower())
    name = re.sub(r"[^a-z0-9_.@-]+", "-", name)
    name = re.sub(r"([_.@-])[_.@-]+", r"\1", name)  # no runs of separators
    name = name.strip("_.@-")[:64].rstrip("_.@-")
    return name


def username_from(claims: dict[str, Any]) -> str:
    """A valid username (core.people.check_username) from the provider's claims:
    ``preferred_username``, else ``email``, else ``name``; of an e-mail-like value only the
    part before the ``@``. Not yet unique (see :func:`_create`)."""
    for key in NAME_CLAIMS:
        value = claims.get(key)
        if not isinstance(value, str) or not value.strip():
            continue
        text = value.strip()
        if key != "name" and "@" in text:
            text = text.split("@", 1)[0]
        name = _slug(text)
        if len(name) >= 2:
            return check_username(name)
    return "user"


def display_name_from(claims: dict[str, Any]) -> str:
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = [claims.get("given_name"), claims.get("family_name")]
        name = " ".join(p.strip() for p in parts if isinstance(p, str) and p.strip())
    return _clean(name or "", MAX_DISPLAY_NAME)


def _clean(text: str, limit: int) -> str:
    """Printable text only, at most ``limit`` characters."""
    return "".join(c for c in text if c.isprintable()).strip()[:limit].strip()
