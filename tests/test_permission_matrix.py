"""Who may do what over HTTP: a permission matrix generated from the app's OpenAPI document.

Every operation of ``app.openapi()`` has an entry in :data:`EXPECTATIONS`, written from
docs/people.md (never from ``core.access``): which roles may ask at all, who may see the
object concerned (the others get 404, as for an unknown one) and who may act on what they
see. The test sends, for every operation, every caller and every object class that matters
(own and other's drafts, a scenario shared with people, a scenario with status shared, an
archived one, one made from the CLI, a published one, a frozen version, a participant's
private and public variants, own and other's jobs, tokens and comments, …), a real request
built from the operation's path template, with a valid body for writes (a fresh object where
the request would consume it), and compares the status with the table:

* allowed: anything but 401, 403, 404 and 5xx (reads and creations: a success);
* denied: 401, 403 or 404; hidden (an object the caller may not read): 404 — or, for a name
  inside a request body, exactly the answer an unknown name gets;
* a read-only API token: every write 403; a browser session without its CSRF token: every
  change 403; a bad token: 401 everywhere; a visitor of a private twin: only the public
  pages.

Every response (reads and writes, JSON, HTML, PNG and vector tiles alike) is searched for
the markers (names, descriptions, feature ids and names, intervention titles, run, job and
comment ids and texts, token names) of everything its caller may not read: none may occur.
An operation without an entry, or an entry without an operation, fails the test, so a new
route cannot go unchecked. Discrepancies are listed all at once, one line per cell.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode

import morecantile
import pytest
import shapely
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from tests.scenario_support import seed_twin
from tests.test_model_road_noise import EXTENT, write_town
from tweeling.api import deps
from tweeling.api import settings as server_settings
from tweeling.api.app import create_app
from tweeling.core.crs import RD_NEW, transformer
from tweeling.core.interventions import Intervention
from tweeling.core.people import acting_as
from tweeling.core.timeaxis import to_text, utc_now
from tweeling.services import accounts, audit, participation, runs
from tweeling.services import scenarios as sc
from tweeling.services.workspace import init_workspace

pytestmark = pytest.mark.slow

# ---------------------------------------------------------------------------- people

ADMIN, P1, P2, REV, STW, PA1, PA2, VIS = (
    "admin",
    "planner1",
    "planner2",
    "reviewer",
    "steward",
    "participant1",
    "participant2",
    "visitor",
)
ROLES = {
    ADMIN: "administrator",
    P1: "planner",
    P2: "planner",
    REV: "reviewer",
    STW: "data-steward",
    PA1: "participant",
    PA2: "participant",
}
PASSWORD = "Lantaarnpaal-Zeemeeuw-{}-Kroket-8817"  # zxcvbn-strong, per person
EVERYONE = frozenset({*ROLES, VIS})  # the twin is public: visitors read it too
SIGNED_IN = frozenset(ROLES)
STAFF = frozenset({ADMIN, P1, P2, REV, STW})
PLANNING = frozenset({ADMIN, P1, P2})  # planner, administrator
RUNNING = frozenset({ADMIN, P1, P2, REV})  # planner, reviewer, administrator
AUDITORS = frozenset({ADMIN, REV})  # read the whole audit log
ADMINS = frozenset({ADMIN})
NOBODY: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Caller:
    """Who sends the requests: ``base`` is the person (or visitor) whose rights apply."""

    key: str
    base: str
    via: str  # token, read-token, session, session-no-csrf, anonymous, private-twin, bad-token
    lite: bool = False  # one object class per operation (the mechanism, not the objects)


CALLERS = [
    *(Caller(k, k, "token") for k in ROLES),
    Caller(VIS, VIS, "anonymous"),
    Caller("planner1~read-token", P1, "read-token"),
    Caller("planner2~session", P2, "session"),
    Caller("planner2~session-without-csrf", P2, "session-no-csrf", lite=True),
    Caller("visitor~private-twin", VIS, "private-twin", lite=True),
    Caller("bad-token", VIS, "bad-token", lite=True),
]

# ---------------------------------------------------------------------------- objects
# Scenario classes. Owner, status and shares of each (docs/people.md, "Who may read a
# scenario"); p1frozen is p1draft@v1, v1priv/v2pub participants' variants in the open round.

SCENARIO_CLASSES = (
    "baseline",
    "pub",
    "p1draft",
    "p1frozen",
    "p2draft",
    "p2withrev",
    "p2shared",
    "p2arch",
    "opdraft",
    "v1priv",
    "v2pub",
)
RUN_CLASSES = tuple(c for c in SCENARIO_CLASSES if c != "p1frozen")  # each has a run
OWNER = {
    "pub": P1,
    "p1draft": P1,
    "p2draft": P2,
    "p2withrev": P2,  # shared with the reviewer to read and planner1 to edit
    "p2shared": P2,  # status shared
    "p2arch": P2,  # status archived
    "opdraft": None,  # made from the CLI: no owner
    "v1priv": PA1,  # participant1's variant, private
    "v2pub": PA2,  # participant2's variant, made public within the round
}
STATUS = {"pub": "published", "p2shared": "shared", "p2arch": "archived"}
SHARED_READ = {"p2withrev": (REV,)}
SHARED_EDIT = {"p2withrev": (P1,)}
VARIANTS = {"v1priv": False, "v2pub": True}  # -> public within the round

# ---------------------------------------------------------------------------- the tables
# Written from docs/people.md; each set names the base callers of CALLERS.

# "Who may read a scenario"
READERS: dict[str, frozenset[str]] = {
    "baseline": EVERYONE,
    "pub": EVERYONE,  # published
    "p1draft": frozenset({P1, ADMIN}),  # draft: owner, administrators
    "p1frozen": frozenset({P1, ADMIN}),
    "p2draft": frozenset({P2, ADMIN}),
    "p2withrev": frozenset({P2, ADMIN, REV, P1}),  # + the people it is shared with
    "p2shared": STAFF,  # shared (status): the staff and its owner
    "p2arch": STAFF,  # archived: as shared
    "opdraft": frozenset({ADMIN, P1, P2}),  # a draft without owner: also planners
    "v1priv": frozenset({PA1, ADMIN}),  # a variant: its owner and administrators
    "v2pub": EVERYONE,  # ... everyone once made public within its round
}
# "add interventions, freeze, delete a draft": owner, shared to edit, administrators;
# a scenario without owner: planners
EDITORS: dict[str, frozenset[str]] = {
    "baseline": NOBODY,
    "pub": frozenset({P1, ADMIN}),
    "p1draft": frozenset({P1, ADMIN}),
    "p2draft": frozenset({P2, ADMIN}),
    "p2withrev": frozenset({P2, ADMIN, P1}),
    "p2shared": frozenset({P2, ADMIN}),
    "p2arch": frozenset({P2, ADMIN}),
    "opdraft": frozenset({ADMIN, P1, P2}),
    "v1priv": frozenset({PA1, ADMIN}),
    "v2pub": frozenset({PA2, ADMIN}),
}
# "share: its owner, administrators"
SHARERS: dict[str, frozenset[str]] = {
    "pub": frozenset({P1, ADMIN}),
    "p1draft": frozenset({P1, ADMIN}),
    "p2draft": frozenset({P2, ADMIN}),
    "p2withrev": frozenset({P2, ADMIN}),
    "p2shared": frozenset({P2, ADMIN}),
    "p2arch": frozenset({P2, ADMIN}),
    "opdraft": ADMINS,
    "v1priv": frozenset({PA1, ADMIN}),
    "v2pub": frozenset({PA2, ADMIN}),
}
# "publish, decide, archive: its owner if a planner, any planner for a scenario without
# owner, administrators — not the people it is shared with"
PUBLISHERS: dict[str, frozenset[str]] = {
    "pub": frozenset({P1, ADMIN}),
    "p1draft": frozenset({P1, ADMIN}),
    "p2draft": frozenset({P2, ADMIN}),
    "p2withrev": frozenset({P2, ADMIN}),
    "p2shared": frozenset({P2, ADMIN}),
    "p2arch": frozenset({P2, ADMIN}),
    "opdraft": PLANNING,
    "v1priv": ADMINS,
    "v2pub": ADMINS,
}
# "run a model: planner, reviewer, administrator on scenarios they may read; a participant
# on their own variant"
RUNNERS: dict[str, frozenset[str]] = {
    c: (RUNNING & READERS[c]) | ({OWNER[c]} if c in VARIANTS else set()) for c in RUN_CLASSES
}
# PUT /scenarios/{name}/status: "draft <-> shared: whoever may edit it"; the rest publishers
STATUS_CASES = {
    "p1draft>shared": ("p1draft", "shared", EDITORS["p1draft"]),
    "p1draft>published": ("p1draft", "published", PUBLISHERS["p1draft"]),
    "p2draft>shared": ("p2draft", "shared", EDITORS["p2draft"]),
    "p2draft>published": ("p2draft", "published", PUBLISHERS["p2draft"]),
    "p2withrev>shared": ("p2withrev", "shared", EDITORS["p2withrev"]),
    "p2withrev>published": ("p2withrev", "published", PUBLISHERS["p2withrev"]),
    "p2shared>draft": ("p2shared", "draft", EDITORS["p2shared"]),
    "p2shared>published": ("p2shared", "published", PUBLISHERS["p2shared"]),
    "opdraft>shared": ("opdraft", "shared", EDITORS["opdraft"]),
    "opdraft>published": ("opdraft", "published", PUBLISHERS["opdraft"]),
    # "status of a participant's variant: none: a variant stays a draft and is made public
    # within its round instead"
    "v1priv>shared": ("v1priv", "shared", frozenset()),
    "v2pub>shared": ("v2pub", "shared", frozenset()),
    "v2pub>published": ("v2pub", "published", frozenset()),
    "pub>decided": ("pub", "decided", PUBLISHERS["pub"]),
    "pub>archived": ("pub", "archived", PUBLISHERS["pub"]),
}
# Objects relative to the caller: "own" is theirs, "other" someone else's.
JOB_OWNERS = frozenset({ADMIN, P1, P2, REV, PA1, PA2})  # the steward runs no models
JOB_SCENARIO = {  # where each one's job of the fixture ran
    ADMIN: "baseline",
    P1: "p1draft",
    P2: "p2draft",
    REV: "pub",
    PA1: "v1priv",
    PA2: "v2pub",
}
JOB_SEE = {"own": SIGNED_IN, "other": ADMINS}  # "see and dismiss a job: who submitted it;
# administrators all"
TOKEN_SEE = {"own": SIGNED_IN, "other": ADMINS}  # an administrator manages accounts (and may
# revoke a person's tokens); others' tokens are not theirs to see
COMMENT_CLASSES = ("own", "other", "privvar")  # privvar: participant1's, about v1priv
COMMENT_SEE = {"own": SIGNED_IN, "other": EVERYONE, "privvar": READERS["v1priv"]}
COMMENT_AUTHORS = {"own": SIGNED_IN, "other": NOBODY, "privvar": frozenset({PA1})}


def readers_of(table: dict[str, frozenset[str]]) -> Callable[[str], frozenset[str]]:
    return lambda cls: table[cls]


def status_see(cls: str) -> frozenset[str]:
    return READERS[STATUS_CASES[cls][0]]


def status_may(cls: str) -> frozenset[str]:
    return STATUS_CASES[cls][2]


def diff_see(cls: str) -> frozenset[str]:
    return READERS[cls.removeprefix("against:")]


# ---------------------------------------------------------------------------- operations


@dataclass
class Req:
    """One request of a case: path parameters, query, JSON body, and for a body naming an
    object, that name (to ask again with an unknown one)."""

    path: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    ref: str | None = None  # the object's name in the body
    session: tuple[str, str] | None = None  # a fresh session (cookie, CSRF) for this request


@dataclass(frozen=True)
class Op:
    """What docs/people.md says of one operation.

    ``who``: whose role (or being signed in) lets them ask at all — the others are denied
    (401/403). ``see``: per object class, who may read the object — the others get 404.
    ``may``: per object class, who may do it to an object they see — the others are denied.
    ``refused``: per object class, who gets a 4xx for the object's state (not a right).
    """

    request: Callable[[World, Caller, str], Req]
    classes: tuple[str, ...] = ("-",)
    who: frozenset[str] = EVERYONE
    see: Callable[[str], frozenset[str]] | None = None
    may: Callable[[str], frozenset[str]] | None = None
    refused: Callable[[str], frozenset[str]] | None = None
    write: bool = False
    public: bool = False  # anyone, also a visitor of a private twin: holds no data of it
    body_ref: bool = False  # the object is named in the body
    success: bool = False  # allowed means 2xx (creations that name an object in the body)
    browser_only: bool = False  # from a signed-in browser only ("tokens cannot make tokens")
    unconfigured: bool = False  # a feature this twin does not have ([oidc]): 404 for anyone
    last: bool = False  # ends the caller's sessions: run after everything else
    shows: Callable[[World, str, str], str | None] | None = None  # what an allowed answer holds


def nothing(w: World, c: Caller, cls: str) -> Req:
    return Req()


def named(**query: Any):
    """``{name}`` of the class."""

    def make(w: World, c: Caller, cls: str) -> Req:
        return Req(path={"name": w.ref(cls)}, query=query)

    return make


def own_marker(kind: str) -> Callable[[World, str, str], str | None]:
    """The class's marker of a kind (zqn: its house's name, zqh: its house's id, d: its
    description, zqt: its interventions' title), which an allowed answer must hold."""

    def shows(w: World, who: str, cls: str) -> str | None:
        return None if cls == "baseline" else f"{kind}-{cls.replace('p1frozen', 'p1draft')}-q"

    return shows


