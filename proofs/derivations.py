"""fdiv's derivations, each derived once per process and shared by the proofs and the notes check.

Derived in this process (not in a worker pool): the proofs need every catalogue row, and pickling SymPy
derivations back from workers costs more CPU than it saves.
"""
from __future__ import annotations

import functools

import fdiv
from fdiv.spec import catalogue
from fdiv.derivation.engine import Derivation


@functools.cache
def _derive(name: str) -> Derivation:
    return fdiv.derive(name)


def derivation(name: str) -> Derivation:
    """The derivation of a catalogue name or alias (memoised)."""
    return _derive(catalogue.get(name).name)
