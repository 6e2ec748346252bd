"""Hand-written stable JAX critic losses, one short function per catalogue row: the reference the generated JAX
modules (fdiv.losses_jax) are timed against in `python benchmarks/losses.py --backend jax`.

Each is critic_loss(r, f) = mean f*(sigma_f(f)) - mean sigma_f(r), with fdiv's activation sigma_f, written the way a
careful JAX user would: softplus (jax.nn.softplus is logaddexp(x, 0), exact over the whole float range), log-softplus
by its series below -15, Wright omega by Newton steps with its implicit gradient. The formula is in each docstring;
benchmarks/losses.py checks every form against the torch module's values and gradients before timing it.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

softplus = jax.nn.softplus
LOG2 = math.log(2.0)
FORMS: dict[str, Callable] = {}


def form(name: str):
    """Register the hand-written critic loss of catalogue row `name`."""
    def add(fn: Callable) -> Callable:
        FORMS[name] = fn
        return fn
    return add


def log_softplus(x):
    """log(softplus(x)); below -15 the series x - e^x/2, each branch on its clamped side (no inf * 0 in the
    gradient of the branch not taken). Clamped by where: jnp.minimum/maximum split the gradient at a tie."""
    below = x < -15.0
    lo, hi = jnp.where(below, x, -15.0), jnp.where(below, -15.0, x)
    return jnp.where(x < -15.0, lo - jnp.exp(lo) / 2, jnp.log(softplus(hi)))


@jax.custom_jvp
def omega(x):
    """Wright omega W(e^x): Newton from softplus(x) above -20, e^x (1 - e^x) below; gradient w / (1 + w)."""
    xs = jnp.maximum(x, -20.0)
    w = softplus(xs)
    for _ in range(5 if x.dtype == jnp.float64 else 4):
        w = w * (1 + (xs - w - jnp.log(w)) / (1 + w))
    e = jnp.exp(jnp.minimum(x, -20.0))
    return jnp.where(x < -20.0, e - e * e, w)


@omega.defjvp
def _omega_jvp(primals, tangents):
    w = omega(primals[0])
    return w, tangents[0] * w / (1 + w)


@form("total-variation")
def total_variation(r, f):
    """sigma = tanh(v)/2, f*(t) = t (t > -1/2): (mean tanh(f) - mean tanh(r)) / 2."""
    return 0.5 * (jnp.mean(jnp.tanh(f)) - jnp.mean(jnp.tanh(r)))


@form("kl")
def kl(r, f):
    """sigma = v, f*(t) = e^(t - 1): mean e^(f - 1) - mean r."""
    return jnp.mean(jnp.exp(f - 1)) - jnp.mean(r)


@form("reverse-kl")
def reverse_kl(r, f):
    """sigma = -softplus(-v), f*(t) = -1 - log(-t): mean softplus(-r) - mean log softplus(-f) - 1."""
    return jnp.mean(softplus(-r)) - jnp.mean(log_softplus(-f)) - 1


@form("pearson")
def pearson(r, f):
    """sigma = softplus(v) - 2, f*(t) = t^2/4 + t: mean softplus(f)^2/4 - mean softplus(r) + 1."""
    return 0.25 * jnp.mean(jnp.square(softplus(f))) - jnp.mean(softplus(r)) + 1


@form("neyman")
def neyman(r, f):
    """sigma = 1 - softplus(-v), f*(t) = 2 - 2 sqrt(1 - t): the square root as exp(log softplus(-f) / 2)."""
    return jnp.mean(softplus(-r)) - 2 * jnp.mean(jnp.exp(0.5 * log_softplus(-f))) + 1


@form("squared-hellinger")
def squared_hellinger(r, f):
    """sigma = 1 - softplus(-v), f*(t) = t/(1 - t): 1/softplus(-f) - 1 as exp(-log softplus(-f))."""
    return jnp.mean(jnp.exp(-log_softplus(-f))) + jnp.mean(softplus(-r)) - 2


@form("jeffrey")
def jeffrey(r, f):
    """sigma = v, f*(t) = w + 1/w + t - 2 with w = W(e^(1 - t)): mean (w + 1/w + f) - 2 - mean r."""
    w = omega(1 - f)
    return jnp.mean(w + 1 / w + f) - 2 - jnp.mean(r)


@form("jensen-shannon")
def jensen_shannon(r, f):
    """sigma = log 2 - softplus(-v), f*(t) = -log(2 - e^t): mean softplus(f) + mean softplus(-r) - 2 log 2."""
    return jnp.mean(softplus(f)) + jnp.mean(softplus(-r)) - 2 * LOG2


@form("jsd")
def jsd(r, f):
    """sigma = log(2)/2 - softplus(-v), f*(t) = -log(2 - e^(2t))/2: mean (softplus(f) - softplus(-softplus(-f)))/2
    + mean softplus(-r) - log 2, finite where softplus(-f) underflows."""
    return 0.5 * jnp.mean(softplus(f) - softplus(-softplus(-f))) + jnp.mean(softplus(-r)) - LOG2


@form("js-weighted")
def js_weighted(r, f):
    """sigma = log(4)/4 - softplus(-v), f*(t) = 3/4 log(3/(4 - e^(4t))): f*(sigma(f)) = 3/4 log(3/4) - 3/4 log(1 - y^4),
    y = sigmoid(f), with 1 - y^4 = (1 - y)(1 + y)(1 + y^2) and log(1 - y) = -softplus(f)."""
    y = jax.nn.sigmoid(f)
    return (0.75 * jnp.mean(softplus(f) - jnp.log1p(y) - jnp.log1p(y * y)) + jnp.mean(softplus(-r))
            + 0.75 * math.log(0.75) - 0.25 * math.log(4.0))


@form("gan")
def gan(r, f):
    """sigma = -softplus(-v), f*(t) = -log(1 - e^t): mean softplus(f) + mean softplus(-r)."""
    return jnp.mean(softplus(f)) + jnp.mean(softplus(-r))


@form("alpha")
def alpha(r, f):
    """sigma = softplus(v) - 1/2, f*(t) = ((2t + 1)^(3/2) - 1)/3 (t > -1/2): (2 sqrt 2 / 3) mean softplus(f)^(3/2)
    - mean softplus(r) + 1/6."""
    return (2 * math.sqrt(2) / 3) * jnp.mean(softplus(f) ** 1.5) - jnp.mean(softplus(r)) + 1 / 6


@form("triangular")
def triangular(r, f):
    """sigma = 2 tanh(v) - 1, f*(t) = 4 - t - 4 sqrt(1 - t) (t > -3): 1 - sigma(f) = 4 sigmoid(-2f), so the root
    is 2 exp(log sigmoid(-2f) / 2)."""
    return 6 - 2 * (jnp.mean(jnp.tanh(f)) + jnp.mean(jnp.tanh(r))) \
        - 8 * jnp.mean(jnp.exp(0.5 * jax.nn.log_sigmoid(-2 * f)))


@form("kl-normalised")
def kl_normalised(r, f):
    """sigma = v, f*(t) = e^t - 1: mean expm1(f) - mean r."""
    return jnp.mean(jnp.expm1(f)) - jnp.mean(r)


@form("reverse-kl-normalised")
def reverse_kl_normalised(r, f):
    """sigma = 1 - softplus(-v), f*(t) = -log(1 - t): mean softplus(-r) - mean log softplus(-f) - 1."""
    return jnp.mean(softplus(-r)) - jnp.mean(log_softplus(-f)) - 1
