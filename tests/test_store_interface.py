"""The store interface is the only way in: every backend implements each protocol of
``store/base.py`` with the same signatures, and no module above ``store/`` imports a
backend's internals (so a second backend needs no change above the store)."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import shapely

from tweeling.store import base
from tweeling.store.geopackage import GeoPackageStore

SRC = Path(__file__).resolve().parents[1] / "src" / "tweeling"
# What code above the store may import from it: the interface, the choice of backend, and
# the raster file helpers (every backend hands rasters out as COG files by path).
ALLOWED = {"tweeling.store.base", "tweeling.store.backends", "tweeling.store.rasters"}

PARTS = {  # protocol -> how a store reaches its implementation
    base.FeatureReads: lambda s: s,
    base.FeatureWrites: lambda s: s,
    base.RasterReads: lambda s: s,
    base.RunLog: lambda s: s,
    base.FindingsLog: lambda s: s,
    base.Scenarios: lambda s: s.scenarios,
    base.People: lambda s: s.people,
    base.AuditLog: lambda s: s.audit,
    base.Rounds: lambda s: s.rounds,
    base.Jobs: lambda s: s.jobs,
}


def _methods(protocol) -> dict[str, inspect.Signature]:
    out = {}
    for name, member in vars(protocol).items():
        if name.startswith("_"):
            continue
        if isinstance(member, property):
            out[name] = None
        elif inspect.isfunction(member):
            out[name] = inspect.signature(member)
    return out


def _shape(sig: inspect.Signature) -> list[tuple]:
    """Names, kinds and defaults of the parameters (annotations are the protocol's)."""
    return [
        (p.name, p.kind, p.default is inspect.Parameter.empty)
        for p in sig.parameters.values()
        if p.name != "self"
    ]


@pytest.fixture
def store(tmp_path, backend, request):
    if backend == "geopackage":
        s = GeoPackageStore.create(tmp_path / "twin.gpkg")
    else:
        from tweeling.store.pg_store import PostgisStore

        s = PostgisStore.create(request.getfixturevalue("pg_database"), root=tmp_path)
    yield s
    s.close()


@pytest.mark.parametrize("protocol", list(PARTS), ids=lambda p: p.__name__)
def test_each_backend_implements_every_protocol(store, protocol):
    impl = PARTS[protocol](store)
    missing, different = [], []
    for name, sig in _methods(protocol).items():
        member = getattr(type(impl), name, None)
        if member is None:
            missing.append(name)
        elif sig is not None and _shape(sig) != _shape(inspect.signature(member)):
            different.append(f"{name}{inspect.signature(member)} vs protocol {name}{sig}")
    assert not missing, f"{type(impl).__name__} lacks {missing}"
    assert not different, different
    assert isinstance(store, base.TwinStore)


def test_no_module_above_the_store_imports_a_backend():
    offenders = []
    for path in SRC.rglob("*.py"):
        if path.parent.name == "store":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                names = [n for n in names if n.startswith("tweeling.store")]
                if node.module == "tweeling.store":  # from tweeling.store import x
                    names = [f"tweeling.store.{a.name}" for a in node.names]
                elif names:
                    names = [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("tweeling.store")]
            for name in names:
                if name not in ALLOWED and name != "tweeling.store":
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_contents_carry_iso_wkb_and_diffs_carry_shapes(tmp_path):
    """What diffs compare is backend-neutral (ISO WKB, as PostGIS's ST_AsBinary gives it);
    what a diff hands out is a shapely geometry, so no caller decodes a store's blobs."""
    from tests.scenario_support import add, box_near, seed_twin
    from tweeling.services import scenarios as sc
    from tweeling.services.workspace import init_workspace

    with init_workspace(tmp_path / "twin") as ws:
        seed_twin(ws, 3)
        sc.create_scenario(ws.store, "plan")
        sc.apply_interventions(ws.store, "plan", [add("new-1", 7)])
        content = ws.store.contents("houses", ["new-1"], ws.store.view("plan"))["new-1"]
        assert content["geometry"][:1] == b"\x01"  # little-endian ISO WKB, no blob header
        assert shapely.from_wkb(content["geometry"]).equals(box_near(7))
        (change,) = sc.diff_scenarios(ws.store, "plan").layers["houses"]
        assert change.kind == "added"
        assert isinstance(change.after["geometry"], shapely.Geometry)
        assert change.after["geometry"].equals(box_near(7))
