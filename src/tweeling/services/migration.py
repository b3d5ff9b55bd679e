"""Moving a twin to another backend (GeoPackage ⇄ PostgreSQL/PostGIS), verified.

``tweeling migrate TARGET [--store postgresql://…]`` makes a new twin workspace in
``TARGET`` holding an exact copy of the twin: its store copied into the new backend (see
:mod:`tweeling.store.copy`), its raster files and run results copied beside it, its
settings (``twin.toml``) kept except the ``[store]`` table. Then every view's content hash,
every table's rows and the audit chain are compared; only when all are equal is
``twin.toml`` written — a failed or interrupted migration leaves no twin behind, and the
source is never changed.
"""

from __future__ import annotations

import copy
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from tweeling.core.errors import WorkspaceError
from tweeling.services.workspace import CONFIG, open_workspace
from tweeling.store import backends


@dataclass
class Migration:
    source: str  # where the store was
    target: str  # where it is now
    root: Path
    checks: list = field(default_factory=list)
    copied: dict[str, int] = field(default_factory=dict)  # rows per table or layer


def migrate_workspace(
    source: str | os.PathLike | None,
    target: str | os.PathLike,
    *,
    store: str | None = None,
    progress: Callable[[str, int], None] | None = None,
) -> Migration:
    """Copy the twin at ``source`` into a new workspace ``target`` whose store is the
    PostgreSQL database ``store`` names (None: a GeoPackage in ``target``)."""
    root = Path(target).resolve()
    if (root / CONFIG).exists() or backends.holds_store(root):
        raise WorkspaceError(f"{root} already holds a twin")
    with open_workspace(source) as src:
        if root == src.root:
            raise WorkspaceError("the target folder is the twin's own folder")
        config = copy.deepcopy(src.config)
        config["store"] = backends.default_config(store)
        made = not root.exists()
        root.mkdir(parents=True, exist_ok=True)
        dst = backends.create_store(root, config["store"])
        done = Migration(src.store.location, dst.location, root)
        try:

            def step(what: str, n: int) -> None:
                done.copied[what] = n
                if progress:
                    progress(what, n)

            backends.copy_store(src.store, dst, progress=step)
            rasters = src.config.get("store", {}).get("rasters", backends.RASTER_DIR)
            for here, there in (
                (src.root / rasters, root / config["store"]["rasters"]),
                (src.root / "runs", root / "runs"),
            ):
                if here.is_dir():
                    shutil.copytree(here, there, dirs_exist_ok=True)
            done.checks = backends.compare_stores(src.store, dst)
            bad = [c for c in done.checks if not c.ok]
            if bad:
                raise WorkspaceError(
                    "the copy differs from the twin: "
                    + "; ".join(f"{c.what}: {c.source} vs {c.target}" for c in bad)
                )
            (root / CONFIG).write_text(tomli_w.dumps(config), encoding="utf-8")
        except BaseException:
            dst.close()
            backends.destroy_store(root, config["store"])
            if made:
                shutil.rmtree(root, ignore_errors=True)
            raise
        dst.close()
    return done
