"""Linear state-space models (S4, S4D, Mamba's discretisation): x'(t) = A x(t) + B u(t), y = C x.

Sampling convention: the input is held at u_k on [k dt, (k + 1) dt), x(0) = 0, and y_k = C x((k + 1) dt), so the
exact (zero-order-hold) recurrence is x_k = Abar x_(k-1) + Bbar u_k with x_(-1) = 0, and

    y = K * u (causal),   K = (C Bbar, C Abar Bbar, ..., C Abar^(L-1) Bbar).

* `zoh`: Abar = exp(dt A), Bbar = (dt A)^-1 (exp(dt A) - I) dt B, computed as one matrix exponential of the
  block matrix [[A, B], [0, 0]] dt (Van Loan), which needs no inverse and holds for singular A too.
* `zoh_diagonal`: the same for diagonal A = diag(lam) (S4D, Mamba): elementwise exp, and expm1(dt lam)/lam.
* `bilinear`: Abar = (I - dt/2 A)^-1 (I + dt/2 A), Bbar = (I - dt/2 A)^-1 dt B (Tustin; not exact for the ODE).
* `recurrence`, `kernel`, `convolve`: the two ways to run the discrete model; `ode` integrates the continuous one
  with scipy's solve_ivp (DOP853), interval by interval, for many systems at once.
"""
from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp
from scipy.linalg import expm, solve

from .errors import NumericsError


def _check(A: np.ndarray, B: np.ndarray, dt: float) -> tuple[np.ndarray, np.ndarray]:
    A, B = np.atleast_2d(np.asarray(A)), np.asarray(B)
    B = B.reshape(-1, 1) if B.ndim == 1 else B
    if A.shape[0] != A.shape[1] or B.shape[0] != A.shape[0]:
        raise NumericsError(f"A must be square and B have as many rows: got {A.shape} and {B.shape}")
    if not (dt > 0 and np.isfinite(dt)):
        raise NumericsError(f"dt must be positive and finite, got {dt}")
    return A, B


def zoh(A, B, dt: float) -> tuple[np.ndarray, np.ndarray]:
    A, B = _check(A, B, dt)
    n, m = A.shape[0], B.shape[1]
    block = np.zeros((n + m, n + m), dtype=np.result_type(A, B, float))
    block[:n, :n], block[:n, n:] = A * dt, B * dt
    e = expm(block)
    return e[:n, :n], e[:n, n:]


def zoh_diagonal(lam, B, dt: float) -> tuple[np.ndarray, np.ndarray]:
    """Abar = exp(dt lam) and Bbar = expm1(dt lam)/lam * B row by row (dt B where lam = 0)."""
    lam = np.asarray(lam)
    B = np.asarray(B).reshape(len(lam), -1)
    z = dt * lam
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(z == 0, dt, np.expm1(z) / np.where(lam == 0, 1, lam))
    return np.exp(z), scale[:, None] * B


def bilinear(A, B, dt: float) -> tuple[np.ndarray, np.ndarray]:
    A, B = _check(A, B, dt)
    eye = np.eye(A.shape[0])
    left = eye - dt / 2 * A
    return solve(left, eye + dt / 2 * A), solve(left, dt * B)


def recurrence(Abar, Bbar, C, u) -> np.ndarray:
    """y_k = C x_k, x_k = Abar x_(k-1) + Bbar u_k, x_(-1) = 0 (one input and one output channel)."""
    x = np.zeros(Abar.shape[0], dtype=np.result_type(Abar, Bbar, float))
    b, c = np.asarray(Bbar).reshape(-1), np.asarray(C).reshape(-1)
    out = np.empty(len(u), dtype=x.dtype)
    for k, uk in enumerate(u):
        x = Abar @ x + b * uk
        out[k] = c @ x
    return out


def kernel(Abar, Bbar, C, length: int) -> np.ndarray:
    """K_j = C Abar^j Bbar, j = 0 .. length - 1."""
    v = np.asarray(Bbar).reshape(-1).astype(np.result_type(Abar, Bbar, float))
    c = np.asarray(C).reshape(-1)
    out = np.empty(length, dtype=v.dtype)
    for j in range(length):
        out[j] = c @ v
        v = Abar @ v
    return out


def convolve(K, u) -> np.ndarray:
    """The causal convolution y_k = sum_(j <= k) K_j u_(k-j)."""
    return np.convolve(np.asarray(u), np.asarray(K))[: len(u)]


def ode(systems, rtol: float = 1e-12, atol: float = 1e-15) -> list[np.ndarray]:
    """y for each (A, B, C, u, dt) in `systems`, by integrating x' = A x + B u_k on each interval in the
    interval's own time tau = (t - k dt)/dt in [0, 1] (so each system's x' is dt (A x + B u_k)). All systems are
    integrated together, one solve_ivp call per interval index, states stacked; a system whose input has
    ended is held still."""
    sizes = [np.atleast_2d(A).shape[0] for A, *_ in systems]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    length = max(len(s[3]) for s in systems)
    mats = [dt * np.atleast_2d(np.asarray(A, float)) for A, _, _, _, dt in systems]
    ins = [dt * np.asarray(B, float).reshape(-1) for _, B, _, _, dt in systems]
    x = np.zeros(offsets[-1])
    out = [np.empty(len(s[3])) for s in systems]
    for k in range(length):
        live = [i for i, s in enumerate(systems) if k < len(s[3])]
        drive = [ins[i] * systems[i][3][k] for i in live]

        def rhs(_tau, z, live=live, drive=drive):
            dz = np.zeros_like(z)
            for i, b in zip(live, drive):
                a, e = offsets[i], offsets[i + 1]
                dz[a:e] = mats[i] @ z[a:e] + b
            return dz

        sol = solve_ivp(rhs, (0.0, 1.0), x, method="DOP853", rtol=rtol, atol=atol)
        if not sol.success:
            raise NumericsError(f"solve_ivp failed on interval {k}: {sol.message}")
        x = sol.y[:, -1]
        for i in live:
            out[i][k] = np.asarray(systems[i][2]).reshape(-1) @ x[offsets[i]:offsets[i + 1]]
    return out


def random_stable(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A non-normal A with every eigenvalue's real part in [-1.05, -0.05]: a scaled Gaussian matrix shifted
    left past its rightmost eigenvalue; B and C Gaussian."""
    g = rng.standard_normal((n, n)) / np.sqrt(n)
    shift = np.max(np.linalg.eigvals(g).real) + rng.uniform(0.05, 1.0)
    return g - shift * np.eye(n), rng.standard_normal((n, 1)), rng.standard_normal((1, n))