def house_id(w: World, cls: str) -> str:
    return "h1" if cls == "baseline" else f"zqh-{cls.replace('p1frozen', 'p1draft')}-q"


def tile(**query: Any):
    def make(w: World, c: Caller, cls: str) -> Req:
        params = {"name": "houses", "tileMatrixSetId": "WebMercatorQuad"}
        params.update(zip(("tileMatrix", "tileRow", "tileCol"), w.tile, strict=True))
        return Req(path=params, query={**query, "scenario": w.ref(cls)})

    return make


def run_of(**extra: Any):
    def make(w: World, c: Caller, cls: str) -> Req:
        return Req(path={"run_id": w.runs[cls], **extra})

    return make


def execute(w: World, c: Caller, cls: str) -> Req:
    ref = w.ref(cls)
    inputs = {"scenario": ref, "extent": list(EXTENT), "cell_m": 20}
    return Req(path={"process_id": "road-noise"}, body={"inputs": inputs}, ref=ref)


def job(w: World, c: Caller, cls: str) -> Req:
    return Req(path={"job_id": w.jobs[w.whose(c, cls, P1, P2)]})


def fresh_job(w: World, c: Caller, cls: str) -> Req:
    return Req(path={"job_id": w.fresh_job(w.whose(c, cls, P1, P2))})


