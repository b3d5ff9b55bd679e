"""The model contract: what an impact model declares and what a run gives it and gets back.

A model is a thin adapter around pure method functions (``tweeling.methods``): it declares
its metadata (:class:`ModelInfo`: inputs, parameters with units, defaults and valid ranges,
outputs, the methods and standards it implements, its stated limitations), reads the
scenario view it is given (:class:`RunContext`) and returns a :class:`ModelResult` (grids,
values per object, indicators). Storing, provenance and re-use are the run service's job
(``tweeling.services.runs``). Third parties add models through the ``tweeling.models``
entry-point group.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from tweeling.core.errors import InputError

if TYPE_CHECKING:
    from tweeling.core.records import Bbox, StoredFeature
    from tweeling.store.base import TwinStore

_TYPES = ("number", "integer", "text", "boolean", "json")


@dataclass(frozen=True)
class Parameter:
    """A model parameter: its unit, default and valid range (checked before a run starts)."""

    name: str
    unit: str
    default: Any
    description: str
    type: str = "number"
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[Any, ...] | None = None

    def check(self, value: Any) -> Any:
        """The value coerced to the parameter's type, or an InputError naming it."""
        if self.type not in _TYPES:
            raise ValueError(f"parameter {self.name}: unknown type {self.type}")
        if self.type in ("number", "integer"):
            try:
                number = float(value) if self.type == "number" else int(value)
                float(number)  # an integer beyond any float (10**400) overflows here
            except (TypeError, ValueError, OverflowError):
                raise self._bad(value, f"a {self.type}") from None
            if isinstance(value, bool) or not math.isfinite(number):
                raise self._bad(value, f"a finite {self.type}")
            if self.type == "integer" and float(value) != number:
                raise self._bad(value, "a whole number")
            low_ok = (
                self.minimum is None
                or number > self.minimum
                or (number == self.minimum and not self.exclusive_minimum)
            )
            if not low_ok or (self.maximum is not None and number > self.maximum):
                raise self._bad(value, f"within {self.range_text()}")
            value = number
        elif self.type == "boolean":
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if not isinstance(value, bool):
                raise self._bad(value, "true or false")
        elif self.type == "text" and not isinstance(value, str):
            raise self._bad(value, "text")
        if self.choices is not None and value not in self.choices:
            raise self._bad(value, "one of " + ", ".join(map(str, self.choices)))
        return value

    def range_text(self) -> str:
        low = "-∞" if self.minimum is None else f"{self.minimum:g}"
        high = "∞" if self.maximum is None else f"{self.maximum:g}"
        bracket = "(" if self.exclusive_minimum else "["
        return f"{bracket}{low}, {high}] {self.unit}"

    def _bad(self, value: Any, wanted: str) -> InputError:
        return InputError(f"parameter {self.name} = {value!r} must be {wanted}", field=self.name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "default": self.default,
            "description": self.description,
            "type": self.type,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "exclusive_minimum": self.exclusive_minimum,
            "choices": None if self.choices is None else list(self.choices),
        }


@dataclass(frozen=True)
class Output:
    name: str
    kind: str  # "grid" (GeoTIFF), "objects" (values per object), "indicators" (a table)
    unit: str
    description: str


@dataclass(frozen=True)
class ModelInfo:
    name: str
    version: str
    theme: str
    title: str
    inputs: tuple[str, ...]  # layers (and rasters) the model reads
    parameters: tuple[Parameter, ...]
    outputs: tuple[Output, ...]
    methods: tuple[str, ...]  # standards and publications implemented
    limitations: tuple[str, ...]
    code: tuple[str, ...] = ()  # modules whose source identifies the model's code
    # A run on a scenario also reads the baseline it is built on (to give scenario minus
    # baseline); the baseline's input hashes then join the run's provenance.
    compares_with_baseline: bool = False

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name:
                return p
        known = ", ".join(p.name for p in self.parameters) or "none"
        raise InputError(
            f"model {self.name} has no parameter {name!r} (known: {known})", field=name
        )

    def check_parameters(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """All parameters with defaults filled in, each checked; unknown names refused."""
        out = {p.name: p.default for p in self.parameters}
        for name, value in given.items():
            out[name] = self.parameter(name).check(value)
        for p in self.parameters:
            if out[p.name] is None:
                unit = f" [{p.unit}]" if p.unit else ""
                raise InputError(f"parameter {p.name}{unit} is required", field=p.name)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "theme": self.theme,
            "title": self.title,
            "inputs": list(self.inputs),
            "parameters": [p.to_dict() for p in self.parameters],
            "outputs": [vars(o) for o in self.outputs],
            "methods": list(self.methods),
            "limitations": list(self.limitations),
            "compares_with_baseline": self.compares_with_baseline,
        }


@dataclass
class Grid:
    """A raster result in RD New: ``values[row, col]``, north-up, cell size in metres."""

    values: np.ndarray
    origin_x: float  # west edge
    origin_y: float  # north edge
    cell_m: float
    unit: str
    nodata: float = float("nan")


@dataclass
class ModelResult:
    grids: dict[str, Grid] = field(default_factory=dict)
    # per output: rows of {"layer", "id", <value columns>}
    objects: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    indicators: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> value, unit
    notes: list[str] = field(default_factory=list)  # what this run simplified or cut off


class Cancelled(Exception):
    """The run was asked to stop."""


@dataclass
class RunContext:
    """What a model run may read: the scenario view of the twin, checked parameters, the
    extent, and progress reporting (which also raises :class:`Cancelled` when asked)."""

    store: TwinStore
    scenario: str | None
    parameters: dict[str, Any]
    extent: Bbox
    progress: Callable[[float, str], None] = lambda fraction, what: None

    def features(self, layer: str, **kwargs) -> Iterator[StoredFeature]:
        """The scenario's features of a layer within the run's extent (``bbox=`` widens it,
        ``bbox=None`` reads the whole layer), in identifier order: floating-point sums
        depend on the order of their terms, and a store's own order (R-tree, GiST, the
        order of writing) differs between backends and after a re-import; a run must
        reproduce bit for bit on any of them."""
        kwargs.setdefault("bbox", self.extent)
        return _by_id(self.store.features(layer, scenario=self.scenario, **kwargs))

    @property
    def compared(self) -> bool:
        """Whether the run is on a scenario, so that a baseline exists to compare with."""
        return self.scenario is not None

    def baseline_features(self, layer: str, **kwargs) -> Iterator[StoredFeature]:
        """The features of the baseline the scenario is built on (as a frozen version pins
        it); for models that declare ``compares_with_baseline``."""
        kwargs.setdefault("bbox", self.extent)
        view = self.store.view(self.scenario).root_view()
        return _by_id(self.store.features(layer, view=view, **kwargs))

    def scenario_parameters(self) -> dict[str, Any]:
        """Parameters the scenario sets (interventions of kind 'parameter')."""
        return self.store.parameters(self.scenario)


class Model(Protocol):
    info: ModelInfo

    def run(self, ctx: RunContext) -> ModelResult: ...


def _by_id(features: Iterator[StoredFeature]) -> Iterator[StoredFeature]:
    return iter(sorted(features, key=lambda f: f.id))
