"""JAX helpers that generated JAX modules embed (their source is copied in, so a module imports jax only).

The same helpers as runtime.py, as pure functions of arrays (no in-place updates, no data-dependent shapes), usable
under jax.jit, jax.grad and jax.vmap. Where torch's helper is an autograd.Function, this one has a custom
derivative: jax.custom_jvp where the slope is a function of the input alone, jax.custom_vjp where the backward
pass must look at the incoming gradient (a 0 there stays 0 even where the slope is infinite), so those support
reverse mode (jax.grad, jax.vjp) and not forward mode, like torch's once_differentiable. A helper's companions
(its @NAME.defjvp rule, NAME_fwd and NAME_bwd, NAME.defvjp(...)) are copied with it.
"""
import functools
import math

import jax
import jax.numpy as jnp


def _softplus(x):
    """log(1 + exp(x)) as max(x, 0) + log1p(exp(-|x|)), exact over the whole range in both dtypes."""
    return jnp.logaddexp(x, 0.0)


@jax.custom_jvp
def _log_softplus(x):
    """log(softplus(x)) with the analytic slope sigmoid(x)/softplus(x). Below -80, where e^x nears float32's
    subnormals, log(softplus(x)) = x - e^x/2 + ... is x itself; the slope is taken at max(x, -80)."""
    xc = jnp.maximum(x, -80.0)
    return jnp.where(x < -80.0, x, jnp.log(_softplus(xc)))


@_log_softplus.defjvp
def _log_softplus_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    xc = jnp.maximum(x, -80.0)
    s = _softplus(xc)
    return jnp.where(x < -80.0, x, jnp.log(s)), jax.nn.sigmoid(xc) / s * t


@jax.custom_jvp
def _tanh(x):
    """tanh(x) with the slope 1 - tanh(x)^2 written as 4 e^-2|x| / (1 + e^-2|x|)^2: XLA's tanh is a few ulps off
    next to |tanh| = 1, where 1 - tanh^2 would turn that into a relative error of order 1 (at |x| ~ 18)."""
    return jnp.tanh(x)


@_tanh.defjvp
def _tanh_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    e = jnp.exp(-2.0 * jnp.abs(x))
    return jnp.tanh(x), 4.0 * e / (1.0 + e) ** 2 * t


def _log1mexp(x, k=1.0):
    """log(1 - exp(k x)) for k x < 0 (k > 0 a constant): log(-k x) + log((1 - e^(k x))/(-k x)) by its series (to
    x^6, 1e-15 relative) above k x = -0.1, below it log1p(-e^(k x)); each branch sees only inputs of its own side.
    log(-k x) is log(-x) + log k: k x itself rounds where x is subnormal."""
    if k == 1.0:
        y = jnp.minimum(-x, 0.1)
        y2 = y * y
        series = jnp.log(y) + y * (-0.5 + y * (1.0 / 24.0 + y2 * (-1.0 / 2880.0 + y2 * (1.0 / 181440.0))))
        return jnp.where(x > -0.1, series, jnp.log1p(-jnp.exp(jnp.minimum(x, -0.1))))
    z = x * k
    y = jnp.minimum(-x, 0.1 / k)
    yk = y * k
    y2 = yk * yk
    series = jnp.log(y) + (math.log(k) + yk * (-0.5 + yk * (1.0 / 24.0 + y2 * (-1.0 / 2880.0 + y2 * (1.0 / 181440.0)))))
    return jnp.where(z > -0.1, series, jnp.log1p(-jnp.exp(jnp.minimum(z, -0.1))))


def _wright_omega_value(x):
    """omega(x) = W(e^x), the root of w + log w = x, in x's dtype: Winitzki's approximation
    s (1 - log(1 + s)/(2 + s)), s = softplus(x), then Newton steps, 2 in float32 and 3 in float64. Below -80
    omega is e^x (1 - e^x + ...) = softplus(x) to 1e-34."""
    s = _softplus(x)
    w = s * (1.0 - jnp.log1p(s) / (2.0 + s))
    for _ in range(3 if x.dtype == jnp.float64 else 2):
        w = w * (1.0 + (x - w - jnp.log(w)) / (1.0 + w))
    return jnp.where(x < -80.0, s, w)


