"""``tweeling models | run | runs | reproduce``: impact models (parse, call a service, render)."""

from __future__ import annotations

from typing import Annotated

import typer

from tweeling.cli.common import TwinOpt, console, run, user

ClusterOpt = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Compute the run's tiles on the Dask scheduler at this address "
        "(tcp://host:8786); its workers must reach the twin's store.",
    ),
]
WorkersOpt = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        help="Compute the run's tiles on a local Dask cluster of N worker processes.",
    ),
]


def _cluster(address: str | None, workers: int | None):
    """The Dask cluster asked for, or None (this process)."""
    if address is None and workers is None:
        return None
    from tweeling.core.errors import InputError
    from tweeling.services.cluster import Cluster

    if address is not None and workers is not None:
        raise InputError("give --cluster or --workers, not both")
    return Cluster(address=address, workers=workers)


def register(app: typer.Typer) -> None:
    app.command("models")(models)
    app.command("run")(run_cmd)
    app.command("runs")(runs)
    app.command("reproduce")(reproduce)


def models(
    name: Annotated[str | None, typer.Argument(help="Show one model in full.")] = None,
) -> None:
    """The impact models available (built in and from plug-ins), or one in full."""
    from tweeling.cli import render_models
    from tweeling.models import registry

    def body():
        if name is None:
            render_models.model_list(console, registry.available())
        else:
            render_models.model_info(console, registry.get(name).info)

    run(body)


def run_cmd(
    model: Annotated[str, typer.Argument(help="Model name (see 'tweeling models').")],
    scenario: Annotated[
        str | None, typer.Option("--scenario", "-s", help="Scenario (NAME or NAME@LABEL).")
    ] = None,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="name=value (repeatable).")
    ] = None,
    extent: Annotated[
        str | None, typer.Option(help="minx,miny,maxx,maxy in RD New (default: the twin's area).")
    ] = None,
    no_reuse: Annotated[
        bool, typer.Option("--no-reuse", help="Compute again even if identical inputs ran.")
    ] = False,
    cluster: ClusterOpt = None,
    workers: WorkersOpt = None,
    twin: TwinOpt = None,
) -> None:
    """Run a model on the baseline or a scenario; the result is stored with provenance."""
    from tweeling.cli import render_models
    from tweeling.cli.parse import parse_bbox, parse_value
    from tweeling.core.errors import InputError
    from tweeling.services.runs import run_model
    from tweeling.services.workspace import open_workspace

    def body():
        params = {}
        for item in param or []:
            key, sep, raw = item.partition("=")
            if not sep or not key:
                raise InputError(f"--param {item!r}: expected name=value")
            params[key] = parse_value(raw)
        box = parse_bbox(extent) if extent else None
        where = _cluster(cluster, workers)
        with open_workspace(twin) as ws, render_models.run_progress(console, model) as progress:
            record, reused = run_model(
                ws.store,
                model,
                scenario=scenario,
                params=params,
                extent=box,
                user=user(),
                progress=progress,
                reuse=not no_reuse,
                cluster=where,
            )
            render_models.run_record(console, record, ws.store.runs_dir, reused=reused)

    run(body)


def runs(
    model: Annotated[str | None, typer.Option(help="Only runs of this model.")] = None,
    twin: TwinOpt = None,
) -> None:
    """The stored model runs with their provenance."""
    from tweeling.cli import render_models
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            render_models.run_list(console, ws.store.runs(model=model))

    run(body)


def reproduce(
    run_id: Annotated[str, typer.Argument(help="Run id (see 'tweeling runs').")],
    cluster: ClusterOpt = None,
    workers: WorkersOpt = None,
    twin: TwinOpt = None,
) -> None:
    """Execute a stored run again and verify that the result hash is identical."""
    from tweeling.cli import render_models
    from tweeling.core.errors import TweelingError
    from tweeling.services.runs import reproduce as reproduce_run
    from tweeling.services.workspace import open_workspace

    def body():
        with (
            open_workspace(twin) as ws,
            render_models.run_progress(console, f"reproduce {run_id}") as progress,
        ):
            rep = reproduce_run(
                ws.store, run_id, progress=progress, cluster=_cluster(cluster, workers)
            )
        if not rep.identical:
            why = []
            if not rep.inputs_equal:
                why.append("its inputs changed since (run it on a frozen version NAME@LABEL)")
            if not rep.code_equal:
                why.append("the model's code changed since")
            raise TweelingError(
                f"run {run_id}: result hash {rep.result_hash} differs from the recorded "
                f"{rep.run.result_hash}" + (": " + "; ".join(why) if why else "")
            )
        console.print(f"run {run_id} reproduced: identical result sha256:{rep.result_hash}")

    run(body)
