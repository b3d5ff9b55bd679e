"""Model runs as asynchronous jobs: one queue per twin, kept in the twin's store and served
by every server process of the twin (``tweeling serve --workers N``), each with one worker
thread.

The job life cycle and its status values are those of OGC API - Processes - Part 1: Core
(OGC 18-062r2, §7.11 statusInfo: accepted → running → successful | failed | dismissed); the
HTTP side is ``tweeling.api.processes``, the records :mod:`tweeling.core.jobs`. Each job
runs ``services.runs.run_model`` with the inputs it was given, so a job makes an ordinary run
with provenance (re-used when identical inputs ran before). One worker thread per process,
because models are heavy and use the cores they get; several processes share the work.

A job submitted to any process waits in the store until a worker claims it (``store.jobs
.claim``: exactly one process gets it; the fairest waiting job first — the oldest of the
person whose latest job started longest ago, so one person's 30 jobs do not hold up everyone
else's). Idle workers look for waiting jobs every :data:`POLL_S` seconds and at once when
their own process takes one. Progress is written to the store as it moves (at most every
half second at the same percentage), so every process reports it; dismissing a running job
marks it dismissed in the store, and its worker, wherever it runs, stops at its next
progress report (``models.base.Cancelled``); its partial results are not kept.

Each process beats in the store every :data:`HEARTBEAT_S` seconds. A process silent for
:data:`SILENT_S` seconds is gone: the jobs it was running are failed by the others (or by
the next server to start), and a server that stops as the last one fails the waiting jobs
too (nothing would run them). Each person may have ``active_limit`` jobs queued or running
and submit ``hourly_limit`` jobs an hour; beyond that :class:`~tweeling.core.errors.Throttled`
says when to try again (HTTP 429).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from tweeling.core.errors import NotFoundError, Throttled, TweelingError, WorkspaceError
from tweeling.core.jobs import (  # noqa: F401 - the job records, re-exported for the API
    ERROR,
    FINISHED,
    INPUT,
    INTERRUPTED,
    STATUSES,
    Job,
    select,
)
from tweeling.core.people import Principal, acting_as, local_operator
from tweeling.core.timeaxis import from_text, to_text, utc_now
from tweeling.models.base import Cancelled
from tweeling.services import audit
from tweeling.services.cluster import Cluster
from tweeling.services.runs import run_model
from tweeling.store.base import TwinStore

log = logging.getLogger(__name__)

FOLDER = "jobs"  # where job records were kept (as JSON files) before they moved into the store
POLL_S = 0.5  # idle workers look for waiting jobs; waiters for jobs finished elsewhere
HEARTBEAT_S = 2.0
SILENT_S = 15.0  # a process not seen for this long is gone
PROGRESS_S = 0.5  # at most this often a progress write at an unchanged percentage

_STOPPED_RUNNING = (
    "the server stopped while the job was running; nothing of it was stored (submit it again)"
)
_STOPPED_WAITING = "the server stopped before the job started (submit it again)"


def _now() -> str:
    return to_text(utc_now())


def _percent(fraction: float) -> int:
    if not math.isfinite(fraction):
        return 0
    return max(0, min(100, int(fraction * 100)))


class JobQueue:
    """The jobs of one twin, shared through its store with its other server processes.

    ``store_of`` gives the calling thread's store (the API's per-thread workspaces); without
    it the queue opens one per thread. The worker and watcher threads open their own.
    """

    def __init__(
        self,
        root: Path,
        *,
        user: str = "api",
        active_limit: int = 2,
        hourly_limit: int = 30,
        store_of: Callable[[], TwinStore] | None = None,
        cluster: Cluster | None = None,
    ):
        self.root = Path(root)
        self.cluster = cluster  # where tiled models compute (twin.toml [cluster])
        self.user = user
        self.active_limit = active_limit
        self.hourly_limit = hourly_limit
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._store_of = store_of
        self._local = threading.local()
        self._lock = threading.Lock()
        self._waiters: dict[str, concurrent.futures.Future] = {}
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._recover()
        self._threads = [
            threading.Thread(target=self._work, name=f"tweeling-jobs:{self.root}", daemon=True),
            threading.Thread(
                target=self._watch, name=f"tweeling-jobs-watch:{self.root}", daemon=True
            ),
        ]
        for t in self._threads:
            t.start()
        atexit.register(self.close)  # a server that never ran its shutdown still stops cleanly

    # ------------------------------------------------------------------ stores per thread

    def _store(self) -> TwinStore:
        if self._store_of is not None and threading.current_thread() not in self._threads:
            return self._store_of()
        ws = getattr(self._local, "ws", None)
        if ws is None:
            from tweeling.services.workspace import open_workspace

            ws = self._local.ws = open_workspace(self.root)
        return ws.store

    def _close_own(self) -> None:
        ws = getattr(self._local, "ws", None)
        if ws is not None:
            ws.close()
            self._local.ws = None

    def _recover(self) -> None:
        """Fail the jobs of processes that are gone; take in job files of older versions."""
        jobs = self._store().jobs
        jobs.beat(self.worker_id, _now())
        self._take_in_files(jobs)
        self._fail_orphans(jobs, starting=True)

    def _fail_orphans(self, jobs, *, starting: bool = False) -> None:
        since = to_text(utc_now() - timedelta(seconds=SILENT_S))
        alive = jobs.live_workers(since)
        others = [w for w in alive if w != self.worker_id]
        jobs.fail_orphans(
            alive=alive,
            now=_now(),
            failure=INTERRUPTED,
            running=_STOPPED_RUNNING,
            # alone at start-up: whatever waits was left by servers that stopped
            waiting=_STOPPED_WAITING if starting and not others else None,
        )

    def _take_in_files(self, jobs) -> None:
        folder = self.root / FOLDER
        if not folder.is_dir():
            return
        for path in sorted(folder.glob("*.json")):
            try:
                job = Job.from_dict(orjson.loads(path.read_bytes()))
            except (OSError, ValueError, TypeError) as exc:  # one bad file must not stop a server
                log.warning("skipping job file %s: %s", path, exc)
                continue
            if jobs.get(job.id) is None:
                jobs.add(job)
            path.unlink()

    # ------------------------------------------------------------------ operations

    def submit(
        self,
        process: str,
        *,
        scenario: str | None = None,
        parameters: dict[str, Any] | None = None,
        extent: tuple[float, float, float, float] | None = None,
        principal: Principal | None = None,
    ) -> Job:
        """Queue a run of model ``process`` for ``principal`` (default: the local operator);
        inputs must have been checked (``services.runs.prepare``) — the worker checks them
        again against the twin as it is when the job starts."""
        if self._stopping.is_set():
            raise WorkspaceError("the server is stopping: no new jobs are accepted")
        now = _now()
        who = principal or local_operator(self.user)
        job = Job(
            id=str(uuid.uuid4()),
            process=process,
            inputs={
                "scenario": scenario,
                "parameters": dict(parameters or {}),
                "extent": None if extent is None else list(extent),
            },
            created=now,
            updated=now,
            user=who.actor,
            person_id=who.person_id,
        )
        store = self._store()
        self._check_limits(store, job)
        store.jobs.add(job)
        self._wake.set()
        return job

    def _check_limits(self, store: TwinStore, job: Job) -> None:
        """Per person: at most ``active_limit`` jobs waiting or running, ``hourly_limit``
        submitted in the last hour."""
        mine = store.jobs.list(who=job.who)
        active = [j for j in mine if not j.done]
        if len(active) >= self.active_limit:
            raise Throttled(
                f"{len(active)} of your jobs are waiting or running (at most "
                f"{self.active_limit}); wait for one to finish",
                30,
            )
        now = from_text(job.created)
        created = (from_text(j.created) for j in mine)
        recent = sorted(t for t in created if (now - t).total_seconds() < 3600)
        if len(recent) >= self.hourly_limit:
            wait = 3600 - (now - recent[0]).total_seconds()
            raise Throttled(f"at most {self.hourly_limit} jobs an hour per person", int(wait) + 1)

    def get(self, job_id: str) -> Job:
        job = self._store().jobs.get(job_id)
        if job is None:
            raise NotFoundError(f"no job {job_id!r} (see /jobs)")
        return job

    def jobs(self) -> list[Job]:
        """Every job, newest first."""
        return self._store().jobs.list()

    def finished(self, job_id: str) -> concurrent.futures.Future:
        """A future that completes (with None) when the job has finished, in whichever
        process it ran; never cancel it (``asyncio.shield(asyncio.wrap_future(...))``)."""
        job = self.get(job_id)
        with self._lock:
            future = self._waiters.get(job_id)
            if future is None:
                future = self._waiters[job_id] = concurrent.futures.Future()
        if job.done or self._stopping.is_set():
            self._resolve(job_id)
        return future

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """The job once it has finished (or as it is after ``timeout`` seconds)."""
        concurrent.futures.wait([self.finished(job_id)], timeout)
        return self.get(job_id)

    def dismiss(self, job_id: str) -> Job:
        """OGC dismiss (18-062r2 §13): a queued job will not run; a running job is cancelled
        at its next progress report, in whichever process runs it (its partial results are
        not kept); a finished job's record is removed (the run it made stays in the twin).
        Returns the job as dismissed."""
        jobs = self._store().jobs
        job = self.get(job_id)
        if not job.done:
            now = _now()
            changed = jobs.update(
                job_id,
                status="dismissed",
                finished=now,
                updated=now,
                message="dismissed while running: stops at its next progress report"
                if job.status == "running"
                else "dismissed before it started",
            )
            if changed is not None:
                self._resolve(job_id)
                return changed
            job = self.get(job_id)  # it finished meanwhile
        jobs.delete(job_id)
        return replace(
            job, status="dismissed", updated=_now(), message=f"removed (it was {job.status})"
        )

    def close(self, timeout: float = 30.0) -> None:
        """Stop: the running job is cancelled at its next progress report; when no other
        process of the twin serves jobs, waiting jobs are failed. Waits up to ``timeout``
        seconds for the threads."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        atexit.unregister(self.close)
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)
        try:
            jobs = self._store().jobs
            jobs.leave(self.worker_id)
            since = to_text(utc_now() - timedelta(seconds=SILENT_S))
            if not jobs.live_workers(since):  # the last server: nothing would run them
                jobs.fail_orphans(
                    alive=[],
                    now=_now(),
                    failure=INTERRUPTED,
                    running=_STOPPED_RUNNING,
                    waiting=_STOPPED_WAITING,
                )
        except TweelingError as exc:  # the store went away first: its next server cleans up
            log.warning("job queue of %s not closed cleanly: %s", self.root, exc)
        with self._lock:
            waiting = list(self._waiters)
        for job_id in waiting:
            self._resolve(job_id)
        if self._store_of is None:
            self._close_own()

    # ------------------------------------------------------------------ the threads

    def _resolve(self, job_id: str) -> None:
        with self._lock:
            future = self._waiters.pop(job_id, None)
        if future is not None and not future.done():
            future.set_result(None)

    def _work(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    job = self._store().jobs.claim(self.worker_id, _now())
                except TweelingError as exc:  # the store is busy or away: try again soon
                    log.warning("could not take a job: %s", exc)
                    job = None
                if job is None:
                    self._wake.wait(POLL_S)
                    self._wake.clear()
                    continue
                try:
                    with audit.acting(self._principal(job)):
                        self._run(job)
                except Exception as exc:  # the worker survives whatever one job does
                    log.exception("job %s (%s) failed", job.id, job.process)
                    self._finish(
                        job.id,
                        status="failed",
                        failure=ERROR,
                        message=f"model {job.process} failed: {type(exc).__name__}: {exc}",
                    )
        finally:
            self._close_own()

    def _watch(self) -> None:
        """Heartbeats; jobs finished in other processes for the waiters of this one; the
        jobs of processes that went silent."""
        last_orphans = time.monotonic()
        try:
            while not self._stopping.wait(min(POLL_S, HEARTBEAT_S)):
                try:
                    jobs = self._store().jobs
                    jobs.beat(self.worker_id, _now())
                    with self._lock:
                        waited = list(self._waiters)
                    for job_id in waited:
                        job = jobs.get(job_id)
                        if job is None or job.done:
                            self._resolve(job_id)
                    if time.monotonic() - last_orphans > SILENT_S:
                        self._fail_orphans(jobs)
                        last_orphans = time.monotonic()
                except TweelingError as exc:
                    log.warning("job watcher: %s", exc)
        finally:
            self._close_own()

    def _principal(self, job: Job) -> Principal:
        if job.person_id is None:
            return local_operator(job.user.removeprefix("local:"))
        try:
            return acting_as(self._store().people.get(job.person_id), "job")
        except NotFoundError:
            return local_operator(job.user)

    def _run(self, job: Job) -> None:
        store = self._store()
        shown = {"percent": -1, "at": 0.0}

        def progress(fraction: float, what: str) -> None:
            if self._stopping.is_set():
                raise Cancelled(what)
            percent, now = _percent(fraction), time.monotonic()
            if percent == shown["percent"] and now - shown["at"] < PROGRESS_S:
                return
            shown.update(percent=percent, at=now)
            if store.jobs.update(job.id, progress=percent, message=what, updated=_now()) is None:
                raise Cancelled(what)  # dismissed meanwhile (by any process)

        inputs = job.inputs
        try:
            extent = inputs.get("extent")
            record, reused = run_model(
                store,
                job.process,
                scenario=inputs.get("scenario"),
                params=inputs.get("parameters"),
                extent=None if extent is None else tuple(extent),
                user=job.user,
                progress=progress,
                cluster=self.cluster if self.cluster and _tiled(job.process) else None,
            )
        except Cancelled:
            if self._stopping.is_set():
                self._finish(job.id, status="failed", failure=INTERRUPTED, message=_STOPPED_RUNNING)
            else:
                self._resolve(job.id)  # dismissed: the record says so already
            return
        except TweelingError as exc:
            self._finish(job.id, status="failed", failure=INPUT, message=str(exc))
            return
        indicators_file = store.runs_dir / record.id / "indicators.json"
        indicators = (
            orjson.loads(indicators_file.read_bytes()) if indicators_file.is_file() else None
        )
        self._finish(
            job.id,
            status="successful",
            progress=100,
            message=(
                f"run {record.id}: identical inputs ran before, its result is re-used"
                if reused
                else f"run {record.id} computed in {record.duration_s:g} s"
            ),
            result={
                "run_id": record.id,
                "result_hash": record.result_hash,
                "reused": reused,
                "outputs": record.outputs,
                "indicators": indicators,
            },
        )

    def _finish(self, job_id: str, **values: Any) -> None:
        """The end of a job, unless it was dismissed meanwhile (then it stays dismissed)."""
        now = _now()
        self._store().jobs.update(job_id, finished=now, updated=now, **values)
        self._resolve(job_id)


def _tiled(process: str) -> bool:
    """Whether a model splits into tiles (and so can run on the twin's cluster)."""
    from tweeling.models import registry
    from tweeling.models.tiling import is_tiled

    return is_tiled(registry.get(process))
