"""Accounts as use cases: people and roles, signing in (passwords and throttling), browser
sessions and personal API tokens. Every change is written to the audit log.

* Passwords: Argon2id (argon2-cffi's defaults, RFC 9106's second recommended profile);
  hashes made with older parameters are upgraded at the next sign-in.
* Sessions: a 256-bit random secret in an HttpOnly cookie, stored as its SHA-256; a CSRF
  token per session; they end after 12 hours, or 2 hours without use.
* Tokens: ``tw_<id>_<secret>``, shown once, stored as SHA-256 of the secret, scope read or
  write, expiring (at most a year), revocable.
* Throttling: after 5 failed sign-ins for a username within 15 minutes, or 20 from one
  client, further attempts wait (429 with Retry-After), doubling per failure up to 15
  minutes (OWASP ASVS V2.2.1). A correct password does not get through a lock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from tweeling.core.errors import InputError, NotFoundError, Throttled, TweelingError
from tweeling.core.people import (
    MAX_PASSWORD,
    Person,
    Role,
    check_display_name,
    check_password,
    check_role,
    check_username,
)
from tweeling.core.timeaxis import from_text, to_text, utc_now
from tweeling.services import audit

SIGN_IN_METHODS = {"password": "password", "oidc": "openid-connect"}  # as the log names them
SESSION_HOURS = 12
SESSION_IDLE_HOURS = 2
TOUCH_AFTER_S = 300  # a session's last use is written at most this often
TOKEN_DEFAULT_DAYS = 90
TOKEN_MAX_DAYS = 366
SCOPES = ("read", "write")
FAILURE_WINDOW_S = 15 * 60
USER_FAILURES = 5
CLIENT_FAILURES = 20
MAX_LOCK_S = 15 * 60

# Argon2id with argon2-cffi's defaults: RFC 9106's second recommended option (t=3, m=64 MiB,
# p=4), above OWASP's minimum (m=19 MiB, t=2). Tests lower the cost of ``_hasher`` in their
# own process; ``HASHER`` stays what every twin uses.
HASHER = PasswordHasher()
_hasher = HASHER
# A hash of a random password: verifying against it when the username is unknown takes as
# long as for a known one, so timing does not tell which usernames exist (ASVS V2.2.1).
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))


class SignInFailed(TweelingError):
    """Wrong username or password, or a disabled account (one message for all: no hints)."""


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


MIN_STRENGTH = 3  # zxcvbn score: at least 10^8 guesses ("safely unguessable" offline)


def new_password() -> str:
    """A generated password (20 URL-safe characters, about 120 bits)."""
    return secrets.token_urlsafe(15)


def checked_password(password: object, username: str, display_name: str = "") -> str:
    """A new password: 12-128 characters (core.people.check_password) and not guessable —
    zxcvbn's estimate (its dictionaries hold the most common leaked passwords, names and
    words; OWASP ASVS V2.1.7) against the username and name too. No composition rules."""
    password = check_password(password, username)
    found = zxcvbn(password, user_inputs=[username, display_name, "tweeling", "delft"])
    if found["score"] < MIN_STRENGTH:
        hint = found["feedback"].get("warning") or "it is too easy to guess"
        raise InputError(
            f"choose a harder password: {hint.rstrip('.')} (a few unrelated words work well)",
            field="password",
        )
    return password


# ---------------------------------------------------------------------------- people


def add_person(
    store,
    username: str,
    role: str | Role,
    *,
    display_name: str = "",
    password: str | None = None,
    oidc: tuple[str, str] | None = None,
) -> tuple[Person, str | None]:
    """A new account; returns the person and the generated password (None when a password
    was given or they sign in through OpenID Connect)."""
    username = check_username(username)
    role = check_role(role)
    display_name = check_display_name(display_name)
    generated = None
    digest = None
    if oidc is None:
        if password is None:
            password = generated = new_password()
        digest = _hasher.hash(checked_password(password, username, display_name))
    with store.unit():
        person = store.people.add(
            username,
            role,
            display_name=display_name,
            password_hash=digest,
            oidc=oidc,
            at=to_text(utc_now()),
        )
        audit.record(
            store,
            "person.add",
            f"person/{person.id}",
            data={
                "username": username,
                "role": role.value,
                "sign_in": "openid-connect" if oidc else "password",
            },
        )
    return person, generated


def find(store, username: str) -> Person:
    return store.people.by_name(check_username(username))


def set_role(store, username: str, role: str | Role) -> Person:
    person = find(store, username)
    role = check_role(role)
    with store.unit():
        _keep_an_administrator(store, person, role=role)
        updated = store.people.update(person.id, role=role)
        audit.record(
            store,
            "person.role",
            f"person/{person.id}",
            data={"username": username, "from": person.role.value, "to": role.value},
        )
        _tell(store, person, f"Your role in this twin is now {role.value}.")
    return updated


def set_disabled(store, username: str, disabled: bool) -> Person:
    person = find(store, username)
    with store.unit():
        if disabled:
            _keep_an_administrator(store, person, disabled=True)
        updated = store.people.update(person.id, disabled=disabled)
        audit.record(
            store,
            "person.disable" if disabled else "person.enable",
            f"person/{person.id}",
            data={"username": username},
        )
    return updated


def set_password(store, username: str, password: str | None = None) -> tuple[Person, str | None]:
    """A new password (generated when None); signs the person out everywhere."""
    person = find(store, username)
    generated = None
    if password is None:
        password = generated = new_password()
    digest = _hasher.hash(checked_password(password, username, person.display_name))
    with store.unit():
        updated = store.people.update(person.id, password_hash=digest)
        audit.record(store, "person.password", f"person/{person.id}", data={"username": username})
        _tell(store, person, "Your password was changed. If that was not you, tell the "
              "twin's administrator.")  # fmt: skip
    return updated, generated


def change_own_password(store, person: Person, current: str, new: str) -> None:
    """A person changes their own password: the current one is needed (ASVS V2.1.6)."""
    if not person.has_password:
        raise InputError("you sign in with your organisation's account; change it there")
    try:
        authenticate(store, person.username, current)
    except SignInFailed:
        raise InputError("the current password is not right", field="current") from None
    set_password(store, person.username, new)


def _tell(store, person: Person, text: str) -> None:
    """A notification about the person's own account (ASVS V2.2.3)."""
    store.rounds.notify(person.id, "account", text, "/auth/me", to_text(utc_now()))


