"""Model runs split into tiles and computed on a Dask cluster (a LocalCluster of 2 worker
processes, reached by its address as a remote one is): the same result hash as the run in
one process, on both store backends; tiling does not change the numbers; a worker killed
mid-run or a tile that fails once costs nothing; bad input is said, not retried."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import signal
from pathlib import Path

import numpy as np
import pytest
import shapely

from tests import test_model_nitrogen as nitrogen_case
from tests.test_model_road_noise import EXTENT, write_town
from tweeling.core.errors import InputError, TweelingError
from tweeling.core.interventions import Intervention
from tweeling.models import registry
from tweeling.models.road_noise import RoadNoiseModel
from tweeling.services import runs
from tweeling.services import scenarios as sc
from tweeling.services.cluster import Cluster
from tweeling.services.workspace import init_workspace

pytestmark = pytest.mark.slow

SMALL_TILES = {"cell_m": 5.0, "tile_m": 50.0}  # 15 tiles over the test town


@pytest.fixture(scope="module")
def dask_cluster():
    """Two worker processes, one thread each; tests reach them by the scheduler's address."""
    from distributed import LocalCluster

    cluster = LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    )
    yield Cluster(address=cluster.scheduler_address)
    cluster.close()


@pytest.fixture
def town(tmp_path, store_url):
    """The road-noise test town on each store backend."""
    ws = init_workspace(tmp_path / "twin", store=store_url())
    write_town(ws.store)
    yield ws
    ws.close()


@pytest.fixture
def gpkg_town(tmp_path):
    """The town in a GeoPackage: for what does not depend on the backend (tiling, faults,
    the CLI and the server), which the tests above run on both."""
    ws = init_workspace(tmp_path / "twin")
    write_town(ws.store)
    yield ws
    ws.close()


def facades(store, record) -> dict[str, dict]:
    rows = json.loads((store.runs_dir / record.id / "facades.json").read_text())
    return {r["id"]: r for r in rows}


def test_road_noise_on_two_workers_equals_the_run_in_one_process(town, dask_cluster):
    st = town.store
    here, _ = runs.run_model(st, "road-noise", extent=EXTENT, params=SMALL_TILES)
    seen = []
    there, reused = runs.run_model(
        st,
        "road-noise",
        extent=EXTENT,
        params=SMALL_TILES,
        reuse=False,
        cluster=dask_cluster,
        progress=lambda fraction, what: seen.append((fraction, what)),
    )
    assert not reused and there.id == here.id  # the same run: same inputs, code, parameters
    assert there.result_hash == here.result_hash
    assert runs.reproduce(st, here.id, cluster=dask_cluster).identical
    # progress across tiles, rising to the end
    tiles = [what for _, what in seen if "tiles computed" in what]
    assert tiles[-1].startswith("15 of 15 tiles") and len(tiles) == 15
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] >= 0.98


def test_the_tiling_does_not_change_the_levels(gpkg_town):
    """Each receiver hears every source within reach whatever tile it is in: 15 tiles of
    50 m and one tile give the same levels (to the 0.01 dB the results are rounded to)."""
    st = gpkg_town.store
    tiled, _ = runs.run_model(st, "road-noise", extent=EXTENT, params=SMALL_TILES)
    whole, _ = runs.run_model(st, "road-noise", extent=EXTENT, params={"cell_m": 5.0})
    assert tiled.id != whole.id  # tile_m is a parameter of the run
    a, b = facades(st, tiled), facades(st, whole)
    assert a.keys() == b.keys() == {"front", "back"}
    for oid in a:
        assert a[oid]["lden_db"] == pytest.approx(b[oid]["lden_db"], abs=0.011)
    import rasterio

    grids = []
    for rec in (tiled, whole):
        with rasterio.open(st.runs_dir / rec.id / "lden.tif") as src:
            grids.append(src.read(1))
    assert np.array_equal(np.isnan(grids[0]), np.isnan(grids[1]))
    finite = np.isfinite(grids[0])
    assert finite.sum() > 500
    assert np.abs(grids[0][finite] - grids[1][finite]).max() <= 0.011
    assert any("15 tiles" in n for n in tiled.notes)


