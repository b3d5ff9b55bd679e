"""The Delft demo twin, built from the real Dutch open data in ``../shared/data``."""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractContextManager as ContextManager
from contextlib import nullcontext
from datetime import date
from pathlib import Path

import yaml

from tweeling.core.crs import union_bounds
from tweeling.core.errors import InputError
from tweeling.core.records import FindingsRecord, RunRecord, WriteReport
from tweeling.services.importing import import_source
from tweeling.services.rules import check_scenario
from tweeling.services.runs import run_model
from tweeling.services.scenarios import apply_interventions, create_scenario, set_status
from tweeling.services.workspace import CONFIG, Workspace, init_workspace, open_workspace
from tweeling.sources.interventions import read_interventions

# What the demo imports: (source kind, files relative to the data folder, options).
DEMO_SOURCES: list[tuple[str, list[str], dict]] = [
    ("cityjson", ["delft/delft.city.json"], {}),
    ("bgt", ["delft/bgt/bgt_*.sqlite"], {}),
    ("ahn", ["delft/ahn3/*.laz"], {}),
    # 36 Natura 2000 sites and many quantised CBS outlines self-intersect in the published
    # files: the demo repairs them (make_valid) and the import log lists every repair.
    ("natura2000", ["natura2000/natura2000.geojson"], {"repair": True}),
    (
        "cbs",
        [
            "cbs/provincie_2015.topojson",
            "cbs/gemeente_2015.topojson",
            "cbs/wijk_2014.topojson",
            "cbs/buurt_2014.topojson",
        ],
        {"repair": True},
    ),
    ("imro", ["imro/*.gml"], {}),
]

# The demo's area: its local layers' extent plus a margin for plans around the city (wind
# turbines at its edge, say); scenario interventions must lie inside it.
AREA_LAYERS = ("buildings", "bgt_pand", "ahn_dtm")
AREA_MARGIN_M = 2000.0

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"
MODEL_INPUTS = EXAMPLES.parent / "model-inputs"
RULES = EXAMPLES.parents[1] / "rules"  # national rule sets and the illustrative Delft one
# The models' input layers (illustrative figures, labelled so in the files): (layer, file).
DEMO_INPUTS: list[tuple[str, str]] = [
    ("road_traffic", "delft-road-traffic.geojson"),
    ("wind_turbines", "delft-wind-turbines.geojson"),  # none in the baseline
    ("nitrogen_sources", "delft-nitrogen-sources.geojson"),
]
# Example scenarios (illustrative, not real plans): (name, interventions file, description).
DEMO_SCENARIOS: list[tuple[str, str, str]] = [
    (
        "example-housing-block",
        "housing-block.yaml",
        "Example: a four-storey housing block on an open plot (illustrative)",
    ),
    (
        "example-taller-building",
        "taller-building.yaml",
        "Example: an existing building raised from 6 to 24 m (illustrative)",
    ),
    (
        "example-cycle-path",
        "cycle-path-through-green.yaml",
        "Example: a green strip becomes a cycle path (illustrative)",
    ),
    (
        "example-traffic-calming",
        "traffic-calming.yaml",
        "Example: the street along the east canal becomes a 30 km/h street (illustrative)",
    ),
    (
        "example-wind-turbines",
        "wind-turbines.yaml",
        "Example: three wind turbines south-east of the centre (illustrative placement)",
    ),
    (
        "example-nitrogen-sources",
        "nitrogen-sources.yaml",
        "Example: a livestock farm and an industrial stack (illustrative)",
    ),
]

# Model runs of the demo: (model, scenario or None for the baseline, parameters, extent:
# "local" = the Delft data's extent, "area" = the twin's area). Parameter values of the form
# "@file" are read from examples/model-inputs.
DEMO_RUNS: list[tuple[str, str | None, dict, str]] = [
    ("road-noise", None, {}, "local"),
    ("road-noise", "example-traffic-calming", {}, "local"),
    # buildings and green screen and absorb road noise: the other scenarios change both
    ("road-noise", "example-housing-block", {}, "local"),
    ("road-noise", "example-taller-building", {}, "local"),
    ("road-noise", "example-cycle-path", {}, "local"),
    (
        "wind-turbines",
        "example-wind-turbines",
        {
            "sunshine_fraction_by_month": "@sunshine-fraction-illustrative.json",
            "wind_sector_fraction": "@wind-sector-fraction-illustrative.json",
            "ir_contour_distances_m": "@risk-distances-illustrative.json",
        },
        "area",
    ),
    (
        "nitrogen-deposition",
        "example-nitrogen-sources",
        {"wind_rose": "@wind-rose-illustrative.json"},
        "area",
    ),
]
LOCAL_MARGIN_M = 50.0


def default_data_dir() -> Path:
    """``$TWEELING_DATA``, else ``../shared/data`` beside the project (or the cwd)."""
    if os.environ.get("TWEELING_DATA"):
        return Path(os.environ["TWEELING_DATA"])
    project = Path(__file__).resolve().parents[3]
    for base in (Path.cwd(), project):
        candidate = base.parent / "shared" / "data"
        if candidate.is_dir():
            return candidate
    return project.parent / "shared" / "data"


