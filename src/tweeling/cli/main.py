"""The ``tweeling`` command line: parse, call one service function, render. Nothing more."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from tweeling.cli import (
    audit_cmds,
    migrate_cmd,
    model_cmds,
    people_cmds,
    render,
    rule_cmds,
    tiles_cmds,
)
from tweeling.cli.common import TwinOpt, console, run
from tweeling.cli.common import user as _user
from tweeling.cli.scenario_cmds import scenario_app

app = typer.Typer(
    name="tweeling",
    help="Tweeling: a digital twin of the physical living environment of the Netherlands.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
import_app = typer.Typer(help="Import a source into the twin's baseline.", no_args_is_help=True)
app.add_typer(import_app, name="import")
app.add_typer(scenario_app, name="scenario")
model_cmds.register(app)
rule_cmds.register(app)
people_cmds.register(app)
audit_cmds.register(app)
tiles_cmds.register(app)
migrate_cmd.register(app)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new twin.")],
    name: Annotated[str | None, typer.Option(help="Name of the twin.")] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="Keep the twin in this PostgreSQL/PostGIS database "
            "(postgresql://user@host:port/database; the password from PGPASSWORD or "
            "~/.pgpass) instead of a GeoPackage file in the folder.",
        ),
    ] = None,
) -> None:
    """Create a new twin workspace (twin.toml and its store: a GeoPackage, or PostGIS)."""
    from tweeling.services.workspace import init_workspace

    def body():
        with init_workspace(directory, name=name, store=store) as ws:
            console.print(
                f"Created twin [bold]{ws.name}[/] in {ws.root} (store: {ws.store.location})"
            )

    run(body)


def _do_import(kind: str, paths: list[Path], twin: Path | None, **options) -> None:
    from tweeling.services.importing import import_source
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws, render.import_progress(console) as on_batch:
            reports = import_source(
                ws, kind, paths, options=options, user=_user(), on_batch=on_batch
            )
        for report in reports:
            render.write_report(console, report)

    run(body)


PathsArg = Annotated[list[Path], typer.Argument(help="Source files.")]
RepairOpt = Annotated[
    bool,
    typer.Option(
        "--repair",
        help="Repair invalid geometries (shapely make_valid) instead of "
        "refusing the file; each repair is listed in the import log.",
    ),
]


@import_app.command("cityjson")
def import_cityjson(
    paths: PathsArg,
    crs: Annotated[
        str | None, typer.Option(help="CRS when the file does not state one, e.g. EPSG:7415.")
    ] = None,
    twin: TwinOpt = None,
) -> None:
    """CityJSON 1.0, 1.1 or 2.0 city models (3D BAG, municipal 3D models)."""
    _do_import("cityjson", paths, twin, crs=crs)


@import_app.command("bgt")
def import_bgt(paths: PathsArg, repair: RepairOpt = False, twin: TwinOpt = None) -> None:
    """BGT/IMGeo topography (OGR SQLite or GeoPackage files named bgt_<type>)."""
    _do_import("bgt", paths, twin, repair=repair)


@import_app.command("ahn")
def import_ahn(
    paths: PathsArg,
    resolution: Annotated[float, typer.Option(help="Grid cell size in metres.")] = 0.5,
    fill_distance: Annotated[float, typer.Option(help="Fill gaps up to this distance (m).")] = 2.0,
    twin: TwinOpt = None,
) -> None:
    """AHN point clouds (LAZ/LAS) into a DTM and DSM (Cloud Optimized GeoTIFF)."""
    _do_import("ahn", paths, twin, resolution_m=resolution, fill_distance_m=fill_distance)


@import_app.command("natura2000")
def import_natura2000(paths: PathsArg, repair: RepairOpt = False, twin: TwinOpt = None) -> None:
    """Natura 2000 sites (GeoJSON)."""
    _do_import("natura2000", paths, twin, repair=repair)


@import_app.command("cbs")
def import_cbs(paths: PathsArg, repair: RepairOpt = False, twin: TwinOpt = None) -> None:
    """CBS municipalities, districts and neighbourhoods with statistics (TopoJSON)."""
    _do_import("cbs", paths, twin, repair=repair)


@import_app.command("imro")
def import_imro(
    paths: PathsArg,
    arc_tolerance: Annotated[
        float, typer.Option(help="Max. deviation (m) of linearised arcs.")
    ] = 0.01,
    twin: TwinOpt = None,
) -> None:
    """IMRO 2008/2012 zoning plans (GML)."""
    _do_import("imro", paths, twin, arc_tolerance_m=arc_tolerance)


@import_app.command("model-inputs")
def import_model_inputs(
    paths: PathsArg,
    layer: Annotated[
        str,
        typer.Option("--layer", "-l", help="road_traffic, wind_turbines or nitrogen_sources."),
    ],
    crs: Annotated[str | None, typer.Option(help="CRS when the file has none.")] = None,
    twin: TwinOpt = None,
) -> None:
    """Model inputs (road traffic, wind turbines, nitrogen sources) from GeoJSON, checked
    against the layer's schema (see docs/models/)."""
    _do_import("model-inputs", paths, twin, layer=layer, crs=crs)


