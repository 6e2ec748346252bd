"""The spec stage. Takes a catalogue name, an expression in u or a TOML file; gives a `Spec` (f as a SymPy
expression in u, declared parameters), parsed through a whitelist of the Python AST.

Modules: `parse` (the AST whitelist), `spec` (Spec, Param, TOML), `catalogue` (the built-in specs, catalogue.toml),
`names` (names and aliases without SymPy, for the command line)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from .._util.lazy import exports

if TYPE_CHECKING:
    from .spec import Param, Spec, SymbolicRange, load_toml, parse_interval

__getattr__, __dir__ = exports(__name__, {name: "spec" for name in
                                          ("Param", "Spec", "SymbolicRange", "load_toml", "parse_interval")})