@jax.custom_jvp
def _wright_omega(x):
    """omega(x) = W(e^x) with d omega/dx = omega/(1 + omega), in the input's dtype."""
    return _wright_omega_value(x)


@_wright_omega.defjvp
def _wright_omega_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    w = _wright_omega_value(x)
    scale = w / (1.0 + w)
    # where omega underflows to 0 its true slope is below every float: an infinite incoming gradient (f*
    # overflowing) must not turn into inf * 0 = NaN (the mask is on the input, so the rule stays linear)
    return w, jnp.where(scale == 0, 0.0, t * scale)


def _log1mexp_ratio(x):
    """log((1 - exp(-x))/x) for x >= 0: -x/2 + x^2/24 - x^4/2880 below 1e-3, log(-expm1(-x)) - log(x) above;
    each branch sees only inputs of its own side."""
    small = x < 1e-3
    xs = jnp.where(small, x, 0.0)
    xl = jnp.where(small, 1.0, x)
    series = xs * (-0.5 + xs * (1.0 / 24.0 - xs * xs / 2880.0))
    return jnp.where(small, series, jnp.log(-jnp.expm1(-xl)) - jnp.log(xl))


def _log1mexp_softplus(x, k):
    """log(1 - exp(-k softplus(x))) for a constant k > 0: log(-expm1(-z)), z = k softplus(x), and below x = -80,
    where softplus(x) = e^x nears the subnormals, log k + x."""
    xc = jnp.maximum(x, -80.0)
    return jnp.where(x < -80.0, x + math.log(k), jnp.log(-jnp.expm1(-k * _softplus(xc))))


def _log_wright_omega(x, w):
    """log omega(x) given w = omega(x): log w, except below x = -80, where w is e^x and may be subnormal or 0:
    there x - w. The clamp only guards the branch not taken."""
    return jnp.where(x < -80.0, x - w, jnp.log(jnp.maximum(w, 1e-37)))


@jax.custom_jvp
def _log_gap(x):
    """log x for the distance x > 0 of t to a kink of f* inside the critic range, floored at the dtype's smallest
    normal float, with the slope 1/max(x, tiny): at the kink itself x rounds to 0, where log 0 = -inf and its
    slope times the solver's e^y = 0 would be NaN."""
    return jnp.log(jnp.maximum(x, jnp.finfo(x.dtype).tiny))


@_log_gap.defjvp
def _log_gap_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    xc = jnp.maximum(x, jnp.finfo(x.dtype).tiny)
    return jnp.log(xc), t / xc


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _past_the_range(fn, v):
    """fn(v), for an fn that increases where its value leaves the float range (f* at the right end of its domain,
    the density ratio): there the value and its slope are +inf (0 where no gradient comes in), and fn is
    differentiated only where its value is a float (its reverse pass would form inf * 0 = NaN through the terms
    that underflowed). The forward pass evaluates fn once, through jax.vjp, and keeps its reverse pass as the
    residuals; the backward pass runs that with 0 put in where the value overflowed and takes +inf there (what the
    reverse pass forms at those elements, NaN included, is not selected: fn is elementwise)."""
    return fn(v)


def _past_the_range_fwd(fn, v):
    out, pullback = jax.vjp(fn, v)
    return out, (pullback, jnp.isposinf(out))


def _past_the_range_bwd(fn, res, grad):
    pullback, over = res
    (inside,) = pullback(jnp.where(over, 0.0, grad))
    return (jnp.where(over, jnp.where(grad == 0, 0.0, grad * math.inf), inside),)


