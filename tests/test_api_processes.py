"""OGC API - Processes over a small twin with a road: models listed and described with their
parameter schemas, jobs run asynchronously (progress, results linked to a run identical to
one run directly) or synchronously, bad input refused before a job exists, failures reported
with the model's message, dismissing, and jobs that outlive the server."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from tests.test_model_road_noise import EXTENT, Y_ROAD, write_town
from tweeling.api.app import create_app
from tweeling.api.processes import CONFORMANCE
from tweeling.core.interventions import Intervention
from tweeling.models import registry
from tweeling.models.base import ModelInfo, ModelResult, Output, Parameter
from tweeling.models.road_noise import RoadNoiseModel
from tweeling.services import runs
from tweeling.services import scenarios as sc
from tweeling.services.jobs import Job
from tweeling.services.workspace import init_workspace, open_workspace

ASYNC = {"Prefer": "respond-async"}
EXC = "http://www.opengis.net/def/exceptions/ogcapi-processes-1/1.0/"
NOISE = {"extent": list(EXTENT), "cell_m": 20}
# 80 m north of the road: with max_distance_m = 50 the model finds no road and fails
NO_ROAD = {"extent": [85000, Y_ROAD + 80, 85050, Y_ROAD + 100], "max_distance_m": 50}


class GateModel:
    """Reports progress and waits until the test opens its gate (polling, so that a
    dismissal or a shutdown can cancel it at a progress report)."""

    info = ModelInfo(
        name="test-gate",
        version="1",
        theme="test",
        title="Waits for the test",
        inputs=("buildings",),
        parameters=(Parameter("steps", "1", 3, "a number", type="integer", minimum=1),),
        outputs=(Output("indicators", "indicators", "1", "the steps"),),
        methods=("none (test model)",),
        limitations=("test only",),
    )

    def __init__(self):
        self.gate = threading.Event()
        self.waiting = threading.Event()

    def run(self, ctx):
        ctx.progress(0.25, "started")
        self.waiting.set()
        while not self.gate.wait(0.01):
            ctx.progress(0.5, "waiting for the gate")
        ctx.progress(0.75, "gate open")
        return ModelResult(indicators={"steps": {"value": ctx.parameters["steps"], "unit": "1"}})


@pytest.fixture
def root(tmp_path, store_url):
    """A twin with two rows of houses, a park and one road (as the road-noise tests), and a
    scenario with twice the traffic (on each store backend)."""
    path = tmp_path / "twin"
    w = init_workspace(path, store=store_url())
    write_town(w.store)
    sc.create_scenario(w.store, "busier")
    more = {"aadt_veh_per_day": 20000.0}
    sc.apply_interventions(
        w.store,
        "busier",
        [Intervention("modify", "more", layer="road_traffic", id="r1", properties=more)],
    )
    w.close()
    return path


@pytest.fixture
def gate():
    model = GateModel()
    registry.register(model)
    yield model
    model.gate.set()
    registry.unregister(model.info.name)


@pytest.fixture
def client(root):
    with TestClient(create_app(root, hosts=["testserver"])) as c:
        yield c


def poll(client, job_id, until):
    """The job's status once ``until(status)`` holds (a guard fails the test after 60 s)."""
    deadline = time.monotonic() + 60
    while True:
        status = client.get(f"/jobs/{job_id}").json()
        if until(status):
            return status
        assert time.monotonic() < deadline, f"job stuck: {status}"
        time.sleep(0.01)


def finished(status):
    return status["status"] in ("successful", "failed", "dismissed")


def submit(client, process, inputs):
    r = client.post(f"/processes/{process}/execution", json={"inputs": inputs}, headers=ASYNC)
    assert r.status_code == 201, r.text
    return r


def job_ids(client) -> set[str]:
    return {j["jobID"] for j in client.get("/jobs?limit=1000").json()["jobs"]}


# ------------------------------------------------------------------------ descriptions


