"""Errors that reach users. Each names what was wrong and where (file, object, field)."""

from __future__ import annotations


class TweelingError(Exception):
    """Base class of every error Tweeling reports to a user (CLI exit code 1, HTTP 4xx)."""


class InputError(TweelingError):
    """Bad input: a corrupt file, an unknown CRS, an invalid geometry, a wrong value.

    The message always names the file and, where known, the object and field.
    """

    def __init__(
        self,
        message: str,
        *,
        path: object | None = None,
        object_id: str | None = None,
        field: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.object_id = object_id
        self.field = field
        self.reason = message
        parts = []
        if self.path:
            parts.append(self.path)
        if object_id is not None:
            parts.append(f"object {object_id!r}")
        if field is not None:
            parts.append(f"field {field!r}")
        where = ": ".join(parts)
        super().__init__(f"{where}: {message}" if where else message)

    def __reduce__(self):
        # Keep path/object/field when the error crosses a process boundary.
        return (_input_error, (self.reason, self.path, self.object_id, self.field))


def _input_error(reason, path, object_id, field) -> InputError:
    return InputError(reason, path=path, object_id=object_id, field=field)


class SchemaChanged(TweelingError):
    """A streamed source turned out to hold fields or types beyond the schema inferred from
    its first part; the import is rolled back and read again with a full schema scan."""


class NotFoundError(TweelingError):
    """An unknown layer, feature, scenario, workspace or path."""


class WorkspaceError(TweelingError):
    """The twin workspace is missing, not initialised, or inconsistent."""


class StoreBusy(WorkspaceError):
    """Another process holds the twin's write lock (beyond the busy timeout)."""


class StoreUnavailable(WorkspaceError):
    """The twin's database cannot be reached now (down, restarting, out of connections, or
    the connection was lost mid-request); nothing unfinished was stored. Try again."""


class StoreFull(WorkspaceError):
    """The disk holding the twin's store is full; the change was rolled back."""


def disk_full_text(exc: OSError) -> str:
    """What to say when writing a file failed on a full disk (``errno.ENOSPC``)."""
    where = f" writing {exc.filename}" if exc.filename else ""
    return f"disk full{where}: nothing of the unfinished step was stored (free space and retry)"


class ConcurrentEdit(WorkspaceError):
    """The scenario changed since the caller read it (optimistic concurrency check)."""


class AlreadyExists(InputError):
    """What was to be made exists already (a scenario name, a username, an identity at an
    identity provider): HTTP 409, and nothing was written."""


class Throttled(TweelingError):
    """Too many attempts or requests; ``retry_after_s`` says when to try again (HTTP 429
    with Retry-After)."""

    def __init__(self, message: str, retry_after_s: int):
        self.retry_after_s = max(1, int(retry_after_s))
        super().__init__(f"{message}; try again in {self.retry_after_s} s")
