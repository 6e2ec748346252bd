"""The subcommands of `fdiv`, one module each: `add_parser(subparsers, formatter)` declares the options,
`validate(args)` (optional) checks them cheaply before anything heavy loads, `run(args)` returns the output
text or (text, exit code)."""
from __future__ import annotations

import importlib
from types import ModuleType

#: command -> module in this package, in the order `fdiv --help` lists them
COMMANDS = {"list": "listing", "derive": "derive", "gen": "gen", "gauss": "gauss", "check": "check",
            "verify": "verify", "plot": "plot", "experiment": "experiment", "proofs": "proofs"}


def load(command: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{COMMANDS[command]}")
