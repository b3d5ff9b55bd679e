"""Twin workspaces: a folder with ``twin.toml``, the store (a GeoPackage file by default;
see :mod:`tweeling.store.backends`), raster files and run results.

Like a QGIS project folder: copy the folder and you have the twin.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w

from tweeling import __version__
from tweeling.core.crs import RD_NAP
from tweeling.core.errors import WorkspaceError
from tweeling.core.timeaxis import to_text, utc_now
from tweeling.store import backends
from tweeling.store.base import TwinStore

CONFIG = "twin.toml"
STORE_FILE = backends.STORE_FILE


@dataclass
class Workspace:
    root: Path
    config: dict[str, Any]
    store: TwinStore

    @property
    def name(self) -> str:
        return self.config["twin"]["name"]

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def init_workspace(
    directory: str | os.PathLike, *, name: str | None = None, store: str | None = None
) -> Workspace:
    """Create a new twin workspace in ``directory`` (created when missing, must hold no
    twin); its store a GeoPackage in it, or the PostgreSQL database ``store`` names."""
    root = Path(directory).resolve()
    if (root / CONFIG).exists() or backends.holds_store(root):
        raise WorkspaceError(f"{root} already holds a twin")
    if root.exists() and not root.is_dir():
        raise WorkspaceError(f"{root} is a file, not a folder")
    config = {
        "twin": {
            "name": name or root.name,
            "crs": RD_NAP,
            "created": to_text(utc_now()),
            "tweeling_version": __version__,
        },
        "store": backends.default_config(store),  # a bad URL is refused before any change
    }
    root.mkdir(parents=True, exist_ok=True)
    twin_store = backends.create_store(root, config["store"])
    (root / CONFIG).write_text(tomli_w.dumps(config), encoding="utf-8")
    return Workspace(root, config, twin_store)


def find_workspace(start: str | os.PathLike | None = None) -> Path:
    """The workspace: ``start`` itself, or the nearest folder above the cwd with twin.toml."""
    if start is not None:
        root = Path(start).resolve()
        if not (root / CONFIG).exists():
            raise WorkspaceError(
                f"{root} is not a twin workspace (no {CONFIG}); create one with 'tweeling init DIR'"
            )
        return root
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG).exists():
            return folder
    raise WorkspaceError(
        f"no twin workspace in {here} or above; use --twin DIR or 'tweeling init DIR'"
    )


def open_workspace(directory: str | os.PathLike | None = None) -> Workspace:
    root = find_workspace(directory)
    try:
        config = tomllib.loads((root / CONFIG).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise WorkspaceError(f"{root / CONFIG}: {exc}") from None
    store = backends.open_store(root, config.get("store", {}))
    return Workspace(root, config, store)
