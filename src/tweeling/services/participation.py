"""Participation as use cases: consultation rounds, comments with supports and moderation,
participants' variants (forks of an alternative, changed only as the round allows and
computed by the same models), what each alternative and variant means at an address, and
the round's report. Every change goes into the audit log (comment texts as hashes: the
log proves what was written and hidden without spreading it). See docs/participation.md.

Who acts is :func:`services.audit.current`; the rules are :mod:`tweeling.core.access` and
:mod:`tweeling.core.participation`.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from datetime import date, timedelta
from typing import Any

import shapely

from tweeling.core import access
from tweeling.core.access import Denied
from tweeling.core.errors import InputError, NotFoundError, Throttled
from tweeling.core.interventions import Intervention
from tweeling.core.participation import (
    DEFAULT_VARIANT_QUOTA,
    EDIT_WINDOW_S,
    MAX_COMMENT,
    MAX_QUESTION,
    MAX_REASON,
    MAX_TITLE,
    AllowedEdit,
    Comment,
    Round,
    RoundReport,
    check_text,
    check_theme,
    check_variant_edits,
)
from tweeling.core.people import STAFF, Principal
from tweeling.core.timeaxis import from_text, to_text, user_time_text, utc_now
from tweeling.services import audit, comparisons, permissions, places
from tweeling.services import scenarios as sc

MAX_DOCUMENTS = 20
PLACE_LAYER = "cbs_buurten"  # comments are grouped by the neighbourhood they lie in


def _now() -> str:
    return to_text(utc_now())


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# ---------------------------------------------------------------------------- rounds


def _check_round(
    store,
    title: Any,
    question: Any,
    opens_at: Any,
    closes_at: Any,
    alternatives: Any,
    allowed: Any,
    documents: Any,
    variant_quota: Any,
) -> dict[str, Any]:
    title = check_text(title, "title", MAX_TITLE)
    question = check_text(question, "question", MAX_QUESTION)
    opens = user_time_text(opens_at, what="opens_at")
    closes = user_time_text(closes_at, what="closes_at")
    if closes <= opens:
        raise InputError("a round closes after it opens", field="closes_at")
    if not isinstance(alternatives, list) or not 1 <= len(alternatives) <= 10:
        raise InputError("name 1 to 10 published scenarios", field="alternatives")
    for name in alternatives:
        if not isinstance(name, str) or "@" in name:
            raise InputError(
                "name published scenarios (a round follows the scenario, not a frozen version)",
                field="alternatives",
            )
        info = store.scenarios.info(name)
        if info.status not in access.PUBLISHED:
            raise InputError(
                f"{name!r} is {info.status}: a round asks about published scenarios only",
                field="alternatives",
            )
    if not isinstance(allowed, list) or len(allowed) > 20:
        raise InputError("a list of at most 20 allowed edits", field="allowed")
    edits = tuple(AllowedEdit.from_dict(a, f"allowed[{i}]") for i, a in enumerate(allowed))
    layers = set(store.vector_layers())
    for i, a in enumerate(edits):
        if a.layer not in layers:
            raise InputError(f"no layer {a.layer!r} in this twin", field=f"allowed[{i}].layer")
    if not isinstance(documents, list) or len(documents) > MAX_DOCUMENTS:
        raise InputError(f"at most {MAX_DOCUMENTS} documents", field="documents")
    docs = []
    for i, d in enumerate(documents):
        if not isinstance(d, dict) or set(d) - {"title", "href"}:
            raise InputError("each document is {title, href}", field=f"documents[{i}]")
        href = check_text(d.get("href"), f"documents[{i}].href", 2000)
        if not re.match(r"(https?://|/)", href):  # no javascript: or data: links
            raise InputError("an http(s) address or a path", field=f"documents[{i}].href")
        docs.append(
            {"title": check_text(d.get("title"), f"documents[{i}].title", MAX_TITLE), "href": href}
        )
    if (
        not isinstance(variant_quota, int)
        or isinstance(variant_quota, bool)
        or not (0 <= variant_quota <= 20)
    ):
        raise InputError("0 to 20 variants per person", field="variant_quota")
    return {
        "title": title,
        "question": question,
        "opens_at": opens,
        "closes_at": closes,
        "alternatives": tuple(alternatives),
        "allowed": edits,
        "documents": tuple(docs),
        "variant_quota": variant_quota,
    }


def open_round(
    store,
    *,
    title: str,
    question: str,
    opens_at: Any,
    closes_at: Any,
    alternatives: list[str],
    allowed: list[dict[str, Any]] = (),
    documents: list[dict[str, str]] = (),
    variant_quota: int = DEFAULT_VARIANT_QUOTA,
) -> Round:
    """A consultation round about published scenarios (planners, administrators)."""
    p = audit.current()
    access.require(p, "round.manage", "open consultation rounds")
    values = _check_round(
        store,
        title,
        question,
        opens_at,
        closes_at,
        list(alternatives),
        list(allowed),
        list(documents),
        variant_quota,
    )
    now = _now()
    with store.unit():
        r = store.rounds.add(Round(id=0, **values, created_by=p.actor, created_at=now))
        audit.record(
            store,
            "round.create",
            f"rounds/{r.id}",
            data={
                "title": r.title,
                "alternatives": list(r.alternatives),
                "opens_at": r.opens_at,
                "closes_at": r.closes_at,
                "allowed": [a.to_dict() for a in r.allowed],
            },
        )
    return r


def update_round(store, round_id: int, **changes: Any) -> Round:
    p = audit.current()
    access.require(p, "round.manage", "change consultation rounds")
    r = store.rounds.get(round_id)
    unknown = set(changes) - {
        "title",
        "question",
        "opens_at",
        "closes_at",
        "alternatives",
        "allowed",
        "documents",
        "variant_quota",
    }
    if unknown:
        raise InputError(f"unknown: {', '.join(sorted(unknown))}", field=sorted(unknown)[0])
    current = {
        "title": r.title,
        "question": r.question,
        "opens_at": r.opens_at,
        "closes_at": r.closes_at,
        "alternatives": list(r.alternatives),
        "allowed": [a.to_dict() for a in r.allowed],
        "documents": list(r.documents),
        "variant_quota": r.variant_quota,
    }
    values = _check_round(store, **{**current, **changes})
    with store.unit():
        updated = store.rounds.update(
            Round(
                id=r.id,
                **values,
                created_by=r.created_by,
                created_at=r.created_at,
                updated_at=_now(),
            )
        )
        audit.record(store, "round.update", f"rounds/{r.id}", data={"changed": sorted(changes)})
    return updated


def visible_round(store, p: Principal, round_id: int) -> Round:
    """A round the principal may see: open and closed rounds for everyone who may read the
    twin; upcoming ones for the twin's staff only (a 404 for others)."""
    permissions.check_twin(store, p)
    r = store.rounds.get(round_id)
    if r.state(_now()) == "upcoming" and p.role not in STAFF:
        raise NotFoundError(f"no consultation round {round_id}")
    return r


