"""``tweeling audit``: show, verify and export the twin's hash-chained audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import orjson
import typer
from rich.markup import escape

from tweeling.cli.common import TwinOpt, console, err, run

audit_app = typer.Typer(
    help="The audit log: who changed what, when, with which data.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


def _filter(actor, scenario, obj, action, since, until, after):
    from tweeling.core.records import AuditFilter
    from tweeling.core.timeaxis import user_time_text

    def when(text, what):
        return None if text is None else user_time_text(text, what=what)

    return AuditFilter(
        actor=actor,
        scenario=scenario,
        object=obj,
        action=action,
        since=when(since, "--since"),
        until=when(until, "--until"),
        after_seq=after,
    )


ActorOpt = Annotated[str | None, typer.Option("--actor", help="Username (or local:NAME).")]
ScenarioOpt = Annotated[str | None, typer.Option("--scenario", "-s", help="Scenario name.")]
ObjectOpt = Annotated[
    str | None, typer.Option("--object", help="e.g. scenarios/homes, or a prefix: comments/")
]
ActionOpt = Annotated[
    str | None, typer.Option("--action", help="e.g. scenario.publish, or a prefix: scenario.")
]
SinceOpt = Annotated[str | None, typer.Option("--since", help="From this time (RFC 3339).")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Before this time.")]


def _short(value, limit: int = 60) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


@audit_app.command("show")
def show(
    actor: ActorOpt = None,
    scenario: ScenarioOpt = None,
    obj: ObjectOpt = None,
    action: ActionOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    after: Annotated[int, typer.Option(help="Entries after this number.")] = 0,
    limit: Annotated[int, typer.Option(help="At most this many entries.")] = 100,
    json_out: Annotated[bool, typer.Option("--json", help="As JSON lines.")] = False,
    twin: TwinOpt = None,
) -> None:
    """Entries of the audit log, oldest first."""
    from tweeling.services.workspace import open_workspace

    def body():
        f = _filter(actor, scenario, obj, action, since, until, after)
        with open_workspace(twin) as ws:
            entries = ws.store.audit.entries(f, limit=limit)
        if json_out:
            for e in entries:
                typer.echo(orjson.dumps(e.to_dict()).decode())
            return
        # one line per entry (greppable, readable at any terminal width)
        for e in entries:
            details = ", ".join(
                f"{k}={_short(v)}" for k, v in e.details.items() if v not in (None, "", [], {})
            )
            shown = e.scenario and e.scenario not in e.object
            where = " " + escape(f"[{e.scenario}]") if shown else ""
            console.print(
                f"[bold]#{e.seq}[/] {e.at[:19].replace('T', ' ')} [cyan]{escape(e.actor)}[/] "
                f"{e.action} {escape(e.object)}{where}  [dim]{escape(details)}[/]",
                highlight=False,
                soft_wrap=True,
            )
        if not entries:
            console.print("No entries.")

    run(body)


@audit_app.command("verify")
def verify(
    anchor: Annotated[
        list[str] | None,
        typer.Option("--anchor", help="SEQ:HASH copied earlier from 'tweeling audit head'."),
    ] = None,
    twin: TwinOpt = None,
) -> None:
    """Check the hash chain: any changed, removed or inserted entry is found (exit 1)."""
    from tweeling.core.audit import parse_anchor
    from tweeling.services import audit
    from tweeling.services.workspace import open_workspace

    def body():
        anchors = [parse_anchor(a, "--anchor") for a in anchor or []]
        with open_workspace(twin) as ws:
            v = audit.verify(ws.store, anchors)
        if v.ok:
            console.print(f"Audit log intact: {v.entries} entries, head {v.head}")
            return
        for problem in v.problems:
            err.print(f"[bold red]audit log broken:[/] {escape(problem)}")
        raise typer.Exit(1)

    run(body)


@audit_app.command("head")
def head(twin: TwinOpt = None) -> None:
    """The last entry's number and hash: keep a copy elsewhere to anchor the chain."""
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            seq, digest = ws.store.audit.head()
        typer.echo(f"{seq}:{digest}")

    run(body)


@audit_app.command("export")
def export(
    out: Annotated[Path, typer.Argument(help="File to write (JSON-LD).")],
    actor: ActorOpt = None,
    scenario: ScenarioOpt = None,
    obj: ObjectOpt = None,
    action: ActionOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    base: Annotated[str, typer.Option(help="Base URL the twin is served at.")] = (
        "http://127.0.0.1:8000"
    ),
    twin: TwinOpt = None,
) -> None:
    """Export entries as W3C PROV-O (JSON-LD)."""
    from tweeling.services import audit
    from tweeling.services.workspace import open_workspace

    def body():
        f = _filter(actor, scenario, obj, action, since, until, 0)
        with open_workspace(twin) as ws:
            entries = ws.store.audit.entries(f)
        doc = audit.prov_document(entries, base.rstrip("/"))
        out.write_bytes(orjson.dumps(doc, option=orjson.OPT_INDENT_2))
        console.print(f"Wrote {len(entries)} entries as PROV-O to {out}")

    run(body)
