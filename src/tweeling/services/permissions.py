"""The access policy (:mod:`tweeling.core.access`) applied to what the store holds: which
scenarios, runs and jobs a principal may read or change. Refusals are
:class:`~tweeling.core.access.Denied` (401, 403, or 404 for what they may not see)."""

from __future__ import annotations

from tweeling.core import access
from tweeling.core.access import Denied, ScenarioAccess
from tweeling.core.errors import InputError, NotFoundError
from tweeling.core.people import Principal
from tweeling.core.views import parse_ref
from tweeling.services.accounts import twin_public

BASELINE = "baseline"


def scenario_access(store, ref: str) -> ScenarioAccess:
    try:
        return store.people.scenario_access(ref)
    except InputError:
        raise
    except NotFoundError:
        raise NotFoundError(f"no scenario {parse_ref(ref)[0][:80]!r}") from None


def check_twin(store, p: Principal) -> bool:
    """Refuse a visitor of a private twin (401); returns whether the twin is public."""
    public = twin_public(store)
    if not access.can_read_twin(p, public):
        raise Denied("sign in to read this twin", 401)
    return public


def readable(store, p: Principal, ref: str | None) -> ScenarioAccess:
    """The scenario ``ref`` (None or ``baseline``: the baseline), if ``p`` may read it."""
    public = check_twin(store, p)
    s = scenario_access(store, ref or BASELINE)
    access.check_read(p, s, public)
    return s


def editable(store, p: Principal, ref: str) -> ScenarioAccess:
    public = check_twin(store, p)
    s = scenario_access(store, ref)
    access.check_edit(p, s, public)
    return s


def runnable(store, p: Principal, ref: str | None) -> ScenarioAccess:
    s = readable(store, p, ref)
    if not access.can_run_models(p, s, twin_public(store)):
        if p.role is None:
            raise Denied("sign in to run models", 401)
        access.require_write(p)
        raise Denied(f"you may not run models on scenario {s.name!r}", 403)
    return s


def readable_names(store, p: Principal) -> set[str]:
    """Names of every scenario ``p`` may read (the baseline included)."""
    public = twin_public(store)
    if not access.can_read_twin(p, public):
        return set()
    return {
        name
        for name, s in store.people.all_scenario_access().items()
        if access.can_read_scenario(p, s, public)
    }


def can_read_ref(names: set[str], ref: str) -> bool:
    return parse_ref(ref)[0] in names


def seen_by_everyone(store) -> list[str]:
    """Scenarios everyone with access to the twin may read: published plans and the
    variants their authors made public (besides the baseline)."""
    out = []
    for s in store.scenarios.list():
        variant = store.rounds.variant(s.name)
        if s.status == "published" or (variant is not None and variant.public):
            out.append(s.name)
    return out
