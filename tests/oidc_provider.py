"""A small OpenID Provider for the tests, built on Authlib's server side and served by
uvicorn on a free port of 127.0.0.1 (no internet, no containers).

What it implements, per the specifications:

* OpenID Connect Discovery 1.0: ``/.well-known/openid-configuration`` (checked with
  Authlib's ``OpenIDProviderMetadata.validate()``) and the JWKS at ``/jwks``;
* the authorization code grant (RFC 6749 §4.1) with PKCE, S256 only and required for every
  client (RFC 7636, as RFC 9700 recommends), client authentication with
  ``client_secret_basic`` or ``client_secret_post``;
* OpenID Connect Core's code flow: RS256-signed ID tokens with ``iss``, ``aud``, ``exp``,
  ``iat``, ``auth_time``, ``nonce`` and ``at_hash``; the UserInfo endpoint (bearer token);
* the ``iss`` authorization response parameter (RFC 9207);
* a login step that auto-approves the configured test user (``login_as``) and keeps a
  provider session in a cookie, as a real provider's single sign-on would.

Knobs for the tests (plain attributes, changed between requests): ``login_as``, ``deny``
(the user refuses: ``error=access_denied``), ``tamper`` (claims overriding the ID token's,
e.g. another ``aud`` or ``iss``), ``rogue`` (sign with a key not in the JWKS: under the
published ``kid``, "signature", or under another, "kid") and ``profile_in_id_token``
(False: profile and e-mail claims only at the UserInfo endpoint). Everything it issued is
kept in ``issued`` so tests can check that none of it leaks into an error message.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson
import uvicorn
from authlib.oauth2 import AuthorizationServer, OAuth2Error, OAuth2Request, ResourceProtector
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidRequestError,
    TokenMixin,
    grants,
)
from authlib.oauth2.rfc6749.requests import OAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9207 import AuthorizationServerMetadata as IssMetadata
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CODE_LIFETIME_S = 600
SESSION_COOKIE = "op_session"
FORM = "application/x-www-form-urlencoded"
CLAIMS = ("sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "at_hash")
CLAIMS += ("preferred_username", "name", "email", "email_verified")


# ---------------------------------------------------------------------------- models


@dataclass
class User:
    username: str
    sub: str
    name: str = ""
    email: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # more claims, as the test wishes

    def claims(self, scope: str) -> UserInfo:
        scopes = scope.split()
        info = UserInfo(sub=self.sub)
        if "profile" in scopes:
            info["preferred_username"] = self.username
            if self.name:
                info["name"] = self.name
        if "email" in scopes and self.email:
            info["email"] = self.email
            info["email_verified"] = True
        info.update(self.extra)
        return info


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str] = field(default_factory=list)
    scope: str = "openid profile email"
    client_metadata: dict[str, Any] = field(default_factory=dict)

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = set(self.scope.split())
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris  # exact match (RFC 9700 §2.1)

    def check_client_secret(self, client_secret: str) -> bool:
        return hmac.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class Code(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: User
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class Token(TokenMixin):
    access_token: str
    client: Client
    user: User
    scope: str
    expires_at: float

    def check_client(self, client) -> bool:
        return client.client_id == self.client.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int(self.expires_at - time.time())

    def is_expired(self) -> bool:
        return time.time() >= self.expires_at

    def is_revoked(self) -> bool:
        return False

    def get_user(self) -> User:
        return self.user

    def get_client(self) -> Client:
        return self.client


# ---------------------------------------------------------------------------- Authlib glue


class _Payload(OAuth2Payload):
    def __init__(self, items: list[tuple[str, str]]):
        self._data: dict[str, str] = {}
        self._datalist: dict[str, list[str]] = {}
        for key, value in items:
            self._data.setdefault(key, value)
            self._datalist.setdefault(key, []).append(value)

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class StarletteOAuth2Request(OAuth2Request):
    """An OAuth2Request from a Starlette request whose form was already read."""

    def __init__(self, request: Request, form: list[tuple[str, str]]):
        super().__init__(request.method, str(request.url), headers=request.headers)
        query = list(request.query_params.multi_items())
        self._args = dict(query)
        self._form = dict(form)
        self.payload = _Payload(query + form)

    @property
    def args(self) -> dict[str, str]:
        return self._args

    @property
    def form(self) -> dict[str, str]:
        return self._form


@dataclass
class Reply:
    """What Authlib's ``handle_response`` returns here; ``location`` for RFC 9207."""

    status: int
    body: Any
    headers: list[tuple[str, str]]

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)

    @location.setter
    def location(self, value: str) -> None:
        self.headers = [(k, v) for k, v in self.headers if k.lower() != "location"]
        self.headers.append(("Location", value))

    def response(self) -> Response:
        body = self.body
        if isinstance(body, dict):
            body = orjson.dumps(body)
        return Response(body or b"", status_code=self.status, headers=dict(self.headers))


