"""The audit log in the GeoPackage store: ``tw_audit``, append-only and hash-chained.

Entries are appended inside the transaction of the change they record (a service wraps
both in ``store.unit()``), so a change without its entry, or an entry without its change,
cannot be committed. Appends hold SQLite's write lock, so the chain has one order even with
several server processes. The head (last sequence number and hash) is kept in ``tw_meta``
in the same transaction. The hashing is :mod:`tweeling.core.audit`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from tweeling.core.audit import GENESIS, AuditEntry, Verification, seal, verify_chain
from tweeling.core.records import AuditFilter
from tweeling.core.timeaxis import to_text, utc_now

if TYPE_CHECKING:
    from tweeling.store.sql_store import SqlStore

_COLS = "seq, at, actor, actor_id, action, object, scenario, version, data, prev, hash"


class GpkgAudit:
    def __init__(self, store: SqlStore):
        self.store = store

    def append(
        self,
        *,
        actor: str,
        actor_id: int | None,
        action: str,
        obj: str,
        scenario: str | None = None,
        version: int | None = None,
        data: dict[str, Any] | None = None,
    ) -> AuditEntry:
        with self.store._transaction() as con:
            self.store._lock(con, "audit")  # one chain order across processes
            seq, prev = self._head(con)
            entry = seal(
                seq + 1,
                to_text(utc_now()),
                actor,
                actor_id,
                action,
                obj,
                scenario,
                version,
                data or {},
                prev,
            )
            con.execute(
                f"INSERT INTO tw_audit ({_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.seq,
                    entry.at,
                    entry.actor,
                    entry.actor_id,
                    entry.action,
                    entry.object,
                    entry.scenario,
                    entry.version,
                    entry.data,
                    entry.prev,
                    entry.hash,
                ),
            )
            con.executemany(
                "INSERT INTO tw_meta VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [("audit_head_seq", str(entry.seq)), ("audit_head_hash", entry.hash)],
            )
        return entry

    def _head(self, con) -> tuple[int, str]:
        row = con.execute("SELECT seq, hash FROM tw_audit ORDER BY seq DESC LIMIT 1").fetchone()
        return (0, GENESIS) if row is None else (row[0], row[1])

    def head(self) -> tuple[int, str]:
        """The (sequence number, hash) of the last entry as recorded beside the log."""
        rows = dict(
            self.store._con.execute(
                "SELECT key, value FROM tw_meta WHERE key IN ('audit_head_seq', 'audit_head_hash')"
            ).fetchall()
        )
        return int(rows.get("audit_head_seq", 0)), rows.get("audit_head_hash", GENESIS)

    def entries(
        self, f: AuditFilter = AuditFilter(), *, limit: int | None = None
    ) -> list[AuditEntry]:
        conds, args = ["seq > ?"], [f.after_seq]
        for column, value in (("actor", f.actor), ("scenario", f.scenario)):
            if value is not None:
                conds.append(f"{column} = ?")
                args.append(value)
        for column, value, sep in (("object", f.object, "/"), ("action", f.action, ".")):
            if value is None:
                continue
            if value.endswith(sep):
                conds.append(f"substr({column}, 1, ?) = ?")
                args += [len(value), value]
            else:
                conds.append(f"{column} = ?")
                args.append(value)
        if f.since is not None:
            conds.append("at >= ?")
            args.append(f.since)
        if f.until is not None:
            conds.append("at < ?")
            args.append(f.until)
        sql = f"SELECT {_COLS} FROM tw_audit WHERE {' AND '.join(conds)} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [AuditEntry(*r) for r in self.store._con.execute(sql, args)]

    def count(self) -> int:
        return self.store._con.execute("SELECT count(*) FROM tw_audit").fetchone()[0]

    def rows(self, batch: int = 10_000) -> Iterator[tuple]:
        """Every entry in order, as tuples (for verification), read in batches."""
        last = 0
        con = self.store._con
        while True:
            chunk = con.execute(
                f"SELECT {_COLS} FROM tw_audit WHERE seq > ? ORDER BY seq LIMIT ?", (last, batch)
            ).fetchall()
            if not chunk:
                return
            yield from chunk
            last = chunk[-1][0]

    def verify(self, anchors: list[tuple[int, str]] = ()) -> Verification:
        return verify_chain(self.rows(), head=self.head(), anchors=anchors)