@import_app.command("rules")
def import_rules(paths: PathsArg, twin: TwinOpt = None) -> None:
    """Rule sets (YAML, see docs/rules.md): norms with location, value, legal source and
    validity; refused when they contradict norms the twin holds."""
    _do_import("rules", paths, twin)


@import_app.command("file")
def import_file(
    paths: PathsArg,
    layer: Annotated[str, typer.Option("--layer", "-l", help="Target layer name.")],
    source_layer: Annotated[str | None, typer.Option(help="Layer inside the file.")] = None,
    crs: Annotated[str | None, typer.Option(help="CRS when the file has none.")] = None,
    id_field: Annotated[str | None, typer.Option(help="Attribute holding object ids.")] = None,
    twin: TwinOpt = None,
) -> None:
    """Any GDAL-readable vector file into a named layer."""
    _do_import(
        "file", paths, twin, layer_name=layer, source_layer=source_layer, crs=crs, id_field=id_field
    )


@app.command()
def info(twin: TwinOpt = None) -> None:
    """What the twin holds: name, store, layers, extent, imports."""
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            render.info(console, ws)

    run(body)


@app.command()
def layers(twin: TwinOpt = None) -> None:
    """The layers with their kind, feature count and extent."""
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            render.layers(console, ws.store.layers())

    run(body)


@app.command()
def features(
    layer: Annotated[str, typer.Argument(help="Layer name (see 'tweeling layers').")],
    bbox: Annotated[str | None, typer.Option(help="minx,miny,maxx,maxy in RD New.")] = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Show the twin as it was known at this time (ISO 8601)."),
    ] = None,
    where: Annotated[
        list[str] | None, typer.Option(help="field=value filter (repeatable).")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=0, help="At most this many features.")] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or geojson.")] = "table",
    scenario: Annotated[
        str | None,
        typer.Option("--scenario", "-s", help="Show the layer in a scenario (NAME or NAME@LABEL)."),
    ] = None,
    twin: TwinOpt = None,
) -> None:
    """List a layer's features (current baseline, a scenario, or --as-of a past time)."""
    from tweeling.cli.parse import parse_bbox, parse_where
    from tweeling.core.errors import InputError
    from tweeling.core.timeaxis import parse_time
    from tweeling.services.workspace import open_workspace

    def body():
        if fmt not in ("table", "geojson"):
            raise InputError(f"unknown format {fmt!r}: use table or geojson")
        box = parse_bbox(bbox) if bbox else None
        when = parse_time(as_of, what="--as-of") if as_of else None
        with open_workspace(twin) as ws:
            schema = ws.store.schema(layer)
            filters = parse_where(where or [], schema)
            rows = ws.store.features(
                layer, bbox=box, where=filters, as_of=when, limit=limit, scenario=scenario
            )
            if fmt == "geojson":
                render.geojson(sys.stdout, rows)
            else:
                render.features_table(console, layer, rows)

    run(body)


@app.command()
def history(
    layer: Annotated[str, typer.Argument(help="Layer name.")],
    feature_id: Annotated[str, typer.Argument(help="Object identifier.")],
    twin: TwinOpt = None,
) -> None:
    """All recorded versions of one object, with both time axes."""
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            render.history(console, ws.store.history(layer, feature_id))

    run(body)