def visible_rounds(store, p: Principal) -> list[Round]:
    permissions.check_twin(store, p)
    now = _now()
    return [r for r in store.rounds.list() if r.state(now) != "upcoming" or p.role in STAFF]


def _require_open(r: Round, what: str) -> None:
    state = r.state(_now())
    if state != "open":
        raise Denied(f"round {r.id} is {state}: {what} while it is open", 409)


def _require_writer(p: Principal, action: str, what: str) -> None:
    if not p.signed_in:
        raise Denied(f"sign in to {what}", 401)
    access.require_write(p)
    access.require(p, action, what)


# ---------------------------------------------------------------------------- variants


def variants_visible(store, p: Principal, r: Round) -> list[dict[str, Any]]:
    """The round's variants the principal may see: public ones, their own (and all, for
    the twin's staff), with owner names."""
    names = permissions.readable_names(store, p)
    out = []
    for v in store.rounds.variants(r.id):
        if v.scenario not in names:
            continue
        owner = None if v.owner_id is None else store.people.get(v.owner_id)
        out.append(
            {
                "scenario": v.scenario,
                "public": v.public,
                "mine": p.person_id is not None and v.owner_id == p.person_id,
                "owner": None if owner is None else owner.label,
                "parent": store.scenarios.info(v.scenario).parent,
            }
        )
    return out


