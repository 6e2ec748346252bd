"""The code-generation stage. Takes a `Derivation`; gives a readable, deterministic Python module (torch, or JAX)
with the loss functions of the contract.

Modules: `lower` (stable rewrite rules, one printer per backend, numeric conjugates), `emit` (the module text and
its atomic write), `objectives` (other objectives built on a derivation: f-DPO)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.lazy import exports

if TYPE_CHECKING:
    from .emit import render_module, write_module

__getattr__, __dir__ = exports(__name__, {"render_module": "emit", "write_module": "emit"})