def demo_files(data_dir: Path) -> list[tuple[str, list[Path], dict]]:
    """The demo's source files, checked to exist (a clear message names what is missing)."""
    if not data_dir.is_dir():
        raise InputError(
            f"sample data folder {data_dir} not found; pass --data DIR or set TWEELING_DATA "
            "(it holds delft/, natura2000/, cbs/ and imro/)"
        )
    out = []
    for kind, patterns, options in DEMO_SOURCES:
        files: list[Path] = []
        for pattern in patterns:
            found = sorted(data_dir.glob(pattern))
            if not found:
                raise InputError(
                    f"sample data incomplete: nothing matches {pattern!r}", path=data_dir
                )
            files += found
        out.append((kind, files, options))
    return out


def build_demo(
    target: Path,
    data_dir: Path,
    *,
    user: str = "",
    on_batch=None,
    log: Callable[[str], None] = lambda s: None,
) -> tuple[Workspace, list[WriteReport], float]:
    """Create (or refresh: imports are idempotent) the Delft demo twin in ``target``."""
    start = time.perf_counter()
    sources = demo_files(Path(data_dir))
    target = Path(target)
    ws = (
        open_workspace(target)
        if (target / CONFIG).exists()
        else init_workspace(target, name="Delft demo")
    )
    reports: list[WriteReport] = []
    try:
        for kind, files, options in sources:
            log(f"importing {kind}: {', '.join(f.name for f in files)}")
            reports += import_source(ws, kind, files, options=options, user=user, on_batch=on_batch)
        for layer, filename in DEMO_INPUTS:
            log(f"importing model inputs {layer} (illustrative): {filename}")
            reports += import_source(
                ws,
                "model-inputs",
                [MODEL_INPUTS / filename],
                options={"layer": layer},
                user=user,
                on_batch=on_batch,
            )
        rule_files = sorted(RULES.glob("*.yaml"))
        log(f"importing rule sets: {', '.join(f.name for f in rule_files)}")
        reports += import_source(ws, "rules", rule_files, user=user, on_batch=on_batch)
        ws.store.set_area_of_interest(demo_area(ws))
        add_example_scenarios(ws, user=user, log=log)
    except BaseException:
        ws.close()
        raise
    return ws, reports, time.perf_counter() - start


def demo_area(ws: Workspace) -> tuple[float, float, float, float]:
    return union_bounds((ws.store.layer(name).extent for name in AREA_LAYERS), AREA_MARGIN_M)


def local_extent(ws: Workspace) -> tuple[float, float, float, float]:
    """The extent of the Delft data itself (where roads and buildings are)."""
    return union_bounds((ws.store.layer(name).extent for name in AREA_LAYERS), LOCAL_MARGIN_M)


def run_demo_models(
    ws: Workspace,
    *,
    user: str = "",
    progress_for: Callable[[str], ContextManager] | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> list[tuple[RunRecord, bool]]:
    """Run the demo's models (identical runs are re-used); returns (run, re-used)."""
    out = []
    for model, scenario, raw, where in DEMO_RUNS:
        params = {k: _demo_value(v) for k, v in raw.items()}
        extent = local_extent(ws) if where == "local" else None
        label = f"{model} on {scenario or 'baseline'}"
        with progress_for(label) if progress_for else nullcontext() as progress:
            record, reused = run_model(
                ws.store,
                model,
                scenario=scenario,
                params=params,
                extent=extent,
                user=user,
                progress=progress,
            )
        how = "re-used" if reused else f"{record.duration_s:.1f} s"
        log(f"model run {record.id}: {label} ({how})")
        out.append((record, reused))
    return out


def check_demo_scenarios(
    ws: Workspace, on: date, *, user: str = "", log: Callable[[str], None] = lambda s: None
) -> list[FindingsRecord]:
    """Check every example scenario against the norms in force on ``on``."""
    out = []
    for name, _, _ in DEMO_SCENARIOS:
        record = check_scenario(ws.store, name, on, user=user)
        counts = Counter(f["verdict"] for f in record.findings)
        log(
            f"check {name}: "
            + (", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "no findings")
        )
        out.append(record)
    return out


def _demo_value(value):
    if isinstance(value, str) and value.startswith("@"):
        return yaml.safe_load((MODEL_INPUTS / value[1:]).read_text(encoding="utf-8"))
    return value


def add_example_scenarios(
    ws: Workspace, *, user: str = "", log: Callable[[str], None] = lambda s: None
) -> list[str]:
    """Create the example scenarios that are missing (existing ones are left as they are)."""
    existing = {s.name for s in ws.store.scenarios.list()}
    made = []
    for name, filename, description in DEMO_SCENARIOS:
        if name in existing:
            continue
        path = EXAMPLES / filename
        interventions = read_interventions(path)
        create_scenario(ws.store, name, author=user or "tweeling demo", description=description)
        apply_interventions(ws.store, name, interventions, author=user, path=str(path))
        set_status(ws.store, name, "shared")
        log(f"example scenario {name}: {len(interventions)} interventions from {filename}")
        made.append(name)
    return made


def wind_parameters() -> dict:
    """The demo's wind-turbine model parameters (also for participants' variants)."""
    raw = next(r for m, _, r, _ in DEMO_RUNS if m == "wind-turbines")
    return {k: _demo_value(v) for k, v in raw.items()}
