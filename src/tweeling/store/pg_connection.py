"""Connections to a twin's PostgreSQL/PostGIS database (psycopg 3), and what goes wrong
with them said in the twin's terms.

A twin names its database in ``twin.toml`` by a PostgreSQL URL without a password
(``postgresql://tweeling@db.example.nl:5432/provincie``): the password comes from the
environment (``PGPASSWORD``) or the user's ``~/.pgpass``, as libpq reads them — never from
the file, which is copied and shared with the twin. Every message names the database by
its URL with any password removed.

Errors: an unreachable or refusing server (out of connections included) is
:class:`~tweeling.core.errors.StoreUnavailable` naming the URL; another writer holding a
lock beyond the busy timeout is ``StoreBusy``; a full disk is ``StoreFull``; a connection
lost mid-request is ``StoreUnavailable`` too (the transaction is rolled back by the server:
nothing is half-written).
"""

from __future__ import annotations

import functools
import threading
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tweeling.core.errors import InputError, StoreBusy, StoreFull, StoreUnavailable

SCHEMES = ("postgresql", "postgres")
CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT_MS = 5_000  # as the GeoPackage backend's busy timeout
STREAM_ROWS = 1000  # rows per FETCH when a streamed read is iterated
MAX_IDLE_READERS = 2  # reader connections kept open per connection, for the next read
# Query-string settings that would carry a secret: refused like a password in the URL.
_SECRET_KEYS = {"password", "sslpassword", "passfile"}


def is_url(text: str) -> bool:
    return urlsplit(str(text)).scheme in SCHEMES


def redacted(url: str) -> str:
    """The URL without a password, in its user part or its query (for messages and logs)."""
    parts = urlsplit(url)
    query = [(k, "***" if k in _SECRET_KEYS else v) for k, v in parse_qsl(parts.query)]
    if parts.password is None and not any(k in _SECRET_KEYS for k, _ in query):
        return url
    user = f"{parts.username}@" if parts.username else ""
    netloc = user + _host(parts)
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), parts.fragment))


def _host(parts) -> str:
    """``host`` or ``host:port`` of a split URL."""
    return f"{parts.hostname or ''}:{parts.port}" if parts.port else parts.hostname or ""


def check_url(url: str, *, where: str = "twin.toml [store] url") -> str:
    """``url`` when it may name a twin's database: a PostgreSQL URL with a database name and
    no password in it (or its query string)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise InputError(f"{where}: {redacted(url)!r} is not a postgresql:// URL")
    if parts.password is not None or _SECRET_KEYS & {k for k, _ in parse_qsl(parts.query)}:
        raise InputError(
            f"{where}: {redacted(url)!r} carries a password; give it in PGPASSWORD or "
            "~/.pgpass instead (twin.toml is copied and shared with the twin)"
        )
    if not parts.path.strip("/"):
        raise InputError(f"{where}: {url!r} names no database (postgresql://host/DATABASE)")
    return url


def conninfo(url: str, *, password: str | None = None, application: str = "tweeling") -> str:
    """libpq connection string of ``url`` with our timeouts (and, for tools that were given
    one, a password that never goes into the twin's files)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.setdefault("connect_timeout", str(CONNECT_TIMEOUT_S))
    query.setdefault("application_name", application)
    netloc = parts.netloc
    if password is not None:
        from urllib.parse import quote

        user = quote(parts.username or "", safe="")
        netloc = f"{user}:{quote(password, safe='')}@{_host(parts)}"
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))


def connect(url: str, **options):
    """A psycopg connection to the twin's database (not in autocommit: each unit of work is
    one transaction), or a :class:`StoreUnavailable` naming the URL without its password."""
    import psycopg

    try:
        con = psycopg.connect(conninfo(url), **options)
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(
            f"cannot reach the twin's database {redacted(url)}: {_reason(exc, url)}"
        ) from None
    with con.cursor() as cur:
        cur.execute(f"SET lock_timeout = {LOCK_TIMEOUT_MS}")
    con.commit()
    return con


def translated(exc: Exception, url: str) -> Exception:
    """The store's error for a psycopg error (``exc`` itself when it is none of them)."""
    import psycopg
    from psycopg import errors

    where = redacted(url)
    if isinstance(exc, errors.LockNotAvailable | errors.DeadlockDetected):
        return StoreBusy(
            f"the twin's database {where} is busy: another process is writing the same "
            "rows; try again shortly"
        )
    if isinstance(exc, errors.DiskFull | errors.OutOfMemory):
        return StoreFull(
            f"disk full: the twin's database {where} could not be written; nothing of "
            "the change was stored"
        )
    if isinstance(exc, psycopg.OperationalError):  # the server went away mid-request
        return StoreUnavailable(
            f"lost the connection to the twin's database {where}: {_reason(exc, url)}; "
            "nothing of the unfinished step was stored"
        )
    return exc


