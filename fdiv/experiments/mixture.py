"""The f-GAN paper's mixture experiment (Nowozin et al. 2016, section 4): fit Q = N(mu, sigma^2) to a
two-component Gaussian mixture P by minimising D_f(P||Q), for every catalogue divergence.

theta* = (mu*, sigma*) is the exact best fit, found without sampling (see best_fit): a grid search and
Nelder-Mead find the basin, Newton's method on grad D_f = 0 with scipy's adaptive quadrature converges in it,
and a last Newton step with the gradient by mpmath tanh-sinh quadrature at `dps` digits pins it down. With
g(u) = f(u) - f(1) - f'(1)(u - 1) (the same D_f up to f(1)) and h(u) = g(u) - u g'(u),

    dD/dmu        = int q(x) (x - mu)/sigma^2        h(p/q) dx,
    dD/dlog sigma = int q(x) ((x - mu)^2/sigma^2 - 1) h(p/q) dx.

For KL, h(u) = 1 - u, so grad D = 0 is the moment match: mu* = E_P[x], sigma*^2 = Var_P[x].
theta-hat comes from training an affine generator G(z) = mu + sigma z against a small critic with the
generated loss (fdiv.train.fit_generator, the paper's single-step scheme).
"""
from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import mpmath
import numpy as np
import sympy as sp
import torch
from scipy import integrate, optimize, special

from ..spec import catalogue
from ..derivation.engine import Derivation, derive
from ..errors import FdivError
from ..spec.spec import U

if TYPE_CHECKING:
    from ..train import History


@dataclass(frozen=True)
class Mixture:
    """P = sum_k w_k N(m_k, s_k^2) in 1-D."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]

    def __post_init__(self):
        w, m, s = self.weights, self.means, self.stds
        if not (len(w) == len(m) == len(s) >= 1):
            raise FdivError("mixture: weights, means and stds must have the same (non-zero) length")
        if not all(math.isfinite(x) for x in (*w, *m, *s)):
            raise FdivError("mixture: weights, means and stds must be finite")
        if min(w) <= 0 or abs(sum(w) - 1) > 1e-12:
            raise FdivError(f"mixture: weights must be positive and sum to 1, got {w}")
        if min(s) <= 0:
            raise FdivError(f"mixture: standard deviations must be positive, got {s}")

    def moments(self) -> tuple[mpmath.mpf, mpmath.mpf]:
        """(E_P[x], sd_P[x]) at the working precision, from the float parameters taken as exact."""
        w, m, s = ([mpmath.mpf(x) for x in v] for v in (self.weights, self.means, self.stds))
        mean = mpmath.fsum(wk * mk for wk, mk in zip(w, m))
        second = mpmath.fsum(wk * (sk**2 + mk**2) for wk, mk, sk in zip(w, m, s))
        return mean, mpmath.sqrt(second - mean**2)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        return sum(w * np.exp(-(x - m) ** 2 / (2 * s * s)) / (s * math.sqrt(2 * math.pi))
                   for w, m, s in zip(self.weights, self.means, self.stds))

    def sample(self, n: int) -> torch.Tensor:
        """n draws as an (n, 1) float32 tensor, from torch's global RNG."""
        k = torch.multinomial(torch.tensor(self.weights), n, replacement=True)
        means, stds = torch.tensor(self.means), torch.tensor(self.stds)
        return (means[k] + stds[k] * torch.randn(n)).unsqueeze(-1)

    def describe(self) -> str:
        return " + ".join(f"{w:g} N({m:g}, {s:g}^2)" for w, m, s in zip(self.weights, self.means, self.stds))


#: P of the README's table: two well separated, unequal modes, so that mode-covering (KL) and mode-seeking
#: (reverse KL) fits differ clearly while KL, reverse KL, JS and Hellinger each have one local minimum.
DEFAULT = Mixture(weights=(0.75, 0.25), means=(-0.75, 2.25), stds=(0.7, 0.7))


# ------------------------------------------------------------------------------------ exact best fit

