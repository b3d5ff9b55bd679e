"""``tweeling check | rules``: the legal context (parse, call a service, render)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import typer

from tweeling.cli.common import TwinOpt, console, run, user


def register(app: typer.Typer) -> None:
    app.command("check")(check)
    app.command("rules")(rules)


DateOpt = Annotated[
    str | None,
    typer.Option("--date", help="The date the norms must be in force (YYYY-MM-DD; today)."),
]


def _date(text: str | None) -> date:
    from tweeling.core.errors import InputError

    if text is None:
        return date.today()
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"--date {text!r}: expected YYYY-MM-DD") from None


def check(
    scenario: Annotated[
        str, typer.Option("--scenario", "-s", help="Scenario (NAME or NAME@LABEL).")
    ],
    on: DateOpt = None,
    json_out: Annotated[bool, typer.Option("--json", help="All findings as JSON.")] = False,
    again: Annotated[
        bool, typer.Option("--again", help="Compute again even if nothing changed.")
    ] = False,
    twin: TwinOpt = None,
) -> None:
    """Check a scenario's interventions and model results against the norms in force
    (stored findings are re-used while the scenario, norms and runs are unchanged)."""
    from tweeling.cli import render_rules
    from tweeling.services.rules import checked
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            record, reused = checked(ws.store, scenario, _date(on), user=user(), reuse=not again)
            if json_out:
                console.print_json(data=record.findings)
            else:
                render_rules.findings(console, record, reused=reused)

    run(body)


def rules(
    point: Annotated[str | None, typer.Option(help="x,y in RD New.")] = None,
    building: Annotated[str | None, typer.Option(help="A building's id or BAG pand id.")] = None,
    polygon: Annotated[str | None, typer.Option(help="WKT or GeoJSON polygon in RD New.")] = None,
    scenario: Annotated[
        str | None, typer.Option("--scenario", "-s", help="Read --building from a scenario.")
    ] = None,
    on: DateOpt = None,
    twin: TwinOpt = None,
) -> None:
    """What applies here: the norms in force at a point, building or polygon on a date."""
    from tweeling.cli import render_rules
    from tweeling.cli.parse import parse_geometry, parse_point
    from tweeling.core.errors import InputError
    from tweeling.services.rules import applies_here, building_geometry
    from tweeling.services.workspace import open_workspace

    def body():
        given = [x for x in (point, building, polygon) if x is not None]
        if len(given) != 1:
            raise InputError("give exactly one of --point, --building, --polygon")
        with open_workspace(twin) as ws:
            if point is not None:
                import shapely

                geom = shapely.Point(*parse_point(point))
            elif building is not None:
                geom = building_geometry(ws.store, building, scenario)
            else:
                geom = parse_geometry(polygon, None)
            when = _date(on)
            render_rules.norms(console, applies_here(ws.store, geom, when), when)

    run(body)
