"""The audit log's entries and their hash chain (pure; the store keeps the entries).

Each entry records who did what, when, to which object, on which version of the twin and
with which data, and holds the SHA-256 of the entry before it: ``hash = SHA-256(canonical
JSON of [seq, at, actor, actor_id, action, object, scenario, version, data, prev])``. The
canonical JSON is orjson's with sorted keys (RFC 8259 text, no whitespace); the store
keeps ``data`` as that exact text, so the hash never depends on how a database re-encodes
JSON. Sequence numbers run 1, 2, 3, … without gaps.

What the chain proves (docs/audit.md): an entry changed, removed or inserted anywhere but
at the end breaks it; removing entries from the end is caught against the head the store
keeps beside the table, and against heads copied elsewhere (``/audit/head``, ``tweeling
audit head``) — which also catches someone who rewrites the whole chain.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from tweeling.core.errors import InputError

GENESIS = "0" * 64  # the "previous hash" of the first entry


def canonical(data: Any) -> str:
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: str  # UTC, core.timeaxis.to_text
    actor: str  # username, local:<os user>, or anonymous
    actor_id: int | None  # the person's id in the twin, when it was a person
    action: str  # e.g. scenario.create, comment.hide, auth.login
    object: str  # e.g. scenario/homes, comment/12, person/3, run/ab12…
    scenario: str | None  # the scenario concerned, if any
    version: int | None  # the store transaction the change made or read, if any
    data: str  # canonical JSON text: what changed, from which data, under which rules
    prev: str
    hash: str

    @property
    def details(self) -> dict[str, Any]:
        return orjson.loads(self.data)

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__slots__}
        out["data"] = self.details
        return out


def entry_hash(
    seq: int,
    at: str,
    actor: str,
    actor_id: int | None,
    action: str,
    obj: str,
    scenario: str | None,
    version: int | None,
    data: str,
    prev: str,
) -> str:
    body = [seq, at, actor, actor_id, action, obj, scenario, version, data, prev]
    return hashlib.sha256(orjson.dumps(body)).hexdigest()


def seal(
    seq: int,
    at: str,
    actor: str,
    actor_id: int | None,
    action: str,
    obj: str,
    scenario: str | None,
    version: int | None,
    data: dict[str, Any],
    prev: str,
) -> AuditEntry:
    """A new entry after the one whose hash is ``prev``."""
    text = canonical(data)
    digest = entry_hash(seq, at, actor, actor_id, action, obj, scenario, version, text, prev)
    return AuditEntry(seq, at, actor, actor_id, action, obj, scenario, version, text, prev, digest)


@dataclass
class Verification:
    """The outcome of checking a chain: ``ok`` and, if not, the first problem found."""

    entries: int = 0
    head: str = GENESIS
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_anchor(text: str, what: str = "anchor") -> tuple[int, str]:
    """``SEQ:HASH`` (as ``tweeling audit head`` prints it) as (seq, hash)."""
    seq, _, digest = str(text).partition(":")
    if not seq.isdigit() or not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        raise InputError(f"{str(text)[:80]!r}: expected SEQ:HASH", field=what)
    return int(seq), digest.lower()


def verify_chain(
    rows: Iterable[tuple],
    *,
    head: tuple[int, str] | None = None,
    anchors: Iterable[tuple[int, str]] = (),
) -> Verification:
    """Check entries given in ``seq`` order as tuples in :class:`AuditEntry` field order.

    ``head`` is the (seq, hash) of the last entry as recorded beside the table; ``anchors``
    are (seq, hash) pairs copied elsewhere earlier. Stops at the first broken link.
    """
    out = Verification()
    prev, expect = GENESIS, 1
    wanted = dict(anchors)
    for row in rows:
        seq, at, actor, actor_id, action, obj, scenario, version, data, stored_prev, digest = row
        if seq != expect:
            kind = "removed" if seq > expect else "inserted or renumbered"
            out.problems.append(f"entry {expect}: missing, found {seq} next (entries {kind})")
            return out
        if stored_prev != prev:
            out.problems.append(
                f"entry {seq}: its link to entry {seq - 1} does not match (inserted, removed "
                "or changed entries before it)"
            )
            return out
        again = entry_hash(seq, at, actor, actor_id, action, obj, scenario, version, data, prev)
        if again != digest:
            out.problems.append(f"entry {seq}: its content was changed after it was written")
            return out
        if seq in wanted and wanted.pop(seq) != digest:
            out.problems.append(f"entry {seq}: differs from the anchored hash (chain rewritten)")
            return out
        prev, expect = digest, expect + 1
        out.entries += 1
    out.head = prev
    if head is not None:
        head_seq, head_hash = head
        if head_seq != out.entries or (head_seq and head_hash != prev):
            out.problems.append(
                f"the log ends at entry {out.entries} but the recorded head is entry "
                f"{head_seq}: entries were removed from the end, or the head was changed"
            )
    for seq in sorted(wanted):
        out.problems.append(f"anchored entry {seq} is not in the log (entries removed)")
    return out