def _keep_an_administrator(store, person: Person, *, role=None, disabled=False) -> None:
    """Refuse to demote or disable the last enabled administrator (the twin would have no
    one left to manage it, short of the CLI)."""
    losing = person.role == Role.ADMINISTRATOR and not person.disabled
    demoted = disabled or (role is not None and role != Role.ADMINISTRATOR)
    if losing and demoted and store.people.count_role(Role.ADMINISTRATOR) <= 1:
        raise InputError(
            f"{person.username} is the last administrator; make someone else administrator first",
            field="role",
        )


# ---------------------------------------------------------------------------- signing in


def _lock_remaining(store, key: str, limit: int, now) -> int:
    """Seconds until ``key`` may try again (0: now)."""
    since = to_text(now - timedelta(seconds=FAILURE_WINDOW_S))
    times = store.people.failures(key, since)
    if len(times) < limit:
        return 0
    extra = len(times) - limit
    wait = min(MAX_LOCK_S, 30 * 2**extra)
    remaining = (from_text(times[-1]) + timedelta(seconds=wait) - now).total_seconds()
    return max(0, int(remaining) + 1) if remaining > 0 else 0


def authenticate(store, username: str, password: str, *, client: str = "") -> Person:
    """The person with this username and password, or :class:`SignInFailed` (or
    :class:`Throttled` while locked). Failures are counted per username and per client."""
    now = utc_now()
    if not isinstance(username, str) or not isinstance(password, str):
        raise SignInFailed("wrong username or password")
    username = username.strip().lower()[:64]
    keys = [f"user:{username}"] + ([f"client:{client}"] if client else [])
    for key, limit in zip(keys, (USER_FAILURES, CLIENT_FAILURES), strict=False):
        wait = _lock_remaining(store, key, limit, now)
        if wait:
            raise Throttled("too many failed sign-ins", wait)
    found = store.people.password_hash(username) if len(password) <= MAX_PASSWORD else None
    ok = False
    if found is None or found[1] is None:
        _verify(_DUMMY, password)  # same work as for a real account
    else:
        person, digest = found
        ok = _verify(digest, password) and not person.disabled
    if not ok:
        with store.unit():
            store.people.add_failure(keys, to_text(now))
            if (
                len(
                    store.people.failures(
                        keys[0], to_text(now - timedelta(seconds=FAILURE_WINDOW_S))
                    )
                )
                == USER_FAILURES
            ):
                audit.record(
                    store,
                    "auth.lockout",
                    f"person/{found[0].id}" if found else f"username/{username}",
                    data={"username": username, "failures": USER_FAILURES},
                )
        raise SignInFailed("wrong username or password")
    if _hasher.check_needs_rehash(digest):
        store.people.update(person.id, password_hash=_hasher.hash(password))
    store.people.clear_failures(keys[:1], before=to_text(now - timedelta(days=1)))
    return person


def _verify(digest: str, password: str) -> bool:
    try:
        return _hasher.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class NewSession:
    secret: str  # goes into the cookie; never stored
    csrf: str
    expires_at: str


