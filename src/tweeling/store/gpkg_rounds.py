"""Participation in the GeoPackage store: rounds, variants, comments, supports and
notifications (``tw_rounds`` …; store format 5). Comment places are WKB in RD New."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson
import shapely

from tweeling.core.errors import InputError, NotFoundError
from tweeling.core.participation import AllowedEdit, Comment, Round, Variant

if TYPE_CHECKING:
    from tweeling.store.sql_store import SqlStore

_ROUND = (
    "id, title, question, opens_at, closes_at, alternatives, allowed, documents, "
    "variant_quota, created_by, created_at, updated_at"
)
_COMMENT = (
    "c.id, c.round_id, c.scenario, c.parent_id, c.author_id, c.author, c.body, c.theme, "
    "c.geometry, c.object, c.created_at, c.edited_at, c.hidden_at, c.hidden_by, "
    "c.hidden_reason, (SELECT count(*) FROM tw_supports s WHERE s.comment_id = c.id)"
)


def _round(row: tuple) -> Round:
    return Round(
        id=row[0],
        title=row[1],
        question=row[2],
        opens_at=row[3],
        closes_at=row[4],
        alternatives=tuple(orjson.loads(row[5])),
        allowed=tuple(AllowedEdit.from_dict(a) for a in orjson.loads(row[6])),
        documents=tuple(orjson.loads(row[7])),
        variant_quota=row[8],
        created_by=row[9],
        created_at=row[10],
        updated_at=row[11],
    )


def _comment(row: tuple, mine: set[int]) -> Comment:
    geom = None if row[8] is None else shapely.from_wkb(row[8])
    return Comment(*row[:8], geom, *row[9:16], supported_by_me=row[0] in mine)


class GpkgRounds:
    def __init__(self, store: SqlStore):
        self.store = store

    @property
    def con(self):
        return self.store._con

    # ------------------------------------------------------------------ rounds

    def add(self, r: Round) -> Round:
        with self.store._transaction() as con:
            (rid,) = con.execute(
                f"INSERT INTO tw_rounds ({_ROUND.removeprefix('id, ')}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                _round_values(r),
            ).fetchall()[0]
        return self.get(rid)

    def update(self, r: Round) -> Round:
        with self.store._transaction() as con:
            con.execute(
                "UPDATE tw_rounds SET title = ?, question = ?, opens_at = ?, closes_at = ?, "
                "alternatives = ?, allowed = ?, documents = ?, variant_quota = ?, "
                "created_by = ?, created_at = ?, updated_at = ? WHERE id = ?",
                (*_round_values(r), r.id),
            )
        return self.get(r.id)

    def get(self, round_id: int) -> Round:
        row = self.con.execute(
            f"SELECT {_ROUND} FROM tw_rounds WHERE id = ?", (round_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no consultation round {round_id}")
        return _round(row)

    def list(self) -> list[Round]:
        return [_round(r) for r in self.con.execute(f"SELECT {_ROUND} FROM tw_rounds ORDER BY id")]

    # ------------------------------------------------------------------ variants

    def add_variant(self, scenario: str, round_id: int) -> None:
        with self.store._transaction() as con:
            branch = con.execute(
                "SELECT id FROM tw_branches WHERE name = ?", (scenario,)
            ).fetchone()
            if branch is None:
                raise NotFoundError(f"no scenario {scenario!r}")
            con.execute("INSERT INTO tw_variants VALUES (?, ?, 0)", (branch[0], round_id))

    def set_variant_public(self, scenario: str, public: bool) -> None:
        with self.store._transaction() as con:
            con.execute(
                "UPDATE tw_variants SET public = ? WHERE branch = "
                "(SELECT id FROM tw_branches WHERE name = ?)",
                (int(public), scenario),
            )

    def variants(self, round_id: int) -> list[Variant]:
        return [
            Variant(r[0], r[1], r[2], bool(r[3]))
            for r in self.con.execute(
                "SELECT b.name, v.round_id, b.owner_id, v.public FROM tw_variants v "
                "JOIN tw_branches b ON b.id = v.branch WHERE v.round_id = ? ORDER BY b.id",
                (round_id,),
            )
        ]

    def variant(self, scenario: str) -> Variant | None:
        row = self.con.execute(
            "SELECT b.name, v.round_id, b.owner_id, v.public FROM tw_variants v "
            "JOIN tw_branches b ON b.id = v.branch WHERE b.name = ?",
            (scenario,),
        ).fetchone()
        return None if row is None else Variant(row[0], row[1], row[2], bool(row[3]))

    # ------------------------------------------------------------------ comments

    def add_comment(
        self,
        *,
        round_id: int,
        scenario: str | None,
        parent_id: int | None,
        author_id: int | None,
        author: str,
        body: str,
        theme: str | None,
        geometry: shapely.Geometry | None,
        obj: str | None,
        at: str,
    ) -> int:
        with self.store._transaction() as con:
            ((comment_id,),) = con.execute(
                "INSERT INTO tw_comments (round_id, scenario, parent_id, author_id, author, "
                "body, theme, geometry, object, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "RETURNING id",
                (
                    round_id,
                    scenario,
                    parent_id,
                    author_id,
                    author,
                    body,
                    theme,
                    None if geometry is None else shapely.to_wkb(geometry),
                    obj,
                    at,
                ),
            ).fetchall()
        return comment_id

    def comment(self, comment_id: int, *, viewer_id: int | None = None) -> Comment:
        row = self.con.execute(
            f"SELECT {_COMMENT} FROM tw_comments c WHERE c.id = ?", (comment_id,)
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no comment {comment_id}")
        return _comment(row, self._supported(viewer_id, [comment_id]))

    def comments(
        self, round_id: int, *, viewer_id: int | None = None, scenario: str | None = None
    ) -> list[Comment]:
        sql = f"SELECT {_COMMENT} FROM tw_comments c WHERE c.round_id = ?"
        args: list[Any] = [round_id]
        if scenario is not None:
            sql += " AND c.scenario = ?"
            args.append(scenario)
        rows = self.con.execute(sql + " ORDER BY c.id", args).fetchall()
        mine = self._supported(viewer_id, [r[0] for r in rows])
        return [_comment(r, mine) for r in rows]

    def _supported(self, viewer_id: int | None, ids: list[int]) -> set[int]:
        if viewer_id is None or not ids:
            return set()
        return {
            r[0]
            for r in self.con.execute(
                "SELECT s.comment_id FROM tw_supports s JOIN tw_comments c ON c.id = s.comment_id "
                "WHERE s.person_id = ? AND c.round_id = (SELECT round_id FROM tw_comments "
                "WHERE id = ?)",
                (viewer_id, ids[0]),
            )
        }

    def edit_comment(self, comment_id: int, body: str, theme: str | None, at: str) -> None:
        with self.store._transaction() as con:
            con.execute(
                "UPDATE tw_comments SET body = ?, theme = ?, edited_at = ? WHERE id = ?",
                (body, theme, at, comment_id),
            )

    def hide_comment(self, comment_id: int, by: str, reason: str | None, at: str | None) -> None:
        """Hide with a reason (``at`` set), or show again (``at`` None)."""
        with self.store._transaction() as con:
            con.execute(
                "UPDATE tw_comments SET hidden_at = ?, hidden_by = ?, hidden_reason = ? "
                "WHERE id = ?",
                (at, by if at else None, reason if at else None, comment_id),
            )

    def count_comments_since(self, author_id: int, since: str) -> int:
        return self.con.execute(
            "SELECT count(*) FROM tw_comments WHERE author_id = ? AND created_at >= ?",
            (author_id, since),
        ).fetchone()[0]

    def support(self, comment_id: int, person_id: int, at: str | None) -> bool:
        """Add (``at`` set) or withdraw a support; whether anything changed."""
        with self.store._transaction() as con:
            if at is None:
                cur = con.execute(
                    "DELETE FROM tw_supports WHERE comment_id = ? AND person_id = ?",
                    (comment_id, person_id),
                )
            else:
                cur = con.execute(
                    "INSERT INTO tw_supports VALUES (?, ?, ?) "
                    "ON CONFLICT (comment_id, person_id) DO NOTHING",
                    (comment_id, person_id, at),
                )
            return cur.rowcount > 0

    # ------------------------------------------------------------------ notifications

    def notify(self, person_id: int, kind: str, text: str, link: str | None, at: str) -> None:
        if len(text) > 5_000:
            raise InputError("a notification has at most 5000 characters")
        with self.store._transaction() as con:
            con.execute(
                "INSERT INTO tw_notifications (person_id, at, kind, text, link) "
                "VALUES (?, ?, ?, ?, ?)",
                (person_id, at, kind, text, link),
            )

    def notifications(self, person_id: int) -> list[dict[str, Any]]:
        return [
            {"id": r[0], "at": r[1], "kind": r[2], "text": r[3], "link": r[4], "read_at": r[5]}
            for r in self.con.execute(
                "SELECT id, at, kind, text, link, read_at FROM tw_notifications "
                "WHERE person_id = ? ORDER BY id DESC LIMIT 200",
                (person_id,),
            )
        ]

    def mark_read(self, person_id: int, at: str) -> None:
        with self.store._transaction() as con:
            con.execute(
                "UPDATE tw_notifications SET read_at = ? WHERE person_id = ? AND read_at IS NULL",
                (at, person_id),
            )


def _round_values(r: Round) -> tuple:
    return (
        r.title,
        r.question,
        r.opens_at,
        r.closes_at,
        orjson.dumps(list(r.alternatives)).decode(),
        orjson.dumps([a.to_dict() for a in r.allowed]).decode(),
        orjson.dumps(list(r.documents)).decode(),
        r.variant_quota,
        r.created_by,
        r.created_at,
        r.updated_at,
    )
