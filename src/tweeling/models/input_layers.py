"""The layers the impact models read: their schemas, units and valid ranges, in one place.

A twin gets them by importing a GeoJSON file (``tweeling import model-inputs FILE --layer
road_traffic``, see ``tweeling.sources.model_inputs``); scenarios then add, change or remove
their objects like any other. Values are checked when imported and again by the model before
a run (a scenario may have changed them): a clear error names the layer, object and field.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tweeling.core.errors import InputError
from tweeling.core.features import LayerSchema
from tweeling.methods.noise_cnossos_road import REFERENCE_SURFACE, ROAD_SURFACES
from tweeling.methods.noise_iso9613 import OCTAVE_BANDS_HZ


@dataclass(frozen=True)
class InputField:
    name: str
    type: str  # "REAL" or "TEXT"
    unit: str
    description: str
    required: bool = False
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    choices: tuple[str, ...] | None = None

    def check(self, value: Any, layer: str, object_id: str) -> Any:
        """The value (default when absent), or an InputError naming layer, object, field."""
        where = {"object_id": f"{layer}/{object_id}", "field": self.name}
        if value is None:
            if self.required:
                raise InputError(f"{self.name} [{self.unit}] is required", **where)
            return self.default
        if self.type == "TEXT":
            if not isinstance(value, str):
                raise InputError(f"{self.name} must be text, got {value!r}", **where)
            if self.choices is not None and value not in self.choices:
                raise InputError(
                    f"{self.name} = {value!r} is not one of: {', '.join(self.choices)}", **where
                )
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(f"{self.name} must be a number [{self.unit}], got {value!r}", **where)
        number = float(value)
        low = self.minimum
        too_low = low is not None and (number < low or (self.exclusive_minimum and number == low))
        too_high = self.maximum is not None and number > self.maximum
        if not math.isfinite(number) or too_low or too_high:
            raise InputError(f"{self.name} = {value!r} must be within {self.range_text()}", **where)
        return number

    def range_text(self) -> str:
        low = "-∞" if self.minimum is None else f"{self.minimum:g}"
        high = "∞" if self.maximum is None else f"{self.maximum:g}"
        return f"{'(' if self.exclusive_minimum else '['}{low}, {high}] {self.unit}"


@dataclass(frozen=True)
class InputLayer:
    name: str
    geometry_types: tuple[str, ...]
    title: str
    description: str
    fields: tuple[InputField, ...]

    def schema(self) -> LayerSchema:
        geometry = self.geometry_types[0] if len(self.geometry_types) == 1 else "GEOMETRY"
        return LayerSchema(
            name=self.name,
            geometry_type=geometry,
            fields={f.name: f.type for f in self.fields},
            title=self.title,
            description=self.description,
        )

    def check(self, object_id: str, geometry, properties: Mapping[str, Any]) -> dict[str, Any]:
        """All fields checked, defaults filled in; unknown fields and wrong geometry refused."""
        known = {f.name for f in self.fields}
        unknown = sorted(set(properties) - known)
        if unknown:
            raise InputError(
                f"unknown fields {', '.join(unknown)} (known: {', '.join(sorted(known))})",
                object_id=f"{self.name}/{object_id}",
            )
        if geometry is None or geometry.geom_type.upper() not in self.geometry_types:
            got = "no geometry" if geometry is None else geometry.geom_type
            raise InputError(
                f"geometry must be {' or '.join(self.geometry_types)}, got {got}",
                object_id=f"{self.name}/{object_id}",
                field="geometry",
            )
        values = {
            f.name: f.check(properties.get(f.name), self.name, object_id) for f in self.fields
        }
        for rule in _RULES.get(self.name, ()):
            rule(values, self.name, object_id)
        return values


def _text(name, description, **kw) -> InputField:
    return InputField(name, "TEXT", "", description, **kw)


def _real(name, unit, description, **kw) -> InputField:
    return InputField(name, "REAL", unit, description, **kw)


def _share(name, description) -> InputField:
    return _real(name, "1", description, default=0.0, minimum=0.0, maximum=1.0)


ROAD_TRAFFIC = InputLayer(
    "road_traffic",
    ("LINESTRING",),
    "Road traffic",
    "Road axes with their traffic: the sources of the road-noise model (CNOSSOS-EU).",
    (
        _text("name", "street name or road section"),
        _real(
            "aadt_veh_per_day",
            "veh/day",
            "annual average daily traffic, all motor vehicles, both directions",
            required=True,
            minimum=0.0,
        ),
        _share("share_medium", "share of medium heavy vehicles (CNOSSOS category 2)"),
        _share("share_heavy", "share of heavy vehicles (CNOSSOS category 3)"),
        _share("share_two_wheelers", "share of motorcycles (CNOSSOS category 4b)"),
        _real(
            "speed_light_kmh",
            "km/h",
            "mean speed of light vehicles (and two-wheelers)",
            required=True,
            minimum=0.0,
            exclusive_minimum=True,
            maximum=130.0,
        ),
        _real(
            "speed_heavy_kmh",
            "km/h",
            "mean speed of medium and heavy vehicles (default: speed_light_kmh)",
            minimum=0.0,
            exclusive_minimum=True,
            maximum=130.0,
        ),
        _text(
            "surface",
            "road surface per CNOSSOS-EU Table F-4",
            default=REFERENCE_SURFACE,
            choices=tuple(ROAD_SURFACES),
        ),
        _text("traffic_source", "where the traffic figures come from (count, model, illustrative)"),
    ),
)

OCTAVE_FIELDS = tuple(
    f"lw_{int(f) // 1000}khz_dba" if f >= 1000 else f"lw_{int(f)}hz_dba" for f in OCTAVE_BANDS_HZ
)

WIND_TURBINES = InputLayer(
    "wind_turbines",
    ("POINT",),
    "Wind turbines",
    "Wind turbines with their dimensions and sound power: inputs of the wind-turbine model.",
    (
        _text("name", "turbine name or number"),
        _text("turbine_type", "manufacturer and type, e.g. 'Vestas V112-3.45 MW'"),
        _real(
            "hub_height_m",
            "m",
            "hub height above ground",
            required=True,
            minimum=0.0,
            exclusive_minimum=True,
            maximum=300.0,
        ),
        _real(
            "rotor_diameter_m",
            "m",
            "rotor diameter",
            required=True,
            minimum=0.0,
            exclusive_minimum=True,
            maximum=300.0,
        ),
        *(
            _real(
                name,
                "dB(A)",
                f"A-weighted sound power level, {hz} Hz octave band",
                required=True,
                minimum=0.0,
                maximum=150.0,
            )
            for name, hz in zip(OCTAVE_FIELDS, OCTAVE_BANDS_HZ, strict=True)
        ),
        _real(
            "operating_hours_per_yr",
            "h/yr",
            "hours per year the turbine operates",
            default=8760.0,
            minimum=0.0,
            maximum=8784.0,
        ),
        _real(
            "ground_height_m",
            "m",
            "ground level at the turbine (NAP)",
            default=0.0,
            minimum=-10.0,
            maximum=400.0,
        ),
    ),
)

NITROGEN_SOURCES = InputLayer(
    "nitrogen_sources",
    ("POINT", "LINESTRING"),
    "Nitrogen sources",
    "Emission sources of NOx and NH3 (farms, industry as points; roads as lines): inputs "
    "of the nitrogen-deposition model.",
    (
        _text("name", "source name"),
        _text("sector", "e.g. livestock, industry, road traffic, shipping"),
        _real(
            "nox_kg_per_yr",
            "kg/yr",
            "NOx emission, as NO2 mass (a line: the whole line)",
            default=0.0,
            minimum=0.0,
        ),
        _real(
            "nh3_kg_per_yr",
            "kg/yr",
            "NH3 emission (a line: the whole line)",
            default=0.0,
            minimum=0.0,
        ),
        _real(
            "emission_height_m",
            "m",
            "emission height above ground",
            required=True,
            minimum=0.0,
            maximum=500.0,
        ),
        _real(
            "heat_content_mw",
            "MW",
            "heat content of the emission (plume rise)",
            default=0.0,
            minimum=0.0,
            maximum=1000.0,
        ),
    ),
)

INPUT_LAYERS: dict[str, InputLayer] = {
    layer.name: layer for layer in (ROAD_TRAFFIC, WIND_TURBINES, NITROGEN_SOURCES)
}


def input_layer(name: str) -> InputLayer:
    if name not in INPUT_LAYERS:
        raise InputError(
            f"{name!r} is not a model input layer (known: {', '.join(INPUT_LAYERS)})",
            field="layer",
        )
    return INPUT_LAYERS[name]


def _shares_at_most_one(values, layer, object_id) -> None:
    total = values["share_medium"] + values["share_heavy"] + values["share_two_wheelers"]
    if total > 1.0 + 1e-9:
        raise InputError(
            f"share_medium + share_heavy + share_two_wheelers = {total:g} exceeds 1",
            object_id=f"{layer}/{object_id}",
            field="share_heavy",
        )


def _hub_above_blade_tip(values, layer, object_id) -> None:
    if values["hub_height_m"] <= values["rotor_diameter_m"] / 2.0:
        raise InputError(
            f"hub_height_m = {values['hub_height_m']:g} m is not above the rotor radius "
            f"({values['rotor_diameter_m'] / 2.0:g} m): the blades would hit the ground",
            object_id=f"{layer}/{object_id}",
            field="hub_height_m",
        )


def _emits_something(values, layer, object_id) -> None:
    if values["nox_kg_per_yr"] <= 0.0 and values["nh3_kg_per_yr"] <= 0.0:
        raise InputError(
            "a nitrogen source needs nox_kg_per_yr or nh3_kg_per_yr above 0",
            object_id=f"{layer}/{object_id}",
            field="nox_kg_per_yr",
        )


_RULES = {
    "road_traffic": (_shares_at_most_one,),
    "wind_turbines": (_hub_above_blade_tip,),
    "nitrogen_sources": (_emits_something,),
}


def checked_features(ctx, layer: InputLayer, **read) -> list[tuple[str, Any, dict[str, Any]]]:
    """(id, geometry, checked values) of a model input layer in a run's view (within the
    run's extent, or ``bbox=``); all are checked before any heavy work."""
    return [
        (f.id, f.geometry, layer.check(f.id, f.geometry, f.properties))
        for f in ctx.features(layer.name, **read)
    ]
