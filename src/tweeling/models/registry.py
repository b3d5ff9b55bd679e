"""Finding models: the ``tweeling.models`` entry-point group, so third parties add their own
by declaring, in their package's pyproject.toml::

    [project.entry-points."tweeling.models"]
    my_model = "my_package.my_module:MyModel"
"""

from __future__ import annotations

from functools import cache
from importlib.metadata import entry_points

from tweeling.core.errors import NotFoundError, TweelingError
from tweeling.models.base import Model

GROUP = "tweeling.models"
_extra: dict[str, Model] = {}  # registered at run time (tests, notebooks)


def register(model: Model) -> None:
    """Make a model available without an entry point (for tests and notebooks)."""
    _extra[model.info.name] = model


def unregister(name: str) -> None:
    _extra.pop(name, None)


def registered() -> dict[str, Model]:
    """The models registered at run time (not through entry points)."""
    return dict(_extra)


def available() -> dict[str, Model]:
    """Every model by name: entry points first, then registered ones."""
    out = dict(_installed())
    out.update(_extra)
    return dict(sorted(out.items()))


@cache
def _installed() -> dict[str, Model]:
    """The models of the entry-point group, looked up once per process: scanning every
    installed distribution's metadata costs milliseconds, and requests ask often. A plug-in
    installed into a running server counts after its restart."""
    out: dict[str, Model] = {}
    for ep in entry_points(group=GROUP):
        model = _load(ep)
        out[model.info.name] = model
    return out


def _load(ep) -> Model:
    try:
        target = ep.load()
    except Exception as exc:  # a broken third-party plug-in must say which it is
        raise TweelingError(f"model plug-in {ep.name!r} ({ep.value}) fails to load: {exc}") from exc
    return target() if isinstance(target, type) else target


def get(name: str) -> Model:
    """One model; only its own entry point is loaded when it is named like the model, so a
    broken plug-in does not stop the others."""
    if name in _extra:
        return _extra[name]
    model = _named(name)
    if model is not None:
        return model
    models = available()
    if name not in models:
        raise NotFoundError(
            f"unknown model {name!r}; available: {', '.join(models) or 'none'} "
            "(see 'tweeling models')"
        )
    return models[name]


@cache
def _named(name: str) -> Model | None:
    """The model of the entry point called ``name``, when it names itself so (once per
    process, as :func:`_installed`)."""
    for ep in entry_points(group=GROUP, name=name):
        model = _load(ep)
        if model.info.name == name:
            return model
    return None
