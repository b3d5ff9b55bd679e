"""Interventions: the typed, validated steps a scenario is made of.

Four kinds:

* ``add`` — a new object in a layer (geometry required; attributes per the layer's schema);
* ``modify`` — new attribute values and/or a new geometry for an existing object (attributes
  not named keep their values; ``null`` clears one);
* ``remove`` — an existing object is taken away (a tombstone in the scenario);
* ``parameter`` — a named value with a unit that models read (traffic growth, an emission
  factor, a rain event), such as ``traffic_growth = 1.2 [1]`` or ``rain_mm = 60 [mm]``.

Each has a title (what) and a rationale (why). Geometries are in RD New (EPSG:28992) by the
time an Intervention exists; file readers transform them (``sources.interventions``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import shapely

from tweeling.core.errors import InputError

KINDS = ("add", "modify", "remove", "parameter")
# Lengths a person can be expected to write; longer text is refused, not truncated (a title
# of 200 MB once made every read of its scenario return 200 MB).
MAX_TITLE = 200
MAX_RATIONALE = 2_000
MAX_TEXT_VALUE = 10_000  # a text attribute or parameter value
_PARAM = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class Intervention:
    kind: str
    title: str
    rationale: str = ""
    layer: str | None = None
    id: str | None = None
    geometry: shapely.Geometry | None = None  # RD New
    properties: dict[str, Any] = field(default_factory=dict)
    parameter: str | None = None
    value: Any = None
    unit: str | None = None
    origin: str | None = None  # where it was read: "file.yaml" (for error messages)
    label: str | None = None  # how the origin names it: "item 3" (for error messages)

    def error(self, message: str, *, field: str | None = None) -> InputError:
        """An InputError naming this intervention (file, item or object, field)."""
        return InputError(
            message,
            path=self.origin,
            object_id=self.label or self.id or self.parameter,
            field=field,
        )

    def check(self) -> Intervention:
        """Refuse interventions that are incomplete or mix kinds (naming the field)."""
        if self.kind not in KINDS:
            raise self.error(
                f"unknown kind {self.kind!r}; use one of {', '.join(KINDS)}", field="kind"
            )
        if not isinstance(self.title, str) or not self.title.strip():
            raise self.error("every intervention needs a title (what it does)", field="title")
        if len(self.title) > MAX_TITLE:
            raise self.error(f"at most {MAX_TITLE} characters", field="title")
        if not isinstance(self.rationale, str):
            raise self.error("the rationale must be text", field="rationale")
        if len(self.rationale) > MAX_RATIONALE:
            raise self.error(f"at most {MAX_RATIONALE} characters", field="rationale")
        if isinstance(self.properties, dict):
            for key, value in self.properties.items():
                if isinstance(value, str) and len(value) > MAX_TEXT_VALUE:
                    raise self.error(
                        f"at most {MAX_TEXT_VALUE} characters", field=f"properties.{key}"
                    )
        if self.kind == "parameter":
            self._check_parameter()
            return self
        if not self.layer:
            raise self.error(f"a {self.kind} intervention names its layer", field="layer")
        if self.parameter is not None or self.value is not None or self.unit is not None:
            raise self.error(
                f"a {self.kind} intervention has no parameter, value or unit", field="parameter"
            )
        if self.kind in ("modify", "remove") and not self.id:
            raise self.error(f"a {self.kind} intervention names the object it changes", field="id")
        if self.id is not None and (not isinstance(self.id, str) or not self.id.strip()):
            raise self.error("an object id is non-empty text", field="id")
        if self.kind == "add" and self.geometry is None:
            raise self.error("an add intervention needs a geometry", field="geometry")
        if self.kind == "remove" and (self.geometry is not None or self.properties):
            raise self.error(
                "a remove intervention has no geometry or properties", field="properties"
            )
        if self.kind == "modify" and self.geometry is None and not self.properties:
            raise self.error(
                "a modify intervention changes the geometry or some properties",
                field="properties",
            )
        if not isinstance(self.properties, dict):
            raise self.error("properties are a mapping of field to value", field="properties")
        return self

    def _check_parameter(self) -> None:
        if not isinstance(self.parameter, str) or not _PARAM.fullmatch(self.parameter):
            raise self.error(
                f"parameter name {self.parameter!r}: use lower-case letters, digits and '_', "
                "starting with a letter",
                field="parameter",
            )
        if self.layer or self.id or self.geometry is not None or self.properties:
            raise self.error(
                "a parameter intervention has no layer, id, geometry or properties",
                field="layer",
            )
        value = self.value
        if isinstance(value, bool | str):
            ok = not isinstance(value, str) or bool(value.strip())
        elif isinstance(value, int | float):
            # integers the store can hold (SQLite: 64 bits); floats finite
            ok = -(2**63) <= value < 2**63 if isinstance(value, int) else math.isfinite(value)
        else:
            ok = False
        if not ok:
            raise self.error(
                f"parameter {self.parameter!r}: the value must be a finite number, a boolean "
                f"or non-empty text, not {value!r}",
                field="value",
            )
        if isinstance(value, str) and len(value) > MAX_TEXT_VALUE:
            raise self.error(f"at most {MAX_TEXT_VALUE} characters", field="value")
        if not isinstance(self.unit, str) or not self.unit.strip() or len(self.unit) > 40:
            raise self.error(
                f"parameter {self.parameter!r} needs a unit of at most 40 characters (use "
                "'1' for a plain number)",
                field="unit",
            )

    def describe(self) -> str:
        if self.kind == "parameter":
            return f"parameter {self.parameter} = {self.value} [{self.unit}]"
        return f"{self.kind} {self.layer}/{self.id or '(new)'}"
