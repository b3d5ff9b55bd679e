"""Rendering of results for the terminal (Rich tables, progress bars, GeoJSON)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO

import orjson
import shapely
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from tweeling.core.records import LayerInfo, StoredFeature, WriteReport


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


@contextmanager
def import_progress(console: Console):
    """Yields an ``on_batch`` hook: a progress bar per imported source."""
    with _progress(console) as bar:

        def on_batch(batch):
            if batch.total == 0:  # nothing to count (e.g. rasters only)
                return None
            task = bar.add_task(batch.source, total=batch.total)

            def advance(n: int) -> None:
                bar.advance(task, n)

            return advance

        yield on_batch


@contextmanager
def count_progress(console: Console, what: str, total: int):
    with _progress(console) as bar:
        task = bar.add_task(what, total=total)
        yield lambda n: bar.advance(task, n)


def write_report(console: Console, report: WriteReport) -> None:
    t = report.total
    console.print(
        f"[green]✓[/] {report.source}: {t.added} added, {t.changed} changed, "
        f"{t.unchanged} unchanged, {t.ended} ended"
        + (f"; rasters {report.rasters}" if report.rasters else "")
        + f" (transaction {report.transaction})",
        highlight=False,
        soft_wrap=True,
    )


def _extent(ext) -> str:
    if not ext:
        return "-"
    return f"{ext[0]:.1f}, {ext[1]:.1f} – {ext[2]:.1f}, {ext[3]:.1f}"


def layers(console: Console, infos: list[LayerInfo]) -> None:
    table = Table(title="Layers (RD New, EPSG:28992)")
    for col in ("layer", "kind", "geometry", "features", "extent (minx, miny – maxx, maxy)"):
        table.add_column(col, justify="right" if col == "features" else "left")
    for i in infos:
        geom = (
            i.schema.geometry_type
            if i.schema
            else (f"{i.raster.get('resolution_m')} m grid" if i.raster else "")
        )
        count = (
            f"{i.count:,}" if i.kind == "vector" else f"{i.raster['width']}×{i.raster['height']}"
        )
        table.add_row(i.name, i.kind, geom, count, _extent(i.extent))
    console.print(table)


def union_extent(infos: list[LayerInfo]):
    from tweeling.core.crs import union_bounds

    return union_bounds(i.extent for i in infos)


def info(console: Console, ws) -> None:
    infos = ws.store.layers()
    console.print(f"[bold]{ws.name}[/]  ({ws.root})")
    console.print(f"store: {ws.store.location}  CRS: {ws.config['twin']['crs']} (RD New + NAP)")
    console.print(f"extent of all layers: {_extent(union_extent(infos))}")
    layers(console, infos)
    txns = [t for t in ws.store.transactions() if t["kind"] == "import"]
    table = Table(title="Imports")
    for col in ("txn", "at (UTC)", "source", "user", "added", "changed", "unchanged", "ended"):
        table.add_column(col)
    for t in txns:
        s = (t["summary"] or {}).get("layers", {})
        sums = [sum(v[k] for v in s.values()) for k in ("added", "changed", "unchanged", "ended")]
        table.add_row(
            str(t["transaction"]), t["at"][:19], t["source"] or "", t["user"] or "", *map(str, sums)
        )
    console.print(table)
    scenarios = ws.store.scenarios.list()
    console.print(
        f"scenarios: {', '.join(f'{s.name} ({s.status})' for s in scenarios)}"
        if scenarios
        else "scenarios: none ('tweeling scenario create NAME')"
    )


def features_table(console: Console, layer: str, rows: Iterable[StoredFeature]) -> None:
    table = Table(title=f"{layer}")
    table.add_column("id")
    table.add_column("geometry")
    table.add_column("valid from")
    table.add_column("recorded at")
    table.add_column("attributes")
    n = 0
    for f in rows:
        n += 1
        attrs = ", ".join(
            f"{k}={_short(v)}"
            for k, v in f.properties.items()
            if v is not None and k not in ("attributes", "geometry_3d")
        )
        table.add_row(
            f.id,
            f.geometry.geom_type if f.geometry is not None else "-",
            _time(f.valid_from),
            _time(f.recorded_at),
            attrs[:160],
        )
    console.print(table)
    console.print(f"{n} feature(s)")


def _short(v) -> str:
    s = str(v)
    return s if len(s) <= 40 else s[:37] + "…"


def _time(t) -> str:
    return "" if t is None else t.isoformat(timespec="seconds")


def geojson(out: IO[str], rows: Iterator[StoredFeature]) -> None:
    """A GeoJSON FeatureCollection in RD New (named in the legacy 'crs' member), streamed."""
    out.write(
        '{"type":"FeatureCollection","crs":{"type":"name","properties":'
        '{"name":"urn:ogc:def:crs:EPSG::28992"}},"features":['
    )
    first = True
    for f in rows:
        feature = {
            "type": "Feature",
            "id": f.id,
            "geometry": None
            if f.geometry is None
            else orjson.loads(shapely.to_geojson(f.geometry)),
            "properties": {
                **f.properties,
                "tw:valid_from": _time(f.valid_from) or None,
                "tw:valid_to": _time(f.valid_to) or None,
                "tw:recorded_at": _time(f.recorded_at),
                "tw:record_end": _time(f.record_end) or None,
                "tw:version": f.version,
            },
        }
        out.write(("" if first else ",") + "\n" + orjson.dumps(feature).decode())
        first = False
    out.write("\n]}\n")


def history(console: Console, versions: list[StoredFeature]) -> None:
    table = Table(title=f"history of {versions[0].id}")
    for col in ("version", "txn", "valid from", "valid to", "recorded at", "record end", "source"):
        table.add_column(col)
    for v in versions:
        table.add_row(
            str(v.version),
            str(v.transaction),
            _time(v.valid_from),
            _time(v.valid_to),
            _time(v.recorded_at),
            _time(v.record_end),
            v.source,
        )
    console.print(table)


def samples(console: Console, raster: str, xy, values) -> None:
    table = Table(title=f"{raster} at points (RD New)")
    table.add_column("x")
    table.add_column("y")
    table.add_column("value")
    for (x, y), v in zip(xy, values, strict=True):
        table.add_row(f"{x:.2f}", f"{y:.2f}", "nodata" if v != v else f"{v:.3f}")
    console.print(table)


def demo_summary(console: Console, ws, reports: list[WriteReport], seconds: float) -> None:
    infos = ws.store.layers()
    layers(console, infos)
    local = [i for i in infos if i.name in ("buildings", "bgt_pand", "ahn_dtm")]
    console.print(f"Delft demo extent (buildings, BGT, AHN): {_extent(union_extent(local))}")
    console.print(f"Twin area (for scenarios): {_extent(ws.store.area_of_interest())}")
    scenarios = ws.store.scenarios.list()
    if scenarios:
        console.print(
            "Example scenarios: "
            + ", ".join(s.name for s in scenarios)
            + " (see 'tweeling scenario list' and 'tweeling scenario show NAME')"
        )
    runs = ws.store.runs()
    if runs:
        console.print(
            "Model runs: "
            + ", ".join(f"{r.model} on {r.scenario} ({r.id})" for r in runs)
            + " (see 'tweeling runs'; 'tweeling reproduce RUN' re-executes one)"
        )
    total = sum(r.total.added + r.total.changed for r in reports)
    console.print(
        f"[bold green]Built the Delft demo twin[/] in {ws.root} in {seconds:.1f} s "
        f"({len(infos)} layers, {total:,} new feature versions)."
    )
    console.print(
        "Bevat data van Kadaster (BGT, BAG), AHN, RVO (Natura 2000), CBS, RCE (CC BY "
        "4.0), 3DBAG (TU Delft 3D geoinformation, CC BY 4.0).",
        style="dim",
    )


def demo_accounts(console: Console, passwords: dict[str, str]) -> None:
    """The demo's accounts made just now, with their generated passwords (shown once)."""
    from tweeling.services.demo_people import DEMO_PEOPLE

    if not passwords:
        console.print(
            "Demo accounts exist already; 'tweeling user password NAME' sets a new password."
        )
        return
    table = Table("username", "role", "password (shown once)", title="Demo accounts")
    for username, role, _ in DEMO_PEOPLE:
        if username in passwords:
            table.add_row(username, role, passwords[username])
    console.print(table)
    console.print("Sign in at the viewer with these; visitors see the published plan only.")
