"""``tweeling scenario …``: scenarios as branches of the twin (parse, call a service, render)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from tweeling.cli import render_scenarios as show
from tweeling.cli.common import TwinOpt, console, run, user

scenario_app = typer.Typer(
    help="Scenarios: named, versioned plans of interventions over the twin.",
    no_args_is_help=True,
)

NameArg = Annotated[str, typer.Argument(help="Scenario name.")]
TitleOpt = Annotated[str, typer.Option("--title", help="What the intervention does.")]
RationaleOpt = Annotated[str, typer.Option("--rationale", help="Why.")]
LayerOpt = Annotated[str, typer.Option("--layer", "-l", help="Layer of the object.")]
ResolveOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--resolve",
        help="Settle a conflict: LAYER/ID=ours or LAYER/ID=theirs (parameters/NAME=…); repeatable.",
    ),
]


def _store(twin):
    from tweeling.services.workspace import open_workspace

    return open_workspace(twin)


@scenario_app.command("create")
def create(
    name: NameArg,
    parent: Annotated[
        str, typer.Option(help="Build on this scenario or frozen version (NAME@LABEL).")
    ] = "baseline",
    description: Annotated[str, typer.Option(help="What the scenario explores.")] = "",
    twin: TwinOpt = None,
) -> None:
    """Create a draft scenario on the baseline (or on another scenario)."""
    from tweeling.services.scenarios import create_scenario

    def body():
        with _store(twin) as ws:
            info = create_scenario(
                ws.store, name, parent=parent, author=user(), description=description
            )
            console.print(f"Created scenario [bold]{info.name}[/] on {info.parent}")

    run(body)


@scenario_app.command("fork")
def fork(
    source: Annotated[str, typer.Argument(help="Scenario (or NAME@LABEL) to build on.")],
    name: NameArg,
    description: Annotated[str, typer.Option(help="What the variant explores.")] = "",
    twin: TwinOpt = None,
) -> None:
    """A variant of a scenario: shows what the source shows until you change it."""
    from tweeling.services.scenarios import fork_scenario

    def body():
        with _store(twin) as ws:
            info = fork_scenario(ws.store, source, name, author=user(), description=description)
            console.print(f"Created scenario [bold]{info.name}[/] on {source}")

    run(body)


@scenario_app.command("list")
def list_(twin: TwinOpt = None) -> None:
    """The scenarios with parent, status, interventions and frozen versions."""

    def body():
        with _store(twin) as ws:
            show.scenario_list(console, ws.store.scenarios.list())

    run(body)


@scenario_app.command("show")
def show_(
    name: NameArg,
    twin: TwinOpt = None,
) -> None:
    """One scenario: what it is built on, its interventions and its changes per layer."""
    from tweeling.services.scenarios import diff_scenarios

    def body():
        with _store(twin) as ws:
            info = ws.store.scenarios.info(name)
            show.scenario_info(
                console,
                info,
                ws.store.scenarios.interventions(name),
                diff_scenarios(ws.store, name),
                ws.store.parameters(name),
            )

    run(body)


@scenario_app.command("apply")
def apply(
    name: NameArg,
    path: Annotated[Path, typer.Argument(help="Interventions file (.yaml or .geojson).")],
    crs: Annotated[
        str | None, typer.Option(help="CRS of the file's coordinates, when it does not say.")
    ] = None,
    twin: TwinOpt = None,
) -> None:
    """Apply a file of interventions, all or none."""
    from tweeling.services.scenarios import apply_interventions
    from tweeling.sources.interventions import read_interventions

    def body():
        interventions = read_interventions(path, crs=crs)
        with (
            _store(twin) as ws,
            console.status(f"Applying {len(interventions)} interventions to {name} …"),
        ):
            report = apply_interventions(
                ws.store, name, interventions, author=user(), path=str(path)
            )
        show.apply_report(console, report)

    run(body)


def _one(name: str, twin, intervention) -> None:
    from tweeling.services.scenarios import apply_interventions

    with _store(twin) as ws:
        report = apply_interventions(ws.store, name, [intervention], author=user())
    show.apply_report(console, report)


@scenario_app.command("add")
def add(
    name: NameArg,
    layer: LayerOpt,
    geometry: Annotated[str, typer.Option(help="WKT or GeoJSON geometry.")],
    title: TitleOpt,
    rationale: RationaleOpt = "",
    object_id: Annotated[str | None, typer.Option("--id", help="Id of the new object.")] = None,
    sets: Annotated[
        list[str] | None, typer.Option("--set", help="field=value (repeatable).")
    ] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of --geometry (default RD New).")] = None,
    twin: TwinOpt = None,
) -> None:
    """Add an object (a building, a turbine, a tree) to a scenario."""
    from tweeling.cli.parse import parse_assignments, parse_geometry
    from tweeling.core.interventions import Intervention

    def body():
        with _store(twin) as ws:
            props = parse_assignments(sets or [], ws.store.schema(layer), "--set")
        _one(
            name,
            twin,
            Intervention(
                "add",
                title,
                rationale,
                layer=layer,
                id=object_id,
                geometry=parse_geometry(geometry, crs),
                properties=props,
            ),
        )

    run(body)


@scenario_app.command("modify")
def modify(
    name: NameArg,
    layer: LayerOpt,
    object_id: Annotated[str, typer.Option("--id", help="Object to change.")],
    title: TitleOpt,
    rationale: RationaleOpt = "",
    sets: Annotated[
        list[str] | None,
        typer.Option("--set", help="field=value (repeatable); field= clears it."),
    ] = None,
    geometry: Annotated[str | None, typer.Option(help="New WKT or GeoJSON geometry.")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS of --geometry (default RD New).")] = None,
    twin: TwinOpt = None,
) -> None:
    """Change attributes and/or the geometry of an object in a scenario."""
    from tweeling.cli.parse import parse_assignments, parse_geometry
    from tweeling.core.interventions import Intervention

    def body():
        with _store(twin) as ws:
            schema = ws.store.schema(layer)
            props = parse_assignments(sets or [], schema, "--set", empty_is_null=True)
        _one(
            name,
            twin,
            Intervention(
                "modify",
                title,
                rationale,
                layer=layer,
                id=object_id,
                geometry=None if geometry is None else parse_geometry(geometry, crs),
                properties=props,
            ),
        )

    run(body)


@scenario_app.command("remove")
def remove(
    name: NameArg,
    layer: LayerOpt,
    object_id: Annotated[str, typer.Option("--id", help="Object to remove.")],
    title: TitleOpt,
    rationale: RationaleOpt = "",
    twin: TwinOpt = None,
) -> None:
    """Remove an object in a scenario (the baseline keeps it)."""
    from tweeling.core.interventions import Intervention

    run(
        lambda: _one(
            name, twin, Intervention("remove", title, rationale, layer=layer, id=object_id)
        )
    )


@scenario_app.command("param")
def param(
    name: NameArg,
    parameter: Annotated[str, typer.Argument(help="Parameter name, e.g. traffic_growth.")],
    value: Annotated[str, typer.Argument(help="Value: a number, true/false or text.")],
    unit: Annotated[str, typer.Option(help="Unit, e.g. mm, kg/yr; '1' for a plain number.")],
    title: TitleOpt,
    rationale: RationaleOpt = "",
    twin: TwinOpt = None,
) -> None:
    """Set a parameter that models read (traffic growth, an emission factor, a rain event)."""
    from tweeling.cli.parse import parse_value
    from tweeling.core.interventions import Intervention

    run(
        lambda: _one(
            name,
            twin,
            Intervention(
                "parameter",
                title,
                rationale,
                parameter=parameter,
                value=parse_value(value),
                unit=unit,
            ),
        )
    )


@scenario_app.command("diff")
def diff(
    a: Annotated[str, typer.Argument(help="Scenario (NAME or NAME@LABEL, or baseline).")],
    b: Annotated[
        str | None, typer.Argument(help="Second scenario; without it: A against its parent.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
    twin: TwinOpt = None,
) -> None:
    """What changes from A to B: added, modified (with the attributes) and removed objects."""
    from tweeling.core.errors import InputError
    from tweeling.services.scenarios import diff_scenarios

    def body():
        if fmt not in ("table", "json"):
            raise InputError(f"unknown format {fmt!r}: use table or json")
        with _store(twin) as ws:
            d = diff_scenarios(ws.store, a, b)
        if fmt == "json":
            show.diff_json(sys.stdout, d)
        else:
            show.diff_table(console, d)

    run(body)


@scenario_app.command("merge")
def merge(
    source: Annotated[str, typer.Argument(help="Scenario whose changes to take.")],
    target: Annotated[str, typer.Argument(help="Scenario to merge them into.")],
    resolve: ResolveOpt = None,
    twin: TwinOpt = None,
) -> None:
    """Three-way merge of SOURCE into TARGET; conflicts are reported, never guessed."""
    from tweeling.services.scenarios import merge_scenarios, parse_resolutions

    def body():
        with _store(twin) as ws:
            report = merge_scenarios(
                ws.store,
                source,
                target,
                author=user(),
                resolutions=parse_resolutions(resolve or []),
            )
        show.merge_report(console, report, "Merged")

    run(body)


@scenario_app.command("rebase")
def rebase(
    name: NameArg,
    resolve: ResolveOpt = None,
    twin: TwinOpt = None,
) -> None:
    """Build a scenario on its parent's latest state (e.g. after a baseline re-import)."""
    from tweeling.services.scenarios import parse_resolutions, rebase_scenario

    def body():
        with _store(twin) as ws:
            report = rebase_scenario(
                ws.store, name, author=user(), resolutions=parse_resolutions(resolve or [])
            )
        show.merge_report(console, report, "Rebased")

    run(body)


