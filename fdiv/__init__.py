"""fdiv: exact f-divergence derivations (conjugates over u >= 0, critic ranges, activations) and stable losses.

The package imports nothing heavy: `import fdiv.losses.gan` loads torch and nothing else. The derivation
engine (SymPy) loads on first use of `fdiv.derive`, `fdiv.Derivation`, `fdiv.Spec` or `fdiv.load_toml`
(a module-level `__getattr__`, PEP 562). The stages, in pipeline order: `fdiv.spec`, `fdiv.derivation`,
`fdiv.codegen`; the applications (`fdiv.testing`, `fdiv.train`, `fdiv.estimate`, `fdiv.plot`, the CLI) sit at
this level. docs/architecture.md has the tree and the import rule.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ._util import __version__
from ._util.lazy import exports
from .errors import FdivError

__all__ = ["Derivation", "FdivError", "Spec", "derive", "load_toml", "__version__"]

if TYPE_CHECKING:
    from .derivation.engine import Derivation, derive
    from .spec.spec import Spec, load_toml

__getattr__, __dir__ = exports(__name__, {"derive": "derivation.engine", "Derivation": "derivation.engine",
                                          "Spec": "spec.spec", "load_toml": "spec.spec"})
