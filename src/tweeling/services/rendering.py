"""Result grids as map images: a fixed class legend per quantity, an RGBA PNG (one pixel
per cell, empty cells transparent) and the image's four corners in CRS84 for a MapLibre
``image`` source.

Noise (dB) uses 5 dB classes in the colours of the Dutch/EU scheme for strategic noise
maps (Infomil, "Kleurcodes kleurschema geografische geluidsbelastingkaarten", after the
European colour scheme for major roads under Directive 2002/49/EC); below 35 dB the scheme
draws nothing, here a light grey so that quiet cells differ from cells without a value.
Other quantities use ColorBrewer's 7-class sequential YlOrRd ramp (Brewer, colorbrewer2.org)
with fixed breaks per unit, or rounded equal steps over the grid's range for other units.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np

from tweeling.core.crs import RD_NEW, transformer
from tweeling.services.results import GridData


@dataclass(frozen=True)
class LegendClass:
    lower: float | None  # inclusive; None: open below
    upper: float | None  # exclusive; None: open above
    color: str  # #RRGGBB
    label: str

    def to_dict(self) -> dict:
        return {"from": self.lower, "to": self.upper, "color": self.color, "label": self.label}


# (lower bound, colour) of the Dutch/EU noise map scheme; the first class is "< 35 dB".
NOISE_SCHEME = (
    (None, "#E6E6E6"),
    (35, "#238443"),
    (40, "#78C679"),
    (45, "#C2E699"),
    (50, "#FFFFB2"),
    (55, "#FECC5C"),
    (60, "#FD8D3C"),
    (65, "#FF0909"),
    (70, "#B30622"),
    (75, "#67033B"),
    (80, "#1C0054"),
)
YLORRD_7 = ("#FFFFB2", "#FED976", "#FEB24C", "#FD8D3C", "#FC4E2A", "#E31A1C", "#B10026")
# Fixed inner breaks (6 of them: 7 classes) for units with a natural scale.
UNIT_BREAKS = {
    "h/yr": (1, 5, 10, 20, 30, 50),  # shadow flicker hours per year
    "d/yr": (1, 5, 10, 17, 30, 60),
    "mol N/ha/yr": (0.005, 0.05, 0.5, 1, 5, 10),
    "%": (10, 20, 40, 60, 80, 90),
}


def legend(unit: str, lo: float | None = None, hi: float | None = None) -> list[LegendClass]:
    """The classes a grid of ``unit`` is drawn with (``lo``/``hi``: its value range, used
    only for units without a fixed scale)."""
    if unit == "dB":
        out = []
        for i, (low, color) in enumerate(NOISE_SCHEME):
            high = NOISE_SCHEME[i + 1][0] if i + 1 < len(NOISE_SCHEME) else None
            label = (
                f"< {high} dB"
                if low is None
                else f"≥ {low} dB"
                if high is None
                else f"{low}–{high} dB"
            )
            out.append(LegendClass(low, high, color, label))
        return out
    breaks = UNIT_BREAKS.get(unit) or _nice_breaks(lo, hi)
    if breaks is None:
        return []
    bounds = [None, *breaks, None]
    suffix = f" {unit}" if unit and unit != "1" else ""
    out = []
    for i in range(len(bounds) - 1):
        low, high = bounds[i], bounds[i + 1]
        label = (
            f"< {high:g}{suffix}"
            if low is None
            else f"≥ {low:g}{suffix}"
            if high is None
            else f"{low:g}–{high:g}{suffix}"
        )
        color = YLORRD_7[round(i * (len(YLORRD_7) - 1) / max(1, len(bounds) - 2))]
        out.append(LegendClass(low, high, color, label))
    return out


def _nice_breaks(lo: float | None, hi: float | None) -> tuple[float, ...] | None:
    """Six inner breaks in rounded equal steps (1, 2, 2.5 or 5 × 10^k) over [lo, hi]."""
    if lo is None or hi is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return None
    if hi <= lo:
        return (lo,)  # one value: below and from it
    raw = (hi - lo) / 7
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    return tuple(round(start + step * i, 10) for i in range(1, 7))


def classify(values: np.ndarray, classes: list[LegendClass]) -> np.ndarray:
    """The class index of each value (-1: no value)."""
    idx = np.full(values.shape, -1, dtype=np.int16)
    finite = np.isfinite(values)
    for i, c in enumerate(classes):
        inside = finite.copy()
        if c.lower is not None:
            inside &= values >= c.lower
        if c.upper is not None:
            inside &= values < c.upper
        idx[inside] = i
    return idx


def png(g: GridData, classes: list[LegendClass]) -> bytes:
    """The grid as an RGBA PNG, one pixel per cell, north up; empty cells transparent."""
    from PIL import Image

    palette = np.zeros((len(classes) + 1, 4), dtype=np.uint8)  # last row: transparent
    for i, c in enumerate(classes):
        h = c.color.lstrip("#")
        palette[i] = (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16), 255)
    rgba = palette[classify(g.values, classes)]  # index -1 picks the transparent row
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgba), "RGBA").save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def corners_crs84(g: GridData) -> list[list[float]]:
    """The image's corners in CRS84: top left, top right, bottom right, bottom left (the
    order of a MapLibre image source). RD New is turned against north in CRS84, so all
    four are given, not a box."""
    west, south, east, north = g.bounds
    xs, ys = [west, east, east, west], [north, north, south, south]
    lon, lat = transformer(RD_NEW, "OGC:CRS84").transform(xs, ys)
    return [[round(a, 8), round(b, 8)] for a, b in zip(lon, lat, strict=True)]


__all__ = ["LegendClass", "classify", "corners_crs84", "legend", "png"]
