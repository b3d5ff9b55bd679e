"""Jobs: one execution of a model requested over the API (an OGC API - Processes job), the
record every backend stores (``store.jobs``) and the job queue (:mod:`services.jobs`) reads.

Status values and their life cycle are those of OGC API - Processes - Part 1: Core (OGC
18-062r2, §7.11 statusInfo: accepted → running → successful | failed | dismissed).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from datetime import datetime
from typing import Any

from tweeling.core.timeaxis import from_text, utc_now

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
    worker: str | None = None  # the server process that runs or ran it

    @property
    def who(self) -> str:
        """Whose job it is, for fairness and limits: the account, else the user name."""
        return f"person:{self.person_id}" if self.person_id is not None else f"user:{self.user}"

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
