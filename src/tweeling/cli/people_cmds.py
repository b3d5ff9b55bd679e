"""``tweeling user | token | access``: the twin's accounts, API tokens and who may read it.

The CLI acts as the local operator (the OS user, recorded so in the audit log): whoever
can run it on the twin's folder manages the twin. Passwords and tokens are shown once.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from tweeling.cli.common import TwinOpt, console, run

user_app = typer.Typer(
    help="People with an account in the twin, and their roles.", no_args_is_help=True
)
token_app = typer.Typer(
    help="Personal API tokens (for scripts, QGIS, other twins).", no_args_is_help=True
)
access_app = typer.Typer(help="Who may read the twin without an account.", no_args_is_help=True)

UserArg = Annotated[str, typer.Argument(help="Username.")]
RoleHelp = "administrator, planner, reviewer, data-steward or participant"
StdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from the first line of standard input (else one is generated "
        "and shown once).",
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")
    app.add_typer(token_app, name="token")
    app.add_typer(access_app, name="access")


def _stdin_password() -> str:
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def _shown_once(what: str, secret: str) -> None:
    console.print(f"The {what}, shown once (keep it safe):")
    typer.echo(secret)  # on a line of its own, never wrapped, for copying


@user_app.command("add")
def user_add(
    username: UserArg,
    role: Annotated[str, typer.Option("--role", "-r", help=RoleHelp)],
    display_name: Annotated[str, typer.Option(help="Name shown to others.")] = "",
    password_stdin: StdinOpt = False,
    twin: TwinOpt = None,
) -> None:
    """Add an account."""
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    def body():
        password = _stdin_password() if password_stdin else None
        with open_workspace(twin) as ws:
            person, generated = accounts.add_person(
                ws.store, username, role, display_name=display_name, password=password
            )
        console.print(f"Added [bold]{escape(person.username)}[/] as {person.role.value}")
        if generated:
            _shown_once("password", generated)

    run(body)


@user_app.command("list")
def user_list(twin: TwinOpt = None) -> None:
    """The twin's accounts."""
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            people = ws.store.people.list()
        table = Table("username", "name", "role", "sign-in", "state", "since")
        for p in people:
            table.add_row(
                escape(p.username),
                escape(p.display_name),
                p.role.value,
                "OpenID Connect" if p.oidc_subject else "password",
                "disabled" if p.disabled else "active",
                p.created_at[:10],
            )
        console.print(table if people else "No accounts: the twin serves its local user only.")

    run(body)


@user_app.command("role")
def user_role(
    username: UserArg,
    role: Annotated[str, typer.Argument(help=RoleHelp)],
    twin: TwinOpt = None,
) -> None:
    """Change a person's role."""
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            p = accounts.set_role(ws.store, username, role)
        console.print(f"[bold]{escape(p.username)}[/] is now {p.role.value}")

    run(body)


def _set_disabled(username: str, disabled: bool, twin) -> None:
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            p = accounts.set_disabled(ws.store, username, disabled)
        state = "disabled (signed out everywhere)" if p.disabled else "enabled"
        console.print(f"[bold]{escape(p.username)}[/] is {state}")

    run(body)


@user_app.command("disable")
def user_disable(username: UserArg, twin: TwinOpt = None) -> None:
    """Disable an account: it can no longer sign in; its sessions end, its tokens stop."""
    _set_disabled(username, True, twin)


@user_app.command("enable")
def user_enable(username: UserArg, twin: TwinOpt = None) -> None:
    """Enable a disabled account again."""
    _set_disabled(username, False, twin)


@user_app.command("password")
def user_password(
    username: UserArg, password_stdin: StdinOpt = False, twin: TwinOpt = None
) -> None:
    """Set a new password (signs the person out everywhere)."""
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    def body():
        password = _stdin_password() if password_stdin else None
        with open_workspace(twin) as ws:
            p, generated = accounts.set_password(ws.store, username, password)
        console.print(f"New password set for [bold]{escape(p.username)}[/]")
        if generated:
            _shown_once("password", generated)

    run(body)


@token_app.command("create")
def token_create(
    username: UserArg,
    name: Annotated[str, typer.Option("--name", "-n", help="What the token is for.")],
    scope: Annotated[str, typer.Option(help="read (GET only) or write.")] = "read",
    days: Annotated[int, typer.Option(help="Days until it expires (1–366).")] = 90,
    twin: TwinOpt = None,
) -> None:
    """Create a personal API token for a person (use: Authorization: Bearer TOKEN)."""
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            person = accounts.find(ws.store, username)
            t = accounts.create_token(ws.store, person, name, scope=scope, days=days)
        console.print(
            f"Token {t.id} [bold]{escape(t.name)}[/] for {escape(username)}: scope {t.scope}, "
            f"expires {t.expires_at[:10]}"
        )
        _shown_once("token", t.secret)

    run(body)


@token_app.command("list")
def token_list(
    username: Annotated[str | None, typer.Argument(help="Only this person's.")] = None,
    twin: TwinOpt = None,
) -> None:
    """API tokens (never their secrets)."""
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            pid = None if username is None else accounts.find(ws.store, username).id
            names = {p.id: p.username for p in ws.store.people.list()}
            tokens = ws.store.people.tokens(pid)
        table = Table("id", "person", "name", "scope", "expires", "state", "last used")
        for t in tokens:
            state = "revoked" if t.revoked_at else "active"
            table.add_row(
                str(t.id),
                escape(names.get(t.person_id, "?")),
                escape(t.name),
                t.scope,
                t.expires_at[:10],
                state,
                (t.used_at or "never")[:16],
            )
        console.print(table)

    run(body)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's number (tweeling token list).")],
    twin: TwinOpt = None,
) -> None:
    """Revoke a token: it stops working at once."""
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            accounts.revoke_token(ws.store, token_id)
        console.print(f"Token {token_id} revoked")

    run(body)


@access_app.command("show")
def access_show(twin: TwinOpt = None) -> None:
    """Whether anonymous visitors may read the baseline and published scenarios."""
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    def body():
        with open_workspace(twin) as ws:
            public = accounts.twin_public(ws.store)
            people = ws.store.people.any()
        if not people:
            console.print("No accounts: 'tweeling serve' serves the local user only (127.0.0.1).")
        console.print(
            "Public: anonymous visitors read the baseline and published work"
            if public
            else "Private: only people with an account read the twin"
        )

    run(body)


@access_app.command("public")
def access_public(
    on: Annotated[str, typer.Argument(help="on or off")],
    twin: TwinOpt = None,
) -> None:
    """Open the twin to anonymous visitors (on) or close it (off)."""
    from tweeling.core.errors import InputError
    from tweeling.services import accounts
    from tweeling.services.workspace import open_workspace

    def body():
        if on not in ("on", "off"):
            raise InputError(f"{on!r}: say on or off")
        with open_workspace(twin) as ws:
            accounts.set_public(ws.store, on == "on")
        console.print(f"The twin is now {'public' if on == 'on' else 'private'}")

    run(body)
