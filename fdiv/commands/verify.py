"""`fdiv verify`: check a function in the user's own file against fdiv's exact references.

    fdiv verify loss FILE.py:FUNC --against NAME | --f EXPR --role ROLE [--activation EXPR] [--logits LO,HI]
    fdiv verify dpo FILE.py:FUNC --against NAME | --f EXPR [--param K=V] [--convention fdiv|f-dpo-paper]
    fdiv verify fid FILE.py:FUNC [--dims D,...] [--max-dim D]
    fdiv verify gaussian-divergence FILE.py:FUNC --against NAME [--param K=V] [--dims D,...]

loss and dpo: --backend auto|torch|jax (default auto: the library the file imports; a JAX function gets jax
Arrays and its gradients come from jax.grad, with the same references, tolerances and verdicts).

Every verb: --rtol R (a looser tolerance, printed), --time-limit S (CPU seconds for importing FILE and for each
call of FUNC), --verbose (the tolerance rule in full), --format text|json.

FILE runs in a child process (fdiv.testing.isolate): its import and every call under the CPU limit, its output
captured (replayed on stderr after the report, never on stdout), and every way a call can end (any exception,
SystemExit, os._exit, a signal, a hang, a result of the wrong kind) that call's result. Exit code 0: agrees (a
complete report); 1: numerically limited or wrong (the report says which, with the ranges or the worst
counterexample); 2: bad input (a missing file or function, an import that fails, a wrong signature, a function
that gives no usable result anywhere).
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from fdiv._util.text import escape
from fdiv.errors import FdivError

_TRUST = ("Importing FILE executes its code (as 'python FILE' would), with your permissions, in a child process: "
          "verify only files you would run.")
_ROLES = ("critic_loss", "generator_loss", "generator_loss_nonsaturating", "activation", "conjugate",
          "conjugate_of_activation", "divergence_estimate", "density_ratio")
_GAUSSIAN_NAMES = ("kl", "reverse-kl", "jeffrey", "squared-hellinger", "bhattacharyya", "renyi", "pearson", "neyman",
                   "alpha", "total-variation")
DEFAULT_CALL_SECONDS = 300.0
MAX_OUTPUT_SHOWN = 8192
EXIT = {"agree": 0, "limited": 1, "wrong": 1}


def add_parser(subparsers, formatter=None) -> None:
    v = subparsers.add_parser(
        "verify", help="check your loss, DPO loss, FID or Gaussian divergence against fdiv's exact references",
        description="Check a function in your own Python file against fdiv's exact references. Exit code 0: "
                    "agrees, 1: numerically limited or wrong (with the ranges, or the worst counterexample), 2: bad "
                    "input. " + _TRUST)
    kinds = v.add_subparsers(dest="kind", required=True, parser_class=type(v))
    common = {"formatter_class": argparse.RawDescriptionHelpFormatter}

    loss = kinds.add_parser("loss", help="a torch or JAX loss piece (critic_loss, activation, ...) against a "
                                         "divergence",
                            description=f"{_TRUST}\n\nFUNC takes torch tensors (or jax Arrays), as fdiv's generated "
                                        "modules do: critic_loss(v_real, v_fake) -> scalar, activation(v) -> "
                                        "elementwise, conjugate(t), ...\n\nexamples:\n  fdiv verify loss "
                                        "mygan.py:d_loss --against gan --role critic_loss\n  fdiv verify loss "
                                        "jaxgan.py:d_loss --against gan --role critic_loss --backend jax", **common)
    _target(loss)
    loss.add_argument("--role", required=True, choices=_ROLES)
    loss.add_argument("--activation", metavar="EXPR",
                      help="your critic's activation sigma(v) if fdiv does not recognise it, e.g. "
                           "--activation='1 - 2*exp(v)'")
    loss.add_argument("--logits", metavar="LO,HI", help="compare only at logits in [LO, HI] (the verdict says so)")
    _numeric(loss)

    dpo = kinds.add_parser("dpo", help="a DPO / f-DPO preference loss against a divergence",
                           description=f"{_TRUST}\n\nFUNC(logp_w, logp_ref_w, logp_l, logp_ref_l, beta) takes four "
                                       "torch tensors of shape (N,) (log-probabilities of the chosen and rejected "
                                       "responses under the policy and the reference) and a float beta, and returns "
                                       "the per-pair losses (N,) or their mean (a tuple: its first element). kl is "
                                       "standard DPO; TRL's forward_kl is reverse-kl.\n\nexamples:\n"
                                       "  fdiv verify dpo mydpo.py:loss --against kl\n"
                                       "  fdiv verify dpo fdpo.py:alpha --against alpha --param alpha=0.3 "
                                       "--convention f-dpo-paper", **common)
    _target(dpo)
    dpo.add_argument("--convention", choices=("fdiv", "f-dpo-paper"), default="fdiv",
                     help="f-dpo-paper: --param alpha is the f-DPO paper's (f'(u) = (1 - u^-alpha)/alpha), fdiv's "
                          "1 - alpha")
    dpo.add_argument("--beta", default="0.1", metavar="B", help="the beta passed to FUNC (default 0.1)")
    dpo.add_argument("--log-ratios", "--logits", dest="logits", metavar="LO,HI",
                     help="compare only where both log-ratios log pi - log pi_ref lie in [LO, HI]")
    _numeric(dpo)

    for kind, what in (("fid", "a Frechet distance / FID function"),
                       ("gaussian-divergence", "a divergence between Gaussians")):
        g = kinds.add_parser(kind, help=f"{what}: fn(mean_p, cov_p, mean_q, cov_q) -> float",
                             description=f"{_TRUST}\n\nFUNC(mean_p, cov_p, mean_q, cov_q) gets float64 numpy "
                                         "arrays of shapes (d,), (d, d) and returns a float; it runs on built-in "
                                         "hard cases (d = 1 and d > 1, ill-conditioned, nearly equal, "
                                         + ("rank-deficient, " if kind == "fid" else "infinite, ")
                                         + "up to d = 2048).\n\nexample:\n  fdiv verify "
                                         + ("fid myfid.py:fid --dims 2,8,32,2048" if kind == "fid" else
                                            "gaussian-divergence mykl.py:kl --against kl"), **common)
        g.add_argument("target", metavar="FILE.py:FUNC")
        if kind == "gaussian-divergence":
            g.add_argument("--against", required=True,
                           help=", ".join(_GAUSSIAN_NAMES) + ", or another catalogue name")
            g.add_argument("--param", action="append", metavar="K=V", help="e.g. --param alpha=0.5 for renyi")
        g.add_argument("--max-dim", type=_int, default=2048, metavar="D", help="largest case dimension (default 2048)")
        g.add_argument("--dims", metavar="D,...", help="only the cases of these dimensions, e.g. --dims 2,8,32")
        g.add_argument("--batched", action="store_true", help="FUNC takes (B, d), (B, d, d) and returns (B,)")
        _common(g)


def _target(p) -> None:
    p.add_argument("target", metavar="FILE.py:FUNC")
    p.add_argument("--against", help="catalogue name (see 'fdiv list')")
    p.add_argument("--f", dest="expr", help="or your own f(u), e.g. 'u*log(u)'")
    p.add_argument("--param", action="append", metavar="K=V", help="parameter value (repeatable)")


def _numeric(p) -> None:
    p.add_argument("--backend", choices=("auto", "torch", "jax"), default="auto",
                   help="the library FUNC uses (default auto: the one FILE imports, else the kind of array FUNC "
                        "returns); jax: FUNC gets jax Arrays, gradients by jax.grad")
    p.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    p.add_argument("--no-gradients", action="store_true", help="compare values only")
    _common(p)


def _common(p) -> None:
    p.add_argument("--rtol", metavar="R", help="loosen the relative tolerance to R (stated in the verdict)")
    p.add_argument("--time-limit", dest="call_limit", metavar="S",
                   help=f"CPU seconds allowed to importing FILE and to each call of FUNC (default "
                        f"{DEFAULT_CALL_SECONDS:g}; a call that uses no CPU is stopped after 10x as much wall time)")
    p.add_argument("--verbose", action="store_true", help="state the tolerance rule in full")
    p.add_argument("--format", choices=("text", "json"), default="text")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


# ------------------------------------------------------------------------------------------------ validation
def validate(args) -> None:
    """Cheap checks before torch or SymPy load: the target, the names, the numbers."""
    _split_target(args.target)
    if args.kind in ("loss", "dpo"):
        if (args.against is None) == (args.expr is None):
            raise FdivError(f"verify {args.kind}: give exactly one of --against NAME or --f EXPR")
        if args.against is not None:
            from fdiv.spec.names import canonical, suggestion

            if canonical(args.against) is None:
                raise FdivError(f"unknown divergence {args.against!r}{suggestion(args.against)}")
        if args.expr is not None and len(args.expr) > 1000:
            raise FdivError(f"--f: input is {len(args.expr)} characters long; the limit is 1000")
        if args.logits is not None:
            _range(args.logits, "--logits" if args.kind == "loss" else "--log-ratios")
    if args.kind == "gaussian-divergence":
        _gaussian_name(args.against)
    if args.kind in ("fid", "gaussian-divergence"):
        if args.max_dim < 1:
            raise FdivError(f"--max-dim must be at least 1, got {args.max_dim}")
        if args.dims is not None:
            _dims(args.dims)
    if args.kind == "dpo":
        _positive(args.beta, "--beta")
    if args.kind in ("loss", "dpo"):
        from fdiv.testing.calls import backend_option

        backend_option(args.backend)  # jax without JAX installed: one line, before anything runs
    if getattr(args, "param", None):
        from .common import params

        params(args.param)
    if args.rtol is not None:
        r = _positive(args.rtol, "--rtol")
        if not r < 1:
            raise FdivError(f"--rtol {args.rtol}: expected a relative tolerance below 1")
    if args.call_limit is not None:
        _positive(args.call_limit, "--time-limit")


def _split_target(target: str) -> tuple[str, str]:
    path_text, sep, name = target.rpartition(":")
    if not sep or not path_text or not name:
        raise FdivError(f"{target!r}: expected FILE.py:FUNCTION, for example mygan.py:critic_loss")
    path = Path(path_text)
    if not path.is_file():
        raise FdivError(f"{path_text}: no such file")
    if path.suffix != ".py":
        raise FdivError(f"{path_text}: expected a Python file (.py)")
    if not name.isidentifier():
        raise FdivError(f"{name!r}: not a Python function name")
    return path_text, name


def _number(text: str, flag: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise FdivError(f"{flag} {text!r}: expected a number") from None
    if not math.isfinite(x):
        raise FdivError(f"{flag} {text!r}: expected a finite number")
    return x


def _positive(text: str, flag: str) -> float:
    x = _number(text, flag)
    if not x > 0:
        raise FdivError(f"{flag} {text}: expected a positive number")
    return x


def _range(text: str, flag: str) -> tuple[float, float]:
    parts = text.split(",")
    if len(parts) != 2:
        raise FdivError(f"{flag} {text!r}: expected LO,HI, for example {flag} -15,15")
    lo, hi = (_number(x.strip(), flag) for x in parts)
    if not lo < hi:
        raise FdivError(f"{flag} {text!r}: expected LO < HI")
    return lo, hi


def _dims(text: str) -> list[int]:
    out = []
    for part in text.split(","):
        try:
            d = int(part.strip())
        except ValueError:
            raise FdivError(f"--dims {text!r}: expected dimensions separated by commas, e.g. --dims 2,8,32") from None
        if d < 1:
            raise FdivError(f"--dims {text!r}: dimensions must be positive")
        out.append(d)
    return out


def _gaussian_name(name: str) -> None:
    import difflib

    from fdiv.spec.names import canonical

    key = name.strip().lower().replace("_", "-")
    if key in _GAUSSIAN_NAMES or key in ("hellinger", "hellinger2") or canonical(name) is not None:
        return
    if key in ("fid", "frechet", "w2"):
        raise FdivError("the Frechet distance is checked by 'fdiv verify fid'")
    if any(c in name for c in "()*+/^") or "u" in name and not key.isalpha():
        return  # an expression f(u), parsed later
    from fdiv.spec.names import aliases

    close = difflib.get_close_matches(key, [*_GAUSSIAN_NAMES, *aliases()], n=1, cutoff=0.6)
    hint = f" (did you mean {aliases().get(close[0], close[0])!r}?)" if close else \
        f" ({', '.join(_GAUSSIAN_NAMES)}, a catalogue name, or an expression f(u))"
    raise FdivError(f"unknown divergence {name!r}{hint}")


# ------------------------------------------------------------------------------------------------------- run
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _single_threaded_references() -> dict[str, str | None]:
    """fdiv's own linear algebra runs on one BLAS thread (on a busy machine idle BLAS threads spin and count as
    CPU time: 0.6 s became 6 s); the child gets the environment as it was. Returns that environment's values."""
    import os

    saved = {k: os.environ.get(k) for k in _THREAD_VARS}
    if "numpy" not in sys.modules:
        for k in _THREAD_VARS:
            os.environ[k] = "1"
    return saved


