"""The import use case: read a source with its importer, write it to the store in one go."""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tweeling.core.errors import InputError, SchemaChanged
from tweeling.core.features import ImportBatch
from tweeling.core.records import WriteReport
from tweeling.services import audit
from tweeling.services.import_worker import worker_batch
from tweeling.services.workspace import Workspace

SOURCES = (
    "cityjson",
    "bgt",
    "ahn",
    "natura2000",
    "cbs",
    "imro",
    "model-inputs",
    "rules",
    "file",
)


def check_request(kind: str, paths: Sequence[Path], options: dict[str, Any]) -> None:
    """Refuse what no importer can do: missing files, a file import without a layer name."""
    for p in paths:
        if not Path(p).exists():
            raise InputError("file does not exist", path=p)
    if kind == "file" and options.get("layer_name") is None:
        raise InputError("importing a file needs a target layer name (--layer)")
    if kind == "model-inputs" and options.get("layer") is None:
        raise InputError("importing model inputs needs the layer (--layer road_traffic, …)")


def read_source(
    kind: str, paths: Sequence[Path], *, work_dir: Path, options: dict[str, Any] | None = None
) -> list[ImportBatch]:
    """Run the importer for ``kind`` on ``paths``; one batch per source file (or set)."""
    options = {k: v for k, v in (options or {}).items() if v is not None}
    check_request(kind, paths, options)
    if kind == "cityjson":
        from tweeling.sources.cityjson import read_cityjson

        return [read_cityjson(p, **options) for p in paths]
    if kind == "bgt":
        from tweeling.sources.bgt import read_bgt

        return [read_bgt(list(paths), **options)]
    if kind == "ahn":
        from tweeling.sources.ahn import read_ahn

        return [read_ahn(list(paths), out_dir=work_dir, **options)]
    if kind == "natura2000":
        from tweeling.sources.natura2000 import read_natura2000

        return [read_natura2000(p, **options) for p in paths]
    if kind == "cbs":
        from tweeling.sources.cbs import read_cbs

        return [read_cbs(p, **options) for p in paths]
    if kind == "imro":
        from tweeling.sources.imro import read_imro

        return [read_imro(p, **options) for p in paths]
    if kind == "rules":
        from tweeling.sources.rulesets import ruleset_batch

        return [ruleset_batch(p) for p in paths]
    if kind == "model-inputs":
        from tweeling.sources.model_inputs import read_model_inputs

        return [read_model_inputs(p, **options) for p in paths]
    if kind == "file":
        from tweeling.sources.file import read_file

        return [read_file(p, **options) for p in paths]
    raise InputError(f"unknown source kind {kind!r}; choose one of {', '.join(SOURCES)}")


STREAMED = frozenset({"file"})  # read and prepared in a worker process (import_worker)


def _import_streamed(ws, kind, path, options, work, user, on_batch) -> WriteReport:
    """One streamed file: read and prepared in a worker while the store writes.

    When the file outgrows the schema inferred from its start (SchemaChanged) the write has
    been rolled back; it is read again after a scan of the whole file.
    """
    check_request(kind, [path], options)  # before a worker process is started
    try:
        return _write_from_worker(ws, kind, path, options, work, user, on_batch)
    except SchemaChanged:
        return _write_from_worker(
            ws, kind, path, {**options, "full_scan": True}, work, user, on_batch
        )


def _write_from_worker(ws, kind, path, options, work, user, on_batch) -> WriteReport:
    with worker_batch(kind, path, options, work, ws.store.chunk_preparer()) as batch:
        progress = on_batch(batch) if on_batch else None
        return _write(ws.store, kind, batch, user, progress)


def _write(store, kind: str, batch: ImportBatch, user: str, progress) -> WriteReport:
    """One batch into the store, with its audit entry in the same transaction."""
    with store.unit():
        report = store.write(batch, user=user or audit.current().actor, progress=progress)
        audit.record(
            store,
            "rules.import" if kind == "rules" else "data.import",
            f"sources/{report.source}",
            version=report.transaction,
            data={
                "kind": kind,
                "source": report.source,
                "path": batch.path,
                "sha256": _file_hash(batch.path),
                "layers": {k: vars(v) for k, v in report.layers.items()},
                "rasters": report.rasters,
            },
        )
    return report


def _file_hash(path: str | None) -> str | None:
    """SHA-256 of the source file, so the log names exactly which data came in."""
    if not path or not Path(path).is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def import_source(
    ws: Workspace,
    kind: str,
    paths: Sequence[str | Path],
    *,
    options: dict[str, Any] | None = None,
    user: str = "",
    on_batch: Callable[[ImportBatch], Callable[[int], None] | None] | None = None,
) -> list[WriteReport]:
    """Import ``paths`` as source ``kind`` into the workspace's baseline.

    Each source file is one store transaction: it lands whole or not at all.
    ``on_batch`` may return a progress callback for the batch (the CLI's progress bar).
    """
    paths = [Path(p) for p in paths]
    work = Path(tempfile.mkdtemp(prefix=".import-", dir=ws.root))
    try:
        if kind in STREAMED:
            return [
                _import_streamed(ws, kind, p, options or {}, work, user, on_batch) for p in paths
            ]
        batches = read_source(kind, paths, work_dir=work, options=options)
        if kind == "rules":
            check_rules_fit(ws.store, batches)
        reports = []
        for batch in batches:
            progress = on_batch(batch) if on_batch else None
            reports.append(_write(ws.store, kind, batch, user, progress))
        return reports
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check_rules_fit(store, batches: list[ImportBatch]) -> None:
    """Rule sets must fit the norms the twin holds: no id of another file, no contradiction
    with another file's norms (a file's own earlier norms are replaced by its re-import)."""
    from tweeling.core.rules import NORMS_LAYER
    from tweeling.sources.rulesets import find_conflicts, stored_norm

    new = [stored_norm(r.id, r.geometry, r.properties) for b in batches for r in b]
    files = {n.source for n in new}
    held = []
    if NORMS_LAYER in store.vector_layers():
        held = [
            n
            for f in store.features(NORMS_LAYER)
            if (n := stored_norm(f.id, f.geometry, f.properties)).source not in files
        ]
    taken = {n.id: n.source for n in held}
    for n in new:
        if n.id in taken:
            raise InputError(
                f"rule id {n.id!r} is already used by {taken[n.id]}", path=n.source, object_id=n.id
            )
    conflicts = [c for c in find_conflicts(held + new) if c.first.source != c.second.source]
    if conflicts:
        raise InputError(conflicts[0].message, path=conflicts[0].second.source)
