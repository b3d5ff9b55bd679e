"""Comparing scenarios by their model results: per model and indicator, the value in the
baseline and in each scenario, each from that scenario's latest up-to-date run.

A scenario without an up-to-date run of a model gets ``None`` for it (run the model on
the scenario first): a stale run's numbers describe a version that no longer exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tweeling.core.errors import InputError
from tweeling.core.records import RunRecord
from tweeling.services.results import BASELINE, current_runs, indicators
from tweeling.store.base import TwinStore

MAX_SCENARIOS = 20


@dataclass
class ModelComparison:
    model: str
    runs: dict[str, RunRecord | None]  # scenario -> the run its values come from
    indicators: dict[str, dict[str, Any]] = field(default_factory=dict)
    # indicator -> {"unit": …, "description": …, "values": {scenario: value | None}}


@dataclass
class Comparison:
    scenarios: list[str]  # "baseline" first
    models: dict[str, ModelComparison]


def compare(
    store: TwinStore, scenarios: list[str], *, models: list[str] | None = None
) -> Comparison:
    """The indicators of every model with an up-to-date run on the baseline or one of
    ``scenarios`` (or of just ``models``), side by side."""
    refs = [BASELINE, *dict.fromkeys(s for s in scenarios if s != BASELINE)]
    if len(refs) > MAX_SCENARIOS + 1:
        raise InputError(f"compare at most {MAX_SCENARIOS} scenarios at once", field="scenarios")
    current = {ref: current_runs(store, ref) for ref in refs}
    names = sorted({m for runs in current.values() for m in runs})
    if models is not None:
        names = [m for m in names if m in models]
    out: dict[str, ModelComparison] = {}
    for model in names:
        runs = {ref: current[ref].get(model) for ref in refs}
        mc = ModelComparison(model, runs)
        tables = {ref: indicators(store, r) if r else {} for ref, r in runs.items()}
        keys = sorted({k for t in tables.values() for k in t})
        for key in keys:
            first = next(t[key] for t in tables.values() if key in t)
            entry: dict[str, Any] = {
                "unit": first.get("unit", ""),
                "values": {ref: (tables[ref].get(key) or {}).get("value") for ref in refs},
            }
            if first.get("description"):
                entry["description"] = first["description"]
            mc.indicators[key] = entry
        out[model] = mc
    return Comparison(refs, out)


__all__ = ["Comparison", "ModelComparison", "compare"]
