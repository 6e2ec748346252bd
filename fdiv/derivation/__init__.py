"""The derivation stage. Takes a `Spec`; gives a `Derivation`: f validated (convex, finite on (0, oo)), f*(t) over
u >= 0 with its domain, the critic range, the activation, T* = f'(u), (f')^-1, self-checks (Fenchel-Young,
biconjugate), memoised on disk by a content-addressed cache.

Modules: `validate`, `conjugate`, `inverse` (numeric conjugates), `numeric` (the 30-digit second line),
`activation`, `selfcheck`, `engine` (derive, Derivation), `cache` and `cachecheck`, `published` (the paper's
tables), `render` (text, Markdown, LaTeX), `parallel` (the catalogue in worker processes)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.lazy import exports

if TYPE_CHECKING:
    from .engine import Derivation, derive

__getattr__, __dir__ = exports(__name__, {"derive": "engine", "Derivation": "engine"})