def new_scenario(w: World, c: Caller, cls: str) -> Req:
    ref = w.ref(cls)
    return Req(body={"name": w.fresh_name("n"), "parent": ref}, ref=ref)


def fresh_named(w: World, c: Caller, cls: str) -> Req:
    return Req(path={"name": w.fresh_scenario(cls)})


def fresh_status(w: World, c: Caller, cls: str) -> Req:
    base, status, _ = STATUS_CASES[cls]
    return Req(path={"name": w.fresh_scenario(base)}, body={"status": status})


def fresh_share(w: World, c: Caller, cls: str) -> Req:
    return Req(path={"name": w.fresh_scenario(cls), "username": "dummy"}, body={"right": "read"})


def fresh_shared(w: World, c: Caller, cls: str) -> Req:
    return Req(path={"name": w.fresh_scenario(cls, share_with="dummy"), "username": "dummy"})


def interventions(w: World, c: Caller, cls: str) -> Req:
    w.counter += 1
    item = {
        "kind": "modify",
        "layer": "houses",
        "id": "h5",
        "title": "matrix: a little higher",
        "rationale": "permission matrix",
        "properties": {"height_m": 6.0 + w.counter / 1000},
    }
    return Req(path={"name": w.ref(cls)}, body={"interventions": [item]})


def diff(w: World, c: Caller, cls: str) -> Req:
    if cls.startswith("against:"):
        return Req(path={"name": w.ref("pub")}, query={"against": w.ref(cls[8:])})
    return Req(path={"name": w.ref(cls)}, query={"features": "true"})


def login(w: World, c: Caller, cls: str) -> Req:
    who = c.base if c.base in ROLES else P1
    return Req(body={"username": who, "password": PASSWORD.format(who)})


def logout(w: World, c: Caller, cls: str) -> Req:
    return Req(session=w.fresh_session(c.base) if c.via.startswith("session") else None)


def change_password(w: World, c: Caller, cls: str) -> Req:
    who = c.base if c.base in ROLES else P1
    return Req(body={"current": PASSWORD.format(who), "new": PASSWORD.format(who + "-new")})


def new_token(w: World, c: Caller, cls: str) -> Req:
    return Req(body={"name": "matrix token", "scope": "read", "days": 1})


def fresh_token(w: World, c: Caller, cls: str) -> Req:
    return Req(path={"token_id": w.fresh_token(w.whose(c, cls, P2, P1))})


def new_person(w: World, c: Caller, cls: str) -> Req:
    name = w.fresh_name("np")
    return Req(body={"username": name, "role": "participant", "password": PASSWORD.format(name)})


def round_req(body: Any = None, **query: Any):
    def make(w: World, c: Caller, cls: str) -> Req:
        return Req(path={"round_id": w.round_id}, query=query, body=body)

    return make


def new_round(w: World, c: Caller, cls: str) -> Req:
    now = utc_now()
    body = {
        "title": "Matrix: another round",
        "question": "What do you think?",
        "opens_at": to_text(now - timedelta(hours=1)),
        "closes_at": to_text(now + timedelta(days=30)),
        "alternatives": [w.ref("pub")],
    }
    return Req(body=body)


def comments_of(w: World, c: Caller, cls: str) -> Req:
    query = {} if cls == "-" else {"scenario": w.ref(cls)}
    return Req(path={"round_id": w.round_id}, query=query)


def new_comment(w: World, c: Caller, cls: str) -> Req:
    ref = None if cls == "round" else w.ref(cls)
    return Req(
        path={"round_id": w.round_id},
        body={"body": "matrix comment", "theme": None, "scenario": ref},
        ref=ref,
    )


def comment(body: Any = None, in_round: bool = False):
    def make(w: World, c: Caller, cls: str) -> Req:
        cid = w.comment_of(c, cls)
        path = {"comment_id": cid, **({"round_id": w.round_id} if in_round else {})}
        text = body(w, cid) if callable(body) else body
        return Req(path=path, body=text)

    return make


def edited(w: World, cid: int) -> dict:
    return {"body": f"{w.comment_text[cid]} (edited)"}


def variant_public(w: World, c: Caller, cls: str) -> Req:
    return Req(path={"round_id": w.round_id, "name": w.ref(cls)}, body={"public": VARIANTS[cls]})


def address(w: World, c: Caller, cls: str) -> Req:
    return Req(path={"round_id": w.round_id}, query={"point": w.point})


def here(w: World, c: Caller, cls: str) -> Req:
    return Req(query={"point": w.point, "scenario": w.ref(cls)})


def search(w: World, c: Caller, cls: str) -> Req:
    return Req(query={"q": house_id(w, cls), "scenario": w.ref(cls)})


def compare(w: World, c: Caller, cls: str) -> Req:
    return Req(query={"scenarios": f"baseline,{w.ref(cls)}"})


def audit_of(w: World, c: Caller, cls: str) -> Req:
    return Req(query={"limit": 1000, **({} if cls == "-" else {"scenario": w.ref(cls)})})


def runs_of(w: World, c: Caller, cls: str) -> Req:
    return Req(query={} if cls == "-" else {"scenario": w.ref(cls)})


READ_SCENARIO = dict(classes=SCENARIO_CLASSES, see=readers_of(READERS))
WRITE = dict(who=SIGNED_IN, write=True)
COMMENTS = dict(classes=COMMENT_CLASSES, see=COMMENT_SEE.__getitem__)
ROUND_PLAIN = round_req()


def run_id_of(w: World, who: str, cls: str) -> str | None:
    """The class's run, which an answer to someone who may read it holds."""
    if cls in ("-", "baseline", "p1frozen") or who not in READERS[cls]:
        return None
    return w.runs[cls]


