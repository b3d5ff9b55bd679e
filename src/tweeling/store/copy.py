"""Copying a twin's store into another, empty store of either backend, exactly.

Everything a twin holds goes over as it is: every version of every object on every branch
with its transaction numbers and time axes, the transactions, scenarios with their bases,
interventions, parameters and frozen versions, runs, findings, people and their tokens, the
audit log with its hash chain, rounds, comments and notifications. Content hashes are not
recomputed but carried, and then checked: the baseline, every scenario and every frozen
version must hash the same in both stores (:func:`compare`).

Not carried: browser sessions and recent failed sign-ins (people sign in again on the new
store; nothing else depends on them).

The copy is one transaction of the target: an error leaves it as empty as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from tweeling.core.errors import WorkspaceError
from tweeling.store.gpkg_schema import quote

# Bookkeeping tables, copied row by row in this order (layers follow).
TABLES = (
    "tw_meta",
    "tw_layers",
    "tw_transactions",
    "tw_branches",
    "tw_sources",
    "tw_rasters",
    "tw_branch_bases",
    "tw_interventions",
    "tw_parameters",
    "tw_frozen",
    "tw_runs",
    "tw_findings",
    "tw_people",
    "tw_tokens",
    "tw_audit",
    "tw_scenario_shares",
    "tw_rounds",
    "tw_variants",
    "tw_comments",
    "tw_supports",
    "tw_notifications",
    "tw_jobs",
)
NOT_COPIED = {
    "tw_sessions": "browser sessions: people sign in again",
    "tw_login_failures": "recent failed sign-ins (throttling)",
    "tw_workers": "the server processes of the source (its jobs are copied)",
}
_OWN_META = ("store_format", "tweeling_version")  # the target's own, as it was created
_BATCH = 5000

Progress = Callable[[str, int], None]


@dataclass
class Check:
    what: str
    source: str
    target: str

    @property
    def ok(self) -> bool:
        return self.source == self.target


def copy_store(src, dst, *, progress: Progress | None = None) -> None:
    """Copy everything ``src`` holds into the empty store ``dst`` (one transaction)."""
    if dst.vector_layers() or dst.transactions():
        raise WorkspaceError(f"the target store {dst.location} is not empty")
    with dst._transaction() as con:
        con.execute("DELETE FROM tw_branches")  # the baseline row comes from the source
        for table in TABLES:
            cur = src._con.execute(f"SELECT * FROM {table}")
            cols = [d[0] for d in cur.description]
            sql = (
                f"INSERT INTO {table} ({', '.join(quote(c) for c in cols)}) "
                f"VALUES ({', '.join('?' * len(cols))})"
            )
            n = 0
            while rows := cur.fetchmany(_BATCH):
                if table == "tw_meta":
                    rows = [r for r in rows if r[0] not in _OWN_META]
                con.executemany(sql, [tuple(r) for r in rows])
                n += len(rows)
            if progress:
                progress(table, n)
        for layer in src.vector_layers():
            schema = src.schema(layer)
            dst._create_layer(con, schema)
            n = dst._load_versions(con, schema, _batches(src._version_rows(layer)))
            if progress:
                progress(layer, n)
        dst._after_copy(con)
    dst._changed()


def _batches(rows: Iterator[tuple]) -> Iterator[list[tuple]]:
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def compare(src, dst) -> list[Check]:
    """What must be equal after a copy: the content hash of the baseline, of every
    scenario and of every frozen version; the rows of every table; the audit log's head
    and the verification of its chain."""
    checks = []
    refs = ["baseline"]
    for info in src.scenarios.list():
        refs.append(info.name)
        refs += [f"{info.name}@{f.label}" for f in info.frozen]
    for ref in refs:
        checks.append(Check(f"content hash of {ref}", src.content_hash(ref), dst.content_hash(ref)))
    for table in TABLES:
        n = [s._con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for s in (src, dst)]
        if table == "tw_meta":
            n = [k - len(_OWN_META) for k in n]
        checks.append(Check(f"rows of {table}", str(n[0]), str(n[1])))
    checks.append(Check("audit log head", str(src.audit.head()), str(dst.audit.head())))
    verified = dst.audit.verify()
    checks.append(
        Check("audit chain verified", "ok", "ok" if verified.ok else "; ".join(verified.problems))
    )
    return checks