class _Objective:
    """D_f(P||N(mu, sigma^2)) and its gradient in (mu, log sigma): floats (numpy grid, scipy quad) to find
    the minimum, mpmath tanh-sinh quadrature at `dps` digits to pin it down and certify it."""

    def __init__(self, d: Derivation, mix: Mixture, dps: int):
        self.d, self.mix, self.dps = d, mix, dps
        g = d.f - d.f_at_one - d.f_prime_at_one * (U - 1)
        h = g - U * sp.diff(g, U)
        self.shift = d.f_at_one
        self.g_mp, self.h_mp = sp.lambdify(U, g, "mpmath"), sp.lambdify(U, h, "mpmath")
        self.g_np = sp.lambdify(U, g, ["scipy", "numpy"])
        self.h_float = _scalar_function(h)
        self.kinks = [float(b.ratio) for b in d.branches if b.kind == "kink"]
        self.log_w = np.log(np.array(mix.weights)) - np.log(np.array(mix.stds)) - 0.5 * math.log(2 * math.pi)
        with mpmath.workdps(dps + 10):  # per-component constants of log p, at the working precision
            self.mp_terms = [(mpmath.log(mpmath.mpf(w)) - mpmath.log(mpmath.mpf(s)) - mpmath.log(2 * mpmath.pi) / 2,
                              mpmath.mpf(m), 1 / (2 * mpmath.mpf(s) ** 2))
                             for w, m, s in zip(mix.weights, mix.means, mix.stds)]

    # -- log densities
    def _log_p(self, x: np.ndarray) -> np.ndarray:
        terms = self.log_w - (np.asarray(x)[..., None] - np.array(self.mix.means)) ** 2 / (2 * np.array(self.mix.stds) ** 2)
        return special.logsumexp(terms, axis=-1)

    def _log_p_mp(self, x):
        terms = [c - k * (x - m) ** 2 for c, m, k in self.mp_terms]
        top = max(terms)
        return top + mpmath.log(mpmath.fsum(mpmath.exp(t - top) for t in terms))

    @staticmethod
    def _log_q(x, mu, sigma, log=math.log):
        return -(x - mu) ** 2 / (2 * sigma * sigma) - log(sigma) - log(2 * math.pi) / 2

    # -- float stage
    def grid_values(self, mus: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
        """D_f on a grid of (mu, sigma) by the trapezoid rule: only a basin finder."""
        reach = 12 * max(max(self.mix.stds), float(np.max(sigmas)))
        x = np.linspace(min(self.mix.means) - reach, max(self.mix.means) + reach, 4001)
        log_p = self._log_p(x)
        log_q = self._log_q(x, mus[..., None], sigmas[..., None], np.log)
        keep = (log_q > -700) & (log_p > -700) & (np.abs(log_p - log_q) < 700)  # drop where a density underflows
        with np.errstate(all="ignore"):
            v = np.real(np.exp(log_q) * self.g_np(np.exp(np.where(keep, log_p - log_q, 0.0))))
        v = np.where(keep, v, 0.0)
        return np.trapezoid(np.where(np.isfinite(v), v, np.inf), x, axis=-1) + float(self.shift)

    def _breaks(self, mu: float, sigma: float) -> list[float]:
        """Means, and the x where p/q crosses a kink c of f (the integrands bend or jump there)."""
        pts = {*self.mix.means, mu}
        lo = min(*self.mix.means, mu) - 12 * max(*self.mix.stds, sigma)
        hi = max(*self.mix.means, mu) + 12 * max(*self.mix.stds, sigma)
        x = np.linspace(lo, hi, 2001)
        for c in self.kinks:
            ell = self._log_p(x) - self._log_q(x, mu, sigma, np.log) - math.log(c)
            for i in np.nonzero(np.sign(ell[:-1]) != np.sign(ell[1:]))[0]:
                pts.add(optimize.brentq(lambda y: float(self._log_p(y) - self._log_q(y, mu, sigma) - math.log(c)),
                                        x[i], x[i + 1], xtol=1e-15))
        return sorted(pts)

    def float_gradient(self, mu: float, log_sigma: float) -> np.ndarray:
        sigma = math.exp(log_sigma)
        pts = self._breaks(mu, sigma)

        comps = [(lw, m, 1 / (2 * s * s)) for lw, m, s in zip(self.log_w, self.mix.means, self.mix.stds)]

        def hq(x: float) -> float:
            lq = self._log_q(x, mu, sigma)
            terms = [c - k * (x - m) ** 2 for c, m, k in comps]
            top = max(terms)
            lp = top + math.log(sum(math.exp(t - top) for t in terms))
            if lq < -700 or abs(lp - lq) > 700:  # q, or q h(p/q), is below what a double resolves
                return 0.0
            value = math.exp(lq) * self.h_float(math.exp(lp - lq))
            return value if math.isfinite(value) else 0.0

        def integral(weight) -> float:
            edges = [-np.inf, *pts, np.inf]
            with warnings.catch_warnings():  # quad warns when 1e-13 is below the roundoff of a tail
                warnings.simplefilter("ignore", integrate.IntegrationWarning)
                return sum(integrate.quad(lambda x: hq(x) * weight(x), a, b, epsabs=1e-15, epsrel=1e-13,
                                          limit=200)[0] for a, b in zip(edges, edges[1:]))

        return np.array([integral(lambda x: (x - mu) / sigma**2), integral(lambda x: (x - mu) ** 2 / sigma**2 - 1)])

    # -- mpmath stage
    def _u_q(self, x, mu, sigma):
        log_q = -(x - mu) ** 2 / (2 * sigma * sigma) - mpmath.log(sigma) - mpmath.log(2 * mpmath.pi) / 2
        return mpmath.exp(self._log_p_mp(x) - log_q), mpmath.exp(log_q)

    def value(self, mu: float, sigma: float) -> mpmath.mpf:
        with mpmath.workdps(self.dps + 10):
            mu_, sigma_ = mpmath.mpf(mu), mpmath.mpf(sigma)
            if not self._finite(mu_, sigma_):
                return mpmath.inf

            def integrand(x):
                u, q = self._u_q(x, mu_, sigma_)
                return q * _real(self.g_mp(u))
            return mpmath.quad(integrand, self._intervals(mu, sigma, lambda x: abs(integrand(x)))) + self.shift

    def _intervals(self, mu: float, sigma: float, tail) -> list:
        """The breakpoints, closed by finite ends where `tail` (a bound on the integrands) has fallen below
        10^-(working digits + 2) of its largest value at the breakpoints: beyond them the integrals change by
        less than the working precision resolves, and tanh-sinh on a finite interval needs far fewer nodes.
        An end stays infinite when the tail has not fallen that far within 2000 scale units."""
        breaks = [mpmath.mpf(b) for b in self._breaks(mu, sigma)]
        peak = max(tail(b) for b in breaks)
        if not peak > 0:
            return [-mpmath.inf, *breaks, mpmath.inf]
        small = peak * mpmath.mpf(10) ** (-(mpmath.mp.dps + 2))
        scale = max(*self.mix.stds, sigma)
        ends = []
        for edge, side in ((breaks[0], -1), (breaks[-1], 1)):
            r, end = 4.0, None
            while r < 2000:
                x = edge + side * r * scale
                if tail(x) < small:
                    end = x
                    break
                r *= 1.5
            ends.append(end if end is not None else side * mpmath.inf)
        return [ends[0], *breaks, ends[1]]

    def gradient(self, mu, log_sigma, *, with_value: bool = False):
        """(dD/dmu, dD/dlog sigma) at `dps` digits, and D itself when with_value; the integrals share the
        integrand's nodes (tanh-sinh uses the same nodes for the same intervals), so u = p/q is computed once."""
        with mpmath.workdps(self.dps + 10):
            mu_, sigma_ = mpmath.mpf(mu), mpmath.exp(mpmath.mpf(log_sigma))
            cache: dict = {}

            def node(x):
                if x not in cache:
                    u, q = self._u_q(x, mu_, sigma_)
                    cache[x] = (q * _real(self.h_mp(u)), q, u)
                return cache[x]

            def tail(x):
                hq, q, u = node(x)
                return (abs(hq) + abs(q * _real(self.g_mp(u)))) * (1 + (x - mu_) ** 2 / sigma_**2)

            pts = self._intervals(float(mu_), float(sigma_), tail)
            d_mu = mpmath.quad(lambda x: node(x)[0] * (x - mu_) / sigma_**2, pts)
            d_ls = mpmath.quad(lambda x: node(x)[0] * ((x - mu_) ** 2 / sigma_**2 - 1), pts)
            if not with_value:
                return d_mu, d_ls
            if not self._finite(mu_, sigma_):
                return d_mu, d_ls, mpmath.inf
            value = mpmath.quad(lambda x: node(x)[1] * _real(self.g_mp(node(x)[2])), pts) + self.shift
            return d_mu, d_ls, value

    def _finite(self, mu, sigma) -> bool:
        """The log-integrand falls by > 10 between 50, 100 and 200 scale units beyond the outer means (its
        tails are asymptotically quadratic in x, so it either falls off or grows)."""
        scale = max(*self.mix.stds, float(sigma))
        for side in (-1, 1):
            edge = max(*self.mix.means, float(mu)) if side > 0 else min(*self.mix.means, float(mu))
            logs = []
            for r in (50, 100, 200):
                u, q = self._u_q(mpmath.mpf(edge + side * r * scale), mu, sigma)
                value = q * _real(self.g_mp(u))
                logs.append(mpmath.log(value) if value > 0 else -mpmath.inf)
            if logs[2] == -mpmath.inf:
                continue
            if not (logs[1] < logs[0] - 10 and logs[2] < logs[1] - 10):
                return False
        return True


def _scalar_function(expr: sp.Expr):
    """expr(u) on Python floats: the math module (fast on scalars), Lambert W from scipy, real part kept."""
    fn = sp.lambdify(U, expr, [{"LambertW": lambda z: float(special.lambertw(z).real)}, "math"])

    def call(u: float) -> float:
        try:
            return float(fn(u))
        except (ValueError, OverflowError, ZeroDivisionError):
            return math.nan
    return call


def _real(y):
    return y.real if isinstance(y, mpmath.mpc) else y


@dataclass(frozen=True)
class Fit:
    mu: float
    sigma: float
    divergence: float
    gradient_norm: float = math.nan  # |grad D| at theta*, evaluated at `dps` digits


def _hessian(obj: _Objective, th: np.ndarray, step: float = 1e-5) -> np.ndarray:
    cols = [(obj.float_gradient(*(th + e)) - obj.float_gradient(*(th - e))) / (2 * step)
            for e in (np.array([step, 0.0]), np.array([0.0, step]))]
    hess = np.column_stack(cols)
    return (hess + hess.T) / 2


@functools.lru_cache(maxsize=64)
def _derived(name: str) -> Derivation:
    """Catalogue derivations at their defaults, derived once per process (read-only here)."""
    return derive(name)


def _derivation(spec: str | Derivation, params: dict | None = None) -> Derivation:
    if isinstance(spec, Derivation):
        return spec
    return derive(spec, **params) if params else _derived(spec)


def best_fit(spec: str | Derivation, mix: Mixture = DEFAULT, *, dps: int = 30) -> Fit:
    """theta* = argmin over (mu, sigma) of D_f(P||N(mu, sigma^2)).

    1. basin: D_f on a 25 x 19 grid of (mu, log sigma) (trapezoid rule), then Nelder-Mead on it;
    2. Newton on grad D_f = 0 with scipy's adaptive quadrature (gradient to ~1e-13), the Hessian by central
       differences of the gradient, which must be positive definite (a minimum, not a saddle);
    3. one Newton step more with the gradient at `dps` digits (mpmath), and |grad D_f| there, reported.
    """
    d = _derivation(spec)
    obj = _Objective(d, mix, dps)
    sd = float(mix.moments()[1])
    mus = np.linspace(min(mix.means) - 1, max(mix.means) + 1, 25)
    log_sigmas = np.linspace(math.log(min(mix.stds) / 3), math.log(3 * sd), 19)
    grid = obj.grid_values(mus[:, None], np.exp(log_sigmas)[None, :])
    i, j = np.unravel_index(np.argmin(grid), grid.shape)
    if not np.isfinite(grid[i, j]):
        raise FdivError(f"{d.name}: D_f(P||Q) is infinite for every Gaussian Q tried")
    res = optimize.minimize(lambda th: float(obj.grid_values(np.array(th[0]), np.exp(np.array(th[1])))),
                            [mus[i], log_sigmas[j]], method="Nelder-Mead", options={"xatol": 1e-3, "fatol": 1e-9})
    th = np.array(res.x, dtype=float)
    for _ in range(20):
        hess = _hessian(obj, th)
        if np.linalg.eigvalsh(hess).min() <= 0:
            raise FdivError(f"{d.name}: the Hessian of D_f is not positive definite at {th.tolist()}")
        delta = np.linalg.solve(hess, obj.float_gradient(*th))
        th = th - delta
        if np.abs(delta).max() < 1e-12 * (1 + np.abs(th).max()):
            break
    else:
        raise FdivError(f"{d.name}: Newton's method on grad D_f did not converge")
    if np.abs(th - res.x).max() > 0.05:
        raise FdivError(f"{d.name}: Newton's method left the basin of the float minimum")
    with mpmath.workdps(dps + 10):
        grad = obj.gradient(*th)
        mp_th = [mpmath.mpf(th[0]), mpmath.mpf(th[1])]
        step = mpmath.lu_solve(mpmath.matrix(hess.tolist()), mpmath.matrix(list(grad)))
        mp_th = [mp_th[0] - step[0], mp_th[1] - step[1]]
        d_mu, d_ls, value = obj.gradient(*mp_th, with_value=True)
        return Fit(float(mp_th[0]), float(mpmath.exp(mp_th[1])), float(value), float(mpmath.sqrt(d_mu**2 + d_ls**2)))


def divergence_at(spec: str | Derivation, mu: float, sigma: float, mix: Mixture = DEFAULT, *, dps: int = 30) -> float:
    """D_f(P||N(mu, sigma^2)) at `dps` digits (+inf where it is infinite)."""
    return float(_Objective(_derivation(spec), mix, dps).value(mu, sigma))


# ------------------------------------------------------------------------------------------- training

def train_fit(spec: str, mix: Mixture = DEFAULT, *, steps: int = 1000, batch_size: int = 1024, lr: float = 0.02,
              seed: int = 0, hidden: tuple[int, ...] = (32, 32), dps: int = 30, progress: bool | None = None,
              **params) -> tuple[Fit, History]:
    """theta-hat: an affine generator G(z) = sigma z + mu, started at N(0, 1), trained with the generated loss
    of `spec` by the single-step scheme against a SiLU critic; D_f at theta-hat by mpmath quadrature."""
    from ..train import affine_parameters, fit_generator, load_loss, mlp, set_seed

    set_seed(seed)
    generator = torch.nn.Linear(1, 1)
    with torch.no_grad():
        generator.weight.fill_(1.0)
        generator.bias.fill_(0.0)
    critic = mlp(1, hidden)
    history = fit_generator(load_loss(spec, **params), mix.sample, generator, critic, steps,
                            scheme="single-step", batch_size=batch_size, lr=lr, seed=seed, progress=progress,
                            threads=1)
    mu, sigma = affine_parameters(generator)
    return Fit(mu, sigma, divergence_at(_derivation(spec, params), mu, sigma, mix, dps=dps)), history


@dataclass(frozen=True)
class Row:
    name: str
    star: Fit
    hat: Fit | None = None

    def error(self) -> float:
        """max(|mu-hat - mu*|, |sigma-hat - sigma*|), NaN without a trained fit."""
        if self.hat is None:
            return math.nan
        return max(abs(self.hat.mu - self.star.mu), abs(self.hat.sigma - self.star.sigma))

    def to_json(self) -> dict:
        def fit(f: Fit | None):
            if f is None:
                return None
            return {"mu": f.mu, "sigma": f.sigma, "divergence": "inf" if math.isinf(f.divergence) else f.divergence}
        star = fit(self.star) | {"gradient_norm": self.star.gradient_norm}
        return {"divergence": self.name, "best_fit": star, "trained": fit(self.hat),
                "error": None if self.hat is None else self.error()}


def run(names: list[str] | None = None, mix: Mixture = DEFAULT, *, train: bool = True, steps: int = 1000,
        seed: int = 0, dps: int = 30, progress: bool | None = None) -> list[Row]:
    """theta* (and theta-hat when `train`) for each named divergence (default: the whole catalogue, at the
    parameters' defaults)."""
    rows = []
    for name in names or catalogue.names():
        if catalogue.find(name) is None:
            raise FdivError(f"unknown divergence {name!r} (see 'fdiv list')")
        d = _derivation(catalogue.find(name).name)
        label = d.name
        if d.parameters:
            label += "(" + ", ".join(f"{k}={v}" for k, v in d.parameters.items()) + ")"
        star = best_fit(d, mix, dps=dps)
        hat = train_fit(name, mix, steps=steps, seed=seed, dps=dps, progress=progress)[0] if train else None
        rows.append(Row(label, star, hat))
    return rows


def _number(x: float, digits: int = 4) -> str:
    if math.isinf(x):
        return "inf"
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.0000"


def table(rows: list[Row], fmt: str = "markdown") -> str:
    """The results as a markdown or plain-text table (JSON: a list of Row.to_json())."""
    import json

    if fmt == "json":
        return json.dumps([r.to_json() for r in rows], indent=1)
    header = ["divergence", "mu*", "sigma*", "D_f(P‖Q*)", "mu-hat", "sigma-hat", "D_f(P‖Q-hat)", "max error"]
    body = []
    for r in rows:
        cells = [r.name, _number(r.star.mu), _number(r.star.sigma), _number(r.star.divergence)]
        if r.hat is None:
            cells += ["", "", "", ""]
        else:
            cells += [_number(r.hat.mu), _number(r.hat.sigma), _number(r.hat.divergence), _number(r.error(), 3)]
        body.append(cells)
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        return "\n".join(lines + ["| " + " | ".join(c) + " |" for c in body])
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    return "\n".join("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()
                     for row in [header, *body])


# ------------------------------------------------------------------------------------ the training page's block

BEGIN = "<!-- mixture:begin (docs/mixture.md, written by make figures) -->"
END = "<!-- mixture:end -->"


def readme_synced(readme: Path, table: Path, *, write: bool = False) -> bool:
    """Whether the page's block between the mixture markers holds docs/mixture.md; with write, make it so."""
    text, block = readme.read_text(encoding="utf-8"), table.read_text(encoding="utf-8").strip()
    head, sep, rest = text.partition(BEGIN)
    _, sep2, tail = rest.partition(END)
    if not (sep and sep2):
        raise FdivError(f"{readme}: the markers {BEGIN!r} and {END!r} are missing")
    wanted = f"{head}{BEGIN}\n{block}\n{END}{tail}"
    if write and wanted != text:
        from .._util.atomic import write_bytes

        write_bytes(readme, wanted.encode("utf-8"))
    return write or wanted == text


if __name__ == "__main__":  # python -m fdiv.experiments.mixture --write-readme (make figures)
    import sys

    root = Path(__file__).resolve().parents[2]
    ok = readme_synced(root / "docs" / "training.md", root / "docs" / "mixture.md", write="--write-readme" in sys.argv)
    sys.exit(0 if ok else 1)