def _reason(exc: Exception, url: str) -> str:
    """The first line of libpq's message, with any password in it removed."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    password = urlsplit(url).password
    return text.replace(password, "***") if password else text


class PgCon:
    """A psycopg connection (in autocommit: transactions are begun explicitly) that speaks
    the SQL the GeoPackage backend speaks: ``?`` parameters, ``execute`` returning a cursor
    with ``fetchone``/``fetchmany``/``fetchall``, ``executemany``, ``in_transaction``; its
    errors translated (:func:`translated`). This lets both backends share the SQL of
    scenarios, views, people, audit and rounds. Results come in binary (no hex-encoded
    geometry on the wire)."""

    def __init__(self, raw, url: str):
        self.raw = raw
        self.url = url
        self._readers: list = []  # idle connections for streamed reads (see stream)
        self._lock = threading.Lock()

    @property
    def in_transaction(self) -> bool:
        from psycopg.pq import TransactionStatus

        return self.raw.info.transaction_status != TransactionStatus.IDLE

    def execute(self, sql: str, params=()):
        cur = self.raw.cursor(binary=True)
        try:
            if params:
                cur.execute(pg_sql(sql), params)
            else:
                cur.execute(sql)
        except Exception as exc:
            _reraise(exc, self.url)
        return cur

    def stream(self, sql: str, params=()):
        """A cursor-like reader (``fetchmany``, ``close``) of a read whose result may be
        large: rows come from a server-side cursor as they are taken, so a first page of a
        10 M-row layer costs a page, not the layer (a plain cursor receives the whole result
        at ``execute``, and PostgreSQL plans it to be read whole). It runs on a reader
        connection of its own, so that other queries can run here while it is open; inside
        a transaction it runs here, fully fetched, as it must see the transaction's own
        writes."""
        if self.in_transaction:
            return self.execute(sql, params)
        return _Stream(self, sql, params)

    def _reader(self):
        with self._lock:
            if self._readers:
                return self._readers.pop()
        reader = connect(self.url)
        reader.read_only = True
        return reader

    def _release(self, reader) -> None:
        # 0: psycopg.pq.TransactionStatus.IDLE (no import: this may run at interpreter exit)
        if reader.closed or reader.info.transaction_status != 0:
            reader.close()
            return
        with self._lock:
            if len(self._readers) < MAX_IDLE_READERS:
                self._readers.append(reader)
                return
        reader.close()

    def executemany(self, sql: str, rows) -> None:
        rows = list(rows)
        if not rows:
            return
        try:
            with self.raw.cursor() as cur:
                cur.executemany(pg_sql(sql), rows)
        except Exception as exc:
            _reraise(exc, self.url)

    def copy(self, sql: str, rows, types: list[str] | None = None) -> None:
        """``COPY … FROM STDIN`` of ``rows`` (binary when ``types`` names the columns')."""
        try:
            with self.raw.cursor() as cur, cur.copy(sql) as cp:
                if types is not None:
                    cp.set_types(types)
                for row in rows:
                    cp.write_row(row)
        except Exception as exc:
            _reraise(exc, self.url)

    def close(self) -> None:
        with self._lock:
            readers, self._readers = self._readers, []
        for reader in readers:
            reader.close()
        self.raw.close()


class _Stream:
    """One streamed read (:meth:`PgCon.stream`): a server-side cursor (``DECLARE``) in a
    read-only transaction on a reader connection, fetched as the rows are taken. A cursor
    also makes PostgreSQL plan for the first rows (``cursor_tuple_fraction``): a first page
    in ``vid`` order walks the primary key instead of sorting the layer. The connection
    goes back to its pool when the rows are all taken or the reader is closed."""

    def __init__(self, owner: PgCon, sql: str, params):
        self._owner = owner
        self._con = owner._reader()
        self._cur = self._con.cursor(name="tw_stream", binary=True)
        try:
            self._cur.execute(pg_sql(sql) if params else sql, params or None)
        except Exception as exc:
            self.close()
            _reraise(exc, owner.url)

    def fetchmany(self, size: int) -> list[tuple]:
        if self._cur is None:
            return []
        try:
            rows = self._cur.fetchmany(size)
        except Exception as exc:
            self.close()
            _reraise(exc, self._owner.url)
        if len(rows) < size:
            self.close()
        return rows

    def fetchone(self):
        rows = self.fetchmany(1)
        return rows[0] if rows else None

    def __iter__(self):
        while rows := self.fetchmany(STREAM_ROWS):
            yield from rows

    def close(self) -> None:
        cur, self._cur = self._cur, None
        if cur is None:
            return
        try:
            if not self._con.closed:
                cur.close()
                self._con.rollback()  # a read-only transaction: nothing to keep
        except Exception:
            self._con.close()
        finally:
            self._owner._release(self._con)

    def __del__(self):
        self.close()


@functools.lru_cache(maxsize=2048)
def pg_sql(sql: str) -> str:
    """SQLite-style ``?`` parameters as psycopg's ``%s`` (a literal ``%`` doubled)."""
    return sql.replace("%", "%%").replace("?", "%s")


def _reraise(exc: Exception, url: str):
    new = translated(exc, url)
    if new is exc:
        raise exc
    raise new from exc
