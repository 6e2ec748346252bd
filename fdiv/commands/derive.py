"""fdiv derive: f*, dom f*, the critic range, sigma_f, T*, (f')^-1 and f'(1), with labelled self-checks."""
from __future__ import annotations

import sys

from ..errors import FdivError
from .._text import say
from . import common

EPILOG = """examples:
  fdiv derive kl                              one divergence, as text
  fdiv derive alpha --param alpha=1/2         parameters are exact: 0.25 means 1/4
  fdiv derive alpha --param "alpha=(1, oo)"   a symbolic range: the result holds for every alpha > 1
  fdiv derive --f "(u - 1)**4"                your own f
  fdiv derive --f "(sqrt(u) - 1)**4"          no closed form for (f')^-1: f* is numeric, and says so
  fdiv derive mine.toml --format json         a spec file, as the JSON contract
  fdiv derive --all --format markdown         the catalogue as one table

exit codes: 0 derived and every self-check passed; 1 a self-check failed (named on stderr); 2 bad input."""


def add_parser(sub, formatter) -> None:
    p = sub.add_parser("derive", help="derive f*, dom f*, critic range, activation, T*, (f')^-1, f'(1)",
                       formatter_class=formatter, epilog=EPILOG,
                       description="Derive the convex conjugate over u >= 0 and everything a variational "
                                   "f-divergence loss needs, exactly where SymPy can and numerically (labelled) "
                                   "where it cannot.")
    common.add_target(p)
    p.add_argument("--all", action="store_true", help="the whole catalogue")
    p.add_argument("--format", choices=common.FORMATS, default="text", help=common.FORMAT_HELP)
    common.add_limits(p)


def validate(args) -> None:
    chosen = sum(x is not None for x in (args.name, args.expr)) + bool(args.all)
    if chosen != 1:
        raise FdivError("derive: give exactly one of NAME, --f EXPR or --all")
    if args.all:
        if args.param:
            raise FdivError("derive --all takes no --param (each entry uses its defaults)")
        return
    common.check_target(args, "derive")


def run(args):
    from ..render import render

    if args.all:
        return _all(args.format)
    d = common.derivation(args)
    common.notes(d)
    return _with_self_checks([d], render([d], args.format, table=False))


def _with_self_checks(ds: list, out: str):
    """The output, and exit code 1 with the first failed self-check named on stderr if any failed."""
    failed = [(d, c) for d in ds for c in d.checks if not c.passed]
    if not failed:
        return out
    d, c = failed[0]
    say(f"error: self-check failed for {d.name}: {c.name}{': ' + c.detail if c.detail else ''}")
    return out, 1


def _all(fmt: str):
    """The catalogue table, from derivations read from the cache (each checked first) or made on all cores."""
    from ..parallel import derive_all
    from ..render import render

    ds = derive_all(progress=sys.stderr.isatty())
    return _with_self_checks(ds, render(ds, fmt, table=True))
