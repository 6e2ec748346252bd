"""`fdiv experiment mixture`: the f-GAN paper's mixture experiment (exact best fits and trained fits)."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import FdivError
from . import common


EPILOG = """examples:
  fdiv experiment mixture --no-train                       every divergence's exact best fit, no training
  fdiv experiment mixture --divergence kl reverse-kl       two divergences: best fits and trained fits
  fdiv experiment mixture --steps 500 --seed 3 -o mix.png  shorter training, another seed, and the figure
  fdiv experiment mixture --format markdown > mixture.md   the table as make figures writes it

P = 0.75 N(-0.75, 0.7^2) + 0.25 N(2.25, 0.7^2), Q = N(mu, sigma^2). theta* minimises D_f(P||Q) by quadrature
and Newton's method at 30 digits; theta-hat is an affine generator trained with the generated loss."""


def add_parser(subparsers, formatter=None) -> argparse.ArgumentParser:
    p = subparsers.add_parser("experiment", help="run an experiment (mixture: which Gaussian each divergence fits)",
                              formatter_class=formatter,
                              description="Experiments that compare divergences on exact ground truth.")
    kinds = p.add_subparsers(dest="experiment", required=True, parser_class=type(p), metavar="EXPERIMENT")
    m = kinds.add_parser("mixture", help="fit N(mu, sigma^2) to a two-component mixture, per divergence",
                         formatter_class=formatter, epilog=EPILOG,
                         description="The f-GAN paper's mixture experiment: for each divergence, the Gaussian that "
                                     "minimises D_f(P||Q) for a two-mode mixture P (exact, no sampling), and the one "
                                     "a trained f-GAN finds.")
    m.add_argument("--divergence", action="extend", nargs="+", metavar="NAME",
                   help="catalogue names (several, or the flag repeated; default: the whole catalogue)")
    m.add_argument("--no-train", action="store_true", help="exact best fits theta* only, no training")
    m.add_argument("--steps", type=int, default=2000, metavar="N", help="training steps per divergence (default 2000)")
    m.add_argument("--seed", type=int, default=0, metavar="S", help="torch seed of each training run (default 0)")
    m.add_argument("--format", choices=("text", "markdown", "json"), default="text", help=common.FORMAT_HELP)
    m.add_argument("-o", dest="out", metavar="FILE", help="also draw the figure: .png, .svg or .pdf")
    common.add_limits(m)
    return p


def run(args) -> str:
    from ..experiments import mixture

    if args.steps < 1:
        raise FdivError(f"--steps must be a positive integer, got {args.steps}")
    if not 0 <= args.seed < 2**63:
        raise FdivError(f"--seed must be in [0, 2^63), got {args.seed}")
    if args.out is not None:
        from ..plot import _matplotlib, format_of

        format_of(args.out)
        if not Path(args.out).parent.is_dir():
            raise FdivError(f"-o {args.out}: no such directory {str(Path(args.out).parent)!r}")
        _matplotlib()
    rows = mixture.run(args.divergence, train=not args.no_train, steps=args.steps, seed=args.seed)
    text = mixture.table(rows, args.format)
    if args.out is not None:
        from .. import plot

        plot.save(plot.mixture_figure(rows, mixture.DEFAULT), args.out)
    if args.format == "markdown":
        trained = "" if args.no_train else (f"; theta-hat after {args.steps} single-step updates of an affine "
                                            f"generator (seed {args.seed})")
        text = (f"P = {mixture.DEFAULT.describe()}, Q = N(mu, sigma^2); theta* = argmin D_f(P‖Q) by quadrature "
                f"and Newton's method at 30 digits{trained}.\n\n{text}")
    elif args.format == "text":  # JSON stays machine-readable
        text = f"P = {mixture.DEFAULT.describe()}\n" + text + (f"\nwrote {args.out}" if args.out else "")
    return text
