"""Who may do what in a twin: the one policy every route, command and service asks.

Pure functions over a :class:`~tweeling.core.people.Principal` and small descriptions of
the objects concerned (no I/O). The HTTP layer maps a refusal to a status code: an object
the principal may not *read* is a 404 (its existence is not revealed), an action they may
not take on an object they can read is a 403, and anything a visitor could do after
signing in is a 401. The table of rights is in docs/people.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from tweeling.core.errors import TweelingError
from tweeling.core.people import STAFF, Principal, Role

ADMIN, PLANNER, REVIEWER, STEWARD, PARTICIPANT = (
    Role.ADMINISTRATOR,
    Role.PLANNER,
    Role.REVIEWER,
    Role.STEWARD,
    Role.PARTICIPANT,
)
EVERY_ROLE = frozenset(Role)

# Actions that depend on the role only; rights on particular objects are the functions below.
ROLE_ACTIONS: dict[str, frozenset[Role]] = {
    "scenario.create": frozenset({ADMIN, PLANNER}),
    "scenario.publish": frozenset({ADMIN, PLANNER}),
    "model.run": frozenset({ADMIN, PLANNER, REVIEWER}),  # participants: their own variants
    "round.manage": frozenset({ADMIN, PLANNER}),
    "comment.moderate": frozenset({ADMIN, PLANNER}),
    "comment.write": EVERY_ROLE,
    "variant.create": EVERY_ROLE,
    "people.manage": frozenset({ADMIN}),
    "access.manage": frozenset({ADMIN}),
    "data.import": frozenset({ADMIN, STEWARD}),
    "rules.import": frozenset({ADMIN, STEWARD}),
    "audit.read_all": frozenset({ADMIN, REVIEWER}),
    "jobs.read_all": frozenset({ADMIN}),
}
PUBLISHED = frozenset({"published", "decided"})
EDITABLE = frozenset({"draft", "shared"})


class Denied(TweelingError):
    """The principal may not do this. ``status``: 401 (sign in), 403 (not allowed) or 404
    (the object is not visible to them, so it is reported as unknown)."""

    def __init__(self, message: str, status: int = 403):
        self.status = status
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class ScenarioAccess:
    """What the policy needs to know of one scenario."""

    name: str
    status: str
    owner_id: int | None  # None: made by the twin's operators (CLI) before it had owners
    readers: frozenset[int] = frozenset()  # people it is shared with, to read
    editors: frozenset[int] = frozenset()  # people it is shared with, to edit
    round_id: int | None = None  # a variant proposed in this consultation round
    public_in_round: bool = False  # the variant's author made it public within the round
    baseline: bool = False


def may(p: Principal, action: str) -> bool:
    """Whether the principal's role grants ``action`` (writes need a write scope)."""
    if p.role is None:
        return False
    if p.scope != "write" and not action.endswith(".read_all"):
        return False
    return p.role in ROLE_ACTIONS[action]


def require(p: Principal, action: str, what: str = "") -> None:
    if p.role is None:
        raise Denied(f"sign in to {what or action}", 401)
    if not action.endswith(".read_all"):
        require_write(p)
    if not may(p, action):
        raise Denied(f"a {p.role.value} may not {what or action}", 403)


def require_write(p: Principal) -> None:
    """Refuse a change asked with a read-only API token (403)."""
    if p.scope != "write":
        raise Denied("this API token may only read (its scope is 'read')", 403)


def can_read_twin(p: Principal, public: bool) -> bool:
    """Baseline layers, published scenarios and their results: every signed-in person, and
    anonymous visitors when the administrator made the twin public."""
    return p.signed_in or public


def can_read_scenario(p: Principal, s: ScenarioAccess, public: bool) -> bool:
    if not can_read_twin(p, public):
        return False
    if s.baseline or s.status in PUBLISHED:
        return True
    if p.role == ADMIN:
        return True
    pid = p.person_id
    if pid is not None and (pid == s.owner_id or pid in s.readers or pid in s.editors):
        return True
    if s.round_id is not None:
        return s.public_in_round
    if s.status in ("shared", "archived"):
        return p.role in STAFF
    # a draft: its author and the people it is shared with; operators' drafts (no owner)
    # are the planners' common work
    return s.owner_id is None and p.role == PLANNER


def can_edit_scenario(p: Principal, s: ScenarioAccess) -> bool:
    """Add interventions, freeze, share, delete: the owner, the people it is shared with to
    edit, administrators; a scenario without owner, the planners."""
    if p.role is None or p.scope != "write" or s.baseline:
        return False
    if p.role == ADMIN:
        return True
    pid = p.person_id
    if pid is not None and (pid == s.owner_id or pid in s.editors):
        return True
    return s.owner_id is None and s.round_id is None and p.role == PLANNER


def can_set_status(p: Principal, s: ScenarioAccess, new: str) -> bool:
    """Publishing, deciding and archiving are the planners' (and administrators') acts; the
    owner and editors move their own work between draft and shared. A participant's variant
    has no status of its own beyond draft (it is made public within its round instead)."""
    if s.baseline or p.role is None or p.scope != "write":
        return False
    if s.round_id is not None:
        return False
    if new in EDITABLE:
        return can_edit_scenario(p, s) or p.role == ADMIN
    # publishing, deciding, archiving: the owner (a planner), any planner for a scenario
    # without owner, administrators — not the people it is shared with
    owner = p.person_id is not None and p.person_id == s.owner_id
    return may(p, "scenario.publish") and (p.role == ADMIN or s.owner_id is None or owner)


def can_run_models(p: Principal, s: ScenarioAccess, public: bool) -> bool:
    if p.role is None or p.scope != "write" or not can_read_scenario(p, s, public):
        return False
    if may(p, "model.run"):
        return True
    # a participant computes their own variants (under the per-person quota)
    return s.round_id is not None and p.person_id is not None and p.person_id == s.owner_id


def can_see_shares(p: Principal, s: ScenarioAccess) -> bool:
    """Whom a scenario is shared with: its owner and administrators (a read)."""
    if p.role is None or s.baseline:
        return False
    return p.role == ADMIN or (p.person_id is not None and p.person_id == s.owner_id)


def can_share(p: Principal, s: ScenarioAccess) -> bool:
    return p.scope == "write" and can_see_shares(p, s)


def check_read(p: Principal, s: ScenarioAccess, public: bool) -> None:
    """Refuse as 401 (a visitor of a private twin) or 404 (a scenario they may not see)."""
    if not can_read_twin(p, public):
        raise Denied("sign in to read this twin", 401)
    if not can_read_scenario(p, s, public):
        raise Denied(f"no scenario {s.name!r}", 404)


def check_edit(p: Principal, s: ScenarioAccess, public: bool) -> None:
    check_read(p, s, public)
    if p.role is not None:
        require_write(p)
    if s.baseline:
        raise Denied("the baseline changes only by importing its sources", 409)
    if not can_edit_scenario(p, s):
        if p.role is None:
            raise Denied("sign in to change scenarios", 401)
        raise Denied(f"you may read scenario {s.name!r} but not change it", 403)
