"""The registry of named divergences: data loaded from catalogue.toml, plus `register` for more."""
from __future__ import annotations

from pathlib import Path

from ..errors import SpecError
from .spec import Spec, load_toml

_REGISTRY: dict[str, Spec] = {}
_ALIASES: dict[str, str] = {}


def _key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def register(spec: Spec) -> Spec:
    """Add a spec to the registry (usable as a decorator on a function returning a Spec, or called directly)."""
    if callable(spec) and not isinstance(spec, Spec):
        spec = spec()
    for key in (spec.name, *spec.aliases):
        k = _key(key)
        if k in _ALIASES and _ALIASES[k] != spec.name:
            raise SpecError(f"name {key!r} is already taken by {_ALIASES[k]!r}")
        _ALIASES[k] = spec.name
    _REGISTRY[spec.name] = spec
    return spec


def find(name: str) -> Spec | None:
    canonical = _ALIASES.get(_key(name))
    return _REGISTRY[canonical] if canonical else None


def get(name: str) -> Spec:
    spec = find(name)
    if spec is None:
        raise SpecError(f"unknown divergence {name!r} (see 'fdiv list')")
    return spec


def names() -> list[str]:
    return list(_REGISTRY)


def specs() -> list[Spec]:
    return list(_REGISTRY.values())


for _spec in load_toml(Path(__file__).with_name("catalogue.toml")):
    register(_spec)
