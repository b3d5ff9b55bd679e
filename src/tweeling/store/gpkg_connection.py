"""The GeoPackage store's SQLite connection: SQLite's own failures said in the twin's terms.

Another process writing (an import from the CLI while ``tweeling serve`` answers) holds
the file's lock; a reader waits up to the busy timeout and then gets :class:`StoreBusy`
(HTTP 503 with Retry-After), never a bare ``database is locked``. A full disk is
:class:`StoreFull`, naming the twin's file; SQLite has then rolled the transaction back
itself, so nothing of the change is stored.

Lock and disk errors surface when a statement first steps, which is inside ``execute``: a
statement that holds its read lock does not lose it while its rows are fetched.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tweeling.core.errors import StoreBusy, StoreFull


def translated(exc: sqlite3.OperationalError, path: str) -> Exception:
    """The store's error for an SQLite failure (``exc`` itself when it is none of them)."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return StoreBusy(
            f"the twin's store {path} is busy: another process is writing to it "
            "(an import?); try again shortly"
        )
    if "disk is full" in text or ("disk i/o error" in text and _disk_full(path)):
        return StoreFull(
            f"disk full: the twin's store {path} could not be written; nothing of the "
            "change was stored (free space on that disk and try again)"
        )
    return exc


def _disk_full(path: str) -> bool:
    import shutil

    try:
        return shutil.disk_usage(Path(path).parent).free < 1 << 20
    except OSError:
        return False


class _Cursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        try:
            return super().execute(sql, parameters)
        except sqlite3.OperationalError as exc:
            raise translated(exc, self.connection.location) from exc

    def executemany(self, sql, seq, /):
        try:
            return super().executemany(sql, seq)
        except sqlite3.OperationalError as exc:
            raise translated(exc, self.connection.location) from exc


class Connection(sqlite3.Connection):
    """An SQLite connection whose lock and disk errors are the store's errors."""

    location: str

    def cursor(self, factory=_Cursor):
        return super().cursor(factory)

    def execute(self, sql, parameters=(), /):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq, /):
        return self.cursor().executemany(sql, seq)

    def executescript(self, script, /):
        try:
            return super().executescript(script)
        except sqlite3.OperationalError as exc:
            raise translated(exc, self.location) from exc


def connect(path: Path, busy_timeout: float) -> Connection:
    con = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout, factory=Connection)
    con.location = str(path)
    return con
