"""`fdiv verify`: check a function in the user's own file against fdiv's exact references.

    fdiv verify loss FILE.py:FUNC --against NAME | --f EXPR --role ROLE [--activation EXPR]
    fdiv verify fid FILE.py:FUNC
    fdiv verify gaussian-divergence FILE.py:FUNC --against NAME [--param K=V]

Exit code 0: agrees; 1: disagrees (the report gives the worst counterexample: inputs, theirs, exact);
2: bad input (a missing file or function, a wrong signature, a function that raises on the simplest input).
Importing FILE runs its code, as `python FILE` would.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import sys
from pathlib import Path

from fdiv.errors import FdivError

_TRUST = ("Importing FILE executes its code (as 'python FILE' would), with your permissions: verify only files "
          "you would run.")
_ROLES = ("critic_loss", "generator_loss", "generator_loss_nonsaturating", "activation", "conjugate",
          "conjugate_of_activation", "divergence_estimate", "density_ratio")


def add_parser(subparsers, formatter=None) -> None:
    v = subparsers.add_parser(
        "verify", help="check your loss, FID or Gaussian divergence against fdiv's exact references",
        description="Check a function in your own Python file against fdiv's exact references. Exit code 0: "
                    "agrees, 1: disagrees (with the worst counterexample), 2: bad input. " + _TRUST)
    kinds = v.add_subparsers(dest="kind", required=True, parser_class=type(v))
    common = {"formatter_class": argparse.RawDescriptionHelpFormatter}

    loss = kinds.add_parser("loss", help="a torch loss piece (critic_loss, activation, ...) against a divergence",
                            description=f"{_TRUST}\n\nFUNC takes torch tensors, as fdiv's generated modules do: "
                                        "critic_loss(v_real, v_fake) -> scalar, activation(v) -> elementwise, "
                                        "conjugate(t), ...\n\nexample:\n  fdiv verify loss mygan.py:d_loss "
                                        "--against gan --role critic_loss", **common)
    loss.add_argument("target", metavar="FILE.py:FUNC")
    loss.add_argument("--against", help="catalogue name (see 'fdiv list')")
    loss.add_argument("--f", dest="expr", help="or your own f(u), e.g. 'u*log(u)'")
    loss.add_argument("--param", action="append", metavar="K=V", help="parameter value (repeatable)")
    loss.add_argument("--role", required=True, choices=_ROLES)
    loss.add_argument("--activation", metavar="EXPR",
                      help="your critic's activation sigma(v) if it is not fdiv's, e.g. --activation='-exp(-v)'")
    loss.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    loss.add_argument("--no-gradients", action="store_true", help="compare values only")
    loss.add_argument("--format", choices=("text", "json"), default="text")

    for kind, what in (("fid", "a Frechet distance / FID function"),
                       ("gaussian-divergence", "a divergence between Gaussians")):
        g = kinds.add_parser(kind, help=f"{what}: fn(mean_p, cov_p, mean_q, cov_q) -> float",
                             description=f"{_TRUST}\n\nFUNC(mean_p, cov_p, mean_q, cov_q) gets float64 numpy "
                                         "arrays of shapes (d,), (d, d) and returns a float; it runs on built-in "
                                         "hard cases (d = 1 and d > 1, ill-conditioned, nearly equal, "
                                         + ("rank-deficient, " if kind == "fid" else "infinite, ")
                                         + "up to d = 2048).\n\nexample:\n  fdiv verify "
                                         + ("fid myfid.py:fid" if kind == "fid" else
                                            "gaussian-divergence mykl.py:kl --against kl"), **common)
        g.add_argument("target", metavar="FILE.py:FUNC")
        if kind == "gaussian-divergence":
            g.add_argument("--against", required=True,
                           help="kl, reverse-kl, jeffrey, squared-hellinger, bhattacharyya, renyi, pearson, "
                                "neyman, alpha, total-variation, or another catalogue name")
            g.add_argument("--param", action="append", metavar="K=V", help="e.g. --param alpha=0.5 for renyi")
        g.add_argument("--max-dim", type=int, default=2048, metavar="D", help="largest case dimension (default 2048)")
        g.add_argument("--batched", action="store_true", help="FUNC takes (B, d), (B, d, d) and returns (B,)")
        g.add_argument("--format", choices=("text", "json"), default="text")


def load_function(target: str):
    """FILE.py:FUNC -> the function (the file's code runs on import; its prints go to stderr)."""
    path_text, sep, name = target.rpartition(":")
    if not sep or not path_text or not name:
        raise FdivError(f"{target!r}: expected FILE.py:FUNCTION, for example mygan.py:critic_loss")
    path = Path(path_text)
    if not path.is_file():
        raise FdivError(f"{path_text}: no such file")
    if path.suffix != ".py":
        raise FdivError(f"{path_text}: expected a Python file (.py)")
    module_name = f"_fdiv_verify_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise FdivError(f"{path_text}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as an import would (dataclasses and pickling look it up)
    sys.path.insert(0, str(path.resolve().parent))  # its own sibling modules
    try:
        with contextlib.redirect_stdout(sys.stderr):
            spec.loader.exec_module(module)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise FdivError(f"{path_text}: syntax error at line {exc.lineno}: {exc.msg}") from None
    except BaseException as exc:  # their module's code: any failure, SystemExit included, is one line
        sys.modules.pop(module_name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        text = str(exc).strip().splitlines()
        raise FdivError(f"importing {path_text} raised {type(exc).__name__}: {text[0][:200] if text else ''}") from None
    finally:
        sys.path.remove(str(path.resolve().parent))
    fn = getattr(module, name, None)
    if fn is None:
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == module_name)
        raise FdivError(f"{path_text} has no function {name!r}" + (f" (it defines: {', '.join(found)})" if found else ""))
    if not callable(fn):
        raise FdivError(f"{path_text}:{name} is a {type(fn).__name__}, not a function")
    return fn


def _params(items) -> dict[str, str]:
    from .common import params as parse_params

    return parse_params(items)


def run(args) -> tuple[str, int]:
    fn = load_function(args.target)
    with contextlib.redirect_stdout(sys.stderr):  # their prints must not corrupt the report (or its JSON)
        report = _check(fn, args)
    text = json.dumps(report.to_json(), indent=2) if args.format == "json" else report.text()
    return text, 0 if report.ok else 1


def _check(fn, args):
    import fdiv.testing as ft

    if args.kind == "fid":
        _positive(args.max_dim)
        return ft.check_fid(fn, max_dim=args.max_dim, batched=args.batched)
    params = _params(args.param)
    if args.kind == "gaussian-divergence":
        _positive(args.max_dim)
        return ft.check_gaussian_divergence(fn, args.against, params=params or None, max_dim=args.max_dim,
                                            batched=args.batched)
    if (args.against is None) == (args.expr is None):
        raise FdivError("verify loss: give exactly one of --against NAME or --f EXPR")
    from fdiv import catalogue

    if args.against is not None and catalogue.find(args.against) is None:
        raise FdivError(f"unknown divergence {args.against!r} (see 'fdiv list', or pass an expression with --f)")
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    return ft.check_loss(fn, args.against if args.against is not None else args.expr, role=args.role,
                         params=params or None, activation=args.activation, dtypes=dtypes,
                         gradients=not args.no_gradients)


def _positive(n: int) -> None:
    if n < 1:
        raise FdivError(f"--max-dim must be at least 1, got {n}")
