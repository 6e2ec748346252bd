"""fdiv check: a claimed conjugate, domain, activation or identity, verified, refuted or undecided."""
from __future__ import annotations

import json

from . import common

EPILOG = """examples:
  fdiv check conjugate jensen-shannon --claim "-log(1 - exp(t))"    refuted (that is the GAN row's f*)
  fdiv check domain gan --claim "(-oo, 0]"                           refuted: 0 is not in dom f*
  fdiv check activation --f "(u - 1)**2" --claim "v"                 refuted: v = -2 leaves (-2, oo)
  fdiv check conjugate pearson --claim "Piecewise((-1, t <= -2), (t**2/4 + t, True))"   verified
  fdiv check identity --lhs "log(p*q)" --rhs "log(p) + log(q)" --assume "p>0,q>0"

exit codes: 0 verified, 1 refuted (with a counterexample), 3 undecided (with the reason), 2 bad input.
Claims use fdiv's own output grammar: Piecewise((expr, cond), ...), comparisons, & |, LambertW, tanh, oo."""


def add_parser(sub, formatter) -> None:
    check = sub.add_parser("check", help="check a claimed conjugate, domain, activation or identity",
                           formatter_class=formatter, epilog=EPILOG,
                           description="Check a formula against fdiv's derivation: verified (symbolic, or numeric "
                                       "at many points, labelled), refuted with a counterexample, or undecided.")
    kinds = check.add_subparsers(dest="kind", required=True, parser_class=type(check), metavar="KIND")
    for kind, what in (("conjugate", "f*(t), an expression in t"), ("domain", "dom f*, an interval like '(-oo, 0)'"),
                       ("activation", "sigma_f(v), an expression in v")):
        k = kinds.add_parser(kind, help=f"check a claimed {what}", formatter_class=formatter, epilog=EPILOG)
        common.add_target(k)
        k.add_argument("--claim", required=True, help=what)
        k.add_argument("--format", choices=("text", "json"), default="text", help=common.FORMAT_HELP)
        common.add_limits(k)
    ident = kinds.add_parser("identity", help="check lhs = rhs for all real values of the free symbols",
                             formatter_class=formatter, epilog=EPILOG)
    ident.add_argument("--lhs", required=True, help="left-hand side")
    ident.add_argument("--rhs", required=True, help="right-hand side")
    ident.add_argument("--assume", help="conditions such as 'p>0,q>0'")
    ident.add_argument("--format", choices=("text", "json"), default="text", help=common.FORMAT_HELP)
    common.add_limits(ident)


def validate(args) -> None:
    if args.kind != "identity":
        common.check_target(args, f"check {args.kind}")


def run(args) -> tuple[str, int]:
    """Exit code 0 verified, 1 refuted, 3 undecided (2, bad input, comes from main)."""
    from proofs import claims

    from ..activation import V
    from ..conjugate import T

    if args.kind == "identity":
        verdict = claims.check_identity(args.lhs, args.rhs, args.assume)
    else:
        d = common.derivation(args)
        if args.kind == "domain":
            verdict = claims.check_domain(d, args.claim)
        elif args.kind == "conjugate":
            verdict = claims.check_conjugate(d, claims.parse_claim(args.claim, T, d))
        else:
            verdict = claims.check_activation(d, claims.parse_claim(args.claim, V, d))
    if args.kind == "conjugate":
        # after the verdict: a bad claim is one error line, nothing else. Only a claim about f* hears the notes:
        # f(1) != 0 shifts f* (dom f* and sigma_f do not move), and a numeric conjugate is how f* was evaluated;
        # a domain or activation claim about the same divergence gets no copy of them
        common.notes(d)
    text = json.dumps(verdict.to_json()) if args.format == "json" else verdict.text()
    return text, claims.EXIT_CODES[verdict.verdict]
