"""Which backend holds a twin: chosen per twin in ``twin.toml``'s ``[store]`` table.

``file = "twin.gpkg"`` (with ``rasters = "rasters"``) is the embedded GeoPackage backend.
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


def default_config() -> dict[str, Any]:
    """The ``[store]`` table of a new twin."""
    return {"file": STORE_FILE, "rasters": RASTER_DIR}


def create_store(root: Path, config: dict[str, Any]) -> TwinStore:
    """A new, empty store for the twin in folder ``root`` as ``config`` (``[store]``) says."""
    from tweeling.store.geopackage import GeoPackageStore

    _check(config)
    return GeoPackageStore.create(
        root / config.get("file", STORE_FILE), raster_dir=root / config.get("rasters", RASTER_DIR)
    )


def open_store(root: Path, config: dict[str, Any]) -> TwinStore:
    """The store of the twin in folder ``root`` as ``config`` (``[store]``) says."""
    from tweeling.store.geopackage import GeoPackageStore

    _check(config)
    return GeoPackageStore(
        root / config.get("file", STORE_FILE), raster_dir=root / config.get("rasters", RASTER_DIR)
    )


def holds_store(root: Path) -> bool:
    """Whether folder ``root`` holds a store file (a twin, or the remains of one)."""
    return (root / STORE_FILE).exists()


def _check(config: dict[str, Any]) -> None:
    unknown = sorted(set(config) - {"file", "rasters"})
    if unknown:
        raise WorkspaceError(
            f"twin.toml [store]: unknown setting {unknown[0]!r} (this Tweeling knows "
            "'file' and 'rasters')"
        )