def test_nitrogen_deposition_on_two_workers_equals_one_process(tmp_path, store_url, dask_cluster):
    ws = init_workspace(tmp_path / "twin", store=store_url())
    nitrogen_case.write_sites(ws)
    farm, remote = nitrogen_case.FARM, nitrogen_case.REMOTE
    nitrogen_case.write_sources(
        ws,
        [
            nitrogen_case.source(farm[0], farm[1], nh3=farm[2]),
            nitrogen_case.source(*remote[:2], nh3=remote[2]),
            nitrogen_case.source("barn", shapely.Point(151_200, 448_800), nh3=800.0, nox=90.0),
        ],
    )
    sc.create_scenario(ws.store, "extra-farm")
    extra = nitrogen_case.add("new", shapely.Point(149_000, 451_000), nh3=2_000.0)
    sc.apply_interventions(ws.store, "extra-farm", [extra])
    params = {"wind_rose": nitrogen_case.ROSE, "tile_m": 1000.0}
    for scenario in (None, "extra-farm"):
        here, _ = runs.run_model(ws.store, "nitrogen-deposition", scenario=scenario, params=params)
        there, _ = runs.run_model(
            ws.store,
            "nitrogen-deposition",
            scenario=scenario,
            params=params,
            reuse=False,
            cluster=dask_cluster,
        )
        assert there.result_hash == here.result_hash, scenario
        assert any("tiles of source points" in n for n in there.notes)
    rows = nitrogen_case.rows_of(ws, there)
    assert any(r["difference_mol_n_per_ha_per_yr"] > 0 for r in rows.values())
    ws.close()


# --- faults ------------------------------------------------------------------------------


