"""What several subcommands share: the target (catalogue name, TOML file or --f), parameters, notes, limits."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import FdivError, SpecError
from .._text import say
from ..names import canonical, suggestion

MAX_SPEC_BYTES = 1_000_000

FORMAT_HELP = "output format"
FORMATS = ("text", "markdown", "latex", "json")  # render.FORMATS, without importing the renderer (SymPy)
PARAM_HELP = "a parameter value K=V (repeatable); exact: 0.25 means 1/4; '(1, oo)' keeps it symbolic"
TIME_HELP = "CPU seconds allowed to each heavy SymPy step (default 20; the whole command gets 10x)"
CACHE_HELP = "do not read or write the on-disk derivation cache"


def add_target(p: argparse.ArgumentParser, *, toml: bool = True) -> None:
    p.add_argument("name", nargs="?", help="catalogue name or alias" + (", or a TOML spec file" if toml else ""))
    p.add_argument("--f", dest="expr", metavar="EXPR",
                   help="your own convex f(u), e.g. 'u*log(u)' (f(1) != 0 is accepted, with a note)")
    p.add_argument("--param", action="append", metavar="K=V", help=PARAM_HELP)


def add_limits(p: argparse.ArgumentParser) -> None:
    p.add_argument("--time-limit", metavar="S", help=TIME_HELP)
    p.add_argument("--no-cache", action="store_true", help=CACHE_HELP)


def params(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise FdivError(f"--param {item!r}: expected K=V, for example --param alpha=0.5")
        if key.strip() in out:
            raise FdivError(f"--param {key.strip()}: given twice")
        out[key.strip()] = value.strip()
    if len(out) > 16:
        raise FdivError("--param: at most 16 parameters")
    return out


def check_target(args, command: str) -> None:
    """Exactly one of NAME and --f; a NAME is a catalogue entry or a readable TOML file (checked cheaply)."""
    if (args.name is None) == (args.expr is None):
        raise FdivError(f"{command}: give exactly one of NAME or --f EXPR")
    params(args.param)
    if args.expr is not None:
        if len(args.expr) > 1000:
            raise FdivError(f"--f: input is {len(args.expr)} characters long; the limit is 1000")
        return
    if args.name.endswith(".toml"):
        spec_file(args.name)
    elif canonical(args.name) is None:
        raise SpecError(f"unknown divergence {args.name!r}{suggestion(args.name)}")


def spec_file(path_text: str) -> Path:
    """A TOML spec file: a regular file (not a FIFO, device or directory) under the size cap."""
    import stat

    path = Path(path_text)
    try:
        info = path.stat()
    except OSError:
        raise SpecError(f"{path_text}: no such file") from None
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(f"{path_text}: not a regular file")
    if info.st_size > MAX_SPEC_BYTES:
        raise SpecError(f"{path_text}: larger than {MAX_SPEC_BYTES} bytes")
    return path


def target(args):
    """The Spec or name derive() takes."""
    from ..derive import custom_spec

    if args.expr is not None:
        return custom_spec(args.expr, params(args.param))
    return args.name


def derivation(args):
    from ..derive import derive

    return derive(target(args), **params(args.param))


def notes(d) -> None:
    for line in d.notes():
        say(f"note: {line}")