def fork_variant(store, round_id: int, alternative: str, *, description: str = "") -> str:
    """A participant's variant of one of the round's alternatives; returns its name."""
    p = audit.current()
    _require_writer(p, "variant.create", "propose variants")
    r = visible_round(store, p, round_id)
    _require_open(r, "variants are proposed")
    if not r.allowed:
        raise Denied(f"round {r.id} does not take variants", 409)
    if alternative not in r.alternatives:
        raise InputError(
            f"{alternative!r} is not one of this round's alternatives "
            f"({', '.join(r.alternatives)})",
            field="alternative",
        )
    description = check_text(description, "description", 2_000, required=False)
    mine = [v for v in store.rounds.variants(r.id) if p.person_id and v.owner_id == p.person_id]
    if p.person_id is not None and len(mine) >= r.variant_quota:
        raise Throttled(
            f"you have {len(mine)} variants in this round (at most {r.variant_quota}); delete "
            "one to make another",
            3600,
        )
    who = re.sub(r"[^a-z0-9]+", "-", (p.person.username if p.person else p.actor).lower())
    base = f"r{r.id}-{who.strip('-')[:30]}"
    taken = {s.name for s in store.scenarios.list()}
    n = 1
    while f"{base}-{n}" in taken:
        n += 1
    name = f"{base}-{n}"
    with store.unit():
        sc.create_scenario(
            store,
            name,
            parent=alternative,
            description=description or f"Variant of {alternative} in round {r.id}",
        )
        store.rounds.add_variant(name, r.id)
        audit.record(
            store,
            "variant.create",
            f"scenarios/{name}",
            scenario=name,
            data={"round": r.id, "alternative": alternative},
        )
    return name


def set_variant_public(store, scenario: str, public: bool) -> None:
    p = audit.current()
    v = store.rounds.variant(scenario)
    if v is None:
        raise InputError(f"{scenario!r} is not a variant in a round", field="scenario")
    s = permissions.readable(store, p, scenario)
    if not (p.role == access.ADMIN or (p.person_id is not None and p.person_id == s.owner_id)):
        raise Denied("only its author makes a variant public", 403)
    access.require_write(p)
    with store.unit():
        store.rounds.set_variant_public(scenario, public)
        audit.record(
            store,
            "variant.public" if public else "variant.private",
            f"scenarios/{scenario}",
            scenario=scenario,
            data={"round": v.round_id},
        )


def check_variant_edit(store, scenario: str, interventions: list[Intervention]) -> None:
    """For a participant's variant: its round must be open and allow these changes."""
    v = store.rounds.variant(scenario)
    if v is None:
        return
    r = store.rounds.get(v.round_id)
    _require_open(r, "variants change")
    current: dict[tuple[str, str], dict[str, Any]] = {}
    for layer in {iv.layer for iv in interventions if iv.kind == "modify" and iv.layer}:
        ids = [iv.id for iv in interventions if iv.layer == layer and iv.id]
        if layer in store.vector_layers():
            found = store.lookup(layer, ids, scenario=scenario)
            current.update({(layer, i): f.properties for i, f in found.items() if f is not None})
    check_variant_edits(r.allowed, interventions, current)


# ---------------------------------------------------------------------------- comments


def _round_scenarios(store, p: Principal, r: Round) -> set[str]:
    return set(r.alternatives) | {v["scenario"] for v in variants_visible(store, p, r)}


def _check_place(store, scenario: str | None, geometry, obj: str | None) -> None:
    if geometry is not None:
        if not geometry.is_valid:
            raise InputError(
                f"invalid geometry: {shapely.is_valid_reason(geometry)}", field="geometry"
            )
        area = store.area_of_interest()
        if area is not None and not shapely.box(*area).intersects(geometry):
            raise InputError("the place lies outside the twin's area", field="geometry")
    if obj is not None:
        layer, _, oid = obj.partition("/")
        if not oid or layer not in store.vector_layers():
            raise InputError(f"{obj[:100]!r}: name an object as LAYER/ID", field="object")
        if store.lookup(layer, [oid], scenario=scenario).get(oid) is None:
            raise InputError(f"no object {obj[:100]!r} in this scenario", field="object")


def _visible_comment(store, p: Principal, comment_id: int) -> tuple[Comment, Round]:
    """A comment the principal may see: its round visible to them and, if it is about a
    scenario, that scenario too (a comment on someone's private variant is theirs)."""
    c = store.rounds.comment(comment_id, viewer_id=p.person_id)
    r = visible_round(store, p, c.round_id)
    if c.scenario is not None and c.scenario not in _round_scenarios(store, p, r):
        raise NotFoundError(f"no comment {comment_id}")
    return c, r