def run(args) -> tuple[str, int]:
    import os

    saved = _single_threaded_references()
    try:
        return _run(args, saved)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _run(args, saved: dict[str, str | None]) -> tuple[str, int]:
    from fdiv.testing.isolate import ChildError, ChildFunction

    validate(args)
    path, name = _split_target(args.target)
    limit = _positive(args.call_limit, "--time-limit") if args.call_limit is not None else DEFAULT_CALL_SECONDS
    kind = _array_kind(path, args.backend) if args.kind in ("loss", "dpo") else "numpy"
    child = ChildFunction(path, name, kind=kind, cpu_limit=limit, env=saved)
    try:
        try:
            child.start()
        except ChildError as exc:
            raise FdivError(str(exc)) from None
        report = _check(child, args)
    finally:
        child.close()
        _replay(child.output(), path)
    text = json.dumps(report.to_json(), indent=2) if args.format == "json" else report.text(verbose=args.verbose)
    return text, EXIT[report.outcome]


_JAX_ROOTS = ("jax", "jaxlib", "flax", "equinox", "optax", "haiku", "chex")


def _array_kind(path: str, backend: str) -> str:
    """The child's kind for array calls: the backend given, else the library FILE's import statements name (read
    with ast, nothing run); "auto" when they name neither or both (the child then looks at FUNC's module, and at
    what FUNC returns)."""
    import ast

    if backend in ("torch", "jax"):
        return backend
    try:
        tree = ast.parse(Path(path).read_bytes())
    except (SyntaxError, ValueError, OSError, RecursionError, MemoryError):
        return "auto"  # importing it will say what is wrong
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            roots.add(node.module.split(".")[0])
    jax, torch = bool(roots.intersection(_JAX_ROOTS)), "torch" in roots
    return "jax" if jax and not torch else "torch" if torch and not jax else "auto"


