"""numpy twins of the rewrite rules' primitives (lower.rules), so that a lowered expression can be evaluated in
numpy, float32 or float64, as the printed torch code evaluates it: used to choose among equivalent forms by how
accurately they evaluate (lower.compose, lower.numeric) before any torch code exists."""
from __future__ import annotations

import numpy as np
import sympy as sp

from .rules import apply_rules


def _softplus(x):
    return np.logaddexp(np.zeros_like(x), x)


def _wright_omega(x):
    from scipy.special import wrightomega

    x = np.asarray(x)
    return wrightomega(x.astype(np.float64)).real.astype(x.dtype)


def _log1mexp_softplus(x, k):
    with np.errstate(all="ignore"):
        return np.where(x < -80.0, x + np.log(k), np.log(-np.expm1(-k * _softplus(np.maximum(x, -80.0)))))


def _log1mexp_ratio(x):
    """runtime._log1mexp_ratio: its series below 1e-3 (0/0 at x = 0 otherwise)."""
    x = np.asarray(x)
    small = x < 1e-3
    xs, xl = np.where(small, x, 0.0).astype(x.dtype), np.where(small, 1.0, x).astype(x.dtype)
    return np.where(small, xs * (-0.5 + xs * (1.0 / 24.0 - xs * xs / 2880.0)), np.log(-np.expm1(-xl)) - np.log(xl))


def _expit(x):
    from scipy.special import expit

    return expit(x)


HELPERS = {
    "softplus": _softplus,
    # runtime._log_softplus: x itself below -80, where softplus(x) = e^x is subnormal in float32 (2.5 % off at -100)
    "log_softplus": lambda x: np.where(x < -80.0, x, np.log(_softplus(np.maximum(x, -80.0)))),
    "log1p": np.log1p,
    "expm1": np.expm1,
    "log1mexp": lambda x: np.log(-np.expm1(x)),
    # torch.sigmoid's accuracy: 1/2 (1 + tanh(x/2)) cancels for x << 0 (a relative error of 6e-4 at x = -30)
    "sigmoid": lambda x: _expit(x),
    "log1mexp_ratio": lambda x: _log1mexp_ratio(x),
    "log1mexp_softplus": lambda x, k: _log1mexp_softplus(x, k),
    "wright_omega": _wright_omega,
    "log_wright_omega": lambda x, w: np.where(x < -80.0, x - w, np.log(w)),
    "ratio": lambda p, q: p / q,
    "hypot": np.hypot,
    "xlogx": lambda x: np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, np.abs(x)))),
    "xlog1px": lambda y: np.where(y == -1.0, 0.0, (1.0 + y) * np.log1p(np.where(y == -1.0, 0.0, y))),
    "log_gap": lambda x: np.log(np.maximum(x, np.finfo(np.asarray(x).dtype).tiny)),
}


_CACHE: dict = {}


def numpy_function(e: sp.Expr, var: sp.Symbol | tuple[sp.Symbol, ...], rules: bool = True):
    """e as a numpy function of var (or of a tuple of symbols), the rewrite rules applied first (as the printer's
    input is); remembered, since the same forms are scored and tabulated several times."""
    key = (e, var, rules)
    if key not in _CACHE:
        if len(_CACHE) > 2000:
            _CACHE.clear()
        _CACHE[key] = sp.lambdify(var, _floated(apply_rules(e) if rules else e), [HELPERS, "numpy"])
    return _CACHE[key]


def _floated(e: sp.Expr) -> sp.Expr:
    """Logs of numbers and integers past int64 as floats, as the printer writes them (one correctly rounded literal):
    lambdified, log(10^54) is numpy's log of a Python int, a TypeError (gen failed on a candidate form of f' of
    -u^(1/3)/3 + a GAN-family term)."""
    def floated(x):
        return sp.Float(sp.N(x, 30), 30)

    e = e.replace(lambda x: isinstance(x, sp.log) and x.args[0].is_Number and x.args[0].is_positive, floated)
    return e.replace(lambda x: x.is_Integer and abs(x) > 2**62, floated)
