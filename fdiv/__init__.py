"""fdiv: exact f-divergence derivations (conjugates over u >= 0, critic ranges, activations) and stable losses.

The package imports nothing heavy: `import fdiv.losses.gan` loads torch and nothing else. The derivation
engine (SymPy) loads on first use of `fdiv.derive`, `fdiv.Derivation`, `fdiv.Spec` or `fdiv.load_toml`.
"""
from __future__ import annotations

import importlib
import sys
import types

from .errors import FdivError

from ._util import __version__

__all__ = ["Derivation", "FdivError", "Spec", "derive", "load_toml", "__version__"]

_LAZY = {"derive": "derivation.engine", "Derivation": "derivation.engine", "Spec": "spec.spec", "load_toml": "spec.spec"}


class _Package(types.ModuleType):
    """`fdiv.derive` is both a submodule and the package's main function. Importing the submodule makes the
    import system set the package attribute `derive` to the module; keep the function there instead (as
    `from .derive import derive` in an eager __init__ would), and load it only when first asked for."""

    def __setattr__(self, name: str, value) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return  # the submodule stays reachable as sys.modules["fdiv.derive"]
        super().__setattr__(name, value)

    def __getattr__(self, name: str):
        if name in _LAZY:
            value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
            super().__setattr__(name, value)
            return value
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


sys.modules[__name__].__class__ = _Package
