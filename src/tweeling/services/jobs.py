"""Model runs as asynchronous jobs: a queue served by one worker thread, and job records kept
as JSON files in ``<twin>/jobs/<job id>.json``.

The job life cycle and its status values are those of OGC API - Processes - Part 1: Core
(OGC 18-062r2, §7.11 statusInfo: accepted → running → successful | failed | dismissed); the
HTTP side is ``tweeling.api.processes``. Each job runs ``services.runs.run_model`` with the
inputs it was given, so a job makes an ordinary run with provenance (re-used when identical
inputs ran before). One worker thread, because models are heavy and use the cores they get;
it opens its own workspace, since a SQLite connection belongs to one thread.

Records are written atomically (temporary file, then rename) at every change of status, so
that a restart finds every job; the progress of a running job lives in memory only. A job
that a stopped server left ``accepted`` or ``running`` is marked failed when the queue next
opens the folder. Stopping the queue cancels the running job at its next progress report
(``models.base.Cancelled``), as dismissing that job does.

The queue is fair between people: the worker takes the oldest waiting job of the person
served least recently, so one person's 30 jobs do not hold up everyone else's. Each person
may have ``active_limit`` jobs queued or running and submit ``hourly_limit`` jobs an hour;
beyond that :class:`~tweeling.core.errors.Throttled` says when to try again (HTTP 429).
"""

from __future__ import annotations

import atexit
import concurrent.futures
import logging
import math
import os
import queue
import threading
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from tweeling.core.errors import NotFoundError, Throttled, TweelingError, WorkspaceError
from tweeling.core.people import Principal, acting_as, local_operator
from tweeling.core.timeaxis import from_text, to_text, utc_now
from tweeling.models.base import Cancelled
from tweeling.services import audit
from tweeling.services.runs import run_model

log = logging.getLogger(__name__)

FOLDER = "jobs"
STATUSES = ("accepted", "running", "successful", "failed", "dismissed")
FINISHED = frozenset({"successful", "failed", "dismissed"})
# Why a job failed (the HTTP side chooses its status code from it):
INPUT = "input"  # the inputs or the twin (a TweelingError): 400
ERROR = "error"  # the model broke: 422
INTERRUPTED = "interrupted"  # the server stopped: 422


@dataclass
class Job:
    """One execution of a model (an OGC job of type ``process``)."""

    id: str
    process: str  # model name
    # as given by the client, checked at submission: scenario (None = baseline), parameters,
    # extent (RD New box or None = the twin's area)
    inputs: dict[str, Any]
    created: str
    updated: str
    status: str = "accepted"
    message: str = "queued"
    progress: int = 0  # 0–100, from the run's progress callback
    started: str | None = None
    finished: str | None = None
    user: str = ""  # who submitted it, as the audit log names them
    person_id: int | None = None  # their account (None: the local operator)
    failure: str | None = None  # INPUT, ERROR or INTERRUPTED when failed
    # when successful: run_id, result_hash, reused, outputs (the run's summary), indicators
    result: dict[str, Any] | None = None

    @property
    def done(self) -> bool:
        return self.status in FINISHED

    def duration_s(self, now: datetime) -> float | None:
        """Seconds from start to finish, or to ``now`` while running (OGC job-list)."""
        if self.started is None:
            return None
        if self.finished is not None:
            end = from_text(self.finished)
        elif self.status == "running":
            end = now
        else:
            return None
        return (end - from_text(self.started)).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        known = {f.name for f in fields(cls)}
        job = cls(**{k: v for k, v in data.items() if k in known})
        if job.status not in STATUSES:
            raise ValueError(f"unknown status {job.status!r}")
        return job


def select(
    jobs: Iterable[Job],
    *,
    processes: Iterable[str] | None = None,
    statuses: Iterable[str] | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    min_duration_s: float | None = None,
    max_duration_s: float | None = None,
    now: datetime | None = None,
) -> list[Job]:
    """The jobs that pass the filters of OGC 18-062r2 §11 (job list): process ids, status
    values, creation time within [from, to] (open ends: None), duration in seconds (jobs
    without a duration are left out when one is asked for)."""
    now = now or utc_now()
    wanted_p = None if processes is None else set(processes)
    wanted_s = None if statuses is None else set(statuses)
    out = []
    for job in jobs:
        if wanted_p is not None and job.process not in wanted_p:
            continue
        if wanted_s is not None and job.status not in wanted_s:
            continue
        created = from_text(job.created)
        if (created_from and created < created_from) or (created_to and created > created_to):
            continue
        if min_duration_s is not None or max_duration_s is not None:
            d = job.duration_s(now)
            if d is None:
                continue
            if (min_duration_s is not None and d < min_duration_s) or (
                max_duration_s is not None and d > max_duration_s
            ):
                continue
        out.append(job)
    return out


