"""Generated catalogue modules against a high-precision evaluation of the same mathematics.

For each module, at the logits the issue lists, in float32 and float64: activation, conjugate_of_activation
and density_ratio, values and gradients (and conjugate at t = activation(v) as the dtype rounds it), against mpmath evaluating the derivation's exact expressions
(sigma_f, f* composed with it, (f')^-1 composed with it) at a precision that grows with |v| (exp(-|v|) must
not vanish next to 1), confirmed by a second precision 20 digits higher. Where the exact value is finite and
representable in the dtype, the result must be finite and within 1e-5 (float32) / 1e-11 (float64) relative,
or within 10 ulps of 1 in absolute terms near 0.
"""
from __future__ import annotations

import functools
import math
import importlib
import importlib.util

import mpmath
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import fdiv
from fdiv import catalogue
from fdiv.activation import V
from fdiv.conjugate import T
from fdiv.emit import module_name, write_module
from fdiv.numeric import mp_function

LOGITS = [0.0, 1.0, -1.0, 20.0, -20.0, 50.0, -50.0, 88.7, -88.7, 100.0, -100.0, 1000.0, -1000.0, 1e4, -1e4]
TOL = {torch.float32: 1e-5, torch.float64: 1e-11}



@functools.cache
def exact_functions(name: str):
    d = fdiv.derive(name)
    out = {}
    for key, outer in (("activation", None), ("conjugate_of_activation", d.conjugate),
                       ("density_ratio", d.ratio_from_critic)):
        expr = d.activation if outer is None else outer.subs(T, d.activation)
        grad = sp.diff(expr, V).replace(sp.DiracDelta, lambda *args: sp.S.Zero)  # d|x|/dx: zero off x = 0
        out[key] = (mp_function(expr, V), mp_function(grad, V))
    return out


@functools.cache
def conjugate_functions(name: str):
    """f*, f*' and f*'' in t, and the finite ends of dom f* (whose rounded constants the module subtracts)."""
    d = fdiv.derive(name)
    derivs = [d.conjugate, sp.diff(d.conjugate, T), sp.diff(d.conjugate, T, 2)]
    ends = [float(e) for e in (d.conjugate_domain.lower, d.conjugate_domain.upper) if e.is_finite]
    return [mp_function(e, T) for e in derivs], max(map(abs, ends), default=0.0)


@functools.cache  # float32 and float64 share the reference
def exact(fn, v: float):
    """fn(v) at a precision that grows with |v|, confirmed 20 digits higher; None if they disagree."""
    digits = 40 + int(abs(v) * 0.4343)
    values = []
    for dps in (digits, digits + 20):
        with mpmath.workdps(dps):
            try:
                y = fn(mpmath.mpf(v))
            except (ZeroDivisionError, ValueError):
                return None
            if isinstance(y, mpmath.mpc):  # not real here (outside dom f*): no reference
                if abs(y.imag) > mpmath.mpf(10) ** -30 * (1 + abs(y.real)):
                    return None
                y = y.real
            values.append(y)
    a, b = values
    if not (mpmath.isfinite(a) and mpmath.isfinite(b)):
        return None
    if abs(a - b) > mpmath.mpf(10) ** -25 * max(abs(b), mpmath.mpf(10) ** -300):
        return None
    return b


def _show(y) -> str:
    """17 digits of a reference (rounded first: the reference may carry thousands of digits)."""
    with mpmath.workprec(64):
        return mpmath.nstr(+y, 17)


def representable(y, dtype) -> bool:
    return y is not None and abs(y) <= mpmath.mpf(float(torch.finfo(dtype).max))


def close(got: float, ref, dtype) -> bool:
    rtol = TOL[dtype]
    atol = 10 * torch.finfo(dtype).eps
    return abs(mpmath.mpf(got) - ref) <= rtol * abs(ref) + atol * (1 if abs(ref) < 1 else 0)


def failures(module, name: str, logits: list[float], dtype) -> list[str]:
    out = []
    for key, (value_fn, grad_fn) in exact_functions(name).items():
        v = torch.tensor(logits, dtype=dtype, requires_grad=True)
        points = logits
        if key == "conjugate":
            v = module.activation(v).detach().requires_grad_()
            points = v.tolist()
        y = getattr(module, key)(v)
        y.sum().backward()
        for i, logit in enumerate(points):
            for what, ref_fn, got in (("value", value_fn, y[i].item()), ("grad", grad_fn, v.grad[i].item())):
                ref = exact(ref_fn, logit)
                if not representable(ref, dtype):
                    continue
                if not (math.isfinite(got) and close(got, ref, dtype)):
                    out.append(f"{key} {what} at v={logit}: got {got}, exact {_show(ref)}")
    return out


