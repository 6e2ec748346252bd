"""State-space models (numerics.ssm): on 50 random stable systems (n <= 16 states, L <= 256 steps, float64) the
ZOH recurrence, the convolution with its kernel and scipy's ODE solver agree to 1e-10; the discretisations match
scipy.signal's, the diagonal (S4D) form matches the general one, and both rules keep stable systems stable."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import cont2discrete

from numerics import ssm
from numerics.errors import NumericsError


def _systems(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        n, length = int(rng.integers(1, 17)), int(rng.integers(1, 257))
        dt = float(np.exp(rng.uniform(np.log(1e-3), np.log(0.5))))
        A, B, C = ssm.random_stable(rng, n)
        out.append((A, B, C, rng.standard_normal(length), dt))
    return out


SYSTEMS = _systems(50)


def test_recurrence_kernel_and_ode_agree_on_50_random_stable_systems():
    """Tolerance 1e-10 relative to max |y| of each sequence (a norm-wise error: outputs pass through 0). The ODE
    is integrated by DOP853 at rtol 1e-12, atol 1e-15 on each held step; over at most 256 steps of a stable system
    its error stays near 1e-13, and the recurrence and the convolution differ by float64 roundings only."""
    assert max(s[0].shape[0] for s in SYSTEMS) == 16 and max(len(s[3]) for s in SYSTEMS) > 200
    assert min(len(s[3]) for s in SYSTEMS) < 50 and min(s[0].shape[0] for s in SYSTEMS) == 1
    odes = ssm.ode(SYSTEMS)
    worst = 0.0
    for (A, B, C, u, dt), y_ode in zip(SYSTEMS, odes):
        Ab, Bb = ssm.zoh(A, B, dt)
        y_rec = ssm.recurrence(Ab, Bb, C, u)
        y_conv = ssm.convolve(ssm.kernel(Ab, Bb, C, len(u)), u)
        scale = np.abs(y_rec).max()
        assert scale > 0
        worst = max(worst, np.abs(y_rec - y_conv).max() / scale, np.abs(y_rec - y_ode).max() / scale)
    assert worst <= 1e-10


def test_discretisations_match_scipy_signal():
    """ZOH (Van Loan block exponential) and bilinear against scipy.signal.cont2discrete, to 1e-12 relative to
    the largest entry (both are a matrix exponential or a solve of the same well-conditioned matrices)."""
    for A, B, C, _, dt in SYSTEMS[:20]:
        for method, ours in (("zoh", ssm.zoh), ("bilinear", ssm.bilinear)):
            Ad, Bd, *_ = cont2discrete((A, B, C, np.zeros((1, 1))), dt, method=method)
            Ao, Bo = ours(A, B, dt)
            assert np.abs(Ao - Ad).max() <= 1e-12 * max(1, np.abs(Ad).max())
            assert np.abs(Bo - Bd).max() <= 1e-12 * max(1, np.abs(Bd).max())


def test_diagonal_form_is_the_general_one():
    """For A = diag(lambda) (complex, S4D), the elementwise exp and expm1(dt lambda)/lambda equal the block
    exponential to 1e-13, including lambda = 0 (Bbar = dt B)."""
    rng = np.random.default_rng(1)
    lam = np.concatenate([-rng.uniform(0.01, 2, 5) + 1j * rng.uniform(-5, 5, 5), [0.0]])
    B = rng.standard_normal((6, 1)) + 0j
    Ad, Bd = ssm.zoh_diagonal(lam, B, 0.3)
    Ag, Bg = ssm.zoh(np.diag(lam), B, 0.3)
    assert np.abs(np.diag(Ad) - Ag).max() <= 1e-13 and np.abs(Bd - Bg).max() <= 1e-13
    assert Bd[-1, 0] == 0.3 * B[-1, 0]


def test_both_rules_keep_stable_systems_stable():
    """Re lambda(A) < 0 gives spectral radius < 1 for ZOH and bilinear (proved in proofs/ssm.py)."""
    for A, B, _, _, dt in SYSTEMS:
        assert np.linalg.eigvals(A).real.max() < 0
        for rule in (ssm.zoh, ssm.bilinear):
            assert np.abs(np.linalg.eigvals(rule(A, B, dt)[0])).max() < 1


@pytest.mark.parametrize("args, message", [
    ((np.zeros((2, 3)), np.zeros(2), 0.1), "square"),
    ((np.zeros((2, 2)), np.zeros(3), 0.1), "as many rows"),
    ((np.zeros((2, 2)), np.zeros(2), 0.0), "dt must be positive"),
    ((np.zeros((2, 2)), np.zeros(2), float("nan")), "dt must be positive"),
])
def test_bad_input_is_refused(args, message):
    with pytest.raises(NumericsError, match=message):
        ssm.zoh(*args)