# (METHOD, path template of the OpenAPI document) -> what docs/people.md says of it. Without
# ``see``/``may`` everyone ``who`` may ask is allowed; lists (no ``see``) leave out what the
# caller may not read, which the marker search checks.
EXPECTATIONS: dict[tuple[str, str], Op] = {
    # ------------------------------------------------------------ OGC API landing pages
    ("GET", "/"): Op(nothing, public=True),
    ("GET", "/conformance"): Op(nothing, public=True),
    ("GET", "/collections"): Op(nothing),
    ("GET", "/collections/{name}"): Op(lambda w, c, s: Req(path={"name": "houses"})),
    ("GET", "/collections/{name}/items"): Op(
        lambda w, c, cls: Req(
            path={"name": "houses"}, query={"scenario": w.ref(cls), "limit": 100}
        ),
        shows=own_marker("zqn"),
        **READ_SCENARIO,
    ),
    ("GET", "/collections/{name}/items/{feature_id}"): Op(
        lambda w, c, cls: Req(
            path={"name": "houses", "feature_id": house_id(w, cls)}, query={"scenario": w.ref(cls)}
        ),
        shows=own_marker("zqn"),
        **READ_SCENARIO,
    ),
    # ------------------------------------------------------------ tiles
    ("GET", "/tileMatrixSets"): Op(nothing, public=True),
    ("GET", "/tileMatrixSets/{tileMatrixSetId}"): Op(
        lambda w, c, s: Req(path={"tileMatrixSetId": "WebMercatorQuad"}), public=True
    ),
    ("GET", "/tiles"): Op(tile(), **READ_SCENARIO),
    ("GET", "/tiles/{tileMatrixSetId}"): Op(tile(), **READ_SCENARIO),
    ("GET", "/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"): Op(
        tile(collections="houses"), shows=own_marker("zqn"), **READ_SCENARIO
    ),
    ("GET", "/collections/{name}/tiles"): Op(tile(), **READ_SCENARIO),
    ("GET", "/collections/{name}/tiles/{tileMatrixSetId}"): Op(tile(), **READ_SCENARIO),
    ("GET", "/collections/{name}/tiles/{tileMatrixSetId}/{tileMatrix}/{tileRow}/{tileCol}"): Op(
        tile(), shows=own_marker("zqn"), **READ_SCENARIO
    ),
    # ------------------------------------------------------------ processes and jobs
    ("GET", "/processes"): Op(nothing),
    ("GET", "/processes/{process_id}"): Op(lambda w, c, s: Req(path={"process_id": "road-noise"})),
    ("POST", "/processes/{process_id}/execution"): Op(
        execute,
        classes=RUN_CLASSES,
        see=readers_of(READERS),
        may=readers_of(RUNNERS),
        body_ref=True,
        success=True,
        **WRITE,
    ),
    ("GET", "/jobs"): Op(nothing, who=SIGNED_IN),
    ("GET", "/jobs/{job_id}"): Op(job, classes=("own", "other"), who=SIGNED_IN, see=JOB_SEE.get),
    ("GET", "/jobs/{job_id}/results"): Op(
        job, classes=("own", "other"), who=SIGNED_IN, see=JOB_SEE.get
    ),
    ("DELETE", "/jobs/{job_id}"): Op(fresh_job, classes=("own", "other"), see=JOB_SEE.get, **WRITE),
    # ------------------------------------------------------------ scenarios
    ("GET", "/scenarios"): Op(nothing),
    ("POST", "/scenarios"): Op(
        new_scenario,
        classes=SCENARIO_CLASSES,  # the parent: "must be readable by them"
        who=PLANNING,
        see=readers_of(READERS),
        write=True,
        body_ref=True,
        success=True,
    ),
    ("GET", "/scenarios/{name}"): Op(
        named(),
        shows=own_marker("d"),
        **READ_SCENARIO,
    ),
    ("DELETE", "/scenarios/{name}"): Op(
        lambda w, c, cls: (
            Req(path={"name": "baseline"}) if cls == "baseline" else fresh_named(w, c, cls)
        ),
        classes=RUN_CLASSES,
        see=readers_of(READERS),
        may=readers_of(EDITORS),
        refused=lambda cls: SIGNED_IN if cls == "baseline" else NOBODY,
        **WRITE,
    ),
    ("PUT", "/scenarios/{name}/status"): Op(
        fresh_status, classes=tuple(STATUS_CASES), see=status_see, may=status_may, **WRITE
    ),
    ("GET", "/scenarios/{name}/shares"): Op(
        named(),
        classes=tuple(SHARERS),
        who=SIGNED_IN,
        see=readers_of(READERS),
        may=readers_of(SHARERS),
    ),
    ("PUT", "/scenarios/{name}/shares/{username}"): Op(
        fresh_share,
        classes=tuple(SHARERS),
        see=readers_of(READERS),
        may=readers_of(SHARERS),
        **WRITE,
    ),
    ("DELETE", "/scenarios/{name}/shares/{username}"): Op(
        fresh_shared,
        classes=tuple(SHARERS),
        see=readers_of(READERS),
        may=readers_of(SHARERS),
        **WRITE,
    ),
    ("GET", "/scenarios/{name}/interventions"): Op(
        named(), shows=own_marker("zqh"), **READ_SCENARIO
    ),
    ("POST", "/scenarios/{name}/interventions"): Op(
        interventions,
        classes=RUN_CLASSES,
        see=readers_of(READERS),
        may=readers_of(EDITORS),
        refused=lambda cls: SIGNED_IN if cls == "baseline" else NOBODY,
        **WRITE,
    ),
    ("GET", "/scenarios/{name}/diff"): Op(
        diff,
        classes=SCENARIO_CLASSES + tuple(f"against:{c}" for c in SCENARIO_CLASSES),
        see=diff_see,
        refused=lambda cls: EVERYONE if cls == "baseline" else NOBODY,  # no parent to compare
    ),
    ("GET", "/scenarios/{name}/findings"): Op(
        named(),
        refused=lambda cls: EVERYONE if cls == "baseline" else NOBODY,  # nothing to check
        **READ_SCENARIO,
    ),
    # ------------------------------------------------------------ runs and analyses
    ("GET", "/runs"): Op(
        runs_of, classes=("-", *RUN_CLASSES), shows=run_id_of, see=None
    ),  # a list: leaves out what they may not read
    ("GET", "/runs/{run_id}"): Op(run_of(), classes=RUN_CLASSES, see=readers_of(READERS)),
    ("GET", "/runs/{run_id}/outputs/{name}"): Op(
        run_of(name="lden"), classes=RUN_CLASSES, see=readers_of(READERS)
    ),
    ("GET", "/runs/{run_id}/outputs/{name}/overlay"): Op(
        run_of(name="lden"), classes=RUN_CLASSES, see=readers_of(READERS)
    ),
    ("GET", "/runs/{run_id}/outputs/{name}/image.png"): Op(
        run_of(name="lden"), classes=RUN_CLASSES, see=readers_of(READERS)
    ),
    ("GET", "/runs/{run_id}/objects"): Op(
        lambda w, c, cls: Req(path={"run_id": w.runs[cls]}, query={"output": "facades"}),
        classes=RUN_CLASSES,
        see=readers_of(READERS),
    ),
    ("GET", "/comparisons"): Op(compare, shows=run_id_of, **READ_SCENARIO),
    ("GET", "/here"): Op(
        here,
        shows=own_marker("zqt"),
        **READ_SCENARIO,
    ),
    ("GET", "/search"): Op(search, shows=own_marker("zqh"), **READ_SCENARIO),
    # ------------------------------------------------------------ signing in, own account
    ("POST", "/auth/login"): Op(login, public=True, write=True),
    ("POST", "/auth/logout"): Op(logout, public=True, write=True),
    ("GET", "/auth/me"): Op(nothing, public=True),
    ("PUT", "/auth/password"): Op(
        change_password, who=SIGNED_IN, write=True, browser_only=True, last=True
    ),
    ("GET", "/auth/oidc/login"): Op(nothing, public=True, unconfigured=True),
    ("GET", "/auth/oidc/callback"): Op(
        lambda w, c, s: Req(query={"code": "x", "state": "y"}), public=True, unconfigured=True
    ),
    ("GET", "/auth/tokens"): Op(nothing, who=SIGNED_IN),
    ("POST", "/auth/tokens"): Op(new_token, who=SIGNED_IN, write=True, browser_only=True),
    ("DELETE", "/auth/tokens/{token_id}"): Op(
        fresh_token, classes=("own", "other"), see=TOKEN_SEE.get, **WRITE
    ),
    ("GET", "/auth/notifications"): Op(nothing, who=SIGNED_IN),
    ("POST", "/auth/notifications/read"): Op(nothing, **WRITE),
    # ------------------------------------------------------------ people and access
    ("GET", "/people"): Op(nothing, who=ADMINS),
    ("POST", "/people"): Op(new_person, who=ADMINS, write=True),
    ("PUT", "/people/{username}/role"): Op(
        lambda w, c, s: Req(path={"username": "dummy"}, body={"role": "participant"}),
        who=ADMINS,
        write=True,
    ),
    ("PUT", "/people/{username}/disabled"): Op(
        lambda w, c, s: Req(path={"username": "dummy"}, body={"disabled": False}),
        who=ADMINS,
        write=True,
    ),
    ("GET", "/access"): Op(nothing, who=ADMINS),
    ("PUT", "/access"): Op(lambda w, c, s: Req(body={"public": True}), who=ADMINS, write=True),
    # ------------------------------------------------------------ audit log
    ("GET", "/audit"): Op(  # others see entries about what they may read and their own
        audit_of, classes=("-", *SCENARIO_CLASSES)
    ),
    ("GET", "/audit/head"): Op(nothing),
    ("GET", "/audit/verify"): Op(nothing, who=AUDITORS),
    # ------------------------------------------------------------ consultation rounds
    ("GET", "/rounds"): Op(nothing),
    ("POST", "/rounds"): Op(new_round, who=PLANNING, write=True),
    ("GET", "/rounds/{round_id}"): Op(ROUND_PLAIN),
    ("PATCH", "/rounds/{round_id}"): Op(
        round_req({"title": "Matrix round"}), who=PLANNING, write=True
    ),
    ("GET", "/rounds/{round_id}/comments"): Op(comments_of, classes=("-", "v1priv", "v2pub")),
    ("POST", "/rounds/{round_id}/comments"): Op(
        new_comment,
        classes=("round", "v1priv", "v2pub"),
        see=lambda cls: EVERYONE if cls == "round" else READERS[cls],
        body_ref=True,
        success=True,
        **WRITE,
    ),
    ("GET", "/rounds/{round_id}/comments/{comment_id}"): Op(comment(in_round=True), **COMMENTS),
    ("PATCH", "/comments/{comment_id}"): Op(
        comment(edited), may=COMMENT_AUTHORS.__getitem__, **COMMENTS, **WRITE
    ),
    ("PUT", "/comments/{comment_id}/support"): Op(  # "one per person per comment, not one's own"
        comment(),
        refused=lambda cls: {"own": SIGNED_IN, "privvar": frozenset({PA1})}.get(cls, NOBODY),
        **COMMENTS,
        **WRITE,
    ),
    ("DELETE", "/comments/{comment_id}/support"): Op(comment(), **COMMENTS, **WRITE),
    ("PUT", "/comments/{comment_id}/hidden"): Op(
        comment({"hidden": False, "reason": ""}), who=PLANNING, write=True, **COMMENTS
    ),
    ("POST", "/rounds/{round_id}/variants"): Op(
        lambda w, c, s: Req(
            path={"round_id": w.round_id},
            body={"alternative": w.ref("pub"), "description": "matrix variant"},
        ),
        success=True,
        **WRITE,
    ),
    ("PUT", "/rounds/{round_id}/variants/{name}/public"): Op(
        variant_public,
        classes=tuple(VARIANTS),
        see=readers_of(READERS),
        may=lambda cls: frozenset({OWNER[cls], ADMIN}),  # "its owner, administrators"
        **WRITE,
    ),
    ("GET", "/rounds/{round_id}/address"): Op(address),
    ("GET", "/rounds/{round_id}/report"): Op(  # JSON, and the HTML page
        lambda w, c, cls: Req(path={"round_id": w.round_id}, query={"f": cls}),
        classes=("json", "html"),
    ),
}