@scenario_app.command("freeze")
def freeze(
    name: NameArg,
    label: Annotated[str, typer.Argument(help="Version label, e.g. v1 or council-2026-12.")],
    note: Annotated[str, typer.Option(help="Why this version is kept.")] = "",
    twin: TwinOpt = None,
) -> None:
    """Freeze the scenario's current state as NAME@LABEL, identified by a content hash."""
    from tweeling.services.scenarios import freeze_scenario

    def body():
        with _store(twin) as ws, console.status(f"Hashing everything {name} shows …"):
            v = freeze_scenario(ws.store, name, label, author=user(), note=note)
        console.print(f"Frozen [bold]{v.ref}[/] sha256:{v.hash}")

    run(body)


@scenario_app.command("verify")
def verify(
    ref: Annotated[str, typer.Argument(help="Frozen version NAME@LABEL.")],
    twin: TwinOpt = None,
) -> None:
    """Recompute a frozen version's content hash and compare it with the recorded one."""
    from tweeling.core.errors import TweelingError
    from tweeling.services.scenarios import verify_frozen

    def body():
        with _store(twin) as ws, console.status(f"Hashing everything {ref} shows …"):
            recorded, now = verify_frozen(ws.store, ref)
        if recorded != now:
            raise TweelingError(
                f"{ref}: content hash {now} differs from the recorded {recorded}: "
                "the store was altered outside Tweeling"
            )
        console.print(f"{ref}: intact, sha256:{now}")

    run(body)


@scenario_app.command("status")
def status(
    name: NameArg,
    new: Annotated[str, typer.Argument(help="draft, shared, published, decided or archived.")],
    twin: TwinOpt = None,
) -> None:
    """Set a scenario's status (only draft and shared scenarios can be edited)."""

    from tweeling.services.scenarios import set_status

    def body():
        with _store(twin) as ws:
            info = set_status(ws.store, name, new)
        console.print(f"Scenario [bold]{info.name}[/] is now {info.status}")

    run(body)


@scenario_app.command("delete")
def delete(name: NameArg, twin: TwinOpt = None) -> None:
    """Delete a draft scenario (without children or frozen versions)."""

    from tweeling.services.scenarios import delete_scenario

    def body():
        with _store(twin) as ws:
            delete_scenario(ws.store, name)
        console.print(f"Deleted scenario [bold]{name}[/]")

    run(body)
