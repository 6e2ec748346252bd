"""`fdiv plot NAME | --f EXPR [--param K=V] [--compare NAME ...] -o FILE` and `fdiv plot --history FILE.json`."""
from __future__ import annotations

import argparse
import math
from pathlib import Path

from ..errors import FdivError
from . import common


EPILOG = """examples:
  fdiv plot kl -o kl.png                                f, f*, sigma_f and T* of one divergence
  fdiv plot --f "Abs(u-1)**3" -o x.svg                  your own f
  fdiv plot gan --compare kl reverse-kl -o c.pdf        several divergences overlaid, one colour each
  fdiv plot alpha --param alpha=1/2 --u-max 6 -o a.png  parameters; the u axis runs over (0, u_max]
  fdiv plot --history run.json -o run.png               a training history saved by fdiv.train

Needs matplotlib (the optional extra fdiv[plot]). The output is byte-for-byte reproducible; bad input is one
error line and writes nothing."""


def add_parser(subparsers, formatter=None) -> argparse.ArgumentParser:
    p = subparsers.add_parser("plot", help="draw f, f*, sigma_f and T* (or a training history) to PNG/SVG/PDF",
                              formatter_class=formatter, epilog=EPILOG,
                              description="Draw four panels of a divergence: f on (0, u_max] with f(0+) and f(1) "
                                          "marked, f* on dom f* (closed ends, asymptotes, the -f(0) branch), sigma_f "
                                          "against the critic range, and T* = f'(u); or a training history.")
    common.add_target(p)
    p.add_argument("--compare", nargs="+", metavar="NAME", help="overlay these catalogue divergences (defaults)")
    p.add_argument("--history", metavar="FILE.json", help="draw a training history saved by fdiv.train")
    p.add_argument("--u-max", type=float, default=4.0, metavar="U", help="right end of the u axis (default 4)")
    p.add_argument("-o", dest="out", required=True, metavar="FILE", help="output file: .png, .svg or .pdf")
    common.add_limits(p)
    return p


def run(args) -> str:
    from .. import catalogue

    chosen = sum(x is not None for x in (args.name, args.expr, args.history))
    if chosen != 1:
        raise FdivError("plot: give exactly one of NAME, --f EXPR or --history FILE")
    if args.history is not None and (args.compare or args.param):
        raise FdivError("plot --history takes no --compare or --param")
    if not (math.isfinite(args.u_max) and args.u_max > 1):
        raise FdivError(f"--u-max must be a finite number above 1, got {args.u_max}")
    out = Path(args.out)
    from ..plot import _matplotlib, format_of

    format_of(out)
    if not out.parent.is_dir():
        raise FdivError(f"-o {args.out}: no such directory {str(out.parent)!r}")
    _matplotlib()  # a missing matplotlib is reported before any derivation runs
    from .. import plot

    if args.history is not None:
        from ..train import History

        fig = plot.history_figure(History.load(args.history))
        return f"wrote {plot.save(fig, out)}"

    from .common import params as _params
    from ..derive import custom_spec, derive

    params = _params(args.param)
    if args.name is not None and catalogue.find(args.name) is None and not args.name.endswith(".toml"):
        raise FdivError(f"unknown divergence {args.name!r} (see 'fdiv list', or pass an expression with --f)")
    for name in args.compare or []:
        if catalogue.find(name) is None:
            raise FdivError(f"--compare {name!r}: unknown divergence (see 'fdiv list')")
    target = custom_spec(args.expr, params) if args.expr is not None else args.name
    derivations = [derive(target, **params)] + [derive(name) for name in args.compare or []]
    fig = plot.divergence_figure(derivations, u_max=args.u_max)
    return f"wrote {plot.save(fig, out)}"