def _now() -> str:
    return to_text(utc_now())


def _percent(fraction: float) -> int:
    if not math.isfinite(fraction):
        return 0
    return max(0, min(100, int(fraction * 100)))


@dataclass
class _Control:
    """What the queue keeps beside a job's record: a future that completes when the job has
    finished (awaitable from asyncio) and a cancel request."""

    done: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)
    cancel: bool = False

    def finish(self) -> None:
        if not self.done.done():
            self.done.set_result(None)


class JobQueue:
    """The jobs of one twin folder, executed one at a time by a worker thread.

    Use one queue per twin folder and process: opening it marks jobs that are still
    ``accepted`` or ``running`` on disk as failed (their server is gone).
    """

    def __init__(
        self, root: Path, *, user: str = "api", active_limit: int = 2, hourly_limit: int = 30
    ):
        self.root = Path(root)
        self.folder = self.root / FOLDER
        self.user = user
        self.active_limit = active_limit
        self.hourly_limit = hourly_limit
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._control: dict[str, _Control] = {}
        # one wake-up per submitted job; the worker then picks the fairest waiting job
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._served: dict[str, int] = {}  # person key -> when last served (a counter)
        self._turn = 0
        self._worker: threading.Thread | None = None
        self._stopping = False
        self._load()
        atexit.register(self.close)  # a server that never ran its shutdown still stops cleanly

    # ------------------------------------------------------------------ records

    def _load(self) -> None:
        if not self.folder.is_dir():
            return
        for path in sorted(self.folder.glob("*.json")):
            try:
                job = Job.from_dict(orjson.loads(path.read_bytes()))
            except (OSError, ValueError, TypeError) as exc:  # one bad file must not stop a server
                log.warning("skipping job file %s: %s", path, exc)
                continue
            if not job.done:
                was = job.status
                now = _now()
                job.status, job.failure, job.finished, job.updated = "failed", INTERRUPTED, now, now
                job.message = (
                    f"the server stopped while the job was {was}; nothing of it was stored "
                    "(submit it again)"
                )
                self._save(job)
            self._jobs[job.id] = job
            self._control[job.id] = _Control()
            self._control[job.id].finish()
        for stale in self.folder.glob(".*.tmp"):
            stale.unlink(missing_ok=True)

    def _save(self, job: Job) -> None:
        """Atomically: a reader (or a crash) sees the old record or the new one, whole."""
        self.folder.mkdir(exist_ok=True)
        tmp = self.folder / f".{job.id}.json.tmp"
        tmp.write_bytes(orjson.dumps(job.to_dict(), option=orjson.OPT_INDENT_2))
        os.replace(tmp, self.folder / f"{job.id}.json")

    def _change(self, job: Job, **values: Any) -> None:
        """Update a record (caller holds the lock); status changes are written to disk."""
        status = values.get("status", job.status)
        persist = status != job.status
        for key, value in values.items():
            setattr(job, key, value)
        job.updated = _now()
        if persist:
            self._save(job)
            if job.done:
                self._control[job.id].finish()

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
        with self._lock:
            if self._stopping:
                raise WorkspaceError("the server is stopping: no new jobs are accepted")
            self._check_limits(job)
            self._save(job)
            self._jobs[job.id] = job
            self._control[job.id] = _Control()
            self._start_worker()
        self._queue.put(job.id)
        return replace(job)

    def _check_limits(self, job: Job) -> None:
        """Per person: at most ``active_limit`` jobs waiting or running, ``hourly_limit``
        submitted in the last hour (caller holds the lock)."""
        mine = [j for j in self._jobs.values() if _key(j) == _key(job)]
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
        """A copy of a job's record."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFoundError(f"no job {job_id!r} (see /jobs)")
            return replace(job)

    def jobs(self) -> list[Job]:
        """Copies of every job, newest first."""
        with self._lock:
            found = [replace(j) for j in self._jobs.values()]
        return sorted(found, key=lambda j: (j.created, j.id), reverse=True)

    def finished(self, job_id: str) -> concurrent.futures.Future:
        """A future that completes (with None) when the job has finished; never cancel it
        (``asyncio.shield(asyncio.wrap_future(...))`` to await it)."""
        with self._lock:
            control = self._control.get(job_id)
        if control is None:
            raise NotFoundError(f"no job {job_id!r} (see /jobs)")
        return control.done

    def wait(self, job_id: str, timeout: float | None = None) -> Job:
        """The job once it has finished (or as it is after ``timeout`` seconds)."""
        concurrent.futures.wait([self.finished(job_id)], timeout)
        return self.get(job_id)

    def dismiss(self, job_id: str) -> Job:
        """OGC dismiss (18-062r2 §13): a queued job will not run; a running job is cancelled
        at its next progress report (its partial results are not kept); a finished job's
        record is removed (the run it made stays in the twin). Returns the job as
        dismissed."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None:
                raise NotFoundError(f"no job {job_id!r} (see /jobs)")
            if job.done:
                del self._jobs[job_id]
                del self._control[job_id]
                (self.folder / f"{job_id}.json").unlink(missing_ok=True)
                gone = replace(job, status="dismissed", updated=_now())
                gone.message = f"removed (it was {job.status})"
                return gone
            self._control[job_id].cancel = True
            running = job.status == "running"
            self._change(
                job,
                status="dismissed",
                finished=_now(),
                message="dismissed while running: stops at its next progress report"
                if running
                else "dismissed before it started",
            )
            return replace(job)

    def close(self, timeout: float = 30.0) -> None:
        """Stop: queued jobs are marked failed, the running one is cancelled at its next
        progress report; waits up to ``timeout`` seconds for the worker."""
        with self._lock:
            if self._stopping:
                return
            self._stopping = True
            for job in self._jobs.values():
                if job.status == "accepted":
                    self._change(
                        job,
                        status="failed",
                        failure=INTERRUPTED,
                        finished=_now(),
                        message="the server stopped before the job started (submit it again)",
                    )
            worker = self._worker
        atexit.unregister(self.close)
        self._queue.put(None)
        if worker is not None:
            worker.join(timeout)

    # ------------------------------------------------------------------ the worker

    def _start_worker(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(
                target=self._work, name=f"tweeling-jobs:{self.root}", daemon=True
            )
            self._worker.start()

    def _work(self) -> None:
        ws = None
        try:
            while True:
                if self._queue.get() is None:
                    return
                with self._lock:
                    job = self._next()
                    if job is None:
                        continue  # dismissed (or stopped) while queued
                    self._change(job, status="running", started=_now(), message="started")
                    work = replace(job)
                try:
                    if ws is None:
                        from tweeling.services.workspace import open_workspace

                        ws = open_workspace(self.root)
                    self._run(ws, work)
                except Exception as exc:  # the worker survives whatever one job does
                    log.exception("job %s (%s) failed", work.id, work.process)
                    self._finish(
                        work.id,
                        status="failed",
                        failure=ERROR,
                        message=f"model {work.process} failed: {type(exc).__name__}: {exc}",
                    )
        finally:
            if ws is not None:
                ws.close()

    def _next(self) -> Job | None:
        """The oldest waiting job of the person served least recently (caller holds the
        lock)."""
        waiting: dict[str, Job] = {}
        for j in sorted(self._jobs.values(), key=lambda j: (j.created, j.id)):
            if j.status == "accepted":
                waiting.setdefault(_key(j), j)
        if not waiting:
            return None
        key = min(waiting, key=lambda k: (self._served.get(k, -1), waiting[k].created))
        self._turn += 1
        self._served[key] = self._turn
        return waiting[key]

    def _principal(self, ws, work: Job) -> Principal:
        if work.person_id is None:
            return local_operator(work.user.removeprefix("local:"))
        try:
            return acting_as(ws.store.people.get(work.person_id), "job")
        except NotFoundError:
            return local_operator(work.user)

    def _run(self, ws, work: Job) -> None:
        with audit.acting(self._principal(ws, work)):
            self._run_as(ws, work)

    def _run_as(self, ws, work: Job) -> None:
        control = self._control[work.id]

        def progress(fraction: float, what: str) -> None:
            if control.cancel or self._stopping:
                raise Cancelled(what)
            with self._lock:
                job = self._jobs.get(work.id)
                if job is not None and job.status == "running":
                    self._change(job, progress=_percent(fraction), message=what)

        inputs = work.inputs
        try:
            extent = inputs.get("extent")
            record, reused = run_model(
                ws.store,
                work.process,
                scenario=inputs.get("scenario"),
                params=inputs.get("parameters"),
                extent=None if extent is None else tuple(extent),
                user=work.user,
                progress=progress,
            )
        except Cancelled:
            if control.cancel:
                return  # dismissed: the record says so already
            self._finish(
                work.id,
                status="failed",
                failure=INTERRUPTED,
                message="the server stopped while the job ran; nothing of it was stored "
                "(submit it again)",
            )
            return
        except TweelingError as exc:
            self._finish(work.id, status="failed", failure=INPUT, message=str(exc))
            return
        indicators_file = ws.store.runs_dir / record.id / "indicators.json"
        indicators = (
            orjson.loads(indicators_file.read_bytes()) if indicators_file.is_file() else None
        )
        self._finish(
            work.id,
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
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.done:
                return  # dismissed meanwhile: it stays dismissed
            self._change(job, finished=_now(), **values)


def _key(job: Job) -> str:
    return f"person:{job.person_id}" if job.person_id is not None else f"user:{job.user}"