# ---------------------------------------------------------------------------- outcomes

ALLOW, DENY, HIDE, FORBID, REFUSE, HIDE_OR_FORBID, UNAUTHORIZED, ABSENT = (
    "allowed",
    "denied (401/403/404)",
    "hidden (404)",
    "forbidden (403)",
    "refused (4xx)",
    "forbidden or hidden (403/404)",
    "unauthorized (401)",
    "absent (404)",
)


def base_outcome(op: Op, who: str, cls: str) -> str:
    """What docs/people.md says for a person (or the visitor of the public twin)."""
    if op.public:
        return ALLOW
    if who not in op.who:
        return DENY
    if op.see is not None and who not in op.see(cls):
        return HIDE
    if op.refused is not None and who in op.refused(cls):
        return REFUSE
    if op.may is not None and who not in op.may(cls):
        return DENY
    return ALLOW


def outcome(op: Op, c: Caller, cls: str) -> str:
    if c.via == "bad-token":  # "a bad or expired token is a 401, never ... anonymous"
        return UNAUTHORIZED
    if op.unconfigured:
        return ABSENT
    if c.via == "session-no-csrf" and op.write:  # "without it: 403"
        return FORBID
    if op.public:
        return ALLOW
    if c.via == "private-twin":  # visitors read the twin "only when the twin is public"
        return DENY
    if op.browser_only and c.via != "session":
        return DENY if c.base not in op.who else FORBID
    o = base_outcome(op, c.base, cls)
    if c.via == "read-token" and op.write:  # "every write is 403"
        return HIDE_OR_FORBID if o == HIDE else FORBID
    return o


def applies(cls: str, c: Caller, op: Op) -> bool:
    """Whether the object class exists for this caller (no one's own job for a steward)."""
    if cls != "own":
        return True
    if op.request in (job, fresh_job):
        return c.base in JOB_OWNERS
    return c.base in SIGNED_IN


# ---------------------------------------------------------------------------- the twin


@dataclass
class Marker:
    text: str
    readers: frozenset[str]  # base callers who may read it
    audit_readers: frozenset[str] | None = None  # in the audit log (default: + auditors)


