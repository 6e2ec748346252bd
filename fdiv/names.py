"""The catalogue's names and aliases, read straight from catalogue.toml: cheap enough to check a command
line before SymPy loads, and to suggest the name a user probably meant."""
from __future__ import annotations

import difflib
import keyword
import os
import re
import sys
import tomllib
from functools import cache
from pathlib import Path

from .errors import FdivError

CATALOGUE = Path(__file__).with_name("catalogue.toml")


def key(name: str) -> str:
    return name.strip().lower().replace("_", "-")


@cache
def aliases() -> dict[str, str]:
    """Every accepted spelling (name or alias, normalised) -> the canonical name."""
    data = tomllib.loads(CATALOGUE.read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    for table in data.get("divergence", []):
        for alias in (table["name"], *table.get("aliases", ())):
            out[key(alias)] = table["name"]
    return out


def canonical(name: str) -> str | None:
    return aliases().get(key(name))


def suggestion(name: str) -> str:
    """' (did you mean 'kl'?)' for a near miss, else a pointer to `fdiv list`."""
    close = difflib.get_close_matches(key(name), list(aliases()), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {aliases()[close[0]]!r}?)"
    return " (see 'fdiv list', or pass an expression with --f)"


#: Names Python, pytest or a build loads by themselves, wherever they sit (none of them is an installed module).
STARTUP_HOOKS = {
    "sitecustomize": "imported by Python at start-up",
    "usercustomize": "imported by Python at start-up",
    "conftest": "imported by pytest from every directory it collects",
    "setup": "a project's build script (setup.py)",
}


def module_name(base: str) -> str:
    """A generated module's name, as a safe Python module name ('-' becomes '_').

    Refused with the reason: not ASCII letters, digits and '_', a keyword, a dunder name (__init__ would replace
    a package's init), a name something loads by itself (sitecustomize, conftest, setup: STARTUP_HOOKS), or the
    name of an importable top-level module (torch, numpy, fdiv, the standard library: the file would shadow it
    for every script in that directory)."""
    if not isinstance(base, str):
        raise FdivError(f"--name: expected a string, got {type(base).__name__}")
    mod = base.replace("-", "_")
    shown = ascii(base)
    if not mod.isascii() or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", mod):
        raise FdivError(f"--name {shown}: not a usable Python module name (ASCII letters, digits and '_', "
                        "not starting with a digit)")
    mod = mod.lower()
    if keyword.iskeyword(mod) or mod in ("true", "false", "none"):
        raise FdivError(f"--name {shown}: {mod!r} is a Python keyword")
    if mod.startswith("__") or len(mod) > 64:
        raise FdivError(f"--name {shown}: not a usable module name (dunder names and names over 64 characters "
                        "are refused)")
    if mod in STARTUP_HOOKS:
        raise FdivError(f"--name {shown}: {mod!r} is {STARTUP_HOOKS[mod]}; a loss module of that name would run "
                        "where it is not imported on purpose")
    if mod in sys.stdlib_module_names or mod in sys.builtin_module_names or _installed(mod):
        raise FdivError(f"--name {shown}: {mod!r} is an importable module; a file of that name would shadow it")
    return mod


def _installed(name: str) -> bool:
    """Whether an installed top-level module has this name (the current directory does not count: a module
    fdiv wrote there before is regenerated, not refused)."""
    import importlib.util

    if name in sys.modules:
        return True
    here = {"", ".", os.getcwd()}
    saved = list(sys.path)
    sys.path[:] = [p for p in saved if p not in here]
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
    finally:
        sys.path[:] = saved