def add_comment(
    store,
    round_id: int,
    body: str,
    *,
    theme: str | None = None,
    scenario: str | None = None,
    parent_id: int | None = None,
    geometry=None,
    obj: str | None = None,
    per_hour: int = 30,
) -> Comment:
    p = audit.current()
    _require_writer(p, "comment.write", "comment")
    r = visible_round(store, p, round_id)
    _require_open(r, "comments are taken")
    body = check_text(body, "body", MAX_COMMENT)
    theme = check_theme(theme)
    if scenario is not None and scenario not in _round_scenarios(store, p, r):
        raise InputError(
            f"{scenario[:80]!r} is not an alternative or visible variant of this round",
            field="scenario",
        )
    if parent_id is not None:
        parent = store.rounds.comment(parent_id)
        if parent.round_id != r.id:
            raise InputError(f"comment {parent_id} is in another round", field="parent")
    _check_place(store, scenario, geometry, obj)
    if p.person_id is not None:
        since = to_text(utc_now() - timedelta(hours=1))
        if store.rounds.count_comments_since(p.person_id, since) >= per_hour:
            raise Throttled(f"at most {per_hour} comments an hour per person", 600)
    with store.unit():
        cid = store.rounds.add_comment(
            round_id=r.id,
            scenario=scenario,
            parent_id=parent_id,
            author_id=p.person_id,
            author=p.label,
            body=body,
            theme=theme,
            geometry=geometry,
            obj=obj,
            at=_now(),
        )
        audit.record(
            store,
            "comment.create",
            f"comments/{cid}",
            scenario=scenario,
            data={
                "round": r.id,
                "parent": parent_id,
                "theme": theme,
                "object": obj,
                "place": None if geometry is None else geometry.geom_type,
                "sha256": _digest(body),
                "characters": len(body),
            },
        )
    return store.rounds.comment(cid, viewer_id=p.person_id)


def edit_comment(store, comment_id: int, body: str, theme: str | None = None) -> Comment:
    """The author changes their comment, within 15 minutes of writing it."""
    p = audit.current()
    _require_writer(p, "comment.write", "edit comments")
    c, r = _visible_comment(store, p, comment_id)
    if p.person_id is None or c.author_id != p.person_id:
        raise Denied("only its author edits a comment", 403)
    if c.hidden:
        raise Denied("a hidden comment cannot be edited", 409)
    _require_open(r, "comments are edited")
    age = (utc_now() - from_text(c.created_at)).total_seconds()
    if age > EDIT_WINDOW_S:
        raise Denied(
            f"a comment can be edited for {EDIT_WINDOW_S // 60} minutes after writing it", 409
        )
    body = check_text(body, "body", MAX_COMMENT)
    theme = check_theme(theme) if theme is not None else c.theme
    with store.unit():
        store.rounds.edit_comment(comment_id, body, theme, _now())
        audit.record(
            store,
            "comment.edit",
            f"comments/{comment_id}",
            scenario=c.scenario,
            data={"round": c.round_id, "sha256": _digest(body), "characters": len(body)},
        )
    return store.rounds.comment(comment_id, viewer_id=p.person_id)


def moderate(store, comment_id: int, *, hide: bool, reason: str = "") -> Comment:
    """Hide a comment with a reason (kept in the audit log; its author is told), or show
    it again (planners, administrators)."""
    p = audit.current()
    _require_writer(p, "comment.moderate", "moderate comments")
    c, _ = _visible_comment(store, p, comment_id)
    reason = check_text(reason, "reason", MAX_REASON, required=hide)
    now = _now()
    with store.unit():
        store.rounds.hide_comment(
            comment_id, p.actor, reason if hide else None, now if hide else None
        )
        audit.record(
            store,
            "comment.hide" if hide else "comment.show",
            f"comments/{comment_id}",
            scenario=c.scenario,
            data={"round": c.round_id, "reason": reason if hide else None},
        )
        if c.author_id is not None:
            text = (
                f"Your comment {comment_id} in round {c.round_id} was hidden by a moderator. "
                f"Reason: {reason}"
                if hide
                else f"Your comment {comment_id} in round {c.round_id} is shown again."
            )
            store.rounds.notify(
                c.author_id,
                "comment.hidden" if hide else "comment.shown",
                text,
                f"/rounds/{c.round_id}/comments/{comment_id}",
                now,
            )
    return store.rounds.comment(comment_id, viewer_id=p.person_id)


def support(store, comment_id: int, on: bool = True) -> Comment:
    """One support per person per comment (not one's own); withdrawn with ``on`` False."""
    p = audit.current()
    _require_writer(p, "comment.write", "support comments")
    if p.person_id is None:
        raise Denied("supports are counted per person: sign in with an account", 403)
    c, r = _visible_comment(store, p, comment_id)
    _require_open(r, "supports are given")
    if c.hidden:
        raise NotFoundError(f"no comment {comment_id}")
    if on and c.author_id == p.person_id:
        raise Denied("you cannot support your own comment", 409)
    with store.unit():
        changed = store.rounds.support(comment_id, p.person_id, _now() if on else None)
        if changed:
            audit.record(
                store,
                "support.add" if on else "support.remove",
                f"comments/{comment_id}",
                scenario=c.scenario,
                data={"round": c.round_id},
            )
    return store.rounds.comment(comment_id, viewer_id=p.person_id)