class Server(AuthorizationServer):
    def __init__(self, provider: OpenIDProvider):
        super().__init__(scopes_supported=["openid", "profile", "email"])
        self.provider = provider
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                lambda *a, **k: provider.new_secret("access_token"),
                expires_generator=lambda client, grant_type: 3600,
            ),
        )

    def query_client(self, client_id: str) -> Client | None:
        return self.provider.clients.get(client_id)

    def save_token(self, token: dict, request: OAuth2Request) -> None:
        self.provider.tokens[token["access_token"]] = Token(
            token["access_token"],
            request.client,
            request.user,
            token.get("scope", ""),
            time.time() + int(token.get("expires_in", 3600)),
        )

    def create_oauth2_request(self, request) -> OAuth2Request:
        assert isinstance(request, OAuth2Request)  # built by the endpoint (form read async)
        return request

    def create_json_request(self, request):
        raise NotImplementedError

    def handle_response(self, status, body, headers) -> Reply:
        return Reply(status, body, list(headers))

    def send_signal(self, name, *args, **kwargs) -> None:
        pass


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ("client_secret_basic", "client_secret_post")

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.provider.codes[code] = Code(
            code=code,
            client_id=request.client.client_id,
            redirect_uri=data.get("redirect_uri", ""),
            scope=request.scope,
            user=request.user,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=int(time.time()),
            expires_at=time.time() + CODE_LIFETIME_S,
        )
        self.server.provider.issued.append(code)

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        found = self.server.provider.codes.get(code)
        if found and found.client_id == client.client_id and time.time() < found.expires_at:
            return found
        return None

    def delete_authorization_code(self, authorization_code: Code) -> None:
        self.server.provider.codes.pop(authorization_code.code, None)  # used once

    def authenticate_user(self, authorization_code: Code) -> User:
        return authorization_code.user


