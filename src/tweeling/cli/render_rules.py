"""Terminal output of the legal context: norms that apply, and a scenario's findings."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tweeling.core.records import FindingsRecord
from tweeling.core.rules import Norm

VERDICT_STYLE = {
    "complies": "green",
    "exceeds": "bold red",
    "needs_permit": "yellow",
    "cannot_judge": "magenta",
}
SHOWN = 30  # findings listed one by one (all are in --json)


def _ref(document: str, article: str) -> str:
    return escape(" ".join(x for x in (document, article) if x))


def norms(console: Console, found: list[Norm], on: date) -> None:
    if not found:
        console.print(f"No norms in force here on {on.isoformat()}.")
        return
    table = Table(title=f"Norms in force here on {on.isoformat()}")
    for col in ("activity", "subject", "norm", "name / location", "source", "authority", "valid"):
        table.add_column(col)
    notes = []
    for n in found:
        valid = f"{n.valid_from or '…'} – {n.valid_until or '…'}"
        table.add_row(
            n.activity,
            n.subject,
            f"{n.comparison} {escape(n.value.text())}",
            escape(n.name + (f" ({n.location_name})" if n.location_name else "")),
            _ref(n.reference.document, n.reference.article),
            escape(n.authority),
            valid,
        )
        if n.status_note:
            notes.append(f"{n.id}: {n.status_note}")
    console.print(table)
    for note in dict.fromkeys(notes):
        console.print(f"[dim]note {escape(note)}[/]")


def findings(console: Console, record: FindingsRecord, *, reused: bool = False) -> None:
    rows = record.findings
    how = f"stored {record.computed_at[:19]}, still current" if reused else "computed and stored"
    console.print(
        f"Checked scenario [bold]{escape(record.scenario)}[/] against the norms in force on "
        f"{record.on_date}: {len(rows)} findings (scenario version "
        f"{record.content_hash[:12]}; {how})"
    )
    if not rows:
        return
    per_rule: dict[tuple, Counter] = defaultdict(Counter)
    for f in rows:
        per_rule[(f["rule"], f["rule_name"], f["subject"], f["norm_value"])][f["verdict"]] += 1
    table = Table(title="Findings per rule")
    for col in ("rule", "subject", "norm", *VERDICT_STYLE):
        table.add_column(col)
    for (rule, name, subject, value), counts in sorted(per_rule.items()):
        table.add_row(
            escape(name or rule),
            subject,
            escape(value),
            *(f"[{VERDICT_STYLE[v]}]{counts[v]}[/]" if counts[v] else "" for v in VERDICT_STYLE),
        )
    console.print(table)
    bad = [f for f in rows if f["verdict"] != "complies"]
    if not bad:
        console.print("[green]Everything checked complies.[/]")
        return
    table = Table(title=f"Not complying or not judged ({len(bad)}; first {min(SHOWN, len(bad))})")
    for col in ("verdict", "object", "value", "norm", "why", "source"):
        table.add_column(col)
    for f in bad[:SHOWN]:
        table.add_row(
            f"[{VERDICT_STYLE[f['verdict']]}]{f['verdict']}[/]",
            escape(f["object"]),
            "" if f["value"] is None else escape(f"{f['value']} {f['unit']}".strip()),
            escape(f["norm_value"]),
            escape(f["explanation"]),
            _ref(f["document"], f["article"]),
        )
    console.print(table)
    notes = dict.fromkeys(f"{f['rule']}: {f['status_note']}" for f in rows if f["status_note"])
    for note in notes:
        console.print(f"[dim]note {escape(note)}[/]")