@dataclasses.dataclass
class FaultyRoadNoise(RoadNoiseModel):
    """Road noise whose third tile fails once, the first time any worker computes it:
    ``how`` = "kill" ends the worker process (as the OOM killer would), "raise" raises
    what a lost database connection raises."""

    how: str = "kill"
    marker: str = ""

    def __post_init__(self):
        self.info = dataclasses.replace(RoadNoiseModel.info, name=f"road-noise-{self.how}")

    def run_tile(self, ctx, tile):
        if tile.index == 2 and self.marker:
            try:
                os.close(os.open(self.marker, os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                pass  # failed once already: compute
            else:
                if self.how == "kill":
                    os.kill(os.getpid(), signal.SIGKILL)
                raise OSError("server closed the connection unexpectedly")
        return super().run_tile(ctx, tile)


@pytest.mark.parametrize("how", ["kill", "raise"])
def test_a_lost_worker_or_a_failed_tile_is_computed_again(gpkg_town, tmp_path, how):
    """A worker killed mid-tile: the scheduler gives the tile to another (the nanny starts a
    new worker); a tile that raises: tried again. Either way the run is whole and equal."""
    import cloudpickle

    cloudpickle.register_pickle_by_value(__import__(__name__))
    st = gpkg_town.store
    here, _ = runs.run_model(st, "road-noise", extent=EXTENT, params=SMALL_TILES)
    marker = tmp_path / f"failed-once-{how}"
    model = FaultyRoadNoise(how=how, marker=str(marker))
    registry.register(model)
    try:
        there, _ = runs.run_model(
            st, model.info.name, extent=EXTENT, params=SMALL_TILES, cluster=Cluster(workers=2)
        )
    finally:
        registry.unregister(model.info.name)
    assert marker.exists()  # the fault happened
    assert there.result_hash == here.result_hash


def test_bad_input_on_a_worker_is_said_at_once_and_nothing_is_stored(gpkg_town, dask_cluster):
    st = gpkg_town.store
    sc.create_scenario(st, "bad")
    change = Intervention(
        "modify", "bad", layer="road_traffic", id="r1", properties={"speed_light_kmh": 0.0}
    )
    sc.apply_interventions(st, "bad", [change])
    with pytest.raises(InputError, match=r"road_traffic/r1.*speed_light_kmh"):
        runs.run_model(
            st,
            "road-noise",
            scenario="bad",
            extent=EXTENT,
            params=SMALL_TILES,
            cluster=dask_cluster,
        )
    assert st.runs() == []


def test_models_that_cannot_be_split_and_unreachable_schedulers_are_said(gpkg_town, monkeypatch):
    from tweeling.services import cluster

    monkeypatch.setattr(cluster, "CONNECT_TIMEOUT_S", 1)
    st = gpkg_town.store
    with pytest.raises(
        TweelingError, match=r"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:9"
    ):
        runs.run_model(
            st, "road-noise", extent=EXTENT, cluster=Cluster(address="tcp://127.0.0.1:9")
        )
    with pytest.raises(InputError, match="address or a number of workers"):
        Cluster()
    assert st.runs() == []


def test_the_cli_runs_a_model_on_local_workers(gpkg_town):
    from typer.testing import CliRunner

    from tweeling.cli.main import app

    root = str(Path(gpkg_town.root))
    args = ["run", "road-noise", "--twin", root, "--extent", ",".join(map(str, EXTENT))]
    args += ["-p", "cell_m=5", "-p", "tile_m=50"]
    out = CliRunner().invoke(app, [*args, "--workers", "2"])
    assert out.exit_code == 0, out.output
    (record,) = gpkg_town.store.runs()
    here, reused = runs.run_model(gpkg_town.store, "road-noise", extent=EXTENT, params=SMALL_TILES)
    assert reused and here.result_hash == record.result_hash
    both = CliRunner().invoke(app, [*args, "--workers", "2", "--cluster", "tcp://x:1"])
    assert both.exit_code != 0 and "not both" in both.output


def test_the_server_runs_tiled_models_on_the_twins_cluster(gpkg_town, dask_cluster):
    """twin.toml [cluster] sends the API's model jobs to the cluster: the job's run equals
    the run in one process; a model that cannot be split still runs in the server."""
    import tomllib

    import tomli_w
    from fastapi.testclient import TestClient

    from tests.test_api_processes import ASYNC, finished, poll
    from tweeling.api.app import create_app

    root = Path(gpkg_town.root)
    config = tomllib.loads((root / "twin.toml").read_text())
    config["cluster"] = {"address": dask_cluster.address}
    (root / "twin.toml").write_text(tomli_w.dumps(config))
    inputs = {"extent": list(EXTENT), **SMALL_TILES}
    with TestClient(create_app(root, hosts=["testserver"])) as client:
        assert client.app.state.settings.cluster == dask_cluster
        r = client.post("/processes/road-noise/execution", json={"inputs": inputs}, headers=ASYNC)
        assert r.status_code == 201, r.text
        done = poll(client, r.json()["jobID"], finished)
        assert done["status"] == "successful", done["message"]
        results = client.get(f"/jobs/{done['jobID']}/results").json()
    here, _ = runs.run_model(
        gpkg_town.store, "road-noise", extent=EXTENT, params=SMALL_TILES, reuse=False
    )
    assert here.result_hash == results["result_hash"]


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ({"address": "tcp://a:1", "workers": 2}, "one of them"),
        ({"adress": "tcp://a:1"}, "unknown setting 'adress'"),
        ({"workers": "two"}, "a whole number"),
        ({"address": "scheduler"}, "tcp://host:8786"),
        ({"workers": 0}, "1 to 256"),
    ],
)
def test_a_bad_cluster_table_in_twin_toml_is_said(table, says):
    from tweeling.core.errors import WorkspaceError

    with pytest.raises(WorkspaceError, match=re.escape(says)):
        Cluster.from_config(table)