def _replay(output: str, path: str) -> None:
    """What the file printed, after the fact and on stderr (bounded): under one `note:` line, each line indented
    behind '  | ', so that the code under test cannot print a line that reads as fdiv's own `error:` or `note:`."""
    if not output:
        return
    shown = output if len(output) <= MAX_OUTPUT_SHOWN else output[:MAX_OUTPUT_SHOWN // 2] + \
        f"\n[... {len(output) - MAX_OUTPUT_SHOWN} characters omitted ...]\n" + output[-MAX_OUTPUT_SHOWN // 2:]
    lines = "".join(f"  | {escape(line)}\n" for line in shown.splitlines())  # no raw terminal escapes either
    try:
        sys.stderr.write(f"note: what {escape(path)} printed (stdout and stderr, captured):\n{lines}")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _check(fn, args):
    import fdiv.testing as ft

    rtol = float(args.rtol) if args.rtol is not None else None
    if args.kind == "fid":
        return ft.check_fid(fn, max_dim=args.max_dim, batched=args.batched, rtol=rtol,
                            dims=_dims(args.dims) if args.dims else None)
    params = _params(args.param)
    if args.kind == "gaussian-divergence":
        return ft.check_gaussian_divergence(fn, args.against, params=params or None, max_dim=args.max_dim,
                                            batched=args.batched, rtol=rtol,
                                            dims=_dims(args.dims) if args.dims else None)
    against = args.against if args.against is not None else args.expr
    dtypes = ("float32", "float64") if args.dtype == "both" else (args.dtype,)
    if args.kind == "dpo":
        return ft.check_dpo(fn, against, params=params or None, convention=args.convention, backend=args.backend,
                            beta=_positive(args.beta, "--beta"), dtypes=dtypes, gradients=not args.no_gradients,
                            rtol=rtol, ratio_range=_range(args.logits, "--log-ratios") if args.logits else None)
    return ft.check_loss(fn, against, role=args.role, params=params or None, activation=args.activation,
                         backend=args.backend,
                         dtypes=dtypes, gradients=not args.no_gradients, rtol=rtol,
                         logit_range=_range(args.logits, "--logits") if args.logits else None)


def _params(items) -> dict[str, str]:
    from .common import params as parse_params

    return parse_params(items)