def shown_comments(
    store, p: Principal, round_id: int, scenario: str | None = None
) -> list[Comment]:
    """The round's comments as ``p`` may see them: a hidden comment keeps its place in the
    thread but not its text, except for its author and the moderators."""
    r = visible_round(store, p, round_id)
    seen = _round_scenarios(store, p, r)
    out = []
    moderator = access.may(p, "comment.moderate")
    for c in store.rounds.comments(r.id, viewer_id=p.person_id, scenario=scenario):
        if c.scenario is not None and c.scenario not in seen:
            continue  # about a variant they may not see
        own = p.person_id is not None and c.author_id == p.person_id
        if c.hidden and not (moderator or own):
            c = _redacted(c)
        out.append(c)
    return out


def _redacted(c: Comment) -> Comment:
    from dataclasses import replace

    return replace(c, body="", geometry=None, object=None, author="", theme=None)


# ---------------------------------------------------------------------------- addresses


def at_address(store, p: Principal, round_id: int, x: float, y: float, on: date) -> dict[str, Any]:
    """What each alternative and visible variant of the round means at a point (RD New):
    per scenario, the model results there against the baseline and the findings for the
    buildings there."""
    r = visible_round(store, p, round_id)
    names = list(r.alternatives) + [
        v["scenario"] for v in variants_visible(store, p, r) if v["scenario"] not in r.alternatives
    ]
    out = []
    buildings: list[dict[str, Any]] = []
    for name in names:
        place = places.here(store, x, y, name, on)
        if not buildings:
            buildings = [
                {"id": b.id, "height_m": b.properties.get("height_m")} for b in place.buildings
            ]
        out.append(
            {
                "scenario": name,
                "kind": "alternative" if name in r.alternatives else "variant",
                "results": place.results,
                "findings": place.findings,
                "interventions_nearby": [
                    {
                        "kind": n.record.kind,
                        "layer": n.record.layer,
                        "object_id": n.record.object_id,
                        "title": n.record.title,
                        "distance_m": n.distance_m,
                    }
                    for n in place.interventions
                ],
            }
        )
    return {"round": r.id, "buildings": buildings, "scenarios": out}


# ---------------------------------------------------------------------------- report


def report(store, p: Principal, round_id: int) -> RoundReport:
    """Comments (shown ones) by theme and by neighbourhood, with their supports; the public
    variants and the alternatives with their indicators side by side."""
    r = visible_round(store, p, round_id)
    comments = [c for c in shown_comments(store, p, round_id) if not c.hidden]
    out = RoundReport(round=r, state=r.state(_now()), comments=comments)
    out.by_theme = dict(Counter(c.theme or "other" for c in comments).most_common())
    out.by_place = _by_place(store, comments)
    variants = [v for v in variants_visible(store, p, r) if v["public"] or v["mine"]]
    out.variants = variants
    names = list(r.alternatives) + [v["scenario"] for v in variants]
    comp = comparisons.compare(store, names[: comparisons.MAX_SCENARIOS])
    out.indicators = {
        model: {
            "indicators": mc.indicators,
            "runs": {ref: run and run.id for ref, run in mc.runs.items()},
        }
        for model, mc in comp.models.items()
    }
    return out


def _by_place(store, comments: list[Comment]) -> list[dict[str, Any]]:
    """Comments per neighbourhood (CBS buurt) their place lies in; an object's comment at
    the object, one without a place under "the whole plan"."""
    groups: dict[str, dict[str, Any]] = {}
    has_buurten = PLACE_LAYER in store.vector_layers()
    for c in comments:
        point = None
        if c.geometry is not None:
            point = c.geometry.representative_point()
        elif c.object is not None:
            layer, _, oid = c.object.partition("/")
            found = store.lookup(layer, [oid], scenario=c.scenario).get(oid)
            if found is not None and found.geometry is not None:
                point = found.geometry.representative_point()
        name = "—"
        if point is not None and has_buurten:
            box = (point.x, point.y, point.x, point.y)
            for f in store.features(PLACE_LAYER, bbox=box):
                if f.geometry is not None and f.geometry.covers(point):
                    name = str(f.properties.get("statnaam") or f.id)
                    break
        elif point is not None:
            name = "in the plan area"
        g = groups.setdefault(
            name, {"place": name, "comments": 0, "supports": 0, "themes": Counter()}
        )
        g["comments"] += 1
        g["supports"] += c.supports
        g["themes"][c.theme or "other"] += 1
    return [
        {**g, "themes": dict(g["themes"].most_common())}
        for g in sorted(groups.values(), key=lambda g: (-g["comments"], g["place"]))
    ]
