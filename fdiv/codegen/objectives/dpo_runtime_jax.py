"""JAX helpers that generated preference-loss modules embed (their source is copied in, so a module imports jax
only). They run inside custom_vjp functions whose backward pass is written out, so none needs a gradient."""
import jax
import jax.numpy as jnp


def _signed_sum(*pairs):
    """sum of s * exp(l) over the (s, l) pairs, s in {-1, 0, 1}: the positive and the negative terms as two
    log-sum-exps P and N, then exp(P) - exp(N) = sign(P - N) exp(max(P, N) + log(1 - e^-|P - N|)), so terms that
    overflow with opposite signs give the sign of the larger rather than inf - inf; exactly 0 when P = N."""
    logs = jnp.stack(jnp.broadcast_arrays(*[l for _, l in pairs]))
    signs = jnp.stack([jnp.broadcast_to(jnp.asarray(s, dtype=logs.dtype), logs.shape[1:]) for s, _ in pairs])
    none = jnp.full_like(logs, -jnp.inf)
    p = jax.nn.logsumexp(jnp.where(signs > 0, logs, none), axis=0)
    n = jax.nn.logsumexp(jnp.where(signs < 0, logs, none), axis=0)
    same = p == n  # also where both are empty (-inf)
    d = jnp.where(same, 1.0, p - n)
    out = jnp.sign(d) * jnp.exp(jnp.maximum(p, n) + _log1mexp(-jnp.abs(d)))
    return jnp.where(same, 0.0, out)


def _sigmoid_times(m, x, log_abs_x):
    """sigmoid(-m) * x, given log|x|: directly where sigmoid(-m) is a normal number and x is finite (full
    precision), else as sign(x) exp(logsigmoid(-m) + log|x|), where the direct product would be 0 * inf or lose
    its digits to an underflowed sigmoid."""
    s = jax.nn.sigmoid(-m)
    direct = s * x
    ok = (s >= jnp.finfo(s.dtype).tiny) & jnp.isfinite(x)
    # sigmoid(-m) x -> 0 as m -> +oo even where x is infinite (x = m / beta)
    far = jnp.where((m == jnp.inf) & jnp.isinf(log_abs_x), 0.0, log_abs_x)
    logged = jnp.sign(x) * jnp.exp(jax.nn.log_sigmoid(-m) + far)
    return jnp.where(ok, direct, logged)
