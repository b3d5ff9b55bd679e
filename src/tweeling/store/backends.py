"""Which backend holds a twin: chosen per twin in ``twin.toml``'s ``[store]`` table.

* ``file = "twin.gpkg"`` (with ``rasters = "rasters"``): the embedded GeoPackage backend,
  one file in the twin's folder.
* ``url = "postgresql://user@host:5432/database"`` (with ``rasters = "rasters"``): the
  PostgreSQL/PostGIS backend, the twin in that database. The URL carries no password:
  libpq takes it from ``PGPASSWORD`` or ``~/.pgpass`` (twin.toml is copied and shared).

The rest of the program opens and creates stores only here and is handed a
:class:`~tweeling.store.base.TwinStore`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tweeling.core.errors import WorkspaceError
from tweeling.store.base import TwinStore

STORE_FILE = "twin.gpkg"
RASTER_DIR = "rasters"


def default_config(url: str | None = None) -> dict[str, Any]:
    """The ``[store]`` table of a new twin: in a GeoPackage file, or in the PostgreSQL
    database ``url`` names."""
    if url is not None:
        from tweeling.store.pg_connection import check_url

        return {"url": check_url(url, where="--store"), "rasters": RASTER_DIR}
    return {"file": STORE_FILE, "rasters": RASTER_DIR}


def create_store(root: Path, config: dict[str, Any]) -> TwinStore:
    """A new, empty store for the twin in folder ``root`` as ``config`` (``[store]``) says."""
    _check(config)
    rasters = root / config.get("rasters", RASTER_DIR)
    if "url" in config:
        from tweeling.store.pg_store import PostgisStore

        return PostgisStore.create(config["url"], root=root, raster_dir=rasters)
    from tweeling.store.geopackage import GeoPackageStore

    return GeoPackageStore.create(root / config.get("file", STORE_FILE), raster_dir=rasters)


def open_store(root: Path, config: dict[str, Any]) -> TwinStore:
    """The store of the twin in folder ``root`` as ``config`` (``[store]``) says."""
    _check(config)
    rasters = root / config.get("rasters", RASTER_DIR)
    if "url" in config:
        from tweeling.store.pg_store import PostgisStore

        return PostgisStore(config["url"], root=root, raster_dir=rasters)
    from tweeling.store.geopackage import GeoPackageStore

    return GeoPackageStore(root / config.get("file", STORE_FILE), raster_dir=rasters)


def holds_store(root: Path) -> bool:
    """Whether folder ``root`` holds a store file (a twin, or the remains of one)."""
    return (root / STORE_FILE).exists()


def _check(config: dict[str, Any]) -> None:
    unknown = sorted(set(config) - {"file", "url", "rasters"})
    if unknown:
        raise WorkspaceError(
            f"twin.toml [store]: unknown setting {unknown[0]!r} (this Tweeling knows "
            "'file', 'url' and 'rasters')"
        )
    if "file" in config and "url" in config:
        raise WorkspaceError(
            "twin.toml [store]: give 'file' (a GeoPackage) or 'url' (a PostgreSQL "
            "database), not both"
        )
    if "url" in config:
        from tweeling.store.pg_connection import check_url

        check_url(str(config["url"]))


def copy_store(src: TwinStore, dst: TwinStore, *, progress=None) -> None:
    """Copy everything ``src`` holds into the empty ``dst`` (either backend, one
    transaction of ``dst``; see :mod:`tweeling.store.copy`)."""
    from tweeling.store.copy import copy_store as _copy

    _copy(src, dst, progress=progress)


def compare_stores(src: TwinStore, dst: TwinStore) -> list:
    """The checks of a copy (:func:`tweeling.store.copy.compare`): content hashes of every
    view, rows of every table, the audit chain."""
    from tweeling.store.copy import compare

    return compare(src, dst)


def destroy_store(root: Path, config: dict[str, Any]) -> None:
    """Remove a store this program just created (a failed copy into it): the GeoPackage
    file, or the twin's tables and views in its database (nothing else there)."""
    _check(config)
    if "url" in config:
        from tweeling.store.pg_store import drop_twin

        drop_twin(config["url"])
    else:
        (root / config.get("file", STORE_FILE)).unlink(missing_ok=True)