def test_models_are_listed_and_described_with_their_parameter_schemas(client):
    body = client.get("/processes").json()
    summaries = {p["id"]: p for p in body["processes"]}
    assert {"road-noise", "wind-turbines", "nitrogen-deposition"} <= set(summaries)
    noise = summaries["road-noise"]
    assert noise["version"] == RoadNoiseModel.info.version
    assert {"async-execute", "sync-execute", "dismiss"} <= set(noise["jobControlOptions"])
    desc_link = next(link["href"] for link in noise["links"] if link["rel"] == "self")
    assert desc_link.endswith("/processes/road-noise")

    desc = client.get("/processes/road-noise").json()
    info = registry.get("road-noise").info
    for p in info.parameters:
        given = desc["inputs"][p.name]
        assert given["schema"]["type"] == "number"
        assert given["schema"]["minimum"] == p.minimum and given["schema"]["maximum"] == p.maximum
        assert given["schema"]["default"] == p.default and given["unit"] == p.unit
        assert given["minOccurs"] == 0
    assert desc["inputs"]["scenario"]["schema"]["default"] == "baseline"
    extent = desc["inputs"]["extent"]["schema"]
    with open_workspace(client.app.state.twins.root) as ws:
        assert extent["default"] == list(ws.store.area_of_interest())  # the model's default
    assert desc["outputs"]["lden"]["unit"] == "dB"
    assert {"run_id", "result_hash", "lden", "facades", "indicators"} <= set(desc["outputs"])
    roles = {(m["role"], m["value"]) for m in desc["metadata"]}
    assert {("method", m) for m in info.methods} <= roles
    assert {("limitation", m) for m in info.limitations} <= roles
    execute = next(link for link in desc["links"] if link["rel"].endswith("/execute"))
    assert execute["href"].endswith("/processes/road-noise/execution")

    wind = client.get("/processes/wind-turbines").json()["inputs"]
    assert wind["year"]["schema"]["type"] == "integer"
    assert wind["relevance_distance_m"]["schema"]["exclusiveMinimum"] is True
    nitrogen = client.get("/processes/nitrogen-deposition").json()["inputs"]
    assert nitrogen["wind_rose"]["minOccurs"] == 1  # required: it has no default
    assert nitrogen["sensitive_sites_only"]["schema"] == {"type": "boolean", "default": True}
    assert set(CONFORMANCE) >= {
        "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/core",
        "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/job-list",
    }


# ------------------------------------------------------------------------ execution


def test_async_job_runs_and_its_run_equals_a_direct_run(client, root):
    r = submit(client, "road-noise", {**NOISE, "scenario": "busier"})
    job = r.json()
    assert r.headers["location"].endswith(f"/jobs/{job['jobID']}")
    assert r.headers["preference-applied"] == "respond-async"
    assert job["status"] in ("accepted", "running") and job["processID"] == "road-noise"
    done = poll(client, job["jobID"], finished)
    assert done["status"] == "successful", done["message"]
    assert done["progress"] == 100 and done["started"] <= done["finished"]
    results_link = next(x["href"] for x in done["links"] if x["rel"].endswith("/results"))
    results = client.get(results_link.replace("http://testserver", "")).json()
    run_id = results["run_id"]
    assert results["run"]["href"].endswith(f"/runs/{run_id}")
    assert results["lden"]["href"].endswith(f"/runs/{run_id}/outputs/lden")
    assert results["lden"]["type"].startswith("image/tiff")
    assert results["facades"]["href"].endswith(f"/runs/{run_id}/outputs/facades")
    assert results["indicators"]["max_facade_lden"]["unit"] == "dB"
    with open_workspace(root) as ws:
        direct, reused = runs.run_model(
            ws.store,
            "road-noise",
            scenario="busier",
            params={"cell_m": 20},
            extent=EXTENT,
            reuse=False,  # compute again, not just find the job's run
        )
        assert not reused
        assert ws.store.run(run_id).scenario == "busier"
    assert direct.id == run_id and direct.result_hash == results["result_hash"]


def test_progress_moves_and_results_wait_until_the_job_is_done(client, gate):
    job_id = submit(client, "test-gate", {"steps": 4}).json()["jobID"]
    assert gate.waiting.wait(60)
    running = poll(client, job_id, lambda s: s["progress"] == 50)
    assert running["status"] == "running" and running["message"] == "waiting for the gate"
    early = client.get(f"/jobs/{job_id}/results")
    assert early.status_code == 404 and early.json()["type"] == EXC + "result-not-ready"
    gate.gate.set()
    done = poll(client, job_id, finished)
    assert (done["status"], done["progress"]) == ("successful", 100)
    results = client.get(f"/jobs/{job_id}/results").json()
    assert results["indicators"] == {"steps": {"unit": "1", "value": 4}}


