"""The job queue's records in the store, shared by every server process of a twin and by
both backends (``store.jobs``; the queue itself is :mod:`services.jobs`).

A job is taken by one process only: :meth:`claim` marks the fairest waiting job running by
that process inside a write transaction that holds the ``"jobs"`` lock (SQLite: the write
lock; PostgreSQL: an advisory lock). Processes that take jobs beat in ``tw_workers``; the
jobs of a process that has gone silent can then be failed by any other (:meth:`fail_orphans`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from tweeling.core.jobs import FINISHED, Job

if TYPE_CHECKING:
    from tweeling.store.sql_store import SqlStore

_COLS = (
    "id, process, inputs, created, updated, status, message, progress, started, finished, "
    '"user", person_id, failure, result, worker'
)
_FINISHED_SQL = ", ".join(f"'{s}'" for s in sorted(FINISHED))
_JSON = ("inputs", "result")


def _job(row: tuple) -> Job:
    values = dict(zip(_COLS.replace('"', "").split(", "), row, strict=True))
    for key in _JSON:
        if values[key] is not None:
            values[key] = orjson.loads(values[key])
    return Job(**values)


def _column(key: str, value: Any) -> Any:
    return orjson.dumps(value).decode() if key in _JSON and value is not None else value


class GpkgJobs:
    def __init__(self, store: SqlStore):
        self.store = store

    def add(self, job: Job) -> None:
        with self.store._transaction() as con:
            values = [_column(k, getattr(job, k)) for k in _COLS.replace('"', "").split(", ")]
            con.execute(
                f"INSERT INTO tw_jobs ({_COLS}, who) VALUES ({', '.join('?' * 16)})",
                (*values, job.who),
            )

    def get(self, job_id: str) -> Job | None:
        row = self.store._con.execute(
            f"SELECT {_COLS} FROM tw_jobs WHERE id = ?", (job_id,)
        ).fetchone()
        return None if row is None else _job(row)

    def list(self, *, who: str | None = None, since: str | None = None) -> list[Job]:
        """Jobs newest first (of one person, created at ``since`` or later)."""
        conds, args = [], []
        if who is not None:
            conds.append("who = ?")
            args.append(who)
        if since is not None:
            conds.append("created >= ?")
            args.append(since)
        where = f" WHERE {' AND '.join(conds)}" if conds else ""
        rows = self.store._con.execute(
            f"SELECT {_COLS} FROM tw_jobs{where} ORDER BY created DESC, id DESC", args
        )
        return [_job(r) for r in rows]

    def update(self, job_id: str, *, unless_finished: bool = True, **values: Any) -> Job | None:
        """Change a job's record; with ``unless_finished`` only while it has not finished
        (a dismissed job stays dismissed). The job as changed, or None when it was not."""
        sets = ", ".join(f"{_quote(k)} = ?" for k in values)
        cond = f" AND status NOT IN ({_FINISHED_SQL})" if unless_finished else ""
        with self.store._transaction() as con:
            row = con.execute(
                f"UPDATE tw_jobs SET {sets} WHERE id = ?{cond} RETURNING {_COLS}",
                (*(_column(k, v) for k, v in values.items()), job_id),
            ).fetchone()
        return None if row is None else _job(row)

    def claim(self, worker: str, now: str) -> Job | None:
        """The fairest waiting job, now running by ``worker``: the oldest waiting job of the
        person whose latest job started longest ago (or never), so one person's many jobs
        do not hold up everyone else's."""
        with self.store._transaction() as con:
            self.store._lock(con, "jobs")
            row = con.execute(
                "SELECT j.id FROM tw_jobs j LEFT JOIN (SELECT who, max(started) AS last FROM "
                "tw_jobs WHERE started IS NOT NULL GROUP BY who) s ON s.who = j.who "
                "WHERE j.status = 'accepted' "
                "ORDER BY s.last IS NOT NULL, s.last, j.created, j.id LIMIT 1"
            ).fetchone()
            if row is None:
                return None
            found = con.execute(
                f"UPDATE tw_jobs SET status = 'running', started = ?, updated = ?, "
                f"message = 'started', worker = ? WHERE id = ? RETURNING {_COLS}",
                (now, now, worker, row[0]),
            ).fetchone()
        return _job(found)

    def delete(self, job_id: str) -> None:
        with self.store._transaction() as con:
            con.execute("DELETE FROM tw_jobs WHERE id = ?", (job_id,))

    def beat(self, worker: str, now: str) -> None:
        """``worker`` is alive at ``now``."""
        with self.store._transaction() as con:
            con.execute(
                "INSERT INTO tw_workers VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET "
                "seen_at = excluded.seen_at",
                (worker, now),
            )

    def leave(self, worker: str) -> None:
        with self.store._transaction() as con:
            con.execute("DELETE FROM tw_workers WHERE id = ?", (worker,))

    def live_workers(self, since: str) -> list[str]:
        rows = self.store._con.execute(
            "SELECT id FROM tw_workers WHERE seen_at >= ? ORDER BY id", (since,)
        )
        return [r[0] for r in rows]

    def fail_orphans(
        self, *, alive: list[str], now: str, failure: str, running: str, waiting: str | None
    ) -> int:
        """Fail the running jobs of every worker not in ``alive`` (message ``running``) and,
        when ``waiting`` is given, every waiting job too; forget silent workers."""
        marks = ", ".join("?" * len(alive)) or "NULL"
        with self.store._transaction() as con:
            self.store._lock(con, "jobs")
            n = len(
                con.execute(
                    "UPDATE tw_jobs SET status = 'failed', failure = ?, finished = ?, "
                    "updated = ?, message = ? WHERE status = 'running' AND "
                    f"(worker IS NULL OR worker NOT IN ({marks})) RETURNING id",
                    (failure, now, now, running, *alive),
                ).fetchall()
            )
            if waiting is not None:
                n += len(
                    con.execute(
                        "UPDATE tw_jobs SET status = 'failed', failure = ?, finished = ?, "
                        "updated = ?, message = ? WHERE status = 'accepted' RETURNING id",
                        (failure, now, now, waiting),
                    ).fetchall()
                )
            con.execute(f"DELETE FROM tw_workers WHERE id NOT IN ({marks})", tuple(alive))
        return n


def _quote(column: str) -> str:
    return '"user"' if column == "user" else column