@dataclass
class World:
    """The twin, its objects and everything the requests need."""

    ws: Any
    people: dict[str, Any]
    names: dict[str, str]
    runs: dict[str, str]
    round_id: int
    fresh_round_id: int
    comment_ids: dict[str, int]
    comment_text: dict[int, str]
    tile: tuple[str, str, str]
    point: str
    markers: list[Marker]
    tokens: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)
    session: tuple[str, str] | None = None  # planner2's browser session: cookie, CSRF
    cookie_name: str = ""
    client: Any = None
    counter: int = 0
    consuming: bool = True  # whether the next request is expected to change its object
    spares: dict[tuple, str] = field(default_factory=dict)
    spare_used: tuple | None = None

    def ref(self, cls: str) -> str:
        return self.names[cls]

    def whose(self, c: Caller, cls: str, other: str, else_: str) -> str:
        """``own``: the caller's person; ``other``: ``other``, or ``else_`` for them."""
        if cls == "own":
            return c.base
        return other if c.base != other else else_

    def comment_of(self, c: Caller, cls: str) -> int:
        if cls == "own":
            return self.comment_ids[c.base]
        if cls == "privvar":
            return self.comment_ids["privvar"]
        return self.comment_ids[PA2 if c.base != PA2 else PA1]

    def fresh_name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}x"

    def as_(self, who: str | None):
        if who is None:
            return audit.acting(audit.current())  # the local operator (CLI)
        return audit.acting(acting_as(self.people[who], "token"))

    def fresh_scenario(self, cls: str, share_with: str | None = None) -> str:
        """A new scenario of the class (same owner, status, shares, variant) for a request
        that consumes it; where the request is to be refused, a spare one, made again only
        after a request did change it."""
        key = (cls, share_with)
        if not self.consuming:
            if key not in self.spares:
                self.spares[key] = self._new_scenario(cls, share_with)
            self.spare_used = key
            return self.spares[key]
        return self._new_scenario(cls, share_with)

    def _new_scenario(self, cls: str, share_with: str | None) -> str:
        store = self.ws.store
        name = self.fresh_name("f-")
        with self.as_(OWNER[cls]):
            parent = self.ref("pub") if cls in VARIANTS else "baseline"
            sc.create_scenario(store, name, parent=parent, description="matrix: fresh")
            if cls in VARIANTS:
                store.rounds.add_variant(name, self.fresh_round_id)
                store.rounds.set_variant_public(name, VARIANTS[cls])
            if cls in STATUS:
                sc.set_status(store, name, STATUS[cls])
            for who in SHARED_READ.get(cls, ()):
                sc.share_scenario(store, name, who, "read")
            for who in SHARED_EDIT.get(cls, ()):
                sc.share_scenario(store, name, who, "edit")
            if share_with:
                sc.share_scenario(store, name, share_with, "read")
        return name

    def fresh_token(self, who: str) -> int:
        return accounts.create_token(self.ws.store, self.people[who], "matrix: fresh").id

    def fresh_session(self, who: str) -> tuple[str, str]:
        s = accounts.start_session(self.ws.store, self.people[who])
        return s.secret, s.csrf

    def fresh_job(self, who: str) -> str:
        ref = {PA1: self.ref("v1priv"), PA2: self.ref("v2pub")}.get(who, "baseline")
        return submit_job(self.client, self.tokens[who], ref)


