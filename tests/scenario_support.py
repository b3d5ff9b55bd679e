"""Shared helpers of the scenario tests: a small twin of houses, states, interventions."""

from __future__ import annotations

import shapely

from tests.test_store import batch, house
from tweeling.core.changes import Change
from tweeling.core.interventions import Intervention
from tweeling.services import scenarios as sc
from tweeling.store.base import TwinStore

N_HOUSES = 30


def seed_twin(ws, n: int = N_HOUSES) -> None:
    ws.store.write(batch(house(i) for i in range(n)))


def state(store: TwinStore, ref: str | None, layer: str = "houses") -> dict:
    """What a view shows of a layer: id -> (geometry WKB, non-null attributes)."""
    return {
        f.id: (
            shapely.to_wkb(f.geometry),
            tuple(sorted((k, v) for k, v in f.properties.items() if v is not None)),
        )
        for f in store.features(layer, scenario=ref)
    }


def box_near(i: int, dx: float = 3.0):
    x, y = 85000 + 20 * (i % 500), 447500 + 20 * (i // 500)
    return shapely.box(x + dx, y + 9, x + dx + 5, y + 13)


def modify(oid: str, **props) -> Intervention:
    return Intervention("modify", f"change {oid}", "test", layer="houses", id=oid, properties=props)


def remove(oid: str) -> Intervention:
    return Intervention("remove", f"remove {oid}", "test", layer="houses", id=oid)


def add(oid: str, i: int, **props) -> Intervention:
    return Intervention(
        "add", f"add {oid}", "test", layer="houses", id=oid, geometry=box_near(i), properties=props
    )


def as_interventions(layer: str, changes: list[Change]) -> list[Intervention]:
    """A diff turned back into interventions (to rebuild a view elsewhere)."""
    out = []
    for c in changes:
        if c.kind == "removed":
            out.append(Intervention("remove", "diff", layer=layer, id=c.id))
            continue
        content = dict(c.after)
        geom = content.pop("geometry")  # a shapely geometry: diffs decode
        if c.kind == "modified":  # attributes the new content lacks are cleared
            content.update({k: None for k in c.before if k not in content and k != "geometry"})
        out.append(
            Intervention(
                "add" if c.kind == "added" else "modify",
                "diff",
                layer=layer,
                id=c.id,
                geometry=geom,
                properties=content,
            )
        )
    return out


def materialise(store: TwinStore, ref: str, name: str) -> None:
    """A scenario on the baseline holding, flat, everything ``ref`` changes."""
    sc.create_scenario(store, name)
    d = sc.diff_scenarios(store, "baseline", ref)
    ivs = [iv for layer, changes in d.layers.items() for iv in as_interventions(layer, changes)]
    for p in d.parameters:
        if p.after is None:
            continue
        ivs.append(
            Intervention(
                "parameter", "diff", parameter=p.id, value=p.after["value"], unit=p.after["unit"]
            )
        )
    if ivs:
        sc.apply_interventions(store, name, ivs)


def wait_for_locks(store, ms: int) -> None:
    """Make ``store`` give up waiting for another writer after ``ms`` milliseconds."""
    import sqlite3

    if isinstance(store._con, sqlite3.Connection):
        store._con.execute(f"PRAGMA busy_timeout = {int(ms)}")
    else:
        store._con.execute(f"SET lock_timeout = {int(ms)}")
