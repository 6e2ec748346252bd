"""Any convex f, end to end: draw f's from a grammar, derive and generate each, and measure what a user gets.

    python benchmarks/any_f.py [--seed 0] [--count 200] [--jobs 1] [--cpu-limit 180] [--measure-limit 300]
                               [--mem-limit 4096] [--json OUT] [--only I ...] [--f EXPR ...] [--no-timing] [--cache]

Each f is a positive combination of 1 to 3 convex terms drawn with a seed (u log u, -log u, powers u^p with p > 1
or p < 0, -u^p with 0 < p < 1, (sqrt(u) - c)^2 and (sqrt(u) - 1)^4, |u - c|^k and Max(+-(u - c), 0)^k with k >= 1,
exp(a u), (u - 1)^2/(u + c) and 1/(u + c), the GAN family u log u - (u + 1) log(u + 1) with its weighted and
normalised variants, log(1 + u^2) + c u^2, sqrt(1 + u^2), (u + c) log(u + c), -log(u + c)), plus an affine term or
a normalisation (f(1) = f'(1) = 0). Every f is convex by construction and checked anyway (f'' >= 0 at 30 digits
from u = 1e-60 to 1e300, slopes rising at kinks) before it is used.

Each f runs in a child process (forked from a parent that has imported fdiv, SymPy, torch and torch._dynamo once,
as any process running fdiv does: their CPU time is printed at the end, not counted per f) under a CPU-time cap
(RLIMIT_CPU, derive + gen) and an address-space cap (RLIMIT_AS, beyond the parent's) through fdiv's API
(fdiv.derive, fdiv.emit.write_module, as `fdiv gen` does), with the on-disk derivation cache off (--cache turns it
on). It records:

- the outcome: ok, refused (an FdivError, or a failed self-check, with its message), traceback (any other
  exception), timeout (the CPU cap), oom (the memory cap), gen failure (gen refused or raised after a successful
  derive, the module does not import, or its critic_loss raises on small inputs), crash (a signal);
- derive and gen CPU seconds, the module's size, and the form of f* per branch: closed, numeric (a table and a
  fixed number of Newton steps) or numeric-64 (the 64-step bracketed Newton fallback);
- critic_loss + backward at 1e6 float32 logits (v ~ 3 N(0, 1)) against the catalogue's Jeffrey module
  (fdiv.losses.jeffrey) in the same process: the median over rounds of the CPU-time ratio (rounds interleaved,
  the first place rotating; with --jobs above 1 every other job is stopped meanwhile), and the ratio of peak
  bytes alive (every storage from its op to its free, benchmarks/memory.py);
- values and gradients of activation, conjugate_of_activation and density_ratio at the logits
  +-{0, 1, 5, 30, 100, 1000, 1e4}, and of conjugate at t = sigma_f(v) rounded to the dtype and at t = +-1e10,
  +-1e30 (both dtypes), +-1e100 and +-1e300 (float64), past any sigma_f(v) of the grid, in float32 and float64,
  against an independent reference: f*(t) = sup over u >= 0 of (u t - f(u)) and its maximiser u*, searched over u
  from 1e-60 to 1e300 (and beyond where the maximiser lies beyond) in mpmath (numerics.conjugate.SupremumSearch,
  which never inverts f'); sigma_f is the derivation's, evaluated in mpmath at 40 + 0.87 |v| digits. Exact
  gradients: sigma', u* sigma' and sigma'/f''(u*), and u* for f*(t). The derivation's critic range is checked
  against f' at u = e^-+2000 (a mismatch is the failure class "critic range").

The accuracy rule (`judge`): where the exact value is a float of the dtype, the module's value must be finite
and within rtol |exact| (rtol 1e-5 in float32, 1e-10 in float64; 10 ulps of 1 next to 0, where |exact| < 1, as in
fdiv.testing: a value that underflows or an O(1) sum that cancels to a tiny exact value is not a failure; for
conjugate(t) also fdiv.testing's conditioning 4 eps (|t| + |b|) |f*'(t)|, since t and the ends b of dom f* reach
the module rounded, and t = fl(b) is not compared when b is not a float). NaN or -inf where the exact value is
finite or +inf fails; +inf only where the exact value exceeds the dtype, and there the module must give +inf.
Gradients are not compared where f* is infinite, at a closed end of dom f* (one-sided), at an edge of a kink or
of the boundary branch, where d u*/dt is infinite, or where the maximiser is not unique (f' = t on an interval);
those points are counted (no derivative), as are points the reference cannot certify (unresolved).

It prints the distributions (median, p90, max) of every measurement, the count of each outcome and failure
class, each acceptance criterion of the any-f issue with its count, and every failing f with its seed, index and
text, reproducible with --seed S --only I (or --f "TEXT"). --no-timing skips the speed and memory ratios.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import math
import multiprocessing
import os
import random
import resource
import signal
import statistics
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("KINETO_LOG_LEVEL", "5")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

LOGITS = (0.0, 1.0, -1.0, 5.0, -5.0, 30.0, -30.0, 100.0, -100.0, 1000.0, -1000.0, 1e4, -1e4)
# conjugate(t) also at t past every sigma_f(v) of the logits (dom f* permitting): a numeric piece's table serves
# all of float64's range, and a form of f' that overflowed at u ~ 1e77 left f*(1e80) at 8e156 for 4e160, unseen at
# t = sigma_f(1e4) = 1e4. float32 takes those within its range
FAR_T = (1e10, -1e10, 1e30, -1e30, 1e100, -1e100, 1e300, -1e300)
DTYPES = ("float32", "float64")
RTOL = {"float32": 1e-5, "float64": 1e-10}
EPS = {"float32": 2.0**-23, "float64": 2.0**-52}
FLOAT_MAX = {"float32": 3.4028234663852886e38, "float64": 1.7976931348623157e308}
TINY = {"float32": 1.1754943508222875e-38, "float64": 2.2250738585072014e-308}
ROLES = ("activation", "conjugate_of_activation", "density_ratio", "conjugate")
TIMING_SIZE = 10**6

# --------------------------------------------------------------------------------------------------- grammar
_COEF = ["1/4", "1/3", "1/2", "2/3", "1", "1", "3/2", "2", "3", "5/2", "4"]
_AFFINE = ["-2", "-1", "-1/2", "1/2", "1", "2", "3"]


def _term(rng: random.Random) -> str:
    """One convex term on (0, oo)."""
    kind = rng.choices(
        ["ulogu", "neglog", "power", "negpower", "root", "sqrt", "abs", "max", "exp", "rational", "gan", "js",
         "js_weighted", "logsq", "hyperbolic", "shifted"],
        weights=[6, 5, 7, 5, 4, 5, 7, 6, 6, 6, 4, 2, 4, 4, 2, 3])[0]
    c = rng.choice(["1/2", "1", "2", "3"])
    if kind == "ulogu":
        return "u*log(u)"
    if kind == "neglog":
        return "-log(u)" if rng.random() < 0.7 else f"-log(u + {c})"
    if kind == "power":  # p > 1
        p = rng.choice(["2", "3", "4", "3/2", "5/2", "4/3", "5/4", "7/2"])
        return f"u**{p}" if "/" not in p else f"u**({p})"
    if kind == "negpower":  # p < 0
        return rng.choice(["1/u", "u**(-2)", "u**(-1/2)", "u**(-1/3)", "u**(-3/2)", f"1/(u + {c})"])
    if kind == "root":  # -u^p, 0 < p < 1
        return rng.choice(["-sqrt(u)", "-u**(1/3)", "-u**(2/3)"])
    if kind == "sqrt":
        return rng.choice([f"(sqrt(u) - {c})**2", "(sqrt(u) - 1)**2", "(sqrt(u) - 1)**4"])
    k = rng.choice(["", "", "**(3/2)", "**2", "**3"])
    if kind == "abs":
        return f"Abs(u - {c}){k}"
    if kind == "max":
        return f"Max(u - {c}, 0){k}" if rng.random() < 0.6 else f"Max({c} - u, 0){k}"
    if kind == "exp":
        a = rng.choice(["u/2", "u", "2*u", "u/4", "-u", "-u/2"])
        return f"exp({a})" if rng.random() < 0.5 else f"exp({a.replace('u', '(u - 1)')})"
    if kind == "rational":
        return f"(u - 1)**2/(u + {c})" if rng.random() < 0.75 else "(u - 1)**2/u"
    if kind == "gan":
        return "u*log(u) - (u + 1)*log(u + 1)"
    if kind == "js":
        return "u*log(u) - (u + 1)*log((u + 1)/2)"
    if kind == "js_weighted":
        p, q = rng.choice([("1/4", "3/4"), ("1/3", "2/3"), ("3/10", "7/10"), ("2/3", "1/3"), ("3/4", "1/4")])
        return f"{p}*u*log(u) - ({p}*u + {q})*log({p}*u + {q})"
    if kind == "logsq":
        return f"log(1 + u**2) + {rng.choice(['', '1/2*', '1/4*'])}u**2"
    if kind == "hyperbolic":
        return "sqrt(1 + u**2)"
    return f"(u + {c})*log(u + {c})"


def f_seed(seed: int, index: int) -> int:
    return seed * 1_000_003 + index


def draw_f(seed: int, index: int) -> str:
    """The index-th f of the campaign with this seed (each f has its own generator: --only I reproduces it)."""
    import sympy as sp

    from fdiv.spec.parse import parse
    from fdiv.spec.spec import U

    rng = random.Random(f_seed(seed, index))
    terms = []
    for _ in range(rng.choices([1, 2, 3], weights=[35, 45, 20])[0]):
        term = _term(rng)
        coef = rng.choice(_COEF)
        terms.append(term if coef == "1" else f"{coef}*({term})")
    body = " + ".join(terms).replace("+ -", "- ")
    mode = rng.choices(["plain", "affine", "normalised"], weights=[3, 3, 4])[0]
    if mode == "affine":
        a, b = rng.choice(_AFFINE), rng.choice(_AFFINE)
        return f"{body} + {a} + {b}*u".replace("+ -", "- ").replace(" 1*u", " u")
    if mode == "normalised":
        f = parse(body, {"u": U})
        c0 = _plain_constant(f.subs(U, 1))
        c1 = _plain_constant(sp.diff(f, U).subs(U, 1).replace(sp.Heaviside, lambda *a: sp.Rational(1, 2)))
        if c0.is_finite and c1.is_finite and not (c0.has(sp.zoo, sp.nan) or c1.has(sp.zoo, sp.nan)):
            return body + ("" if c0 == 0 else f" - ({c0})") + ("" if c1 == 0 else f" - ({c1})*(u - 1)")
    return body


def _plain_constant(c):
    """nsimplify's form of c, or c itself where that form is longer than 200 characters: nsimplify reads 5/2 -
    4 log 2 as a ratio of 190-digit integers times sqrt(15) 7^(1/4) (seed 2718, index 63), past what the parser
    takes (1e300)."""
    import sympy as sp

    simple = sp.nsimplify(c)
    return simple if len(str(simple)) <= 200 else c


def convexity_problem(text: str) -> str | None:
    """None when f is real and convex at 30 digits on u = 10^k, k in [-60, 300] by 1/2, and around its kinks
    (f'' >= 0 off the kinks, f' rising across them); else what is wrong (a grammar bug: the f is not used)."""
    import mpmath
    import sympy as sp

    from fdiv.spec.parse import parse
    from fdiv.spec.spec import U
    from numerics.conjugate import _kinks

    f = parse(text, {"u": U})
    kinks = [mpmath.mpf(float(c)) for c in _kinks(f, U)]
    g = f.rewrite(sp.Piecewise) if f.has(sp.Abs, sp.Max, sp.Min) else f
    d1 = sp.lambdify(U, sp.diff(g, U), "mpmath")
    d2 = sp.lambdify(U, sp.diff(g, U, 2), "mpmath")
    with mpmath.workdps(30):
        points = [mpmath.mpf(10) ** (mpmath.mpf(k) / 2) for k in range(-120, 601)]
        points += [c * (1 + s * mpmath.mpf(10) ** -e) for c in kinks for s in (-1, 1) for e in (3, 8)]
        for u in points:
            if u in kinks:  # f'' may be infinite there (|u - 1|^(3/2)); the slopes' rise is checked below
                continue
            # at 30 digits first; a negative f'' again with the digits its terms can cancel (up to u^+-6)
            for digits in (30, 30 + 6 * int(abs(mpmath.log10(u)))):
                with mpmath.workdps(digits):
                    try:
                        y = d2(+u)
                    except (ValueError, ZeroDivisionError, OverflowError):
                        return f"f'' undefined at u = {mpmath.nstr(u, 5)}"
                    if not isinstance(y, mpmath.mpc) and (y >= 0 or mpmath.isinf(y)):
                        break
            else:
                return f"f''({mpmath.nstr(u, 5)}) = {mpmath.nstr(y, 5)}"
        for c in kinks:
            eps = mpmath.mpf(10) ** -20
            if d1(c * (1 - eps)) > d1(c * (1 + eps)) + eps:
                return f"f' falls across the kink at u = {mpmath.nstr(c, 5)}"
    return None


# ------------------------------------------------------------------------------------------------ accuracy
@dataclass
class Point:
    role: str
    quantity: str  # "value" or "gradient"
    dtype: str
    x: float  # the logit v (or t for conjugate)
    v: float  # the logit it came from
    theirs: float
    exact: float | None  # None: unresolved; +-inf: beyond every dtype (or infinite)
    ok: bool
    kind: str  # "", "nan", "-inf", "overflow" (+inf where exact is finite), "finite where +inf", "inaccurate"
    rel_error: float
    near_zero: bool = False  # passed only through an allowance (10 ulps of 1 next to 0, an underflow, slack)


def judge(theirs: float, exact, dtype: str, slack: float = 0.0) -> tuple[bool, str, float, bool]:
    """(ok, failure class, relative error, passed only through an allowance) for one value; exact is an mpf, a
    float or +-inf (see the module notes for the rule); slack: a conditioning allowance the caller states."""
    big = FLOAT_MAX[dtype]
    if exact is None:
        return True, "", 0.0, False
    e = float(exact) if abs(exact) <= 1e308 else (math.inf if exact > 0 else -math.inf)
    if abs(exact) > big:  # the exact value exceeds the dtype (or is infinite): only an infinity of its sign will do
        want = math.inf if exact > 0 else -math.inf
        if theirs == want:
            return True, "", 0.0, False
        if math.isnan(theirs):
            return False, "nan", math.inf, False
        if theirs == -math.inf:
            return False, "-inf", math.inf, False
        return False, "finite where +inf" if want > 0 else "finite where -inf", math.inf, False
    if math.isnan(theirs):
        return False, "nan", math.inf, False
    if math.isinf(theirs):
        return False, "overflow" if theirs > 0 else "-inf", math.inf, False
    err = abs(theirs - e) if abs(e) > 1e-300 or e == 0 else float(abs(theirs - exact))
    rel = err / abs(e) if e != 0 else (0.0 if err == 0 else math.inf)
    strict = RTOL[dtype] * abs(e)
    allowance = 10 * EPS[dtype] if abs(e) < 1 else 0.0
    if err <= strict:
        return True, "", rel, False
    if err <= TINY[dtype] or err <= strict + allowance + slack:  # an underflow, 10 ulps of 1 next to 0, slack
        return True, "", rel, True
    return False, "inaccurate", rel, False


class Reference:
    """The exact values and gradients at the campaign's logits for one f and one activation (fdiv's sigma_f):
    f* and u* from numerics.conjugate.SupremumSearch, sigma and sigma' by mpmath at 40 + 0.87 |v| digits (e^-2|v|
    next to 1 for tanh). t = sigma(v) is then kept to 50 digits more than it takes to tell it from the nearest
    finite end of the critic range or dom f* (the derivation's `ends`, which critic_range_problem checks against
    f'); the search needs no more, and every digit costs at |v| = 1e4."""

    def __init__(self, f_text: str, activation, ends=()):
        import mpmath
        import sympy as sp

        from fdiv.derivation.activation import V
        from fdiv.spec.parse import parse
        from fdiv.spec.spec import U
        from numerics.conjugate import SupremumSearch

        self.mp = mpmath
        self.search = SupremumSearch(parse(f_text, {"u": U}), U)
        self.sigma = sp.lambdify(V, activation, "mpmath")
        self.dsigma = sp.lambdify(V, sp.diff(activation, V), "mpmath")
        self.ends = [e for e in ends if e.is_finite]
        self._sups: dict = {}

    def sup(self, t):
        key = t._mpf_
        if key not in self._sups:
            self._sups[key] = self.search.at(t)
        return self._sups[key]

    def at(self, v: float) -> dict:
        """{role: {"value": exact, "gradient": exact, "t": {dtype: t}}} at the logit v; exact None where the
        reference has no certified answer."""
        mp = self.mp
        digits = 40 + math.ceil(0.8686 * abs(v))
        with mp.workdps(digits):
            t, ds = self.sigma(mp.mpf(v)), self.dsigma(mp.mpf(v))
            t = t.real if isinstance(t, mp.mpc) else t
            ds = ds.real if isinstance(ds, mp.mpc) else ds
            close = 0
            for e in self.ends:
                b = mp.mpf(sp_N(e, digits))
                gap = abs(t - b) / (1 + abs(b))
                close = max(close, int(-mp.log10(gap)) if 0 < gap < 1 else digits if gap == 0 else 0)
        with mp.workdps(min(digits, 50 + close)):
            t_work = +t
        s = self.sup(t_work)
        out = {"activation": {"value": t, "gradient": ds}}
        value, grad, ratio, ratio_grad = _from_sup(s, ds)
        out["conjugate_of_activation"] = {"value": value, "gradient": grad}
        out["density_ratio"] = {"value": ratio, "gradient": ratio_grad}
        out["conjugate"] = {}
        for dtype in DTYPES:
            tr = _round(t, dtype)
            sr = self.sup(mp.mpf(tr)) if math.isfinite(tr) else None
            if sr is None:
                out["conjugate"][dtype] = (tr, None, None, None)
                continue
            val, grad, _, slope = _from_sup(sr, mp.mpf(1))
            out["conjugate"][dtype] = (tr, val, grad, slope)
        return out


def sp_N(e, digits: int):
    import sympy as sp

    return sp.N(e, digits + 10)


def _from_sup(s, dsigma):
    """(f*, d f*(sigma)/dv, u*, d u*(sigma)/dv) from a supremum at t = sigma(v) with sigma'(v) = dsigma."""
    import mpmath

    if s is None or s.kind == "unresolved":
        return None, None, None, None
    value, u = s.value, s.maximiser
    # no derivative where f* is infinite or at a closed end of dom f* (one-sided there), nor where the maximiser
    # is not unique
    grad = None if s.kind in ("infinite", "end") or u is None else u * dsigma
    ratio_grad = None if s.slope is None else s.slope * dsigma
    return value, grad, u, ratio_grad


def _round(t, dtype: str) -> float:
    import numpy as np

    x = float(t)
    return float(np.float32(x)) if dtype == "float32" else x


def evaluate(module, role: str, xs: list[float], dtype: str) -> tuple[list[float], list[float]] | str:
    """The module's values and gradients (d/dx of each element) at xs, or the exception it raised."""
    import torch

    x = torch.tensor(xs, dtype=getattr(torch, dtype), requires_grad=True)
    try:
        y = getattr(module, role)(x)
        if y.requires_grad:
            (g,) = torch.autograd.grad(y.sum(), x, allow_unused=True)
            g = torch.zeros_like(x) if g is None else g
        else:
            g = torch.zeros_like(x)
    except Exception as exc:  # the module's failure is the measurement
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    return y.detach().double().tolist(), g.double().tolist()


def accuracy(module, f_text: str, activation, ends=(), logits=LOGITS) -> dict:
    """Every comparison of the module against the reference at the logits (see the module notes); `ends`: the
    derivation's ends of the critic range and dom f* (they only set the precision of the reference)."""
    ref = Reference(f_text, activation, ends)
    exact = {v: ref.at(v) for v in logits}
    points: list[Point] = []
    raised: list[str] = []
    unresolved = no_derivative = 0
    for dtype in DTYPES:
        for role in ROLES:
            if role == "conjugate":
                xs = [exact[v]["conjugate"][dtype][0] for v in logits]
            else:
                xs = [_round(v, dtype) for v in logits]
            got = evaluate(module, role, xs, dtype)
            if isinstance(got, str):
                raised.append(f"{role} ({dtype}): {got}")
                continue
            values, grads = got
            for i, v in enumerate(logits):
                slack = {"value": 0.0, "gradient": 0.0}
                if role == "conjugate":
                    _, e_value, e_grad, e_slope = exact[v]["conjugate"][dtype]
                    if _at_rounded_end(ref, xs[i], dtype):
                        continue  # t = fl(b): whether t is inside dom f* depends on how b was rounded
                    slack = _conditioning(ref, xs[i], dtype, e_grad, e_slope)
                else:
                    e_value, e_grad = exact[v][role]["value"], exact[v][role]["gradient"]
                for quantity, theirs, e in (("value", values[i], e_value), ("gradient", grads[i], e_grad)):
                    if e is None:  # no certified supremum, or no derivative (at an end, an edge, a cusp)
                        unresolved += e_value is None
                        no_derivative += e_value is not None
                        continue
                    ok, kind, rel, near = judge(theirs, e, dtype, slack[quantity])
                    points.append(Point(role, quantity, dtype, xs[i], v, theirs, _as_float(e), ok, kind, rel, near))
    for dtype in DTYPES:  # conjugate(t) at t far past the logits' reach (FAR_T)
        xs = [_round(t, dtype) for t in FAR_T if abs(t) <= FLOAT_MAX[dtype]]
        got = evaluate(module, "conjugate", xs, dtype)
        if isinstance(got, str):
            raised.append(f"conjugate ({dtype}, far t): {got}")
            continue
        for t, theirs_value, theirs_grad in zip(xs, *got):
            if _at_rounded_end(ref, t, dtype):
                continue
            e_value, e_grad, _, e_slope = _from_sup(ref.sup(ref.mp.mpf(t)), ref.mp.mpf(1))
            slack = _conditioning(ref, t, dtype, e_grad, e_slope)
            for quantity, theirs, e in (("value", theirs_value, e_value), ("gradient", theirs_grad, e_grad)):
                if e is None:
                    unresolved += e_value is None
                    no_derivative += e_value is not None
                    continue
                ok, kind, rel, near = judge(theirs, e, dtype, slack[quantity])
                points.append(Point("conjugate", quantity, dtype, t, math.nan, theirs, _as_float(e), ok, kind, rel,
                                    near))
    return {"points": points, "raised": raised, "unresolved": unresolved, "no_derivative": no_derivative}


def _at_rounded_end(ref: Reference, t: float, dtype: str) -> bool:
    """Whether t is an end b of dom f* (numerically: f' at u = e^-+2000) rounded to the dtype, b not a float."""
    import numpy as np

    for b in ref.search.ends():
        if b is None:
            continue
        fb = float(b) if dtype == "float64" else float(np.float32(float(b)))
        if t == fb and ref.mp.mpf(fb) != b:
            return True
    return False


def _conditioning(ref: Reference, t: float, dtype: str, grad, slope) -> dict:
    """f*(t) takes t as a float and holds the ends of dom f* as floats: one rounding of t or of an end b moves
    t - b by eps (|t| + |b|), and f* by that times |f*'(t)| = u* (its gradient by that times |d u*/dt|), as in
    fdiv.testing's rule for conjugates."""
    ends = [abs(float(b)) for b in ref.search.ends() if b is not None]
    step = 4 * EPS[dtype] * (abs(t) + max(ends, default=0.0))
    finite = lambda x: x is not None and ref.mp.isfinite(x)  # noqa: E731
    return {"value": step * float(abs(grad)) if finite(grad) else 0.0,
            "gradient": step * float(abs(slope)) if finite(slope) else 0.0}


def _as_float(e) -> float:
    return float(e) if abs(e) <= 1.7976931348623157e308 else (math.inf if e > 0 else -math.inf)


def critic_range_problem(d) -> str | None:
    """The derivation's critic range against f'(0+) and f'(oo) read off f' at u = e^-+2000 (numerics.conjugate's
    SupremumSearch.ends, 900 digits): a finite end must match to 1e-40, an infinite one must be where f' does not
    settle."""
    import mpmath
    import sympy as sp

    from fdiv.spec.spec import U
    from numerics.conjugate import SupremumSearch

    for end, found in zip((d.critic_range.lower, d.critic_range.upper), SupremumSearch(d.f, U).ends()):
        if end.is_finite and found is None:
            return f"critic range end {end}: f' does not settle there"
        if not end.is_finite and found is not None:
            return f"critic range end {end}: f' settles at {mpmath.nstr(found, 12)}"
        if end.is_finite:
            with mpmath.workdps(60):
                b = mpmath.mpf(sp.N(end, 60))
                if abs(found - b) > mpmath.mpf(10) ** -40 * (1 + abs(b)):
                    return f"critic range end {end}: f' settles at {mpmath.nstr(found, 12)}"
    return None


# ----------------------------------------------------------------------------------------------- the child
def _cpu() -> float:
    return time.process_time()


def _forms(d, source: str) -> list[str]:
    """The form of f* on each branch: boundary/kink/smooth, closed, numeric or numeric-64 (the fallback)."""
    import re

    fallback = {int(k) for k, body in re.findall(r"def _piece(\d+)_\w+_solve\(x\):(.*?)(?=\ndef |\nclass |\Z)",
                                                   source, flags=re.S) if "_bracketed_newton(" in body}
    out, k = [], 0
    for b in d.branches:
        if b.numeric:
            out.append(f"{b.kind}:numeric-64" if k in fallback else f"{b.kind}:numeric")
            k += 1
        else:
            out.append(f"{b.kind}:closed")
    return out


def _classify_exception(exc: BaseException) -> str:
    from fdiv.errors import FdivError

    text = str(exc)
    # "error return without exception set": a C extension (gmpy2 under SymPy) whose allocation failed under the
    # address-space cap and that raised no MemoryError (seen on a busy machine, mem_limit=0)
    if isinstance(exc, MemoryError) or any(k in text for k in ("can't allocate memory", "not enough memory",
                                                                "out of memory", "error return without exception set")):
        return "oom"
    return "refused" if isinstance(exc, FdivError) else "traceback"


def _message(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    return " <- ".join(f"{Path(fr.filename).name}:{fr.lineno} {fr.name}" for fr in reversed(frames))


def build(text: str, out_dir: str, name: str) -> tuple[dict, object, object]:
    """Derive and generate through fdiv's API, timed: (record, derivation or None, module or None)."""
    import fdiv
    from fdiv.derivation.engine import custom_spec
    from fdiv.codegen.emit import write_module

    rec: dict = {"outcome": "ok", "stage": "derive"}
    start = _cpu()
    try:
        d = fdiv.derive(custom_spec(text, {}))
    except BaseException as exc:  # noqa: BLE001 - every failure is a measurement
        if isinstance(exc, KeyboardInterrupt):
            raise
        rec.update(outcome=_classify_exception(exc), message=_message(exc), where=_where(exc),
                   derive_cpu=_cpu() - start)
        return rec, None, None
    rec["derive_cpu"] = _cpu() - start
    rec["numeric"] = bool(d.numeric)
    rec["notes"] = d.notes()
    rec["critic_range"] = str(d.critic_range)
    rec["conjugate_domain"] = str(d.conjugate_domain)
    rec["activation"] = str(d.activation)
    if not d.ok:
        failed = next(c for c in d.checks if not c.passed)
        rec.update(outcome="refused", message=f"self-check failed: {failed.name}: {failed.detail}"[:300])
        return rec, d, None
    rec["stage"] = "gen"
    start = _cpu()
    try:
        path = write_module(d, out_dir, name)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        kind = _classify_exception(exc)
        rec.update(outcome="oom" if kind == "oom" else "gen failure", message=_message(exc), where=_where(exc),
                   gen_cpu=_cpu() - start)
        return rec, d, None
    rec["gen_cpu"] = _cpu() - start
    source = path.read_text()
    rec["module_bytes"] = len(source.encode())
    rec["forms"] = _forms(d, source)
    rec["stage"] = "import"
    try:
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        rec.update(outcome="gen failure", message=f"import: {_message(exc)}", where=_where(exc))
        return rec, d, None
    return rec, d, module


def smoke(module) -> str | None:
    """critic_loss and its backward pass on small inputs in both dtypes: None, or what it raised."""
    import torch

    for dtype in (torch.float32, torch.float64):
        v_real = torch.linspace(-3, 3, 7, dtype=dtype, requires_grad=True)
        v_fake = torch.linspace(-2, 4, 7, dtype=dtype, requires_grad=True)
        try:
            module.critic_loss(v_real, v_fake).backward()
        except Exception as exc:  # the module's failure is the measurement
            return f"critic_loss ({dtype}) raises {_message(exc)}"
    return None


def _steady_allocator() -> None:
    """glibc's malloc with fixed thresholds: every tensor of the timed calls comes from the heap, none is returned
    to the system between calls. With its defaults (a threshold that moves with what was freed last, and a trim of
    the heap's top), the same call of Jeffrey's loss took 16 ms or 50 ms at 1e6 logits, page faults included or
    not, from one round or process to the next; a numeric f*'s module, computed in slices of 256 KiB, did not
    move, and its ratio to Jeffrey's ranged over 1.7-5x. Fixed, both are steady, and the ratio is the one of their
    arithmetic (the slower, paging state is the one both would add to). No-op where there is no glibc."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    libc.mallopt(m_mmap_threshold, 1 << 30)
    libc.mallopt(m_trim_threshold, 1 << 30)


def speed(module, budget: float = 8.0, rounds: int = 5) -> dict:
    """critic_loss + backward at 1e6 float32 logits against fdiv.losses.jeffrey, interleaved rounds (the first
    place rotating) until `rounds` or `budget` CPU seconds, with a steady allocator (_steady_allocator); peak bytes
    alive in one call of each."""
    import torch

    _steady_allocator()

    losses, memory = _losses_benchmark(), _benchmark("memory")
    from fdiv.losses import jeffrey

    gen = torch.Generator().manual_seed(0)
    v_real = (torch.randn(TIMING_SIZE, generator=gen) * 3).requires_grad_()
    v_fake = (torch.randn(TIMING_SIZE, generator=gen) * 3).requires_grad_()
    impls = {"module": module.critic_loss, "jeffrey": jeffrey.critic_loss}
    times: dict[str, list[float]] = {k: [] for k in impls}
    for k, fn in impls.items():  # warm-up
        losses.timed(fn, v_real, v_fake, lambda: None)
    start = _cpu()
    order = list(impls)
    for r in range(rounds):
        for k in order[r % 2:] + order[:r % 2]:
            times[k].append(losses.timed(impls[k], v_real, v_fake, lambda: None))
        if _cpu() - start > budget:
            break
    ratio = statistics.median(a / b for a, b in zip(times["module"], times["jeffrey"]))
    mem = memory.peak_bytes(impls["module"], v_real, v_fake) / max(memory.peak_bytes(impls["jeffrey"], v_real,
                                                                                    v_fake), 1)
    return {"time_ratio": ratio, "mem_ratio": mem, "module_seconds": statistics.median(times["module"]),
            "jeffrey_seconds": statistics.median(times["jeffrey"]), "rounds": len(times["module"])}


def _losses_benchmark():
    return _benchmark("losses")


def _benchmark(name: str):
    """A sibling script of benchmarks/ as a module (they import each other by bare name)."""
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def measure(text: str, d, module, timing: bool, quiet=contextlib.nullcontext) -> dict:
    """Accuracy (always) and speed (when timing, inside `quiet()`: see child) of a built module."""
    rec: dict = {}
    problem = smoke(module)
    if problem:
        rec.update(outcome="gen failure", message=problem)
        return rec
    rec["critic_range_problem"] = critic_range_problem(d)
    start = _cpu()
    ends = (d.critic_range.lower, d.critic_range.upper, d.conjugate_domain.lower, d.conjugate_domain.upper)
    acc = accuracy(module, text, d.activation, ends)
    rec["reference_cpu"] = _cpu() - start
    points = acc["points"]
    rec["raised"] = acc["raised"]
    rec["unresolved"] = acc["unresolved"]
    rec["no_derivative"] = acc["no_derivative"]
    rec["compared"] = len(points)
    rec["failures"] = [asdict(p) for p in points if not p.ok]
    rec["near_zero"] = sum(p.near_zero for p in points)
    for dtype in DTYPES:
        rels = [p.rel_error for p in points if p.dtype == dtype and p.ok and not p.near_zero]
        rec[f"max_rel_error_{dtype}"] = max(rels or [0.0])
    if timing:
        try:
            with quiet():
                rec["speed"] = speed(module)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            rec["speed_error"] = f"{_classify_exception(exc)}: {_message(exc)}"
    return rec


def _limit_memory(extra_mb: int) -> None:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[0])
    base = pages * os.sysconf("SC_PAGE_SIZE")
    cap = base + extra_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


@contextlib.contextmanager
def _quiet(conn):
    """The speed measurement with every other job stopped (run's side of it: SIGSTOP, then "go"): beside another
    job's SymPy work, a numeric piece's float64 solve slowed more than Jeffrey's memory-bound loss did (2.3x Jeffrey's
    time alone, 3.2x beside a busy core, for the same module), so ratios measured with --jobs 2 were not those of
    the module."""
    conn.send(("quiet", None))
    conn.recv()
    try:
        yield
    finally:
        conn.send(("loud", None))


def child(conn, text: str, options: dict) -> None:
    """One f in a forked child: build under the CPU cap, then measure under its own (the soft limit raised)."""
    try:
        import torch

        torch.set_num_threads(1)
        if not options.get("cache"):
            os.environ["FDIV_NO_CACHE"] = "1"
        cpu, measure_cpu = options["cpu_limit"], options["measure_limit"]
        resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(cpu), math.ceil(cpu + measure_cpu) + 5))
        _limit_memory(options["mem_limit"])
        with tempfile.TemporaryDirectory() as out:
            rec, d, module = build(text, out, "any_f_module")
            conn.send(("build", rec))
            if module is not None:
                used = _cpu()
                resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(used + measure_cpu), math.ceil(cpu + measure_cpu) + 5))
                conn.send(("measure", measure(text, d, module, options["timing"], lambda: _quiet(conn))))
    except BaseException as exc:  # noqa: BLE001 - a failure of the harness itself, reported as such
        try:
            conn.send(("harness", {"message": _message(exc), "where": _where(exc),
                                   "oom": isinstance(exc, MemoryError)}))
        except Exception:  # noqa: BLE001
            pass
    finally:
        conn.close()
        os._exit(0)


# ------------------------------------------------------------------------------------------------ the parent
@dataclass
class Record:
    label: str  # "seed S index I" or "--f"
    seed: int | None
    index: int | None
    f: str
    outcome: str = "ok"
    stage: str = ""
    message: str = ""
    build: dict = field(default_factory=dict)
    measure: dict = field(default_factory=dict)

    @property
    def accuracy_failures(self) -> list[dict]:
        """The failing points of the issue's grid (the logits, and conjugate at sigma_f of them)."""
        return [p for p in self.measure.get("failures", []) if not math.isnan(p["v"])]

    @property
    def far_failures(self) -> list[dict]:
        """The failing points of conjugate(t) at FAR_T, past the grid: reported, not an acceptance criterion."""
        return [p for p in self.measure.get("failures", []) if math.isnan(p["v"])]

    def failure_classes(self) -> list[str]:
        """Every way this f fails the issue's criteria (empty: it passes)."""
        out = []
        if self.outcome != "ok":
            out.append(self.outcome)
        if self.measure.get("raised"):
            out.append("module raises")
        for p in self.accuracy_failures:
            out.append(f"accuracy: {p['kind']}")
        if self.measure.get("critic_range_problem"):
            out.append("critic range")
        b = self.build
        if b.get("module_bytes", 0) > 100_000:
            out.append("module > 100 KB")
        if b.get("derive_cpu", 0) + b.get("gen_cpu", 0) > 10:
            out.append("derive + gen > 10 s")
        speed = self.measure.get("speed")
        if speed and speed["time_ratio"] > 3:
            out.append("time > 3x Jeffrey")
        if speed and speed["mem_ratio"] > 2:
            out.append("memory > 2x Jeffrey")
        if self.measure.get("speed_error"):  # e.g. oom: critic_loss at 1e6 logits exceeds the memory cap
            out.append(f"1e6 logits: {self.measure['speed_error'].split(':')[0]}")
        return sorted(set(out), key=out.index)

    def reproduce(self) -> str:
        if self.seed is not None:
            return f"python benchmarks/any_f.py --seed {self.seed} --only {self.index}"
        return f"python benchmarks/any_f.py --f {json.dumps(self.f)}"


def preload() -> float:
    """Import, once in the parent (every child inherits them), what any process running fdiv imports once: fdiv,
    SymPy, torch, and torch._dynamo, which torch loads on the first use of a TorchDispatchMode (`fdiv gen` counts a
    loss's peak memory under one: codegen.memory), about 1 s of CPU. The CPU seconds it took: a per-process cost,
    printed beside the distributions and not counted in any f's derive or gen time."""
    start = time.process_time()
    import fdiv.derivation.engine  # noqa: F401
    import fdiv.codegen.emit  # noqa: F401
    import numerics.conjugate  # noqa: F401
    import torch  # noqa: F401
    import torch._dynamo  # noqa: F401

    return time.process_time() - start


def run(items: list[tuple[str, int | None, int | None, str]], *, jobs: int = 1, cpu_limit: float = 180.0,
        measure_limit: float = 300.0, mem_limit: int = 4096, timing: bool = True, cache: bool = False,
        progress=None) -> list[Record]:
    """Build and measure each (label, seed, index, f) in its own forked child, `jobs` at a time."""
    preload()

    ctx = multiprocessing.get_context("fork")
    options = {"cpu_limit": cpu_limit, "measure_limit": measure_limit, "mem_limit": mem_limit, "timing": timing,
               "cache": cache}
    wall_limit = 4 * (cpu_limit + measure_limit) + 120  # a child that sleeps (a lock, a pipe) is stopped too
    pending = list(items)
    running: dict = {}
    records: list[Record] = []
    quiet = _Quiet(running)
    try:
        while pending or running:
            while pending and len(running) < max(1, jobs):
                label, seed, index, text = pending.pop(0)
                recv, send = ctx.Pipe(duplex=True)
                proc = ctx.Process(target=child, args=(send, text, options), daemon=True)
                proc.start()
                send.close()
                running[proc.sentinel] = (proc, recv, Record(label, seed, index, text), time.monotonic(), [])
                quiet.hold(proc.sentinel)  # a new job starts stopped while another is timed
            ready = wait([*running, *(r[1] for r in running.values())], timeout=5)
            for key, (proc, recv, rec, started, msgs) in list(running.items()):
                quiet.read(key, recv, msgs)
                # a job stopped while another is timed is not overdue for it
                overdue = time.monotonic() - started - quiet.stopped_for(key) > wall_limit
                if key in ready or overdue or not proc.is_alive():
                    if overdue and proc.is_alive():
                        proc.kill()
                    quiet.release(key)
                    proc.join()
                    quiet.read(key, recv, msgs)
                    recv.close()
                    _finish(rec, msgs, proc.exitcode, overdue)
                    records.append(rec)
                    del running[key]
                    quiet.forget(key)
                    if progress:
                        progress(rec)
            quiet.grant()
    finally:
        quiet.resume_all()  # a stopped child would never see the SIGTERM that ends it
    order = {(it[0], it[2]): k for k, it in enumerate(items)}
    return sorted(records, key=lambda r: order.get((r.label, r.index), 0))


class _Quiet:
    """The parent's side of child's _quiet: one job at a time is timed, every other running job stopped (SIGSTOP)
    meanwhile and continued after; the time a job spends stopped does not count towards its wall-clock limit."""

    def __init__(self, running: dict):
        self.running = running
        self.owner = None  # the job being timed
        self.queue: list = []  # jobs waiting to be timed
        self.since: float | None = None
        self.stopped: dict = {}  # key -> seconds stopped so far

    def read(self, key, conn, msgs: list) -> None:
        """The job's messages into msgs, its requests to be timed and its ends of timing handled here."""
        while True:
            try:
                if not conn.poll():
                    return
                msg = conn.recv()
            except (EOFError, OSError):
                return
            if msg[0] == "quiet":
                self.queue.append(key)
            elif msg[0] == "loud":
                self.release(key)
            else:
                msgs.append(msg)

    def grant(self) -> None:
        if self.owner is not None or not self.queue:
            return
        self.owner = self.queue.pop(0)
        self.since = time.monotonic()
        for key in self.running:
            if key != self.owner:
                self._signal(key, signal.SIGSTOP)
        try:
            self.running[self.owner][1].send("go")
        except (OSError, ValueError):
            self.release(self.owner)

    def hold(self, key) -> None:
        if self.owner is not None and key != self.owner:
            self._signal(key, signal.SIGSTOP)

    def release(self, key) -> None:
        if key != self.owner:
            return
        elapsed = time.monotonic() - (self.since or time.monotonic())
        for other in self.running:
            if other != key:
                self.stopped[other] = self.stopped.get(other, 0.0) + elapsed
        self.owner, self.since = None, None
        self.resume_all()

    def forget(self, key) -> None:
        self.queue = [k for k in self.queue if k != key]
        self.stopped.pop(key, None)

    def stopped_for(self, key) -> float:
        extra = time.monotonic() - self.since if self.owner is not None and key != self.owner else 0.0
        return self.stopped.get(key, 0.0) + extra

    def resume_all(self) -> None:
        for key in self.running:
            self._signal(key, signal.SIGCONT)

    def _signal(self, key, sig) -> None:
        try:
            os.kill(self.running[key][0].pid, sig)
        except (ProcessLookupError, KeyError, TypeError):
            pass


def _finish(rec: Record, msgs: list, exitcode: int | None, overdue: bool) -> None:
    for stage, data in msgs:
        if stage == "build":
            rec.build = data
        elif stage == "measure":
            rec.measure = data
        else:
            rec.outcome = "oom" if data.get("oom") else "traceback"
            rec.stage, rec.message = "harness", f"{data['message']} at {data['where']}"
            return
    b = rec.build
    if not b:
        rec.stage = "derive"
    else:
        rec.outcome, rec.stage, rec.message = b.get("outcome", "ok"), b.get("stage", ""), b.get("message", "")
        if rec.outcome == "ok":
            rec.stage = "measure"
            m = rec.measure
            if m.get("outcome"):
                rec.outcome, rec.message = m["outcome"], m.get("message", "")
    got_all = b and (b.get("outcome") != "ok" or rec.measure)
    if got_all:
        return
    signal_name = ""
    if exitcode is not None and exitcode < 0:
        try:
            signal_name = signal.Signals(-exitcode).name
        except ValueError:
            signal_name = f"signal {-exitcode}"
    if overdue:
        rec.outcome, rec.message = "timeout", "wall-clock limit"
    elif signal_name in ("SIGXCPU", "SIGKILL"):
        rec.outcome, rec.message = "timeout", f"CPU limit ({signal_name})"
    else:
        rec.outcome, rec.message = "crash", f"child ended with {signal_name or exitcode}"
    if rec.stage == "measure":  # the module was built: a timeout or crash while measuring it
        rec.message = f"while measuring: {rec.message}"


# ------------------------------------------------------------------------------------------------ the report
def quantiles(xs: list[float]) -> str:
    xs = sorted(x for x in xs if x is not None and not math.isnan(x))
    if not xs:
        return "n = 0"
    p90 = xs[min(len(xs) - 1, math.ceil(0.9 * len(xs)) - 1)]
    return f"median {_g(statistics.median(xs))}, p90 {_g(p90)}, max {_g(xs[-1])} (n = {len(xs)})"


def _g(x: float) -> str:
    if x == math.inf:
        return "inf"
    return f"{x:.3g}"


def summary(records: list[Record]) -> str:
    lines = []
    n = len(records)
    outcomes: dict[str, int] = {}
    for r in records:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    lines.append(f"{n} f's: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items(), key=lambda x: -x[1])))
    built = [r for r in records if r.build.get("gen_cpu") is not None]
    b = [r.build for r in records]
    lines.append("")
    lines.append("distributions (median, p90, max):")
    lines.append(f"  derive CPU s          {quantiles([x['derive_cpu'] for x in b if 'derive_cpu' in x])}")
    lines.append(f"  gen CPU s             {quantiles([x['gen_cpu'] for x in b if 'gen_cpu' in x])}")
    lines.append(f"  derive + gen CPU s    {quantiles([x['derive_cpu'] + x['gen_cpu'] for x in b if 'gen_cpu' in x])}")
    lines.append(f"  module KB             {quantiles([x['module_bytes'] / 1000 for x in b if 'module_bytes' in x])}")
    speeds = [r.measure.get("speed") for r in records if r.measure.get("speed")]
    if speeds:
        lines.append(f"  time / Jeffrey        {quantiles([s['time_ratio'] for s in speeds])}")
        lines.append(f"  peak memory / Jeffrey {quantiles([s['mem_ratio'] for s in speeds])}")
    measured = [r.measure for r in records if "compared" in r.measure]
    for dtype in DTYPES:
        lines.append(f"  max rel. error {dtype} (points within the rule, not next to 0) "
                     f"{quantiles([m[f'max_rel_error_{dtype}'] for m in measured])}")
    lines.append(f"  reference CPU s       {quantiles([m['reference_cpu'] for m in measured])}")
    lines.append(f"  compared points per f {quantiles([m['compared'] for m in measured])}; unresolved per f "
                 f"{quantiles([m['unresolved'] for m in measured])}; passed only next to 0 per f "
                 f"{quantiles([m['near_zero'] for m in measured])}")
    forms: dict[str, int] = {}
    for r in built:
        for fm in r.build.get("forms", []):
            forms[fm] = forms.get(fm, 0) + 1
    per_f = {"closed": 0, "numeric": 0, "numeric-64": 0}
    for r in built:
        fs = r.build.get("forms", [])
        key = "numeric-64" if any(x.endswith("numeric-64") for x in fs) else \
            "numeric" if any(x.endswith("numeric") for x in fs) else "closed"
        per_f[key] += 1
    lines.append("")
    lines.append("form of f* (per f, the least closed branch): " + ", ".join(f"{k} {v}" for k, v in per_f.items()))
    lines.append("branches: " + ", ".join(f"{k} {v}" for k, v in sorted(forms.items())))
    classes: dict[str, int] = {}
    for r in records:
        for c in r.failure_classes():
            classes[c] = classes.get(c, 0) + 1
    lines.append("")
    lines.append("failure classes (f's with at least one): " +
                 (", ".join(f"{k} {v}" for k, v in sorted(classes.items(), key=lambda x: -x[1])) or "none"))
    lines.append("")
    lines.append("acceptance (the any-f issue):")
    tb = sum(r.outcome == "traceback" for r in records)
    refused = sum(r.outcome == "refused" for r in records)
    genf = sum(r.outcome == "gen failure" for r in records)
    acc = sum(any(c.startswith("accuracy") for c in r.failure_classes()) or bool(r.measure.get("raised"))
              for r in records)
    dg = [x["derive_cpu"] + x["gen_cpu"] for x in b if "gen_cpu" in x]
    over10 = sum(x > 10 for x in dg) + sum(r.outcome == "timeout" and r.stage in ("derive", "gen") for r in records)
    p90 = sorted(dg)[min(len(dg) - 1, math.ceil(0.9 * len(dg)) - 1)] if dg else math.nan
    big = sum(x.get("module_bytes", 0) > 100_000 for x in b)
    lines.append(f"  tracebacks {tb}, refusals {refused}, gen failures {genf} (want 0 each)")
    lines.append(f"  f's with an accuracy failure (or a role that raises) {acc} (want 0)")
    far = [r for r in records if r.far_failures]
    lines.append(f"  past the grid (conjugate at t = +-1e10 ... +-1e300, not a criterion of the issue): {len(far)} "
                 f"f's with a failing point" + (f" ({', '.join(sorted({p['kind'] for r in far for p in r.far_failures}))})"
                                               if far else ""))
    lines.append(f"  derive + gen > 10 s CPU (or timed out) {over10} (want 0); p90 {_g(p90)} s (want <= 4)")
    lines.append(f"  modules > 100 KB {big} (want 0)")
    if speeds:
        tr = [s["time_ratio"] for s in speeds]
        mr = [s["mem_ratio"] for s in speeds]
        lines.append(f"  time / Jeffrey > 3: {sum(x > 3 for x in tr)} (want 0), median {_g(statistics.median(tr))} "
                     f"(want <= 1.5); peak memory / Jeffrey > 2: {sum(x > 2 for x in mr)} (want 0)")
    failing = [r for r in records if r.failure_classes()]
    if failing:
        lines.append("")
        lines.append(f"failing f's ({len(failing)}):")
        for r in failing:
            lines.append(f"- [{r.label}] {r.f}")
            lines.append(f"    {'; '.join(r.failure_classes())}" + (f" at {r.stage}" if r.outcome != "ok" else ""))
            if r.message:
                lines.append(f"    {r.message[:300]}")
            for text in r.measure.get("raised", [])[:2]:
                lines.append(f"    raises: {text[:200]}")
            for p in r.accuracy_failures[:4]:
                lines.append(f"    {p['role']} {p['quantity']} {p['dtype']} at "
                             f"{'t' if p['role'] == 'conjugate' else 'v'} = {p['x']:.9g} (v = {p['v']:g}): "
                             f"{p['theirs']!r}, exact {p['exact']!r} ({p['kind']})")
            if len(r.accuracy_failures) > 4:
                lines.append(f"    ... {len(r.accuracy_failures) - 4} more failing points")
            if r.measure.get("critic_range_problem"):
                lines.append(f"    {r.measure['critic_range_problem']}")
            if r.measure.get("speed"):
                sp_ = r.measure["speed"]
                lines.append(f"    time x{sp_['time_ratio']:.2f} Jeffrey, peak memory x{sp_['mem_ratio']:.2f}; "
                             f"forms {'/'.join(r.build.get('forms', []))}")
            if r.measure.get("speed_error"):
                lines.append(f"    speed: {r.measure['speed_error']}")
            lines.append(f"    reproduce: {r.reproduce()}")
    far = [r for r in records if r.far_failures]
    if far:
        lines.append("")
        lines.append(f"past the grid: conjugate(t) at t = +-1e10 ... +-1e300 ({len(far)} f's):")
        for r in far:
            p = r.far_failures[0]
            lines.append(f"- [{r.label}] {len(r.far_failures)} points, e.g. {p['quantity']} {p['dtype']} at t = "
                         f"{p['x']:.9g}: {p['theirs']!r}, exact {p['exact']!r} ({p['kind']})")
    return "\n".join(lines)


def _progress_line(r: Record) -> str:
    b, m = r.build, r.measure
    parts = [f"[{r.label}]", r.outcome]
    if "derive_cpu" in b:
        parts.append(f"derive {b['derive_cpu']:.1f}s")
    if "gen_cpu" in b:
        parts.append(f"gen {b['gen_cpu']:.1f}s {b.get('module_bytes', 0) / 1000:.0f}KB")
    if b.get("forms"):
        parts.append("/".join(b["forms"]))
    if "speed" in m:
        parts.append(f"x{m['speed']['time_ratio']:.2f} jeffrey, mem x{m['speed']['mem_ratio']:.2f}")
    if "speed_error" in m:
        parts.append(f"speed: {m['speed_error'][:80]}")
    if r.outcome != "ok" and r.message:
        parts.append(f"({r.message[:100]})")
    if "compared" in m:
        parts.append(f"{len(r.accuracy_failures)} of {m['compared']} points fail"
                     + (f" (and {len(r.far_failures)} past the grid)" if r.far_failures else ""))
    return " ".join(parts) + f"  {r.f}"


def items_for(seed: int, count: int, only: list[int] | None = None) -> list[tuple[str, int, int, str]]:
    """(label, seed, index, f) for the campaign; an index whose f fails the convexity check is skipped (printed)."""
    out = []
    for i in (only if only is not None else range(count)):
        text = draw_f(seed, i)
        problem = convexity_problem(text)
        if problem:
            print(f"grammar: seed {seed} index {i} gives a non-convex f ({problem}): {text}", file=sys.stderr)
            continue
        out.append((f"seed {seed} index {i}", seed, i, text))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--only", type=int, nargs="+", metavar="I", help="only these indices of the seed's draw")
    parser.add_argument("--f", dest="fs", action="append", metavar="EXPR", help="an f of your own (repeatable)")
    parser.add_argument("--cpu-limit", type=float, default=180.0, help="CPU seconds for derive + gen per f")
    parser.add_argument("--measure-limit", type=float, default=300.0,
                        help="CPU seconds for the accuracy and speed measurements per f")
    parser.add_argument("--mem-limit", type=int, default=4096,
                        help="MiB of address space a child may add to the parent's (RLIMIT_AS)")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--json", metavar="OUT", help="write every record as JSON")
    parser.add_argument("--no-timing", action="store_true", help="skip the speed and memory ratios")
    parser.add_argument("--cache", action="store_true", help="use the on-disk derivation cache")
    args = parser.parse_args(argv)
    if args.fs:
        items = [("--f", None, None, f) for f in args.fs]
    else:
        items = items_for(args.seed, args.count, args.only)
    imports = preload()
    start, cpu_start = time.monotonic(), resource.getrusage(resource.RUSAGE_CHILDREN)
    done: list[Record] = []

    def progress(r: Record) -> None:
        print(_progress_line(r), flush=True)
        done.append(r)
        if args.json:  # after every f, so that an interrupted run keeps what it measured
            _write_json(args.json, done)

    records = run(items, jobs=args.jobs, cpu_limit=args.cpu_limit, measure_limit=args.measure_limit,
                  mem_limit=args.mem_limit, timing=not args.no_timing, cache=args.cache, progress=progress)
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print()
    print(summary(records))
    print()
    print(f"wall {time.monotonic() - start:.0f} s, children's CPU "
          f"{usage.ru_utime + usage.ru_stime - cpu_start.ru_utime - cpu_start.ru_stime:.0f} s, jobs {args.jobs}; "
          f"imports once in the parent (fdiv, SymPy, torch, torch._dynamo; not in any f's time) {imports:.1f} s CPU")
    if args.json:
        _write_json(args.json, records)
    return 0


def _write_json(path: str, records: list[Record]) -> None:
    data = [{**asdict(r), "failure_classes": r.failure_classes(), "reproduce": r.reproduce()} for r in records]
    tmp = Path(f"{path}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