_past_the_range.defvjp(_past_the_range_fwd, _past_the_range_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _ratio_past_the_range(fn, v):
    """The density ratio fn(v) >= 0, increasing in v: +inf with slope +inf where it leaves the float range (as
    _past_the_range), and 0 with slope 0 where it underflows to 0 (its reverse pass there would form inf / inf or
    inf * 0 = NaN through the terms that overflowed)."""
    return fn(v)


def _ratio_past_the_range_fwd(fn, v):
    out, pullback = jax.vjp(fn, v)
    return out, (pullback, jnp.isposinf(out), out == 0)


def _ratio_past_the_range_bwd(fn, res, grad):
    pullback, over, under = res
    (inside,) = pullback(jnp.where(over | under, 0.0, grad))
    return (jnp.where(over, jnp.where(grad == 0, 0.0, grad * math.inf), jnp.where(under, 0.0, inside)),)


_ratio_past_the_range.defvjp(_ratio_past_the_range_fwd, _ratio_past_the_range_bwd)


def _in_float64(fn, v):
    """fn(v) evaluated in float64 where JAX has it (jax_enable_x64) and returned in v's dtype; without float64, in
    v's dtype with the reverse pass of _rescaled_reverse (a ratio near float32's largest value overflows there on
    the way to a finite gradient)."""
    if jax.config.jax_enable_x64:
        return fn(v.astype(jnp.float64)).astype(v.dtype)
    return _rescaled_reverse(fn, v)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _rescaled_reverse(fn, v):
    """fn(v) for an elementwise fn whose reverse pass may overflow in the products it forms (the incoming gradient
    times a ratio near float32's largest value, times a slope that underflowed to 0: inf * 0 = NaN) where the
    gradient itself is a float. The backward pass runs fn's reverse pass as it is and, where that gives no finite
    number, again with the incoming gradient scaled by 2^-64 and the result scaled back (the reverse pass is linear
    in the incoming gradient); a gradient that is truly infinite stays so."""
    return fn(v)


def _rescaled_reverse_fwd(fn, v):
    out, pullback = jax.vjp(fn, v)
    return out, pullback


def _rescaled_reverse_bwd(fn, pullback, grad):
    (plain,) = pullback(grad)
    (scaled,) = pullback(grad * 2.0**-64)
    return (jnp.where(jnp.isfinite(plain), plain, scaled * 2.0**64),)


_rescaled_reverse.defvjp(_rescaled_reverse_fwd, _rescaled_reverse_bwd)


def _series_near(value, z, lo, hi, delta, coefficients):
    """value, except where lo < z < hi: there the polynomial sum_k c_k e^(k+1) in e = delta(z), in z's dtype (f*
    next to its zero, where t u* - f(u*) cancels; see lower.zero). Every element is evaluated (static shapes)."""
    near = (z > lo) & (z < hi)
    e = delta(jnp.where(near, z, (lo + hi) / 2))
    series = jnp.zeros_like(e)
    for c in reversed(coefficients):
        series = (series + c) * e
    # only the value: its slope, u*, comes from the solve (custom_vjp) and has no cancellation
    return value + jax.lax.stop_gradient(jnp.where(near, series.astype(value.dtype) - value, 0.0))


def _wide(v):
    """v in float64 where JAX has it (jax_enable_x64), else as it is: float64 is off by default in JAX."""
    return v.astype(jnp.float64) if jax.config.jax_enable_x64 else v


def _wide_gap(fn, rest, end):
    """fn(end + rest) with the distance formed in float64 where JAX has it, the result in rest's dtype (see the
    torch runtime's _wide_gap)."""
    return fn(_wide(rest) + end).astype(rest.dtype)


def _past_top(u):
    """Where u* at the top of a table counts as past the dtype's range: float32's top half (the float64 solve, run
    there where JAX has float64, reaches further), and float64 from 2^1020 (the tables stop at u = e^709)."""
    return 0.5 * jnp.finfo(jnp.float32).max if u.dtype == jnp.float32 else 2.0**1020


def _bracketed_newton(target, g, lo, hi, steps=64):
    """y in [lo, hi] with g(y) = target, for g increasing in y (g returns its value and derivative): a Newton
    step where it stays inside the bracket around the root and at least halves the step before it, bisection
    otherwise (rtsafe). A fixed number of steps in a jax.lax.fori_loop: 64 halvings take any bracket within
    [-745, 745] below float64 resolution."""
    a = jnp.full_like(target, lo)
    b = jnp.full_like(target, hi)
    y = jnp.clip(jnp.zeros_like(target), lo, hi)

    def step(_, state):
        a, b, y, dx_old = state
        value, slope = g(y)
        r = value - target
        # where f' overflowed its sign is not to be trusted: u is then far out, too high towards u -> oo (y > 0),
        # too low towards u -> 0
        low = jnp.where(jnp.isfinite(r), r <= 0.0, y < 0.0)
        a = jnp.where(low, y, a)
        b = jnp.where(low, b, y)
        newton = y - r / slope
        take = (newton > a) & (newton < b) & (2.0 * jnp.abs(r) <= jnp.abs(dx_old * slope))
        mid = 0.5 * (a + b)
        return a, b, jnp.where(take, newton, mid), jnp.where(take, y - newton, 0.5 * (b - a))

    return jax.lax.fori_loop(0, steps, step, (a, b, y, b - a))[2]


def _table_columns(knots, xi0, h):
    """Per knot interval of a numeric piece's table: its ends in y (the bracket), its start in z and the slope
    dy/dz, as float64 Python numbers. The module stores the knots in y only; their z, uncompressed from xi = xi0 +
    k h, is computed here by the operations fdiv.lower.table uses, to the same bits."""
    xis = [k * h + xi0 for k in range(len(knots))]
    zs = tuple(xi / (1.0 - abs(xi) * (1.0 / 12.0)) for xi in xis)
    slope = tuple((y1 - y0) / (z1 - z0) for y0, y1, z0, z1 in zip(knots[:-1], knots[1:], zs[:-1], zs[1:]))
    return knots[:-1], knots[1:], zs[:-1], slope


@jax.custom_jvp
def _xlog1px(y):
    """(1 + y) log1p(y), 0 at y = -1 (x log x at x = 0: a closed end of dom f*), where the product of its factors
    would be 0 * -inf = NaN; slope log1p(y) + 1, -inf there."""
    end = y == -1.0
    return jnp.where(end, 0.0, (1.0 + y) * jnp.log1p(jnp.where(end, 0.0, y)))


@_xlog1px.defjvp
def _xlog1px_jvp(primals, tangents):
    (y,), (t,) = primals, tangents
    return _xlog1px(y), t * (jnp.log1p(y) + 1.0)


@jax.custom_jvp
def _xlogx(x):
    """x log|x|, 0 at x = 0 (a closed end of dom f*), where the product of its factors would be 0 * -inf = NaN;
    slope log|x| + 1, -inf there."""
    zero = x == 0
    return jnp.where(zero, 0.0, x * jnp.log(jnp.where(zero, 1.0, jnp.abs(x))))


@_xlogx.defjvp
def _xlogx_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return _xlogx(x), t * (jnp.log(jnp.abs(x)) + 1.0)


def _exp_map(y):
    """u = e^y on (0, oo), and du/dy."""
    u = jnp.exp(y)
    return u, u


def _logistic_map(y, lo, hi):
    """u = lo + (hi - lo) sigmoid(y) on (lo, hi), each end approached without rounding onto it; du/dy."""
    w = hi - lo
    s = jax.nn.sigmoid(y)
    u = jnp.where(y < 0, lo + w * s, hi - w * jax.nn.sigmoid(-y))
    return u, w * s * jax.nn.sigmoid(-y)


def _shifted_exp_map(y, lo):
    """u = lo + e^y on (lo, oo), and du/dy."""
    e = jnp.exp(y)
    return lo + e, e
