"""Properties of scenarios in the store (hypothesis): diff/apply, merge order, forks, frozen
hashes and deep ancestry against a materialised copy."""

from __future__ import annotations

import shutil

import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.scenario_support import (
    N_HOUSES,
    add,
    as_interventions,
    materialise,
    modify,
    remove,
    seed_twin,
    state,
)
from tweeling.core import changes as ch
from tweeling.services import scenarios as sc
from tweeling.services.workspace import init_workspace, open_workspace

SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# One step of a random plan: (kind, object number, value)
steps = st.lists(
    st.tuples(
        st.sampled_from(["add", "modify", "remove", "param"]),
        st.integers(0, N_HOUSES + 5),
        st.sampled_from([3.0, 9.0, 12.5]),
    ),
    max_size=8,
)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("template") / "twin"
    with init_workspace(root) as ws:
        seed_twin(ws)
    return root


class Twin:
    """A fresh copy of the template twin per example (copying is faster than importing)."""

    def __init__(self, template, tmp_path_factory):
        self.root = tmp_path_factory.mktemp("ex") / "twin"
        shutil.copytree(template, self.root)
        self.ws = open_workspace(self.root)
        self.store = self.ws.store

    def __enter__(self):
        return self.store

    def __exit__(self, *exc):
        self.ws.close()
        shutil.rmtree(self.root.parent, ignore_errors=True)


def plan(store, name: str, parent: str, script) -> None:
    """Create ``name`` on ``parent`` and apply a random script, each step made valid
    against what the scenario shows at that point."""
    sc.create_scenario(store, name, parent=parent)
    for kind, n, value in script:
        shown = state(store, name)
        oid = f"h{n}" if n < N_HOUSES else f"{name}-x{n}"
        if kind == "param":
            iv = sc.Intervention("parameter", "p", parameter=f"p{n % 3}", value=value, unit="1")
        elif kind == "add":
            oid = f"{name}-{n}"
            if oid in shown:
                continue
            iv = add(oid, n % N_HOUSES, height_m=value)
        elif oid not in shown:
            continue
        elif kind == "modify":
            iv = modify(oid, height_m=value)
        else:
            iv = remove(oid)
        sc.apply_interventions(store, name, [iv])


def full_state(store, ref):
    return state(store, ref), store.parameters(ref)


def shaped(contents: dict) -> dict:
    """Contents as a diff hands them out: geometries as shapely geometries (the store's
    contents carry ISO WKB)."""
    return {
        k: {**v, "geometry": shapely.from_wkb(v["geometry"])}
        for k, v in contents.items()
        if v is not None
    }


@SETTINGS
@given(a=steps, b=steps)
def test_applying_the_diff_of_b_against_a_onto_a_yields_b(template, tmp_path_factory, a, b):
    with Twin(template, tmp_path_factory) as store:
        plan(store, "a", "baseline", a)
        plan(store, "b", "baseline", b)
        d = sc.diff_scenarios(store, "a", "b")
        # pure: the changes applied to a's materialised state give b's
        va, vb = store.view("a"), store.view("b")
        ids = sorted(set(state(store, "a")) | set(state(store, "b")))
        sa, sb = (shaped(store.contents("houses", ids, v)) for v in (va, vb))
        assert ch.apply(sa, d.layers.get("houses", [])) == sb
        # in the store: the diff applied as interventions on a fork of a shows b
        sc.fork_scenario(store, "a", "a2")
        ivs = as_interventions("houses", d.layers.get("houses", []))
        ivs += [
            sc.Intervention("parameter", "d", parameter=c.id, value=c.after["value"], unit="1")
            for c in d.parameters
            if c.after is not None
        ]
        if ivs:
            sc.apply_interventions(store, "a2", ivs)
        for c in d.parameters:
            if c.after is None:
                with store.scenarios.edit("a2") as edit:
                    edit.remove_parameter(c.id)
        assert full_state(store, "a2") == full_state(store, "b")


@SETTINGS
@given(a=steps, b=steps)
def test_merging_without_conflicts_gives_the_same_result_in_either_order(
    template, tmp_path_factory, a, b
):
    with Twin(template, tmp_path_factory) as store:
        plan(store, "a", "baseline", a)
        plan(store, "b", "baseline", b)
        sc.fork_scenario(store, "a", "ab")
        sc.fork_scenario(store, "b", "ba")
        try:
            sc.merge_scenarios(store, "b", "ab")
        except sc.MergeConflicts as exc:
            # conflicts are symmetric: the other order reports the same objects
            with pytest.raises(sc.MergeConflicts) as other:
                sc.merge_scenarios(store, "a", "ba")
            assert {(layer, c.id) for layer, c in exc.conflicts} == {
                (layer, c.id) for layer, c in other.value.conflicts
            }
            assume(False)
        sc.merge_scenarios(store, "a", "ba")
        assert full_state(store, "ab") == full_state(store, "ba")


@SETTINGS
@given(a=steps)
def test_a_fork_without_changes_equals_its_parent(template, tmp_path_factory, a):
    with Twin(template, tmp_path_factory) as store:
        plan(store, "a", "baseline", a)
        sc.fork_scenario(store, "a", "f")
        assert full_state(store, "f") == full_state(store, "a")
        assert store.content_hash("f") == store.content_hash("a")
        assert sc.diff_scenarios(store, "f").empty
        box = (85000, 447500, 85200, 447530)
        assert sorted(x.id for x in store.features("houses", scenario="f", bbox=box)) == sorted(
            x.id for x in store.features("houses", scenario="a", bbox=box)
        )


@SETTINGS
@given(a=steps, change=st.tuples(st.integers(0, N_HOUSES - 1), st.sampled_from([1.0, 40.0])))
def test_a_frozen_hash_changes_when_any_content_changes(template, tmp_path_factory, a, change):
    with Twin(template, tmp_path_factory) as store:
        plan(store, "a", "baseline", a)
        v1 = sc.freeze_scenario(store, "a", "v1")
        n, height = change
        oid = f"h{n}"
        current = store.lookup("houses", [oid], scenario="a")[oid]
        if current is None:
            sc.apply_interventions(store, "a", [add(f"new{n}", n)])
        else:
            assume(current.properties["height_m"] != height)
            sc.apply_interventions(store, "a", [modify(oid, height_m=height)])
        v2 = sc.freeze_scenario(store, "a", "v2")
        assert v2.hash != v1.hash
        assert store.content_hash("a@v1") == v1.hash  # the first version is untouched


@SETTINGS
@given(
    levels=st.lists(steps, min_size=1, max_size=5),
    box=st.tuples(st.integers(0, 25), st.integers(1, 20)),
)
def test_reading_n_levels_deep_equals_reading_a_materialised_copy(
    template, tmp_path_factory, levels, box
):
    with Twin(template, tmp_path_factory) as store:
        parent = "baseline"
        for i, script in enumerate(levels):
            plan(store, f"l{i}", parent, script)
            parent = f"l{i}"
        materialise(store, parent, "flat")
        assert full_state(store, parent) == full_state(store, "flat")
        x0 = 85000 + 20 * box[0]
        bbox = (x0, 447500, x0 + 20 * box[1], 447520)
        deep = sorted(f.id for f in store.features("houses", scenario=parent, bbox=bbox))
        flat = sorted(f.id for f in store.features("houses", scenario="flat", bbox=bbox))
        assert deep == flat
        assert store.count("houses", scenario=parent) == store.count("houses", scenario="flat")
        assert store.content_hash(parent) != "" and sc.diff_scenarios(store, parent, "flat").empty
