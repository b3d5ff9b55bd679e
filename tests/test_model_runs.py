"""The model framework: parameters checked before work, runs stored with provenance,
identical inputs re-used, reproduction verified, interrupted runs leave nothing."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio

from tests.scenario_support import modify, seed_twin
from tests.test_cli import tw
from tweeling.core.errors import InputError, NotFoundError
from tweeling.core.interventions import Intervention
from tweeling.models import registry
from tweeling.models.base import (
    Grid,
    ModelInfo,
    ModelResult,
    Output,
    Parameter,
    RunContext,
)
from tweeling.services import runs
from tweeling.services import scenarios as sc
from tweeling.services.workspace import init_workspace


class HeightModel:
    """A small real computation for testing the framework: the tallest building per grid
    cell, per-building scaled heights and two indicators."""

    info = ModelInfo(
        name="test-heights",
        version="1.0",
        theme="test",
        title="Tallest building per cell",
        inputs=("houses",),
        parameters=(
            Parameter(
                "cell_m", "m", 10.0, "cell size", minimum=0, exclusive_minimum=True, maximum=100
            ),
            Parameter("traffic_growth", "1", 1.0, "a factor", minimum=0),
        ),
        outputs=(
            Output("max_height", "grid", "m", "tallest building per cell"),
            Output("scaled", "objects", "m", "height × factor per building"),
        ),
        methods=("none (test model)",),
        limitations=("test only",),
    )

    def __init__(self):
        self.calls = 0
        self.interrupt = False

    def run(self, ctx: RunContext) -> ModelResult:
        self.calls += 1
        cell = ctx.parameters["cell_m"]
        minx, miny, maxx, maxy = ctx.extent
        cols, rows = int(np.ceil((maxx - minx) / cell)), int(np.ceil((maxy - miny) / cell))
        grid = np.full((rows, cols), np.nan)
        scaled, heights = [], []
        for i, f in enumerate(ctx.features("houses")):
            if self.interrupt and i == 3:
                raise KeyboardInterrupt
            c = f.geometry.centroid
            r, k = int((maxy - c.y) // cell), int((c.x - minx) // cell)
            h = f.properties["height_m"]
            grid[r, k] = np.nanmax([grid[r, k], h])
            heights.append(h)
            scaled.append(
                {"layer": "houses", "id": f.id, "value": h * ctx.parameters["traffic_growth"]}
            )
            ctx.progress(i / 30, "buildings")
        return ModelResult(
            grids={"max_height": Grid(grid, minx, maxy, cell, "m")},
            objects={"scaled": scaled},
            indicators={
                "count": {"value": len(heights), "unit": "1"},
                "mean_height": {"value": float(np.mean(heights)), "unit": "m"},
            },
            notes=["test run"],
        )


@pytest.fixture
def model():
    m = HeightModel()
    registry.register(m)
    yield m
    registry.unregister(m.info.name)


@pytest.fixture
def ws(tmp_path, store_url):
    w = init_workspace(tmp_path / "twin", store=store_url())
    seed_twin(w)
    yield w
    w.close()


EXTENT = (84990.0, 447490.0, 85610.0, 447530.0)


def test_a_run_is_stored_with_provenance_and_reused(ws, model):
    st = ws.store
    rec, reused = runs.run_model(st, "test-heights", extent=EXTENT, user="ana")
    assert not reused and model.calls == 1
    assert rec.parameters == {"cell_m": 10.0, "traffic_growth": 1.0}  # defaults filled in
    assert rec.scenario == "baseline" and rec.user == "ana" and set(rec.inputs) == {"houses"}
    assert rec.inputs["houses"] == st.content_hash(layers=["houses"])
    folder = st.runs_dir / rec.id
    with rasterio.open(folder / "max_height.tif") as src:
        assert src.crs.to_epsg() == 28992 and src.res == (10.0, 10.0)
        assert np.nanmax(src.read(1)) == 6.0
    assert (folder / "run.json").exists() and (folder / "scaled.json").exists()
    assert st.run(rec.id) == rec and [r.id for r in st.runs()] == [rec.id]
    # identical inputs: the stored run, not a new computation
    again, reused = runs.run_model(st, "test-heights", extent=EXTENT)
    assert reused and again.id == rec.id and model.calls == 1
    # another parameter: another run
    other, reused = runs.run_model(st, "test-heights", extent=EXTENT, params={"cell_m": 20})
    assert not reused and other.id != rec.id and other.result_hash != rec.result_hash


def test_scenario_runs_see_the_scenario_and_its_parameters(ws, model):
    st = ws.store
    base, _ = runs.run_model(st, "test-heights", extent=EXTENT)
    sc.create_scenario(st, "taller")
    sc.apply_interventions(
        st,
        "taller",
        [
            modify("h1", height_m=30.0),
            Intervention("parameter", "growth", parameter="traffic_growth", value=2.0, unit="1"),
        ],
    )
    rec, _ = runs.run_model(st, "test-heights", scenario="taller", extent=EXTENT)
    assert rec.parameters["traffic_growth"] == 2.0  # from the scenario
    assert rec.inputs["houses"] != base.inputs["houses"]
    with rasterio.open(st.runs_dir / rec.id / "max_height.tif") as src:
        assert np.nanmax(src.read(1)) == 30.0
    # an explicit parameter overrides the scenario's
    rec2, _ = runs.run_model(
        st, "test-heights", scenario="taller", extent=EXTENT, params={"traffic_growth": 3}
    )
    assert rec2.parameters["traffic_growth"] == 3.0
    # a scenario parameter in another unit is refused
    sc.create_scenario(st, "odd")
    sc.apply_interventions(
        st, "odd", [Intervention("parameter", "g", parameter="traffic_growth", value=20, unit="%")]
    )
    with pytest.raises(InputError, match="sets traffic_growth in '%'; model test-heights takes"):
        runs.run_model(st, "test-heights", scenario="odd", extent=EXTENT)


def test_reproduce_verifies_the_result_hash(ws, model):
    st = ws.store
    sc.create_scenario(st, "plan")
    sc.apply_interventions(st, "plan", [modify("h2", height_m=9.0)])
    sc.freeze_scenario(st, "plan", "v1")
    rec, _ = runs.run_model(st, "test-heights", scenario="plan@v1", extent=EXTENT)
    rep = runs.reproduce(st, rec.id)
    assert rep.identical and rep.inputs_equal and rep.code_equal
    # the scenario moves on; its frozen version does not, so the run still reproduces
    sc.apply_interventions(st, "plan", [modify("h3", height_m=12.0)])
    assert runs.reproduce(st, rec.id).identical
    live, _ = runs.run_model(st, "test-heights", scenario="plan", extent=EXTENT)
    sc.apply_interventions(st, "plan", [modify("h4", height_m=15.0)])
    rep = runs.reproduce(st, live.id)
    assert not rep.identical and not rep.inputs_equal
    with pytest.raises(NotFoundError, match="unknown run 'nope'"):
        runs.reproduce(st, "nope")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"name": "nope"}, NotFoundError, "unknown model 'nope'"),
        ({"params": {"colour": 1}}, InputError, "has no parameter 'colour'"),
        ({"params": {"cell_m": -5}}, InputError, r"cell_m = -5 must be within \(0, 100\] m"),
        ({"params": {"cell_m": 0}}, InputError, "must be within"),
        ({"params": {"cell_m": "wide"}}, InputError, "must be a number"),
        ({"extent": (85000, 447500, 85000, 447600)}, InputError, "is empty"),
        ({"extent": (150000, 450000, 150100, 450100)}, InputError, "outside the twin's area"),
        ({"scenario": "nope"}, NotFoundError, "unknown scenario 'nope'"),
    ],
)
def test_bad_input_is_refused_before_any_work(ws, model, kwargs, error, message):
    args = {"name": "test-heights", "extent": EXTENT, **kwargs}
    with pytest.raises(error, match=message):
        runs.run_model(ws.store, args.pop("name"), **args)
    assert model.calls == 0 and ws.store.runs() == []


def test_an_interrupted_run_leaves_nothing(ws, model):
    model.interrupt = True
    with pytest.raises(KeyboardInterrupt):
        runs.run_model(ws.store, "test-heights", extent=EXTENT)
    assert ws.store.runs() == []
    assert not ws.store.runs_dir.exists() or list(ws.store.runs_dir.iterdir()) == []


def test_models_and_runs_in_the_cli(ws, model):
    out = tw("models")
    assert out.exit_code == 0 and "test-heights" in out.output
    out = tw("models", "test-heights")
    assert "cell_m" in out.output and "(0, 100] m" in out.output
    root = ws.root
    out = tw(
        "run",
        "test-heights",
        "--extent",
        ",".join(map(str, EXTENT)),
        "-p",
        "cell_m=20",
        "--twin",
        root,
    )
    assert out.exit_code == 0, out.output
    assert "result sha256:" in out.output
    run_id = ws.store.runs()[0].id
    assert run_id in tw("runs", "--twin", root).output
    out = tw("reproduce", run_id, "--twin", root)
    assert out.exit_code == 0 and "identical result" in out.output, out.output
    out = tw("run", "test-heights", "-p", "cell_m=-1", "--twin", root)
    assert out.exit_code == 1 and "must be within" in out.output
    out = tw("run", "test-heights", "-p", "cell_m", "--twin", root)
    assert out.exit_code == 1 and "expected name=value" in out.output