def conjugate_failures(module, name: str, logits: list[float], dtype) -> list[str]:
    """conjugate(t) at t = activation(v) as the dtype rounds it. Near an end b of dom f*, f* is ill-conditioned:
    one rounding of t or of the constant b moves t - b by eps (|t| + |b|), so the tolerance adds
    4 eps (|t| + |b|) |f*'(t)| to the value's (and the same with f*'' to the gradient's)."""
    (f0, f1, f2), end = conjugate_functions(name)
    t = module.activation(torch.tensor(logits, dtype=dtype)).detach().requires_grad_()
    y = module.conjugate(t)
    y.sum().backward()
    eps = torch.finfo(dtype).eps
    out = []
    for i, ti in enumerate(t.tolist()):
        if abs(ti) > 700:  # f* of such t is far outside the representable range or on its asymptote
            continue
        if end and abs(abs(ti) - end) <= eps * end:  # t = fl(b): inside or not depends on b's rounding;
            continue  # the module treats fl(b) as the end itself
        for what, ref_fn, slope_fn, got in (("value", f0, f1, y[i].item()), ("grad", f1, f2, t.grad[i].item())):
            ref, slope = exact(ref_fn, ti), exact(slope_fn, ti)
            if not representable(ref, dtype) or slope is None:
                continue
            slack = 4 * eps * (abs(ti) + end) * abs(slope)
            if not (math.isfinite(got) and (close(got, ref, dtype) or abs(mpmath.mpf(got) - ref) <= slack)):
                out.append(f"conjugate {what} at t={ti}: got {got}, exact {_show(ref)}")
    return out


def catalogue_module(name: str):
    return importlib.import_module(f"fdiv.losses.{module_name(fdiv.derive(name))}")


DTYPES = pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])


@DTYPES
@pytest.mark.parametrize("name", catalogue.names())
def test_values_and_gradients(name, dtype):
    assert failures(catalogue_module(name), name, LOGITS, dtype) == []


@DTYPES
@pytest.mark.parametrize("name", catalogue.names())
def test_conjugate_inside_its_domain(name, dtype):
    assert conjugate_failures(catalogue_module(name), name, LOGITS, dtype) == []


# Logits drawn over the whole range that matters: |v| up to 1e4 (beyond, every function is on its asymptote),
# with the edges where float32 exp over/underflows drawn often. The reference costs ~|v|/2 digits, so the
# examples are few and each checks a batch of 6 logits.
_logit = st.one_of(st.floats(-1e4, 1e4), st.floats(-120, 120), st.floats(80, 110).map(lambda x: -x))


@DTYPES
@pytest.mark.parametrize("name", catalogue.names())
@settings(max_examples=6)
@given(logits=st.lists(_logit, min_size=6, max_size=6))
def test_values_and_gradients_at_drawn_logits(name, dtype, logits):
    assert failures(catalogue_module(name), name, logits, dtype) == []


# User-written f's: a quartic (real cube roots in f*), a kink with a 3/2-power conjugate (piecewise in v), a
# JS variant written by hand, scaled Hellinger, a rational f, reverse KL written out, KL plus a linear term.
USER_FS = ["(u-1)**4", "Abs(u-1)**3", "u*log(u) - (u+1)*log((u+1)/2)", "2*(sqrt(u)-1)**2", "(u-1)**2/(u+1)",
           "-log(u) + u - 1", "u*log(u) + 3*(u-1)"]


@pytest.fixture(scope="module")
def user_modules(tmp_path_factory):
    out = tmp_path_factory.mktemp("generated")
    modules = {}
    for i, f in enumerate(USER_FS):
        path = write_module(fdiv.derive(f), out, f"user_{i}")
        spec = importlib.util.spec_from_file_location(f"user_{i}", path)
        modules[f] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(modules[f])
    return modules


@DTYPES
@pytest.mark.parametrize("f", USER_FS)
def test_user_f_values_and_gradients(f, dtype, user_modules):
    assert failures(user_modules[f], f, LOGITS, dtype) == []
