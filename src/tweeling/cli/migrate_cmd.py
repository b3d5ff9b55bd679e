"""``tweeling migrate``: copy a twin into another backend (GeoPackage ⇄ PostGIS), verified."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tweeling.cli.common import TwinOpt, console, run


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate)


def migrate(
    target: Annotated[Path, typer.Argument(help="Folder for the migrated twin (new).")],
    store: Annotated[
        str | None,
        typer.Option(
            help="Move the twin into this PostgreSQL/PostGIS database "
            "(postgresql://user@host:port/database, password from PGPASSWORD or ~/.pgpass). "
            "Without it, into a GeoPackage file in TARGET.",
        ),
    ] = None,
    twin: TwinOpt = None,
) -> None:
    """Copy the twin, with all its history, scenarios, runs, people and audit log, into a
    new workspace on another store backend; then check that every view hashes the same."""
    from rich.table import Table

    from tweeling.services.migration import migrate_workspace

    def body():
        with console.status("Copying…") as status:

            def progress(what: str, n: int) -> None:
                status.update(f"Copied {what} ({n:,} rows)")

            done = migrate_workspace(twin, target, store=store, progress=progress)
        table = Table(title=f"Checks: {done.source} → {done.target}")
        for col in ("check", "source", "copy", ""):
            table.add_column(col)
        for c in done.checks:
            table.add_row(c.what, c.source[:16], c.target[:16], "[green]equal[/]")
        console.print(table)
        rows = sum(done.copied.values())
        console.print(
            f"Migrated the twin to [bold]{done.root}[/] (store: {done.target}): {rows:,} rows "
            f"in {len(done.copied)} tables and layers, {len(done.checks)} checks equal. "
            "The source twin was not changed."
        )

    run(body)
