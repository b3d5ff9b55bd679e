"""Shared fixtures. The real Dutch sample data lives in ../shared/data (read-only)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def data_dir() -> Path:
    return Path(os.environ.get("TWEELING_DATA", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = data_dir()
    if not (path / "delft" / "delft.city.json").exists():
        # Never skip: CI must have the data beside the checkout.
        pytest.fail(f"sample data not found at {path} (set TWEELING_DATA)")
    return path


@pytest.fixture(scope="session")
def demo_master(tmp_path_factory, shared_data) -> Path:
    """The Delft demo twin (with its model runs and checked scenarios), built once per test
    session through the CLI as a user builds it; tests work on copies (``copy_demo``)."""
    from typer.testing import CliRunner

    from tweeling.cli.main import app

    root = tmp_path_factory.mktemp("demo-master") / "delft"
    result = CliRunner().invoke(app, ["demo", "--twin", str(root), "--data", str(shared_data)])
    assert result.exit_code == 0, result.output
    return root


def copy_demo(tmp_path_factory, master: Path) -> Path:
    import shutil

    root = tmp_path_factory.mktemp("demo") / "twin"
    shutil.copytree(master, root)
    return root


def bearer(root: Path, username: str = "planner", scope: str = "write") -> dict[str, str]:
    """The Authorization header of a fresh API token for a person of the twin in ``root``
    (the demo has beheer, planner, anna and bram): tests act as that person."""
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    with open_workspace(root) as ws:
        person = ws.store.people.by_name(username)
        token = accounts.create_token(ws.store, person, "tests", scope=scope)
    return {"Authorization": f"Bearer {token.secret}"}
