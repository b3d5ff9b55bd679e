"""Reading and preparing a bulk source in a worker process while the store writes.

An import has two halves that each keep one core busy: reading and preparing records
(parsing, geometry checks, encoding, hashing: pure Python and GEOS) and writing them (SQLite).
For streamed files the first half runs in a worker process and hands prepared chunks to the
store through a bounded queue, so memory stays at a few chunks. Errors in the worker reach
the store's transaction as the same exception (it rolls back); when the import stops for any
reason the worker is ended.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tweeling.core.errors import TweelingError
from tweeling.core.features import ImportBatch, chunked
from tweeling.store.base import ChunkPreparer

CHUNK = 5000  # records gathered into one chunk when the importer yields single records
QUEUE_CHUNKS = 3


def _die_with_parent(parent: int) -> None:
    """End this worker when the process that started it ends, however it ends (SIGKILL
    included): an orphaned worker would hold the twin open and its memory for nothing."""
    import ctypes
    import os
    import signal
    import threading
    import time

    try:  # Linux: the kernel signals us when the parent dies
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)

    def watch() -> None:  # elsewhere (and as a second line): notice we were re-parented
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _work(
    kind: str,
    path: str,
    options: dict[str, Any],
    work_dir: str,
    q,
    prepare: ChunkPreparer,
    parent: int,
) -> None:
    import gc

    from tweeling.services.importing import read_source

    _die_with_parent(parent)
    gc.disable()  # a short-lived process holding many parsed objects (see store._no_cyclic_gc)
    try:
        (batch,) = read_source(kind, [Path(path)], work_dir=Path(work_dir), options=options)
        schemas = {s.name: s for s in batch.layers}
        q.put(("head", (batch.source, batch.path, batch.layers, batch.total)))
        for chunk in chunked(batch.features, CHUNK):
            schema = schemas.get(chunk.layer)
            if schema is None:  # the store reports the undeclared layer
                q.put(("chunk", chunk))
            else:
                q.put(("chunk", prepare(schema, chunk, batch.path)))
        q.put(("end", batch.metadata))
    except BaseException as exc:  # handed over whole; the store's transaction rolls back
        q.put(("error", exc))


@contextmanager
def worker_batch(
    kind: str, path: Path, options: dict[str, Any], work_dir: Path, prepare: ChunkPreparer
) -> Iterator[ImportBatch]:
    """An ImportBatch whose records are read, and prepared for the store by ``prepare``
    (the store's :meth:`~tweeling.store.base.FeatureWrites.chunk_preparer`), in a worker
    process."""
    # fork where it exists: spawn would re-import the caller's main module (impossible from
    # stdin). The child never touches the SQLite connection or other state it inherits.
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    q = ctx.Queue(maxsize=QUEUE_CHUNKS)
    proc = ctx.Process(
        target=_work,
        args=(kind, str(path), options, str(work_dir), q, prepare, os.getpid()),
        name="tweeling-import-worker",
        daemon=True,
    )
    proc.start()

    def receive() -> tuple[str, Any]:
        while True:
            try:
                return q.get(timeout=1.0)
            except queue.Empty:
                if not proc.is_alive():
                    raise TweelingError(
                        f"the import worker for {path} stopped unexpectedly "
                        f"(exit code {proc.exitcode}); nothing was stored"
                    ) from None

    try:
        tag, value = receive()
        if tag == "error":
            raise value
        source, batch_path, layers, total = value
        metadata: dict[str, Any] = {}

        def features() -> Iterator[Any]:
            while True:
                tag, value = receive()
                if tag == "chunk":
                    yield value
                elif tag == "end":
                    metadata.update(value)
                    return
                else:
                    raise value

        yield ImportBatch(
            source=source,
            path=batch_path,
            layers=layers,
            features=features(),
            total=total,
            metadata=metadata,
        )
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join(timeout=5)
