"""People of a twin: roles, persons, and the principal a request or command acts as.

Pure types, no I/O. Roles are per twin (a person holds one role in a twin); what each role
may do is decided in :mod:`tweeling.core.access`. See docs/people.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from tweeling.core.errors import InputError


class Role(StrEnum):
    """A person's role in a twin (docs/people.md has the table of what each may do)."""

    ADMINISTRATOR = "administrator"  # people, roles, access settings; everything a planner does
    PLANNER = "planner"  # scenarios, model runs, publication, consultation rounds, moderation
    REVIEWER = "reviewer"  # reads shared and published work, runs models, comments
    STEWARD = "data-steward"  # imports and rule sets (CLI), reads shared work
    PARTICIPANT = "participant"  # citizen or stakeholder: published work, comments, variants


# The people who work on a twin (as opposed to participants and visitors): they see
# scenarios with status "shared".
STAFF = frozenset({Role.ADMINISTRATOR, Role.PLANNER, Role.REVIEWER, Role.STEWARD})

_USERNAME = re.compile(r"[a-z0-9][a-z0-9_.@-]{1,63}")
MIN_PASSWORD = 12  # OWASP ASVS 4.0.3 V2.1.1
MAX_PASSWORD = 128  # V2.1.2: at least 64 allowed; longer inputs only cost hashing time
MAX_DISPLAY_NAME = 100


def check_username(name: object) -> str:
    if not isinstance(name, str) or not _USERNAME.fullmatch(name):
        raise InputError(
            f"username {str(name)[:80]!r} is not allowed: 2–64 lower-case letters, digits, "
            "'_', '.', '@' or '-', starting with a letter or digit",
            field="username",
        )
    return name


def check_role(role: object) -> Role:
    try:
        return Role(str(role))
    except ValueError:
        raise InputError(
            f"unknown role {str(role)[:40]!r}; use one of {', '.join(r.value for r in Role)}",
            field="role",
        ) from None


def check_password(password: object, username: str = "") -> str:
    """A new password: 12–128 characters (any, spaces and Unicode included: ASVS V2.1.4),
    not the username. Nothing else is imposed (ASVS V2.1.9: no composition rules)."""
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InputError(
            f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters", field="password"
        )
    if username and password.casefold() == username.casefold():
        raise InputError("the password may not be the username", field="password")
    return password


def check_display_name(text: object) -> str:
    if not isinstance(text, str) or len(text) > MAX_DISPLAY_NAME:
        raise InputError(f"at most {MAX_DISPLAY_NAME} characters", field="display_name")
    if any(ord(c) < 32 for c in text):
        raise InputError("no control characters", field="display_name")
    return text.strip()


@dataclass(frozen=True, slots=True)
class Person:
    """A person with an account in a twin."""

    id: int
    username: str
    display_name: str
    role: Role
    disabled: bool
    created_at: str
    # set for people who sign in through an OpenID Connect provider (issuer, subject)
    oidc_issuer: str | None = None
    oidc_subject: str | None = None
    has_password: bool = True

    @property
    def label(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request or command acts as.

    ``person`` is None for an anonymous visitor and for the local operator (the CLI, or a
    server on 127.0.0.1 of a twin without accounts), who acts with an administrator's rights.
    ``scope`` is ``read`` for a read-only API token, else ``write``.
    """

    person: Person | None
    via: str  # session, token, oidc, local, anonymous
    role: Role | None  # None: anonymous visitor
    scope: str = "write"
    operator: str = ""  # the local operator's OS user name (via == "local")
    token_id: int | None = None

    @property
    def person_id(self) -> int | None:
        return None if self.person is None else self.person.id

    @property
    def signed_in(self) -> bool:
        return self.person is not None or self.via == "local"

    @property
    def is_local(self) -> bool:
        return self.via == "local"

    @property
    def actor(self) -> str:
        """How the audit log names who acted: ``alice``, ``local:bob`` or ``anonymous``."""
        if self.person is not None:
            return self.person.username
        if self.via == "local":
            return f"local:{self.operator or 'operator'}"
        return "anonymous"

    @property
    def label(self) -> str:
        """A name to show (display name, else username)."""
        return self.person.label if self.person is not None else self.actor


ANONYMOUS = Principal(person=None, via="anonymous", role=None, scope="read")


def local_operator(os_user: str) -> Principal:
    return Principal(person=None, via="local", role=Role.ADMINISTRATOR, operator=os_user)


def acting_as(person: Person, via: str, *, scope: str = "write", token_id=None) -> Principal:
    return Principal(person=person, via=via, role=person.role, scope=scope, token_id=token_id)