@app.command()
def sample(
    raster: Annotated[str, typer.Argument(help="Raster layer, e.g. ahn_dtm.")],
    points: Annotated[list[str], typer.Argument(help="x,y points in RD New.")],
    twin: TwinOpt = None,
) -> None:
    """Heights (or other raster values) at points, e.g. ground level from the AHN DTM."""
    from tweeling.cli.parse import parse_point
    from tweeling.services.workspace import open_workspace
    from tweeling.store.rasters import sample_raster

    def body():
        xy = [parse_point(p) for p in points]
        with open_workspace(twin) as ws:
            path = ws.store.raster_path(raster)
        values = sample_raster(path, [p[0] for p in xy], [p[1] for p in xy])
        render.samples(console, raster, xy, values)

    run(body)


@app.command()
def demo(
    twin: TwinOpt = None,
    data: Annotated[
        Path | None,
        typer.Option(
            help="Folder with the sample data (default: ../shared/data beside the project)."
        ),
    ] = None,
    serve_: Annotated[
        bool, typer.Option("--serve", help="Then serve it and open the web viewer.")
    ] = False,
    host: Annotated[str, typer.Option(help="Address to serve on (with --serve).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to serve on (with --serve).")] = 8000,
) -> None:
    """Build the Delft demo twin from real Dutch open data and show what it holds."""
    from datetime import date

    from tweeling.cli import render_models
    from tweeling.services.demo import (
        build_demo,
        check_demo_scenarios,
        default_data_dir,
        run_demo_models,
        wind_parameters,
    )
    from tweeling.services.demo_people import add_demo_participation

    def body():
        target = twin or Path("demo-twin")
        with render.import_progress(console) as on_batch:
            ws, reports, seconds = build_demo(
                target,
                data or default_data_dir(),
                user=_user(),
                on_batch=on_batch,
                log=console.print,
            )
        with ws:
            run_demo_models(
                ws,
                user=_user(),
                progress_for=lambda what: render_models.run_progress(console, what),
                log=console.print,
            )
            check_demo_scenarios(ws, date.today(), user=_user(), log=console.print)
            passwords = add_demo_participation(ws, wind_params=wind_parameters(), log=console.print)
            tiles_cmds.seed_tiles(ws)  # the first visitors of the round wait for no rendering
            render.demo_summary(console, ws, reports, seconds)
            render.demo_accounts(console, passwords)
        if serve_:
            _serve(ws.root, host, port, open_browser=True)

    run(body)


AllowHostOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--allow-host",
        help="A host name clients use to reach the server (besides twin.toml [server] hosts); "
        "other names are refused (DNS rebinding).",
    ),
]


@app.command()
def serve(
    host: Annotated[
        str,
        typer.Option(
            help="Address to listen on. Other than 127.0.0.1 needs accounts and host names."
        ),
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    allow_host: AllowHostOpt = None,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="TLS certificate (PEM): serve https.")
    ] = None,
    ssl_keyfile: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes: requests are spread over them, and each runs model jobs "
            "from the one queue in the twin's store. Use the cores you have; PostGIS twins "
            "gain most (readers never wait for writers).",
        ),
    ] = 1,
    twin: TwinOpt = None,
) -> None:
    """Serve the twin over HTTP(S): the web viewer (/viewer/) and OGC APIs (/, /docs).

    Beyond 127.0.0.1, serve https: with --ssl-certfile/--ssl-keyfile, or behind a reverse
    proxy that terminates TLS (then sign-in needs secure_cookies = false only if the proxy
    speaks plain http to this server on a trusted network)."""
    from tweeling.core.errors import InputError
    from tweeling.services.workspace import find_workspace

    def body():
        if (ssl_certfile is None) != (ssl_keyfile is None):
            raise InputError("give both --ssl-certfile and --ssl-keyfile, or neither")
        tls = None if ssl_certfile is None else (str(ssl_certfile), str(ssl_keyfile))
        _serve(
            find_workspace(twin),
            host,
            port,
            open_browser=False,
            hosts=allow_host,
            tls=tls,
            workers=workers,
        )

    run(body)


