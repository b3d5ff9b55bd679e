"""What every CLI command shares: consoles, the --twin option, error handling, the user."""

from __future__ import annotations

import errno
import getpass
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from tweeling.core.errors import TweelingError, disk_full_text

console = Console()
err = Console(stderr=True, soft_wrap=True)  # messages stay on one line for logs and grep

TwinOpt = Annotated[
    Path | None,
    typer.Option(
        "--twin",
        "-t",
        help="Twin workspace folder (default: the current folder "
        "or the nearest one above it with twin.toml).",
    ),
]


def user() -> str:
    try:
        return os.environ.get("TWEELING_USER") or getpass.getuser()
    except Exception:  # no passwd entry in some containers
        return "unknown"


def run(fn: Callable[[], Any]) -> Any:
    """Run a command body: user errors get a clear message and exit code 1."""
    try:
        return fn()
    except TweelingError as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("[bold red]interrupted:[/] nothing of the unfinished step was stored")
        raise typer.Exit(130) from None
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        err.print(f"[bold red]error:[/] {escape(disk_full_text(exc))}", highlight=False)
        raise typer.Exit(1) from None