def start_session(store, person: Person, *, via: str = "password") -> NewSession:
    now = utc_now()
    secret = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    expires = to_text(now + timedelta(hours=SESSION_HOURS))
    with store.unit():
        store.people.add_session(_sha256(secret), person.id, csrf, via, to_text(now), expires)
        store.people.end_expired_sessions(
            to_text(now), to_text(now - timedelta(hours=SESSION_IDLE_HOURS))
        )
        audit.record(
            store,
            "auth.login",
            f"person/{person.id}",
            data={"username": person.username, "method": SIGN_IN_METHODS.get(via, via)},
            principal=_as(person, via),
        )
    return NewSession(secret, csrf, expires)


def _as(person: Person, via: str):
    from tweeling.core.people import acting_as

    return acting_as(person, "session" if via == "password" else via)


def resolve_session(store, secret: str) -> tuple[Person, str, str] | None:
    """(person, CSRF token, how they signed in) of a live session, or None."""
    if not secret or len(secret) > 100:
        return None
    digest = _sha256(secret)
    s = store.people.session(digest)
    if s is None or s.person.disabled:
        return None
    now = utc_now()
    text = to_text(now)
    idle = to_text(now - timedelta(hours=SESSION_IDLE_HOURS))
    if s.expires_at <= text or s.seen_at < idle:
        return None
    if (now - from_text(s.seen_at)).total_seconds() > TOUCH_AFTER_S:
        store.people.touch_session(digest, text)
    return s.person, s.csrf, s.via


def end_session(store, secret: str, person: Person | None) -> None:
    with store.unit():
        store.people.end_session(_sha256(secret))
        if person is not None:
            audit.record(
                store,
                "auth.logout",
                f"person/{person.id}",
                data={"username": person.username},
                principal=_as(person, "password"),
            )


# ---------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class NewToken:
    secret: str  # shown once
    id: int
    name: str
    scope: str
    expires_at: str


def create_token(
    store, person: Person, name: str, *, scope: str = "read", days: int = TOKEN_DEFAULT_DAYS
) -> NewToken:
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise InputError("a token has a name of 1–100 characters", field="name")
    if scope not in SCOPES:
        raise InputError(f"scope {str(scope)[:20]!r}: use read or write", field="scope")
    if not isinstance(days, int) or not 1 <= days <= TOKEN_MAX_DAYS:
        raise InputError(f"a token expires after 1 to {TOKEN_MAX_DAYS} days", field="days")
    if person.disabled:
        raise InputError(f"{person.username} is disabled")
    now = utc_now()
    secret = secrets.token_urlsafe(32)
    expires = to_text(now + timedelta(days=days))
    with store.unit():
        rec = store.people.add_token(
            person.id, name.strip(), _sha256(secret), scope, to_text(now), expires
        )
        audit.record(
            store,
            "token.create",
            f"token/{rec.id}",
            data={"owner": person.username, "name": rec.name, "scope": scope, "expires": expires},
        )
        _tell(store, person, f"An API token '{rec.name}' ({scope}) was made for your account.")
    return NewToken(f"tw_{rec.id}_{secret}", rec.id, rec.name, scope, expires)


def revoke_token(store, token_id: int, *, by: Person | None = None) -> None:
    """Revoke a token: its owner, or (``by`` None) the local operator or an administrator."""
    rec = store.people.token(token_id)
    if by is not None and by.id != rec.person_id and by.role != Role.ADMINISTRATOR:
        raise NotFoundError(f"no token {token_id}")
    with store.unit():
        store.people.revoke_token(token_id, to_text(utc_now()))
        audit.record(store, "token.revoke", f"token/{token_id}", data={"name": rec.name})


def resolve_token(store, text: str) -> tuple[Person, int, str] | None:
    """(person, token id, scope) of a valid token text, or None."""
    if not isinstance(text, str) or not text.startswith("tw_") or len(text) > 120:
        return None
    try:
        _, tid, secret = text.split("_", 2)
        token_id = int(tid)
        rec = store.people.token(token_id)
    except (ValueError, NotFoundError):
        return None
    if not hmac.compare_digest(rec.hash, _sha256(secret)):
        return None
    now = utc_now()
    if rec.revoked_at is not None or rec.expires_at <= to_text(now):
        return None
    person = store.people.get(rec.person_id)
    if person.disabled:
        return None
    if rec.used_at is None or (now - from_text(rec.used_at)).total_seconds() > TOUCH_AFTER_S:
        store.people.token_used(token_id, to_text(now))
    return person, token_id, rec.scope


# ---------------------------------------------------------------------------- settings


def twin_public(store) -> bool:
    """Whether anonymous visitors may read the baseline and published scenarios."""
    return store.people.setting("public", "0") == "1"


def set_public(store, public: bool) -> None:
    with store.unit():
        store.people.set_setting("public", "1" if public else "0")
        audit.record(store, "access.public", "twin", data={"public": public})