def test_sync_execution_returns_the_results_document(client):
    r = client.post("/processes/road-noise/execution", json={"inputs": NOISE})
    assert r.status_code == 200, r.text
    body = r.json()
    assert len(body["result_hash"]) == 64 and body["lden"]["href"].endswith("/outputs/lden")
    # the job is kept and linked; the same inputs again re-use the stored run
    monitor = r.headers["link"].split(">")[0].lstrip("<").replace("http://testserver", "")
    assert client.get(monitor).json()["status"] == "successful"
    again = client.post("/processes/road-noise/execution", json={"inputs": NOISE}).json()
    assert again["run_id"] == body["run_id"] and again["result_hash"] == body["result_hash"]


BAD = [
    ({"cell_m": 0}, "cell_m"),
    ({"cell_m": "ten"}, "cell_m"),
    ({"cell_m": True}, "cell_m"),
    ({"no_such_thing": 1}, "no_such_thing"),
    ({"scenario": "nope"}, "scenario"),
    ({"scenario": "busier@v9"}, "scenario"),
    ({"scenario": 5}, "scenario"),
    ({"extent": [1, 2, 3]}, "extent"),
    ({"extent": [85000, 447500, 84000, 447600]}, "extent"),
    ({"extent": ["a", 2, 3, 4]}, "extent"),
    ({"extent": [0, 0, 10, 10]}, "extent"),
    ({"extent": {"bbox": [4, 52, 5, 53], "crs": "EPSG:4326"}}, "crs"),
]


@pytest.mark.parametrize(("inputs", "named"), BAD)
def test_bad_input_is_refused_before_a_job_exists(client, inputs, named):
    before = job_ids(client)
    for headers in (ASYNC, {}):
        r = client.post("/processes/road-noise/execution", json={"inputs": inputs}, headers=headers)
        assert r.status_code == 400, r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert named in r.json()["detail"]
    assert job_ids(client) == before


def test_hostile_requests_are_4xx(client):
    before = job_ids(client)
    for body in ({"inputs": 5}, {"inputs": {}, "response": "raw"}, [1, 2]):
        r = client.post("/processes/road-noise/execution", json=body, headers=ASYNC)
        assert r.status_code == 400, r.text
    r = client.post("/processes/road-noise/execution", content=b"{not json", headers=ASYNC)
    assert r.status_code == 400
    # a model the twin has no input layer for: refused up front, naming the layer
    r = client.post("/processes/wind-turbines/execution", json={"inputs": {}}, headers=ASYNC)
    assert r.status_code == 400 and "wind_turbines" in r.json()["detail"]
    for url in ("/jobs?status=nope", "/jobs?limit=0", "/jobs?datetime=yesterday"):
        assert client.get(url).status_code == 400, url
    assert job_ids(client) == before


def test_unknown_process_and_job_are_404(client):
    for r in (
        client.get("/processes/nope"),
        client.post("/processes/nope/execution", json={"inputs": {}}, headers=ASYNC),
    ):
        assert r.status_code == 404 and r.json()["type"] == EXC + "no-such-process"
    for r in (
        client.get("/jobs/nope"),
        client.get("/jobs/nope/results"),
        client.delete("/jobs/nope"),
    ):
        assert r.status_code == 404 and r.json()["type"] == EXC + "no-such-job"


def test_a_failure_inside_the_model_is_reported_with_its_message(client, root):
    job_id = submit(client, "road-noise", NO_ROAD).json()["jobID"]
    done = poll(client, job_id, finished)
    assert done["status"] == "failed"
    assert "no road_traffic objects within max_distance_m" in done["message"]
    r = client.get(f"/jobs/{job_id}/results")
    assert r.status_code == 400 and "no road_traffic" in r.json()["detail"]
    sync = client.post("/processes/road-noise/execution", json={"inputs": NO_ROAD})
    assert sync.status_code == 400 and "no road_traffic" in sync.json()["detail"]
    with open_workspace(root) as ws:
        assert ws.store.runs() == []  # nothing stored


# ------------------------------------------------------------------------ jobs


