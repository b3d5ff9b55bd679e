"""Scenario (branch) names and statuses, the same for every store backend."""

from __future__ import annotations

import re

from tweeling.core.errors import InputError
from tweeling.core.views import BASELINE_NAME

STATUSES = ("draft", "shared", "published", "decided", "archived")
EDITABLE = ("draft", "shared")  # statuses in which a scenario's content may change
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_name(name: str, what: str = "scenario name") -> str:
    """``name`` when it may name a scenario (or a frozen version); else an InputError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name == BASELINE_NAME:
        raise InputError(
            f"{what} {name!r} is not allowed: use 1–64 letters, digits, '_', '.' or '-', "
            f"starting with a letter or digit (and not {BASELINE_NAME!r})"
        )
    return name
