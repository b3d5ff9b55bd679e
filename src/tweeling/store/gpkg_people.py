"""People in the GeoPackage store: accounts, sessions, API tokens, sign-in failures,
scenario owners and shares, and the twin's access settings.

Only hashes of secrets are stored: an Argon2id hash of each password (made and checked in
``services.accounts``), a SHA-256 of each session and token secret (those are 256 random
bits, so a fast hash suffices: nothing to guess). Policy lives in ``core.access``; this
module only reads and writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tweeling.core.access import ScenarioAccess
from tweeling.core.errors import AlreadyExists, NotFoundError
from tweeling.core.people import Person, Role
from tweeling.core.records import SessionRecord, TokenRecord
from tweeling.core.views import BASELINE, BASELINE_NAME, parse_ref

if TYPE_CHECKING:
    from tweeling.store.sql_store import SqlStore

_PERSON = (
    "id, username, display_name, role, disabled, created_at, oidc_issuer, oidc_subject, "
    "password_hash IS NOT NULL"
)
_PERSON_P = ", ".join("p." + c for c in _PERSON.split(", "))  # the same, of alias p


def _person(row: tuple) -> Person:
    return Person(
        id=row[0],
        username=row[1],
        display_name=row[2],
        role=Role(row[3]),
        disabled=bool(row[4]),
        created_at=row[5],
        oidc_issuer=row[6],
        oidc_subject=row[7],
        has_password=bool(row[8]),
    )


class GpkgPeople:
    def __init__(self, store: SqlStore):
        self.store = store

    @property
    def con(self):
        return self.store._con

    # ------------------------------------------------------------------ persons

    def any(self) -> bool:
        """Whether the twin has any account (a twin without serves its local user only)."""
        return self.con.execute("SELECT 1 FROM tw_people LIMIT 1").fetchone() is not None

    def add(
        self,
        username: str,
        role: Role,
        *,
        display_name: str = "",
        password_hash: str | None = None,
        oidc: tuple[str, str] | None = None,
        at: str,
    ) -> Person:
        with self.store._transaction() as con:
            if con.execute("SELECT 1 FROM tw_people WHERE username = ?", (username,)).fetchone():
                raise AlreadyExists(f"there is already a person {username!r}", field="username")
            issuer, subject = oidc or (None, None)
            try:
                (pid,) = con.execute(
                    "INSERT INTO tw_people (username, display_name, role, password_hash, "
                    "created_at, oidc_issuer, oidc_subject) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "RETURNING id",
                    (username, display_name, role.value, password_hash, at, issuer, subject),
                ).fetchall()[0]
            except self.store.IntegrityError as exc:  # the identity signed in in parallel
                raise AlreadyExists(
                    f"the identity {subject!r} of {issuer!r} has an account already",
                    field="oidc",
                ) from exc
        return self.get(pid)

    def get(self, person_id: int) -> Person:
        row = self.con.execute(
            f"SELECT {_PERSON} FROM tw_people WHERE id = ?", (person_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no person with id {person_id}")
        return _person(row)

    def by_name(self, username: str) -> Person:
        row = self.con.execute(
            f"SELECT {_PERSON} FROM tw_people WHERE username = ?", (username,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no person {username[:80]!r}")
        return _person(row)

    def by_oidc(self, issuer: str, subject: str) -> Person | None:
        row = self.con.execute(
            f"SELECT {_PERSON} FROM tw_people WHERE oidc_issuer = ? AND oidc_subject = ?",
            (issuer, subject),
        ).fetchone()
        return None if row is None else _person(row)

    def password_hash(self, username: str) -> tuple[Person, str | None] | None:
        row = self.con.execute(
            f"SELECT {_PERSON}, password_hash FROM tw_people WHERE username = ?", (username,)
        ).fetchone()
        return None if row is None else (_person(row[:9]), row[9])

    def list(self) -> list[Person]:
        return [
            _person(r)
            for r in self.con.execute(f"SELECT {_PERSON} FROM tw_people ORDER BY username")
        ]

    def update(
        self,
        person_id: int,
        *,
        role: Role | None = None,
        disabled: bool | None = None,
        display_name: str | None = None,
        password_hash: str | None = None,
    ) -> Person:
        sets, args = [], []
        for column, value in (
            ("role", role and role.value),
            ("disabled", None if disabled is None else int(disabled)),
            ("display_name", display_name),
            ("password_hash", password_hash),
        ):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        with self.store._transaction() as con:
            if sets:
                con.execute(
                    f"UPDATE tw_people SET {', '.join(sets)} WHERE id = ?", (*args, person_id)
                )
            if disabled or password_hash is not None:  # sign them out everywhere
                con.execute("DELETE FROM tw_sessions WHERE person_id = ?", (person_id,))
        return self.get(person_id)

    def count_role(self, role: Role, *, enabled_only: bool = True) -> int:
        sql = "SELECT count(*) FROM tw_people WHERE role = ?"
        if enabled_only:
            sql += " AND disabled = 0"
        return self.con.execute(sql, (role.value,)).fetchone()[0]

    # ------------------------------------------------------------------ sessions

    def add_session(
        self, digest: str, person_id: int, csrf: str, via: str, at: str, expires_at: str
    ) -> None:
        with self.store._transaction() as con:
            con.execute(
                "INSERT INTO tw_sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
                (digest, person_id, csrf, via, at, expires_at, at),
            )

    def session(self, digest: str) -> SessionRecord | None:
        row = self.con.execute(
            f"SELECT s.csrf, s.via, s.created_at, s.expires_at, s.seen_at, {_PERSON_P} "
            "FROM tw_sessions s JOIN tw_people p ON p.id = s.person_id WHERE s.hash = ?",
            (digest,),
        ).fetchone()
        if row is None:
            return None
        return SessionRecord(_person(row[5:]), *row[:5])

    def touch_session(self, digest: str, at: str) -> None:
        with self.store._transaction() as con:
            con.execute("UPDATE tw_sessions SET seen_at = ? WHERE hash = ?", (at, digest))

    def end_session(self, digest: str) -> None:
        with self.store._transaction() as con:
            con.execute("DELETE FROM tw_sessions WHERE hash = ?", (digest,))

    def end_expired_sessions(self, now: str, idle_before: str) -> int:
        with self.store._transaction() as con:
            return con.execute(
                "DELETE FROM tw_sessions WHERE expires_at <= ? OR seen_at < ?", (now, idle_before)
            ).rowcount

    # ------------------------------------------------------------------ tokens

    def add_token(
        self, person_id: int, name: str, digest: str, scope: str, at: str, expires_at: str
    ) -> TokenRecord:
        with self.store._transaction() as con:
            (tid,) = con.execute(
                "INSERT INTO tw_tokens (person_id, name, hash, scope, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                (person_id, name, digest, scope, at, expires_at),
            ).fetchall()[0]
        return self.token(tid)

    def token(self, token_id: int) -> TokenRecord:
        row = self.con.execute(
            "SELECT id, person_id, name, hash, scope, created_at, expires_at, revoked_at, "
            "used_at FROM tw_tokens WHERE id = ?",
            (token_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no token {token_id}")
        return TokenRecord(*row)

    def tokens(self, person_id: int | None = None) -> list[TokenRecord]:
        sql = (
            "SELECT id, person_id, name, hash, scope, created_at, expires_at, revoked_at, "
            "used_at FROM tw_tokens"
        )
        args: tuple = ()
        if person_id is not None:
            sql += " WHERE person_id = ?"
            args = (person_id,)
        return [TokenRecord(*r) for r in self.con.execute(sql + " ORDER BY id", args)]

    def revoke_token(self, token_id: int, at: str) -> None:
        with self.store._transaction() as con:
            con.execute(
                "UPDATE tw_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL",
                (at, token_id),
            )

    def token_used(self, token_id: int, at: str) -> None:
        with self.store._transaction() as con:
            con.execute("UPDATE tw_tokens SET used_at = ? WHERE id = ?", (at, token_id))

    # ------------------------------------------------------------------ sign-in failures

    def add_failure(self, keys: list[str], at: str) -> None:
        with self.store._transaction() as con:
            con.executemany("INSERT INTO tw_login_failures VALUES (?, ?)", [(k, at) for k in keys])

    def failures(self, key: str, since: str) -> list[str]:
        """Times of failed sign-ins for ``key`` since ``since``, oldest first."""
        return [
            r[0]
            for r in self.con.execute(
                "SELECT at FROM tw_login_failures WHERE key = ? AND at >= ? ORDER BY at",
                (key, since),
            )
        ]

    def clear_failures(self, keys: list[str], before: str | None = None) -> None:
        with self.store._transaction() as con:
            for k in keys:
                con.execute("DELETE FROM tw_login_failures WHERE key = ?", (k,))
            if before is not None:
                con.execute("DELETE FROM tw_login_failures WHERE at < ?", (before,))

    # ------------------------------------------------------------------ settings

    def setting(self, key: str, default: str | None = None) -> str | None:
        row = self.con.execute(
            "SELECT value FROM tw_meta WHERE key = ?", (f"access_{key}",)
        ).fetchone()
        return default if row is None else row[0]

    def set_setting(self, key: str, value: str) -> None:
        with self.store._transaction() as con:
            con.execute(
                "INSERT INTO tw_meta VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (f"access_{key}", value),
            )

    # ------------------------------------------------------------------ scenario access

    def scenario_access(self, ref: str) -> ScenarioAccess:
        """What the policy needs of a scenario (``NAME`` or ``NAME@LABEL``; its base)."""
        name, _ = parse_ref(ref)
        if name == BASELINE_NAME:
            return ScenarioAccess(
                name=BASELINE_NAME, status="published", owner_id=None, baseline=True
            )
        row = self.con.execute(
            "SELECT b.id, b.status, b.owner_id, v.round_id, v.public FROM tw_branches b "
            "LEFT JOIN tw_variants v ON v.branch = b.id WHERE b.name = ?",
            (name,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no scenario {name[:80]!r}")
        return self._access(name, row)

    def _access(self, name: str, row: tuple) -> ScenarioAccess:
        branch, status, owner, round_id, public = row
        readers, editors = set(), set()
        for pid, can_edit in self.con.execute(
            "SELECT person_id, can_edit FROM tw_scenario_shares WHERE branch = ?", (branch,)
        ):
            (editors if can_edit else readers).add(pid)
        return ScenarioAccess(
            name=name,
            status=status,
            owner_id=owner,
            readers=frozenset(readers),
            editors=frozenset(editors),
            round_id=round_id,
            public_in_round=bool(public),
            baseline=branch == BASELINE,
        )

    def all_scenario_access(self) -> dict[str, ScenarioAccess]:
        rows = self.con.execute(
            "SELECT b.name, b.id, b.status, b.owner_id, v.round_id, v.public FROM tw_branches b "
            "LEFT JOIN tw_variants v ON v.branch = b.id"
        ).fetchall()
        return {r[0]: self._access(r[0], r[1:]) for r in rows}

    def set_owner(self, scenario: str, person_id: int | None) -> None:
        with self.store._transaction() as con:
            con.execute("UPDATE tw_branches SET owner_id = ? WHERE name = ?", (person_id, scenario))

    def share(self, scenario: str, person_id: int, can_edit: bool | None) -> None:
        """Share with a person (``can_edit`` False: to read), or stop sharing (None)."""
        with self.store._transaction() as con:
            branch = con.execute(
                "SELECT id FROM tw_branches WHERE name = ?", (scenario,)
            ).fetchone()
            if branch is None:
                raise NotFoundError(f"no scenario {scenario[:80]!r}")
            if can_edit is None:
                con.execute(
                    "DELETE FROM tw_scenario_shares WHERE branch = ? AND person_id = ?",
                    (branch[0], person_id),
                )
            else:
                con.execute(
                    "INSERT INTO tw_scenario_shares VALUES (?, ?, ?) ON CONFLICT "
                    "(branch, person_id) DO UPDATE SET can_edit = excluded.can_edit",
                    (branch[0], person_id, int(can_edit)),
                )

    def shares(self, scenario: str) -> list[tuple[Person, bool]]:
        return [
            (_person(r[:9]), bool(r[9]))
            for r in self.con.execute(
                f"SELECT {_PERSON_P}, s.can_edit "
                "FROM tw_scenario_shares s JOIN tw_branches b ON b.id = s.branch "
                "JOIN tw_people p ON p.id = s.person_id WHERE b.name = ? ORDER BY p.username",
                (scenario,),
            )
        ]
