"""fdiv's derivations, derived once per process (the proofs and the notes check share them)."""
from __future__ import annotations

import functools

from fdiv import catalogue
from fdiv.derive import Derivation


@functools.cache
def _all() -> dict[str, Derivation]:
    from fdiv.parallel import derive_all

    return {d.name: d for d in derive_all()}


def derivation(name: str) -> Derivation:
    return _all()[catalogue.get(name).name]