def submit_job(client, token: str, ref: str) -> str:
    inputs = {"scenario": ref, "extent": list(EXTENT), "cell_m": 20}
    r = client.post(
        "/processes/road-noise/execution",
        json={"inputs": inputs},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    return r.headers["link"].split("/jobs/")[1].split(">")[0]


MARK_XY = (85034.0, 447533.0)  # the marker houses stand here, away from every other feature


def build(root) -> World:
    ws = init_workspace(root)
    store = ws.store
    seed_twin(ws, 12)
    write_town(store)
    people = {}
    for username, role in ROLES.items():
        people[username], _ = accounts.add_person(
            store, username, role, password=PASSWORD.format(username)
        )
    accounts.add_person(store, "dummy", "participant", password=PASSWORD.format("dummy"))
    accounts.set_public(store, True)
    markers: list[Marker] = []
    names: dict[str, str] = {"baseline": "baseline"}
    run_ids: dict[str, str] = {}
    world = World(ws, people, names, run_ids, 0, 0, {}, {}, ("", "", ""), "", markers)

    def mark(cls: str, readers: frozenset[str]) -> None:
        for text in (names[cls], *(f"{k}-{cls}-q" for k in ("d", "zqh", "zqn", "zqt"))):
            markers.append(Marker(text, readers))

    def fill(cls: str, height: float) -> None:
        """The class's own building height (so that its road-noise run is its own) and a
        marker house; then the run."""
        name = names[cls]
        sc.apply_interventions(
            store,
            name,
            [
                Intervention(
                    "modify",
                    f"zqt-{cls}-q",
                    "matrix",
                    layer="buildings",
                    id="front",
                    properties={"height_m": height},
                ),
                Intervention(
                    "add",
                    f"zqt-{cls}-q",
                    "matrix",
                    layer="houses",
                    id=f"zqh-{cls}-q",
                    geometry=shapely.box(*MARK_XY, MARK_XY[0] + 8, MARK_XY[1] + 6),
                    properties={"height_m": 7.0, "name": f"zqn-{cls}-q", "storeys": 2},
                ),
            ],
        )
        record, reused = runs.run_model(
            store, "road-noise", scenario=name, extent=EXTENT, params={"cell_m": 20}
        )
        assert not reused
        run_ids[cls] = record.id

    with world.as_(P1):
        record, _ = runs.run_model(store, "road-noise", extent=EXTENT, params={"cell_m": 20})
        run_ids["baseline"] = record.id
    heights = iter(range(13, 40))
    for cls in ("pub", "p1draft", "p2draft", "p2withrev", "p2shared", "p2arch", "opdraft"):
        names[cls] = f"s-{cls}-q"
        with world.as_(OWNER[cls]):
            sc.create_scenario(store, names[cls], description=f"d-{cls}-q")
            fill(cls, float(next(heights)))
            for who in SHARED_READ.get(cls, ()):
                sc.share_scenario(store, names[cls], who, "read")
            for who in SHARED_EDIT.get(cls, ()):
                sc.share_scenario(store, names[cls], who, "edit")
            if cls in STATUS:
                sc.set_status(store, names[cls], STATUS[cls])
        mark(cls, READERS[cls])
        markers.append(Marker(run_ids[cls], READERS[cls]))
    with world.as_(P1):
        sc.freeze_scenario(store, names["p1draft"], "v1")
    names["p1frozen"] = f"{names['p1draft']}@v1"
    now = utc_now()
    allowed = [
        {"kind": "modify", "layer": "buildings", "fields": ["height_m"]},
        {"kind": "modify", "layer": "houses", "fields": ["height_m"]},
        {"kind": "add", "layer": "houses"},
    ]
    with world.as_(P1):
        rounds = [
            participation.open_round(
                store,
                title=title,
                question="What do you think of the plan?",
                opens_at=to_text(now - timedelta(days=1)),
                closes_at=to_text(now + timedelta(days=30)),
                alternatives=[names["pub"]],
                allowed=allowed,
                variant_quota=quota,
            )
            for title, quota in (("Matrix round", 3), ("Round for fresh variants", 20))
        ]
    world.round_id, world.fresh_round_id = rounds[0].id, rounds[1].id
    for cls, public in VARIANTS.items():
        with world.as_(OWNER[cls]):
            names[cls] = participation.fork_variant(
                store, world.round_id, names["pub"], description=f"d-{cls}-q"
            )
            fill(cls, float(next(heights)))
            if public:
                participation.set_variant_public(store, names[cls], True)
        mark(cls, READERS[cls])
        markers.append(Marker(run_ids[cls], READERS[cls]))
    # comments: one by each person; participant1's about the private variant
    for who in ROLES:
        text = f"zqc-{who}-q"
        with world.as_(who):
            c = participation.add_comment(store, world.round_id, text)
        world.comment_ids[who] = c.id
        world.comment_text[c.id] = text
        markers.append(Marker(text, EVERYONE))
    with world.as_(PA1):
        c = participation.add_comment(
            store, world.round_id, "zqc-privvar-q", scenario=names["v1priv"]
        )
    world.comment_ids["privvar"] = c.id
    world.comment_text[c.id] = "zqc-privvar-q"
    markers.append(Marker("zqc-privvar-q", READERS["v1priv"]))
    # tokens (their names are theirs, and the auditors')
    for who in ROLES:
        name = f"tok-{who}-w"
        world.tokens[who] = accounts.create_token(store, people[who], name, scope="write").secret
        markers.append(Marker(name, frozenset({who}), frozenset({who}) | AUDITORS))
    world.tokens["planner1~read"] = accounts.create_token(
        store, people[P1], "tok-planner1-r", scope="read"
    ).secret
    markers.append(Marker("tok-planner1-r", frozenset({P1}), frozenset({P1}) | AUDITORS))
    lon, lat = transformer(RD_NEW, "OGC:CRS84").transform(MARK_XY[0] + 4, MARK_XY[1] + 3)
    t = morecantile.tms.get("WebMercatorQuad").tile(lon, lat, 16)
    world.tile = ("16", str(t.y), str(t.x))
    world.point = f"{lon},{lat}"
    return world


# ---------------------------------------------------------------------------- the app


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("matrix") / "twin"
    w = build(root)
    settings = server_settings.from_config(
        w.ws.config,
        bind="0.0.0.0",  # reachable by others: accounts, Host names, Secure cookies
        hosts=("testserver",),
        jobs_per_hour_per_person=10_000,  # the limits are not what this test is about
        comments_per_hour_per_person=10_000,
    )
    app = create_app(root, settings=settings)
    with TestClient(app, base_url="https://testserver") as client:
        w.client = client
        # a job of each person who runs models (participants on their own variants)
        for who in JOB_OWNERS:
            w.jobs[who] = submit_job(client, w.tokens[who], w.ref(JOB_SCENARIO[who]))
            w.markers.append(Marker(w.jobs[who], frozenset({who, ADMIN})))
        # planner2 signs in with a browser: the session cookie and its CSRF token
        r = client.post("/auth/login", json={"username": P2, "password": PASSWORD.format(P2)})
        assert r.status_code == 200, r.text
        cookie = r.headers["set-cookie"].split(";")[0]
        assert "tweeling" in cookie and "Secure" in r.headers["set-cookie"], cookie
        name, _, value = cookie.partition("=")
        w.cookie_name, w.session = name, (value, r.json()["csrf_token"])
        yield w, app
    w.ws.close()


# ---------------------------------------------------------------------------- requests


def headers_of(w: World, c: Caller, req: Req) -> dict[str, str]:
    if c.via == "token":
        return {"Authorization": f"Bearer {w.tokens[c.base]}"}
    if c.via == "read-token":
        return {"Authorization": f"Bearer {w.tokens['planner1~read']}"}
    if c.via == "bad-token":
        return {"Authorization": "Bearer tw_1_not-the-secret-of-any-token"}
    if c.via.startswith("session"):
        cookie, csrf = req.session or w.session
        out = {"Cookie": f"{w.cookie_name}={cookie}"}
        if c.via == "session":
            out["X-CSRF-Token"] = csrf
        return out
    return {}


def url_of(template: str, req: Req) -> str:
    path = re.sub(r"\{(\w+)\}", lambda m: quote(str(req.path[m.group(1)]), safe="@"), template)
    query = {k: v for k, v in req.query.items() if v is not None}
    return path + (f"?{urlencode(query)}" if query else "")


def send(client, method: str, url: str, headers: dict, body: Any):
    client.cookies.clear()  # each request says itself who it is
    if body is None:
        return client.request(method, url, headers=headers)
    return client.request(method, url, headers=headers, json=body)


UNKNOWN = "s-nowhere-q"


def as_unknown(client, method, url, headers, req: Req, response) -> bool:
    """Whether a 400 is exactly what the same request naming an unknown object (of the same
    shape: ``NAME@LABEL`` stays a frozen version) gets."""
    name = req.ref.split("@")[0]
    body = json.loads(json.dumps(req.body).replace(json.dumps(name)[1:-1], UNKNOWN))
    other = send(client, method, url, headers, body)
    if other.status_code != response.status_code:
        return False
    detail = response.json().get("detail", "").replace(name, UNKNOWN)
    return other.json().get("detail") == detail


def accepted(expected: str, status: int, method: str, op: Op, hidden_400: Callable[[], bool]):
    if status >= 500:
        return False
    if expected == ALLOW:
        if status in (401, 403, 404):
            return False
        if op.success or method == "GET":
            return status < 400
        return True
    if expected == DENY:
        return status in (401, 403, 404)
    if expected == FORBID:
        return status == 403
    if expected == UNAUTHORIZED:
        return status == 401
    if expected == ABSENT:
        return status == 404
    if expected == REFUSE:
        return 400 <= status < 500
    if expected in (HIDE, HIDE_OR_FORBID):
        if status == 404 or (status == 403 and expected == HIDE_OR_FORBID):
            return True
        return op.body_ref and status == 400 and hidden_400()
    raise AssertionError(expected)


def leaks(w: World, c: Caller, template: str, sent: str, content: bytes) -> list[str]:
    """Markers of what the caller may not read, in an answer (not merely echoed)."""
    me = None if c.via in ("private-twin", "bad-token") else c.base
    in_audit = template.startswith("/audit")
    found = []
    for m in w.markers:
        readers = (m.audit_readers or m.readers | AUDITORS) if in_audit else m.readers
        if me in readers or m.text in sent:
            continue
        if m.text.encode() in content:
            found.append(m.text)
    return found


@dataclass
class Case:
    method: str
    template: str
    op: Op
    caller: Caller
    cls: str
    expected: str


def operations(app) -> set[tuple[str, str]]:
    doc = app.openapi()
    return {
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    }


def plan(ops: set[tuple[str, str]]) -> list[Case]:
    cases = []
    for method, template in sorted(ops & set(EXPECTATIONS), key=lambda k: (k[1], k[0])):
        op = EXPECTATIONS[(method, template)]
        for c in CALLERS:
            classes = [cls for cls in op.classes if applies(cls, c, op)]
            if c.lite:  # where its person would be allowed, if anywhere: the mechanism shows
                as_person = Caller(c.key, c.base, "token")
                allowed = [cls for cls in classes if outcome(op, as_person, cls) == ALLOW]
                classes = (allowed or classes)[:1]
            for cls in classes:
                cases.append(Case(method, template, op, c, cls, outcome(op, c, cls)))
    # a private twin's visitor last but one (the twin is closed meanwhile); then whatever
    # ends the caller's sessions
    return sorted(
        cases,
        key=lambda k: (k.op.last, k.caller.via == "private-twin", k.caller.via == "session"),
    )


MIN_CASES = 4000  # the matrix may grow, never silently shrink


def test_every_operation_has_an_expectation(world):
    _, app = world
    ops = operations(app)
    assert not ops - set(EXPECTATIONS), (
        f"operations without expectations: {sorted(ops - set(EXPECTATIONS))}"
    )
    assert not set(EXPECTATIONS) - ops, (
        f"expectations without operations: {sorted(set(EXPECTATIONS) - ops)}"
    )


# Who holds each role right (docs/people.md, "Roles" and "Who may change what"), to read the
# rule names an operation carries in the OpenAPI document (x-tweeling-access, api/deps.py).
ROLE_HOLDERS = {
    "scenario.create": PLANNING,
    "scenario.publish": PLANNING,
    "model.run": RUNNING,
    "round.manage": PLANNING,
    "comment.moderate": PLANNING,
    "comment.write": SIGNED_IN,
    "variant.create": SIGNED_IN,
    "people.manage": ADMINS,
    "access.manage": ADMINS,
    "data.import": frozenset({ADMIN, STW}),
    "rules.import": frozenset({ADMIN, STW}),
    "audit.read_all": AUDITORS,
    "jobs.read_all": ADMINS,
}


def admitted(rules: list[str]) -> frozenset[str]:
    """Whom an operation's rules let through at all (on the public twin)."""
    out = EVERYONE
    for rule in rules:
        if rule in ("public", "read"):
            continue
        if rule in ("signed-in", "person"):
            out &= SIGNED_IN
        elif rule.startswith("role:") and rule[5:] in ROLE_HOLDERS:
            out &= ROLE_HOLDERS[rule[5:]]
        else:
            raise AssertionError(f"an access rule docs/people.md does not know: {rule}")
    return out


def rule_mismatches(declared: dict[tuple[str, str], list[str]]) -> list[str]:
    """Operations whose declared rules say otherwise than EXPECTATIONS: public ones are
    public, and the others let through exactly whom the table does."""
    out = []
    for key, rules in sorted(declared.items()):
        op = EXPECTATIONS.get(key)
        if op is None:
            continue
        if not rules:
            out.append(f"{key}: no access rule named")
        elif op.public != (rules == ["public"]):
            out.append(f"{key}: rules {rules}, but the table says public={op.public}")
        elif not op.public and admitted(rules) != op.who:
            out.append(f"{key}: rules {rules} let through {sorted(admitted(rules))}")
    return out


def test_every_operation_names_its_access_rules(world):
    """The OpenAPI document names each operation's authorisation rules (api/deps.py), and
    they agree with the table."""
    _, app = world
    declared = {
        (m.upper(), path): op.get("x-tweeling-access") or []
        for path, item in app.openapi()["paths"].items()
        for m, op in item.items()
    }
    wrong = rule_mismatches(declared)
    assert not wrong, f"{len(wrong)} operations:\n" + "\n".join(wrong)


def test_a_route_without_an_access_rule_is_refused():
    """The start-up check of api/deps.py finds a route without a rule (as create_app uses it:
    routers included in an app)."""
    router = APIRouter()

    @router.get("/unguarded")
    def unguarded() -> dict:
        return {}

    app = FastAPI()
    app.include_router(router)
    with pytest.raises(RuntimeError, match="without an authorisation rule"):
        deps.check_routes(app)


def test_permission_matrix(world):
    w, app = world
    client = w.client
    ops = operations(app)
    cases = plan(ops)
    problems: list[str] = []
    leaked: list[str] = []
    blind: list[str] = []
    seconds_per_op: Counter = Counter()
    verdicts: Counter = Counter()
    as_unknown_400: list[str] = []
    searched = 0
    started = time.perf_counter()
    private = False
    for case in cases:
        c, op, method = case.caller, case.op, case.method
        if (c.via == "private-twin") != private:
            private = c.via == "private-twin"
            accounts.set_public(w.ws.store, not private)
        t0 = time.perf_counter()
        w.consuming, w.spare_used = case.expected in (ALLOW, REFUSE), None
        req = op.request(w, c, case.cls)
        url = url_of(case.template, req)
        headers = headers_of(w, c, req)
        r = send(client, method, url, headers, req.body)
        where = f"{method} {case.template} as {c.key} on {case.cls}: {method} {url}"
        if w.spare_used and r.status_code < 400:  # wrongly allowed: it may have changed
            w.spares.pop(w.spare_used)
        unknown = partial(as_unknown, client, method, url, headers, req, r)
        ok = accepted(case.expected, r.status_code, method, op, unknown)
        if ok and r.status_code == 400 and case.expected in (HIDE, HIDE_OR_FORBID):
            as_unknown_400.append(where)
        if not ok:
            problems.append(
                f"{where}\n    expected {case.expected}, got {r.status_code}: {r.text[:160]}"
            )
        sent = url + json.dumps(req.body)
        found = leaks(w, c, case.template, sent, r.content)
        searched += len(w.markers)
        if found:
            leaked.append(f"{where}\n    {r.status_code} shows {found}")
        if ok and case.expected == ALLOW and op.shows and r.status_code < 300:
            want = op.shows(w, c.base, case.cls)
            if want and want.encode() not in r.content:  # the leak check would be blind
                blind.append(f"{where}\n    the answer lacks {want!r}")
        verdicts[case.expected] += 1
        seconds_per_op[f"{method} {case.template}"] += time.perf_counter() - t0
    accounts.set_public(w.ws.store, True)
    seconds = time.perf_counter() - started
    n_ops = len({(k.method, k.template) for k in cases})
    callers = len({k.caller.key for k in cases})
    classes = len({(k.method, k.template, k.cls) for k in cases})
    slowest = ", ".join(f"{k} {v:.1f} s" for k, v in seconds_per_op.most_common(4))
    summary = (
        f"permission matrix: {len(cases)} cases: {n_ops} operations x {callers} callers x "
        f"object classes ({classes} operation-class pairs) in {seconds:.0f} s "
        f"(slowest: {slowest}); expected {dict(verdicts)}; hidden names in a body answered as "
        f"unknown ones (400): {len(as_unknown_400)}; {searched} marker searches; "
        f"{len(problems)} wrong statuses, {len(leaked)} leaks, {len(blind)} blind checks"
    )
    print(summary)
    assert ops == set(EXPECTATIONS), (
        f"operations without expectations: {sorted(ops - set(EXPECTATIONS))}; "
        f"expectations without operations: {sorted(set(EXPECTATIONS) - ops)}"
    )
    assert len(cases) >= MIN_CASES, summary
    report = "\n".join([summary, *problems, *leaked, *blind])
    assert not (problems or leaked or blind), report
