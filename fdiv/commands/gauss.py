"""fdiv gauss: D_f between two 1-D Gaussians, by closed form where one is registered, else quadrature."""
from __future__ import annotations

import json
import math
import sys

from ..errors import FdivError
from .._text import say
from . import common

EPILOG = """examples:
  fdiv gauss kl --p 0,1 --q 1,2                 closed form
  fdiv gauss jsd --p 0,1 --q -0.2,2              no closed form: adaptive quadrature with its error
  fdiv gauss --f "(u - 1)**2" --p 0,5 --q 1,2    inf: chi^2 is finite only when 2 var_q - var_p > 0
  fdiv gauss js --p 0,1 --q 1,2 --method mpmath  30-digit quadrature"""


def add_parser(sub, formatter) -> None:
    p = sub.add_parser("gauss", help="D_f between two 1-D Gaussians: closed form, else quadrature",
                       formatter_class=formatter, epilog=EPILOG,
                       description="D_f(P||Q) = E_Q[f(p/q)] for P = N(mean, var), Q = N(mean, var).")
    common.add_target(p, toml=False)
    p.add_argument("--p", required=True, metavar="MEAN,VAR", help="P = N(MEAN, VAR)")
    p.add_argument("--q", required=True, metavar="MEAN,VAR", help="Q = N(MEAN, VAR)")
    p.add_argument("--method", choices=("auto", "closed-form", "quadrature", "mpmath"), default="auto",
                   help="closed form, scipy quadrature, or 30-digit mpmath quadrature (auto: closed form if any)")
    p.add_argument("--format", choices=("text", "json"), default="text", help=common.FORMAT_HELP)
    common.add_limits(p)


def mean_var(text: str, flag: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        mean, var = (float(x) for x in parts)
    except ValueError:
        raise FdivError(f"{flag} {text!r}: expected MEAN,VAR, for example {flag} 0,1") from None
    if not (math.isfinite(mean) and math.isfinite(var)):
        raise FdivError(f"{flag} {text!r}: mean and variance must be finite")
    if var <= 0:
        raise FdivError(f"{flag} {text!r}: variance must be positive")
    return mean, var


def validate(args) -> None:
    common.check_target(args, "gauss")
    if args.name is not None and args.name.endswith(".toml"):
        raise FdivError("gauss: give a catalogue name or --f EXPR")
    mean_var(args.p, "--p")
    mean_var(args.q, "--q")


def run(args) -> str:
    from numerics.closed_forms import divergence

    p, q = mean_var(args.p, "--p"), mean_var(args.q, "--q")
    params = common.params(args.param)
    if args.expr is not None:
        estimate = divergence_of_spec(common.target(args), p, q, args.method, params)
    else:
        estimate = divergence(args.name, p, q, method=args.method, **params)
    if args.format == "json":
        return json.dumps(estimate.to_json())
    return f"{estimate.value!r}  (method: {estimate.method}, abs_error: {estimate.abs_error:.3g})"


def divergence_of_spec(spec, p, q, method, params):
    """D_f by quadrature from f alone: no conjugate is needed, so every f that passes validation gets a value."""
    from numerics.generator import generator
    from numerics.quadrature import f_divergence

    if method == "closed-form":
        raise FdivError("gauss: a user-written f has no registered closed form; use --method quadrature")
    g = generator(spec, **params)
    if g.f_at_one != 0:
        say(f"note: f(1) = {g.f_at_one}, so D_f(P||P) = {g.f_at_one} and the value includes it "
            "(subtract f(1) from f to normalise)")
    return f_divergence(g, p, q, high_precision=method == "mpmath")
