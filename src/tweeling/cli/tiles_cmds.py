"""``tweeling tiles seed``: render a twin's vector tiles ahead of its visitors."""

from __future__ import annotations

from typing import Annotated

import typer

from tweeling.cli.common import TwinOpt, console, run

tiles_app = typer.Typer(help="The twin's vector tile cache.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(tiles_app, name="tiles")


def _zooms(text: str) -> range:
    from tweeling.core.errors import InputError
    from tweeling.services.tiles import DATA_MAXZOOM

    low, sep, high = text.partition("-")
    try:
        lo, hi = int(low), int(high if sep else low)
    except ValueError:
        raise InputError(f"--zoom {text!r}: give a zoom level or a range such as 13-16") from None
    if not 0 <= lo <= hi <= DATA_MAXZOOM:
        raise InputError(f"--zoom {text!r}: zoom levels run from 0 to {DATA_MAXZOOM}")
    return range(lo, hi + 1)


@tiles_app.command("seed")
def seed(
    scenario: Annotated[
        list[str] | None,
        typer.Option(
            "--scenario",
            "-s",
            help="A scenario to seed (NAME or NAME@LABEL; repeatable). Default: the baseline, "
            "every published scenario and every public variant — what everyone sees.",
        ),
    ] = None,
    zoom: Annotated[str, typer.Option(help="Zoom levels, e.g. 13-16.")] = "13-16",
    twin: TwinOpt = None,
) -> None:
    """Render every layer's tiles over the twin's area into its tile cache, so that the
    first people to open the map (a round just opened, a plan just published) wait for no
    rendering. Tiles a scenario leaves alone are shared with the baseline."""
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            seed_tiles(ws, scenario, _zooms(zoom))

    run(body)


def seed_tiles(ws, scenarios: list[str] | None = None, zooms: range = range(13, 17)) -> None:
    """Seed the tile cache of ``scenarios`` (default: the baseline and what everyone sees)
    with a progress bar, and say what was done."""
    from tweeling.cli import render
    from tweeling.services import permissions, tiles

    names = scenarios or [None, *permissions.seen_by_everyone(ws.store)]
    for name in names:
        ws.store.view(name)  # an unknown scenario is an error before any work
    svc = tiles.TileService(ws.root, tiles.twin_tile_id(ws.config))
    area = ws.store.area_of_interest()
    todo = tiles.tiles_over(area, zooms) if area else None  # None: seed says what is missing
    count = len(todo or ()) * len(names)
    with render.count_progress(console, "tiles", count) as advance:
        report = tiles.seed(
            svc, ws.store, scenarios=names, zooms=zooms, tiles=todo, progress=advance
        )
    shown = ", ".join(n or "baseline" for n in names)
    console.print(
        f"Seeded {report.tiles:,} tiles ({report.with_features:,} with features) of {shown} "
        f"at zoom {zooms.start}–{zooms.stop - 1} in {report.seconds:.1f} s"
    )
