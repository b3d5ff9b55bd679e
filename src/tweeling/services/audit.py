"""The audit log as use cases: who is acting, recording a change, showing, verifying and
exporting the log (W3C PROV-O).

*Who* is a :class:`~tweeling.core.people.Principal` held in a context variable: the CLI
acts as the local operator (its OS user), the HTTP API sets the signed-in person for each
request (``api.deps``), and the job worker the person who submitted the job. Services call
:func:`record` inside ``store.unit()`` together with the change it records, so both commit
or neither does. See docs/audit.md.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from tweeling.core import access
from tweeling.core.audit import AuditEntry, Verification
from tweeling.core.people import Principal, local_operator
from tweeling.core.records import AuditFilter


def _os_user() -> str:
    try:
        return os.environ.get("TWEELING_USER") or getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


_current: ContextVar[Principal | None] = ContextVar("tweeling_principal", default=None)


def current() -> Principal:
    """Who acts now (the local operator unless a request or job says otherwise)."""
    p = _current.get()
    return p if p is not None else local_operator(_os_user())


@contextmanager
def acting(principal: Principal) -> Iterator[Principal]:
    token = _current.set(principal)
    try:
        yield principal
    finally:
        _current.reset(token)


def set_current(principal: Principal) -> None:
    """Set who acts for the rest of this context (an HTTP request's task)."""
    _current.set(principal)


def record(
    store,
    action: str,
    obj: str,
    *,
    scenario: str | None = None,
    version: int | None = None,
    data: dict[str, Any] | None = None,
    principal: Principal | None = None,
) -> AuditEntry:
    """Append an entry for ``action`` on ``obj`` by the current principal."""
    p = principal or current()
    details = dict(data or {})
    if p.via not in ("local", "anonymous"):
        details.setdefault("via", p.via)
    return store.audit.append(
        actor=p.actor,
        actor_id=p.person_id,
        action=action,
        obj=obj,
        scenario=scenario,
        version=version,
        data=details,
    )


def verify(store, anchors: list[tuple[int, str]] = ()) -> Verification:
    return store.audit.verify(list(anchors))


# Actions about people and security: shown in full to administrators and reviewers only.
PRIVATE_PREFIXES = ("auth.", "person.", "token.", "access.")


def visible_entries(
    store, principal: Principal, f: AuditFilter, *, limit: int, public: bool
) -> list[AuditEntry]:
    """The entries ``principal`` may see: all for administrators and reviewers; for others,
    entries about what they can read (published scenarios and their runs, rounds,
    comments) and their own account's entries. Reads in pages until ``limit`` are found."""
    if access.may(principal, "audit.read_all"):
        return store.audit.entries(f, limit=limit)
    readable = _readable_scenarios(store, principal, public)
    out: list[AuditEntry] = []
    after = f.after_seq
    while len(out) < limit:
        page = store.audit.entries(
            AuditFilter(**{**f.__dict__, "after_seq": after}), limit=max(limit * 2, 200)
        )
        if not page:
            break
        for e in page:
            if _may_see(e, principal, readable):
                out.append(e)
                if len(out) == limit:
                    break
        after = page[-1].seq
    return out


def _readable_scenarios(store, principal: Principal, public: bool) -> set[str]:
    return {
        name
        for name, s in store.people.all_scenario_access().items()
        if access.can_read_scenario(principal, s, public)
    }


def _may_see(e: AuditEntry, p: Principal, readable: set[str]) -> bool:
    if p.person_id is not None and e.actor_id == p.person_id:
        return True
    if e.action.startswith(PRIVATE_PREFIXES):
        return False
    if e.scenario is not None:
        base = e.scenario.split("@", 1)[0]
        return base in readable
    return e.action.startswith(("data.", "rules.", "round.", "comment.", "support."))


# ---------------------------------------------------------------------------- PROV-O

PROV_CONTEXT = {
    "prov": "http://www.w3.org/ns/prov#",
    "xsd": "http://www.w3.org/2001/XMLSchema#",
}


def prov_document(entries: list[AuditEntry], base: str) -> dict[str, Any]:
    """The entries as a W3C PROV-O graph in JSON-LD: each entry a ``prov:Activity``
    (startedAtTime, wasAssociatedWith its agent, used/generated the objects it names),
    people as ``prov:Agent``, the objects as ``prov:Entity``; the chain hash and link are
    kept as ``tw:hash`` and ``tw:previous``. Mapping: docs/audit.md."""
    graph: list[dict[str, Any]] = []
    agents: dict[str, dict[str, Any]] = {}
    entities: dict[str, dict[str, Any]] = {}

    def agent(name: str) -> str:
        aid = f"{base}/audit/agents/{name}"
        if aid not in agents:
            kind = "prov:SoftwareAgent" if name.startswith("local:") else "prov:Person"
            if name == "anonymous":
                kind = "prov:Agent"
            agents[aid] = {"@id": aid, "@type": ["prov:Agent", kind], "tw:name": name}
        return aid

    def entity(ref: str) -> str:
        eid = f"{base}/{ref}"
        entities.setdefault(eid, {"@id": eid, "@type": "prov:Entity"})
        return eid

    for e in entries:
        act: dict[str, Any] = {
            "@id": f"{base}/audit/{e.seq}",
            "@type": "prov:Activity",
            "tw:action": e.action,
            "prov:startedAtTime": {"@value": e.at, "@type": "xsd:dateTime"},
            "prov:endedAtTime": {"@value": e.at, "@type": "xsd:dateTime"},
            "prov:wasAssociatedWith": {"@id": agent(e.actor)},
            "tw:sequence": e.seq,
            "tw:hash": e.hash,
            "tw:previous": e.prev,
            "tw:details": e.details,
        }
        target = entity(e.object)
        if e.action.endswith((".create", ".add", ".import", ".run", ".check", ".fork")):
            entities[target]["prov:wasGeneratedBy"] = {"@id": act["@id"]}
        else:
            act["prov:used"] = [{"@id": target}]
        if e.scenario:
            scen = entity(f"scenarios/{e.scenario}")
            act.setdefault("prov:used", []).append({"@id": scen})
        if e.version is not None:
            act["tw:storeTransaction"] = e.version
        inputs = e.details.get("inputs")
        if isinstance(inputs, dict):  # a model run: the layer versions it read
            for layer, digest in inputs.items():
                ref = entity(f"collections/{layer}#sha256={digest}")
                act.setdefault("prov:used", []).append({"@id": ref})
        graph.append(act)
    # Tweeling's own terms are named under the twin's address (no namespace is claimed)
    context = {**PROV_CONTEXT, "tw": f"{base}/audit/terms#"}
    return {"@context": context, "@graph": [*agents.values(), *entities.values(), *graph]}
