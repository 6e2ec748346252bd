"""The `fdiv` command line (also `python -m fdiv`). Errors: one `error:` line on stderr, exit code 2."""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from . import __version__, catalogue
from .commands import experiment as experiment_command, plot as plot_command
from .errors import FdivError
from .render import FORMATS, render


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise FdivError(f"{self.prog}: {message}")


def _params(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise FdivError(f"--param {item!r}: expected K=V, for example --param alpha=0.5")
        if key.strip() in out:
            raise FdivError(f"--param {key.strip()}: given twice")
        out[key.strip()] = value.strip()
    return out


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fdiv", description="Exact f-divergence derivations for variational divergence minimisation.")
    p.add_argument("--version", action="version", version=f"fdiv {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    ls = sub.add_parser("list", help="built-in divergences and their aliases")
    ls.add_argument("--format", choices=("text", "json"), default="text")

    d = sub.add_parser("derive", help="derive f*, dom f*, critic range, activation, T*, (f')^-1, f'(1)")
    d.add_argument("name", nargs="?", help="catalogue name or alias, or a TOML spec file")
    d.add_argument("--f", dest="expr", help="a convex f(u) with f(1) = 0, e.g. 'u*log(u)'")
    d.add_argument("--all", action="store_true", help="the whole catalogue as one table")
    d.add_argument("--param", action="append", metavar="K=V", help="parameter value (repeatable)")
    d.add_argument("--format", choices=FORMATS, default="text")
    d.add_argument("--time-limit", type=float, metavar="S", help="seconds allowed to each heavy SymPy step")

    gen = sub.add_parser("gen", help="write a torch loss module for a divergence")
    gen.add_argument("name", nargs="?", help="catalogue name or alias, or a TOML spec file")
    gen.add_argument("--f", dest="expr", help="a convex f(u) with f(1) = 0")
    gen.add_argument("--param", action="append", metavar="K=V")
    gen.add_argument("--name", dest="module", help="module name (default: the divergence's name)")
    gen.add_argument("-o", dest="out", required=True, metavar="DIR", help="an existing directory")
    gen.add_argument("--time-limit", type=float, metavar="S", help="seconds allowed to each heavy SymPy step")

    g = sub.add_parser("gauss", help="D_f between two 1-D Gaussians: closed form, else quadrature")
    g.add_argument("name", nargs="?", help="catalogue name or alias")
    g.add_argument("--f", dest="expr", help="a convex f(u) with f(1) = 0")
    g.add_argument("--param", action="append", metavar="K=V")
    g.add_argument("--p", required=True, metavar="MEAN,VAR", help="P = N(MEAN, VAR)")
    g.add_argument("--q", required=True, metavar="MEAN,VAR", help="Q = N(MEAN, VAR)")
    g.add_argument("--method", choices=("auto", "closed-form", "quadrature", "mpmath"), default="auto")
    g.add_argument("--format", choices=("text", "json"), default="text")
    g.add_argument("--time-limit", type=float, metavar="S", help="seconds allowed to each heavy SymPy step")
    check = sub.add_parser("check", help="check a claimed conjugate, domain, activation or identity")
    kinds = check.add_subparsers(dest="kind", required=True, parser_class=_Parser)
    for kind, what in (("conjugate", "f*(t), an expression in t"), ("domain", "dom f*, an interval like '(-oo, 0)'"),
                       ("activation", "sigma_f(v), an expression in v")):
        k = kinds.add_parser(kind, help=f"check a claimed {what}")
        k.add_argument("name", nargs="?", help="catalogue name or alias")
        k.add_argument("--f", dest="expr", help="a convex f(u) with f(1) = 0")
        k.add_argument("--param", action="append", metavar="K=V")
        k.add_argument("--claim", required=True, help=what)
        k.add_argument("--format", choices=("text", "json"), default="text")
        k.add_argument("--time-limit", type=float, metavar="S", help="seconds allowed to each heavy SymPy step")
    ident = kinds.add_parser("identity", help="check lhs = rhs for all real values of the free symbols")
    ident.add_argument("--lhs", required=True)
    ident.add_argument("--rhs", required=True)
    ident.add_argument("--assume", help="conditions such as 'p>0,q>0'")
    ident.add_argument("--format", choices=("text", "json"), default="text")
    ident.add_argument("--time-limit", type=float, metavar="S", help="seconds allowed to each heavy SymPy step")
    plot_command.add_parser(sub)
    experiment_command.add_parser(sub)
    return p


def _mean_var(text: str, flag: str) -> tuple[float, float]:
    parts = text.split(",")
    try:
        mean, var = (float(x) for x in parts)
    except ValueError:
        raise FdivError(f"{flag} {text!r}: expected MEAN,VAR, for example {flag} 0,1") from None
    return mean, var


_VALUE_FLAGS = ("--claim", "--lhs", "--rhs", "--f")


def _join_negative_values(argv: list[str]) -> list[str]:
    """--claim -log(1 - exp(t)) -> --claim=-log(...): argparse would read a leading '-' as an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in _VALUE_FLAGS and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(_join_negative_values(list(sys.argv[1:] if argv is None else argv)))
        if getattr(args, "time_limit", None) is not None:
            if not args.time_limit > 0:
                raise FdivError("--time-limit must be positive")
            os.environ["FDIV_TIME_LIMIT"] = str(args.time_limit)
        out = COMMANDS[args.command](args)
        code = 0
        if isinstance(out, tuple):  # (text, exit code): fdiv check
            out, code = out
    except FdivError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RecursionError:
        print("error: expression is too deeply nested", file=sys.stderr)
        return 2
    sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return code


def cmd_list(args) -> str:
    specs = catalogue.specs()
    if args.format == "json":
        return json.dumps([{"name": s.name, "aliases": list(s.aliases), "title": s.title, "f": s.f,
                            "parameters": {p.name: p.describe() for p in s.params}} for s in specs], indent=2)
    width = max(len(s.name) for s in specs)
    lines = []
    for s in specs:
        extra = f"  [{'; '.join(p.describe() + ', default ' + p.default for p in s.params)}]" if s.params else ""
        aliases = f"  (aliases: {', '.join(s.aliases)})" if s.aliases else ""
        lines.append(f"{s.name.ljust(width)}  f(u) = {s.f}{extra}{aliases}")
    return "\n".join(lines)


def cmd_derive(args) -> str:
    from .derive import derive
    from .parallel import derive_all

    chosen = sum(x is not None and x is not False for x in (args.name, args.expr, args.all or None))
    if chosen != 1:
        raise FdivError("derive: give exactly one of NAME, --f EXPR or --all")
    params = _params(args.param)
    if args.all:
        if params:
            raise FdivError("derive --all takes no --param (each entry uses its defaults)")
        return render(derive_all(), args.format, table=True)
    target = args.expr if args.expr is not None else args.name
    if args.expr is None and catalogue.find(args.name) is None and not args.name.endswith(".toml"):
        raise FdivError(f"unknown divergence {args.name!r} (see 'fdiv list', or pass an expression with --f)")
    if args.expr is not None:
        from .derive import custom_spec

        target = custom_spec(args.expr, params)
    return render([derive(target, **params)], args.format, table=False)


def cmd_gen(args) -> str:
    from pathlib import Path

    from .derive import custom_spec, derive
    from .emit import module_name, write_module

    if (args.name is None) == (args.expr is None):
        raise FdivError("gen: give exactly one of NAME or --f EXPR")
    out = Path(args.out)
    if not out.is_dir():
        raise FdivError(f"-o {args.out}: no such directory")
    params = _params(args.param)
    if args.name is not None and catalogue.find(args.name) is None and not args.name.endswith(".toml"):
        raise FdivError(f"unknown divergence {args.name!r} (see 'fdiv list', or pass an expression with --f)")
    target = custom_spec(args.expr, params) if args.expr is not None else args.name
    d = derive(target, **params)
    module_name(d, args.module)  # a bad --name fails before anything is written
    return f"wrote {write_module(d, out, args.module)}"


def cmd_gauss(args) -> str:
    from numerics.closed_forms import divergence

    if (args.name is None) == (args.expr is None):
        raise FdivError("gauss: give exactly one of NAME or --f EXPR")
    if args.name is not None and catalogue.find(args.name) is None:
        raise FdivError(f"unknown divergence {args.name!r} (see 'fdiv list', or pass an expression with --f)")
    p, q = _mean_var(args.p, "--p"), _mean_var(args.q, "--q")
    params = _params(args.param)
    if args.expr is not None:
        from .derive import custom_spec

        estimate = divergence_of_spec(custom_spec(args.expr, params), p, q, args.method, params)
    else:
        estimate = divergence(args.name, p, q, method=args.method, **params)
    if args.format == "json":
        return json.dumps(estimate.to_json())
    return f"{estimate.value!r}  (method: {estimate.method}, abs_error: {estimate.abs_error:.3g})"


def divergence_of_spec(spec, p, q, method, params):
    from numerics.quadrature import f_divergence
    from .derive import derive

    if method == "closed-form":
        raise FdivError("gauss: a user-written f has no registered closed form; use --method quadrature")
    return f_divergence(derive(spec, **params), p, q, high_precision=method == "mpmath")


def cmd_check(args) -> tuple[str, int]:
    """Exit code 0 verified, 1 refuted, 3 undecided (2, bad input, comes from main)."""
    from proofs import claims

    from .activation import V
    from .conjugate import T
    from .derive import custom_spec, derive

    if args.kind == "identity":
        verdict = claims.check_identity(args.lhs, args.rhs, args.assume)
    else:
        if (args.name is None) == (args.expr is None):
            raise FdivError(f"check {args.kind}: give exactly one of NAME or --f EXPR")
        if args.name is not None and catalogue.find(args.name) is None:
            raise FdivError(f"unknown divergence {args.name!r} (see 'fdiv list', or pass an expression with --f)")
        params = _params(args.param)
        d = derive(custom_spec(args.expr, params) if args.expr is not None else args.name, **params)
        if args.kind == "domain":
            verdict = claims.check_domain(d, args.claim)
        elif args.kind == "conjugate":
            verdict = claims.check_conjugate(d, claims.parse_claim(args.claim, T, d))
        else:
            verdict = claims.check_activation(d, claims.parse_claim(args.claim, V, d))
    text = json.dumps(verdict.to_json()) if args.format == "json" else verdict.text()
    return text, claims.EXIT_CODES[verdict.verdict]


COMMANDS = {"list": cmd_list, "derive": cmd_derive, "gen": cmd_gen, "gauss": cmd_gauss, "check": cmd_check,
            "plot": plot_command.run, "experiment": experiment_command.run}