class S256Required(CodeChallenge):
    """PKCE for every client, S256 only."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ("S256",)

    def validate_code_challenge(self, grant, redirect_uri):
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send a code_challenge")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        return super().validate_code_challenge(grant, redirect_uri)


class IdTokens(OpenIDCode):
    def __init__(self, provider: OpenIDProvider):
        super().__init__(require_nonce=True)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
        return any(c.nonce == nonce for c in self.provider.codes.values())

    def resolve_client_private_key(self, client: Client) -> RSAKey:
        return self.provider.rogue_key if self.provider.rogue else self.provider.key

    def get_client_algorithm(self, client: Client) -> str:
        return "RS256"

    def get_encode_header(self, client: Client) -> dict[str, str]:
        kid = "unpublished" if self.provider.rogue == "kid" else self.provider.key.kid
        return {"alg": "RS256", "kid": kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        now = int(time.time())
        return {"iss": self.provider.issuer, "aud": [client.client_id], "iat": now}

    def generate_user_info(self, user: User, scope: str) -> UserInfo:
        # applied last when Authlib builds the ID token: the tests' tampering goes here
        info = user.claims(scope)
        if not self.provider.profile_in_id_token:
            info = UserInfo(sub=user.sub)
        info.update(self.provider.tamper)
        return info

    def encode_id_token(self, token, request):
        id_token = super().encode_id_token(token, request)
        self.provider.issued.append(id_token)
        return id_token


class Issuer(IssuerParameter):
    def __init__(self, provider: OpenIDProvider):
        self.provider = provider

    def get_issuer(self) -> str:
        return self.provider.issuer


class Bearer(BearerTokenValidator):
    def __init__(self, provider: OpenIDProvider):
        super().__init__()
        self.provider = provider

    def authenticate_token(self, token_string: str) -> Token | None:
        return self.provider.tokens.get(token_string)


# ---------------------------------------------------------------------------- provider


class OpenIDProvider:
    def __init__(self, issuer: str):
        self.issuer = issuer.rstrip("/")
        self.key = RSAKey.generate_key(
            2048, parameters={"kid": secrets.token_hex(4), "use": "sig", "alg": "RS256"}
        )
        self.rogue_key = RSAKey.generate_key(2048)  # published nowhere
        self.users: dict[str, User] = {}
        self.clients: dict[str, Client] = {}
        self.codes: dict[str, Code] = {}
        self.tokens: dict[str, Token] = {}
        self.sessions: dict[str, str] = {}  # provider session cookie -> username
        self.issued: list[str] = []  # codes, access tokens, ID tokens handed out
        self.authorize_requests: list[dict[str, str]] = []
        self.reset()
        self.server = Server(self)
        self.server.register_grant(CodeGrant, [S256Required(required=True), IdTokens(self)])
        self.server.register_extension(Issuer(self))
        self.protector = ResourceProtector()
        self.protector.register_token_validator(Bearer(self))
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/jwks", self.jwks),
                Route("/authorize", self.authorize),
                Route("/login", self.login),
                Route("/token", self.token, methods=["POST"]),
                Route("/userinfo", self.userinfo, methods=["GET", "POST"]),
            ]
        )

    def reset(self) -> None:
        """The knobs back to an ordinary, well-behaved provider."""
        self.login_as: str | None = None
        self.deny = False
        self.tamper: dict[str, Any] = {}
        self.rogue: str | None = None  # "signature" (same kid) or "kid" (another kid)
        self.profile_in_id_token = True

    def new_secret(self, what: str) -> str:
        value = secrets.token_urlsafe(32)
        self.issued.append(value)
        return value

    def add_user(self, username: str, **kwargs: Any) -> User:
        user = User(username=username, sub=kwargs.pop("sub", secrets.token_hex(8)), **kwargs)
        self.users[username] = user
        return user

    def add_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> Client:
        client = Client(client_id, client_secret, list(redirect_uris))
        self.clients[client_id] = client
        return client

    # ------------------------------------------------------------------ endpoints

    def metadata(self) -> dict[str, Any]:
        meta = OpenIDProviderMetadata(
            issuer=self.issuer,
            authorization_endpoint=f"{self.issuer}/authorize",
            token_endpoint=f"{self.issuer}/token",
            userinfo_endpoint=f"{self.issuer}/userinfo",
            jwks_uri=f"{self.issuer}/jwks",
            scopes_supported=["openid", "profile", "email"],
            response_types_supported=["code"],
            response_modes_supported=["query"],
            grant_types_supported=["authorization_code"],
            subject_types_supported=["public"],
            id_token_signing_alg_values_supported=["RS256"],
            token_endpoint_auth_methods_supported=["client_secret_basic", "client_secret_post"],
            code_challenge_methods_supported=["S256"],
            claims_supported=list(CLAIMS),
            authorization_response_iss_parameter_supported=True,
        )
        meta.validate(metadata_classes=[IssMetadata])
        return dict(meta)

    async def discovery(self, request: Request) -> Response:
        return JSONResponse(self.metadata())

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(KeySet([self.key]).as_dict(private=False))

    async def login(self, request: Request) -> Response:
        """The login page, auto-approving: signs ``login_as`` in and goes back."""
        back = request.query_params.get("return_to", "")
        if not back.startswith("/authorize?"):
            return JSONResponse({"error": "bad return_to"}, status_code=400)
        if self.login_as not in self.users:
            return JSONResponse({"error": "no test user to sign in"}, status_code=401)
        sid = secrets.token_urlsafe(16)
        self.sessions[sid] = self.login_as
        response = RedirectResponse(back, status_code=302)
        response.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="lax", path="/")
        return response

    async def authorize(self, request: Request) -> Response:
        req = StarletteOAuth2Request(request, [])
        self.authorize_requests.append(dict(req.payload.data))
        username = self.sessions.get(request.cookies.get(SESSION_COOKIE, ""))
        user = self.users.get(username or "")
        if user is None and not self.deny:
            query = urlencode({"return_to": f"/authorize?{request.url.query}"})
            return RedirectResponse(f"/login?{query}", status_code=302)
        try:
            grant = self.server.get_consent_grant(req, end_user=user)
        except OAuth2Error as error:
            return self.server.handle_error_response(req, error).response()
        granted = None if self.deny else user
        reply = self.server.create_authorization_response(req, grant_user=granted, grant=grant)
        return reply.response()

    async def token(self, request: Request) -> Response:
        # RFC 6749 §4.1.3: application/x-www-form-urlencoded (no multipart parser needed)
        if request.headers.get("content-type", "").split(";")[0].strip() != FORM:
            return JSONResponse({"error": "invalid_request"}, status_code=400)
        items = parse_qsl((await request.body()).decode(), keep_blank_values=True)
        reply = self.server.create_token_response(StarletteOAuth2Request(request, items))
        return reply.response()

    async def userinfo(self, request: Request) -> Response:
        req = StarletteOAuth2Request(request, [])
        try:
            token = self.protector.validate_request(["openid"], req)
        except OAuth2Error as error:
            status, body, headers = error()
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return JSONResponse(dict(token.user.claims(token.scope)))


# ---------------------------------------------------------------------------- serving


def free_socket() -> socket.socket:
    """A listening-ready socket on a free port of 127.0.0.1."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def serve(app, sock: socket.socket) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a thread on ``sock``; yields its base URL."""
    config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    host, port = sock.getsockname()[:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