def _serve(
    root: Path,
    host: str,
    port: int,
    *,
    open_browser: bool,
    hosts: list[str] | None = None,
    tls: tuple[str, str] | None = None,
    workers: int = 1,
) -> None:
    import json
    import threading
    import webbrowser

    import uvicorn

    from tweeling.api.app import SERVE_ENV, create_app

    # Built here also with several workers: a twin that may not be served so fails at once.
    app_ = create_app(root, bind=host, hosts=tuple(hosts or ()))
    scheme = "https" if tls else "http"
    url = f"{scheme}://{host}:{port}/viewer/"
    console.print(
        f"Tweeling serves {root}\n  viewer: [bold]{url}[/]\n  API:    {scheme}://{host}:{port}/ "
        "(OGC API Features, Tiles, Processes; /docs)\n  Ctrl-C stops."
    )
    if open_browser and os.environ.get("DISPLAY") and not os.environ.get("CI"):
        threading.Timer(1.5, webbrowser.open, args=(url,)).start()
    # no Server header: it would name the server software to every client (ASVS V14.3.3)
    certs = {} if tls is None else {"ssl_certfile": tls[0], "ssl_keyfile": tls[1]}
    options = dict(host=host, port=port, log_level="warning", server_header=False, **certs)
    if workers == 1:
        uvicorn.run(app_, **options)
        return
    console.print(f"  {workers} server processes share the requests and the job queue.")
    os.environ[SERVE_ENV] = json.dumps(
        {"root": str(root), "bind": host, "hosts": list(hosts or ()), "processes": workers}
    )
    del app_  # each process builds its own
    from tweeling.api.server_processes import run_processes

    run_processes("tweeling.api.app:app_for_worker", workers=workers, **options)


@app.command()
def synth(
    count: Annotated[int, typer.Argument(min=1, help="Number of buildings.")],
    out: Annotated[Path, typer.Argument(help="Output GeoJSON text sequence file (.geojsons).")],
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same buildings).")] = 1,
    data: Annotated[
        Path | None,
        typer.Option(help="Data folder with cbs/gemeente_2015.topojson (default ../shared/data)."),
    ] = None,
    roads: Annotated[
        Path | None,
        typer.Option(
            help="Also write synthetic roads here (GeoJSON, RD New) for "
            "'tweeling import model-inputs FILE --layer road_traffic'."
        ),
    ] = None,
    road_count: Annotated[
        int | None,
        typer.Option(min=1, help="Number of road sections (default: N / 7, as in the country)."),
    ] = None,
    farms: Annotated[
        Path | None,
        typer.Option(
            help="Also write synthetic livestock farms here (GeoJSON, RD New) for "
            "'tweeling import model-inputs FILE --layer nitrogen_sources'."
        ),
    ] = None,
    farm_count: Annotated[
        int | None,
        typer.Option(min=1, help="Number of farms (default: N / 400, as in the country)."),
    ] = None,
) -> None:
    """Write N synthetic buildings over the Netherlands (RD New) for scale tests, placed in
    the CBS municipalities in proportion to their inhabitants; with --roads and --farms also
    a road network (road_traffic) and livestock farms (nitrogen_sources) to match."""
    from tweeling.services.demo import default_data_dir
    from tweeling.sources.synthetic import write_geojsonseq
    from tweeling.sources.synthetic_network import write_farms, write_roads

    # Rough national ratios: ~10 million buildings (BAG), ~1.5 million road sections (NWB),
    # ~25,000 livestock farms (CBS agricultural census).
    if road_count is not None and roads is None:
        raise typer.BadParameter("--road-count needs --roads FILE", param_hint="--road-count")
    if farm_count is not None and farms is None:
        raise typer.BadParameter("--farm-count needs --farms FILE", param_hint="--farm-count")
    n_roads = road_count or max(1, count // 7)
    n_farms = farm_count or max(1, count // 400)

    def body():
        data_dir = data or default_data_dir()
        with render.count_progress(console, "synthetic buildings", count) as advance:
            write_geojsonseq(out, count, data_dir=data_dir, seed=seed, progress=advance)
        console.print(f"Wrote {count:,} synthetic buildings to {out}")
        if roads is not None:
            with render.count_progress(console, "synthetic roads", n_roads) as advance:
                write_roads(roads, n_roads, data_dir=data_dir, seed=seed, progress=advance)
            console.print(f"Wrote {n_roads:,} synthetic roads (road_traffic) to {roads}")
        if farms is not None:
            with render.count_progress(console, "synthetic farms", n_farms) as advance:
                write_farms(farms, n_farms, data_dir=data_dir, seed=seed, progress=advance)
            console.print(f"Wrote {n_farms:,} synthetic farms (nitrogen_sources) to {farms}")

    run(body)


def main() -> None:  # pragma: no cover - console entry point
    app()