def test_job_list_filters_and_pages(client, gate):
    gate.gate.set()
    ids = []
    for n in (1, 2, 3):  # one after the other: a person may have 2 jobs waiting or running
        ids.append(submit(client, "test-gate", {"steps": n}).json()["jobID"])
        poll(client, ids[-1], finished)
    failed = submit(client, "road-noise", NO_ROAD).json()["jobID"]
    poll(client, failed, finished)
    page = client.get("/jobs?limit=2").json()
    assert [j["jobID"] for j in page["jobs"]] == [failed, ids[2]]  # newest first
    nxt = next(x["href"] for x in page["links"] if x["rel"] == "next")
    rest = client.get(nxt.replace("http://testserver", "")).json()
    assert [j["jobID"] for j in rest["jobs"]] == [ids[1], ids[0]]
    by_process = client.get("/jobs?processID=test-gate&limit=100").json()["jobs"]
    assert {j["jobID"] for j in by_process} == set(ids)
    by_status = client.get("/jobs?status=failed").json()["jobs"]
    assert [j["jobID"] for j in by_status] == [failed]
    created = client.get(f"/jobs/{ids[1]}").json()["created"]
    since = client.get(f"/jobs?datetime={created}/..&limit=100").json()["jobs"]
    assert {j["jobID"] for j in since} == {ids[1], ids[2], failed}
    assert client.get("/jobs?type=other").json()["jobs"] == []
    assert len(client.get("/jobs?minDuration=0&limit=100").json()["jobs"]) == 4


def test_dismiss_a_queued_a_running_and_a_finished_job(client, gate, root):
    running = submit(client, "test-gate", {"steps": 1}).json()["jobID"]
    assert gate.waiting.wait(60)
    queued = submit(client, "test-gate", {"steps": 2}).json()["jobID"]
    assert client.get(f"/jobs/{queued}").json()["status"] == "accepted"

    r = client.delete(f"/jobs/{queued}")
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    r = client.delete(f"/jobs/{running}")
    assert r.status_code == 200 and r.json()["status"] == "dismissed"
    # the next job runs once the dismissed one has stopped at a progress report
    gate.gate.set()
    after = submit(client, "test-gate", {"steps": 3}).json()["jobID"]
    assert poll(client, after, finished)["status"] == "successful"
    for job_id in (queued, running):
        assert client.get(f"/jobs/{job_id}").json()["status"] == "dismissed"
        assert client.get(f"/jobs/{job_id}/results").status_code == 410
    with open_workspace(root) as ws:
        assert [r.parameters["steps"] for r in ws.store.runs(model="test-gate")] == [3]
    # a finished job's record is removed; the run it made stays in the twin
    assert client.delete(f"/jobs/{after}").json()["status"] == "dismissed"
    assert client.get(f"/jobs/{after}").status_code == 404
    with open_workspace(root) as ws:
        assert ws.store.jobs.get(after) is None


def test_jobs_outlive_the_server(root, gate):
    with TestClient(create_app(root, hosts=["testserver"])) as c:
        done = c.post("/processes/road-noise/execution", json={"inputs": NOISE}).json()
        ok = next(j["jobID"] for j in c.get("/jobs").json()["jobs"])
        stopped = submit(c, "test-gate", {"steps": 1}).json()["jobID"]
        assert gate.waiting.wait(60)
        queued = submit(c, "test-gate", {"steps": 2}).json()["jobID"]
    # leaving the client stopped the server and its worker: the running job was cancelled
    # at a progress report, the queued one never started (both recorded in the store)
    assert not [t for t in threading.enumerate() if t.name == f"tweeling-jobs:{root}"]
    with open_workspace(root) as ws:
        for job_id in (stopped, queued):
            stored = ws.store.jobs.get(job_id)
            assert stored.status == "failed" and stored.finished
        # a server that died without stopping leaves a job 'running' in the store
        dead = Job(
            "dead-job",
            "road-noise",
            {"scenario": None, "parameters": {}, "extent": None},
            "2025-01-01T00:00:00.000000Z",
            "2025-01-01T00:00:01.000000Z",
            status="running",
            started="2025-01-01T00:00:01.000000Z",
            worker="gone-host:1234:dead",
        )
        ws.store.jobs.add(dead)
    with TestClient(create_app(root, hosts=["testserver"])) as c:
        kept = c.get(f"/jobs/{ok}").json()
        assert kept["status"] == "successful"
        assert c.get(f"/jobs/{ok}/results").json()["result_hash"] == done["result_hash"]
        for job_id in (stopped, queued, "dead-job"):
            status = c.get(f"/jobs/{job_id}").json()
            assert status["status"] == "failed" and "server stopped" in status["message"]
            assert c.get(f"/jobs/{job_id}/results").status_code == 422
    with open_workspace(root) as ws:
        assert ws.store.runs(model="test-gate") == []
