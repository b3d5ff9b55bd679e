"""Terminal output of model commands: model lists and details, run progress, runs."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tweeling.core.records import RunRecord
from tweeling.models.base import Model, ModelInfo


def model_list(console: Console, models: dict[str, Model]) -> None:
    table = Table(title="Impact models")
    for col in ("model", "version", "theme", "what it computes"):
        table.add_column(col)
    for name, m in models.items():
        table.add_row(name, m.info.version, m.info.theme, m.info.title)
    console.print(table)


def model_info(console: Console, info: ModelInfo) -> None:
    console.print(f"[bold]{info.name}[/] {info.version} ({info.theme}) — {info.title}")
    console.print("reads: " + ", ".join(info.inputs))
    table = Table(title="Parameters")
    for col in ("name", "unit", "default", "valid", "description"):
        table.add_column(col)
    for p in info.parameters:
        if p.choices:
            valid = ", ".join(map(str, p.choices))
        elif p.type in ("number", "integer"):
            valid = p.range_text()
        else:
            valid = "—"
        table.add_row(p.name, p.unit, str(p.default), valid, p.description)
    console.print(table)
    for o in info.outputs:
        console.print(f"output {o.name} ({o.kind}, {o.unit}): {o.description}")
    for m in info.methods:
        console.print(f"method: {m}")
    for lim in info.limitations:
        console.print(f"limitation: {lim}")


@contextmanager
def run_progress(console: Console, what: str):
    """Yields a ``progress(fraction, step)`` callback drawing one bar."""
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(what, total=1.0)

        def progress(fraction: float, step: str) -> None:
            bar.update(task, completed=min(max(fraction, 0.0), 1.0), description=f"{what}: {step}")

        yield progress


def run_record(console: Console, r: RunRecord, runs_dir: Path, *, reused: bool) -> None:
    state = (
        "re-used (identical inputs ran before)" if reused else f"computed in {r.duration_s:.2f} s"
    )
    console.print(f"run [bold]{r.id}[/]: {r.model} {r.model_version} on {r.scenario}, {state}")
    for name, out in r.outputs.items():
        extra = ""
        if out["kind"] == "grid":
            rows, cols = out["shape"]
            extra = (
                f" {cols}×{rows} cells of {out['cell_m']} m, "
                f"{out['min']}–{out['max']} {out['unit']}"
            )
        elif out["kind"] == "objects":
            extra = f" {out['count']} objects"
        console.print(f"  {name}: {runs_dir / r.id / out['file']}{extra}")
    for note in r.notes:
        console.print(f"  note: {note}")
    console.print(f"  result sha256:{r.result_hash}")


def run_list(console: Console, runs: list[RunRecord]) -> None:
    if not runs:
        console.print("No model runs yet ('tweeling run MODEL').")
        return
    table = Table(title="Model runs")
    table.add_column("run", no_wrap=True)
    for col in ("model", "scenario", "started", "s", "by", "result"):
        table.add_column(col)
    for r in runs:
        table.add_row(
            r.id,
            f"{r.model} {r.model_version}",
            r.scenario,
            r.started_at[:19],
            f"{r.duration_s:.1f}",
            r.user,
            r.result_hash[:12],
        )
    console.print(table)
