"""Terminal output of scenario commands: lists, details, diffs, reports."""

from __future__ import annotations

from typing import IO, Any

import orjson
from rich.console import Console
from rich.table import Table

from tweeling.core.changes import Change
from tweeling.core.records import InterventionRecord, ScenarioInfo
from tweeling.services.scenarios import ApplyReport, MergeReport, ScenarioDiff


def scenario_list(console: Console, infos: list[ScenarioInfo]) -> None:
    if not infos:
        console.print("No scenarios yet; create one with 'tweeling scenario create NAME'.")
        return
    table = Table(title="Scenarios")
    # names are never cut short (they are what people type next); other columns give way
    widest = min(64, max(len(i.name) for i in infos))
    table.add_column("scenario", no_wrap=True, min_width=widest)
    table.add_column("built on", overflow="fold")
    for col in ("status", "interventions", "frozen", "updated", "note"):
        table.add_column(col)
    for i in infos:
        table.add_row(
            i.name,
            f"{i.parent} (txn {i.base_transaction})",
            i.status,
            str(i.interventions),
            ", ".join(f.label for f in i.frozen),
            (i.updated_at or i.created_at)[:19],
            f"{i.parent} has changed since: rebase?" if i.parent_changed_since_base else "",
        )
    console.print(table)


def scenario_info(
    console: Console,
    info: ScenarioInfo,
    interventions: list[InterventionRecord],
    diff: ScenarioDiff,
    parameters: dict[str, dict[str, Any]],
) -> None:
    console.print(f"[bold]{info.name}[/] — {info.description or '(no description)'}")
    console.print(
        f"status {info.status}; author {info.author or '-'}; created {info.created_at[:19]}; "
        f"built on {info.parent} as of transaction {info.base_transaction}"
    )
    if info.parent_changed_since_base:
        console.print(
            f"[yellow]{info.parent} has changed since this scenario was built on it; "
            f"'tweeling scenario rebase {info.name}' takes those changes in.[/]"
        )
    for f in info.frozen:
        console.print(f"frozen {f.ref} ({f.at[:19]}) sha256:{f.hash}")
    counts = diff.counts()
    if counts:
        table = Table(title=f"Changes against {info.parent}")
        for col in ("layer", "added", "modified", "removed"):
            table.add_column(col, justify="right" if col != "layer" else "left")
        for layer, c in counts.items():
            table.add_row(layer, str(c["added"]), str(c["modified"]), str(c["removed"]))
        console.print(table)
    if parameters:
        console.print(
            "parameters: "
            + ", ".join(f"{k} = {v['value']} [{v['unit']}]" for k, v in parameters.items())
        )
    if interventions:
        table = Table(title="Interventions")
        for col in ("#", "kind", "object", "title", "rationale", "by", "at"):
            table.add_column(col)
        for iv in interventions:
            obj = f"{iv.layer}/{iv.object_id}" if iv.layer else iv.detail.get("parameter", "")
            table.add_row(str(iv.id), iv.kind, obj, iv.title, iv.rationale, iv.author, iv.at[:19])
        console.print(table)


def _change_row(c: Change) -> tuple[str, str, str]:
    return c.kind, c.id, ", ".join(c.attributes)


def diff_table(console: Console, d: ScenarioDiff) -> None:
    if d.empty:
        console.print(f"{d.a} and {d.b} show the same.")
        return
    table = Table(title=f"From {d.a} to {d.b}")
    for col in ("layer", "change", "object", "attributes"):
        table.add_column(col)
    for layer, changes in [*d.layers.items(), ("parameters", d.parameters)]:
        for c in changes:
            table.add_row(layer, *_change_row(c))
    console.print(table)


def diff_json(out: IO[str], d: ScenarioDiff) -> None:
    doc = {
        "from": d.a,
        "to": d.b,
        "counts": d.counts(),
        "layers": {k: [c.to_dict() for c in v] for k, v in d.layers.items()},
        "parameters": [c.to_dict() for c in d.parameters],
    }
    out.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


def apply_report(console: Console, report: ApplyReport) -> None:
    for iv, oid in report.applied:
        what = iv.describe() if oid is None or iv.id else f"{iv.kind} {iv.layer}/{oid}"
        console.print(f"  {what}: {iv.title}")
    counts = ", ".join(f"{n} {k}" for k, n in report.counts.items()) or "nothing"
    console.print(f"Applied {counts} to scenario [bold]{report.scenario}[/]")


def merge_report(console: Console, report: MergeReport, verb: str) -> None:
    what = (
        f"{report.target} onto the latest {report.source}"
        if verb == "Rebased"
        else f"{report.source} into {report.target}"
    )
    parts = ", ".join(f"{layer} {n}" for layer, n in report.written.items())
    resolved = f"; {report.resolved} conflict(s) settled as asked" if report.resolved else ""
    changed = f": changed {parts} object(s)" if parts else ": nothing needed changing"
    console.print(f"{verb} {what}{changed}{resolved}")
