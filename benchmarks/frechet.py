"""Frechet distance (W2^2 / FID) on rank-deficient, ill-conditioned covariances: fdiv's factor + SVD formula
against the widespread scipy.linalg.sqrtm(Sp @ Sq) formula, both measured in this run against an exact
reference (the W2 of the exact low-rank factors, in mpmath at 40 digits).

Run: python benchmarks/frechet.py [--trials N]. Prints, per case, each method's relative error, whether it
returned a complex or negative or non-finite value, and the time ratio sqrtm / fdiv.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import linalg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from numerics.gaussian import frechet_distance  # noqa: E402
from tests.test_numerics_closed_forms import _low_rank, _w2_reference  # noqa: E402

from finite import FINITE  # noqa: E402


def sqrtm_fid(mu1, s1, mu2, s2):
    """The common FID code path: covmean = sqrtm(s1 @ s2), drop the imaginary part."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        covmean = linalg.sqrtm(s1 @ s2)
    complex_part = float(np.abs(np.imag(covmean)).max()) if np.iscomplexobj(covmean) else 0.0
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean)), complex_part


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3)
    trials = parser.parse_args().trials
    print(f"{'case':32} {'method':8} {'rel. error':>11} {'|imag|':>9} {'time ms':>8}")
    for d, r, spread in ((64, 10, 3), (64, 64, 2), (128, 10, 4), (16, 3, 5)):
        rng = np.random.default_rng(d + r)
        a_p, a_q = _low_rank(rng, d, r, spread), _low_rank(rng, d, r, spread)
        mu_p, mu_q = rng.normal(size=d), rng.normal(size=d)
        s_p, s_q = a_p @ a_p.T, a_q @ a_q.T
        ref = float(_w2_reference(mu_p, a_p, mu_q, a_q))
        case = f"d={d} rank={r} cond=1e{4 * spread}"
        times = {}
        for name, fn in (("fdiv", lambda: (frechet_distance(mu_p, s_p, mu_q, s_q), 0.0)),
                         ("sqrtm", lambda: sqrtm_fid(mu_p, s_p, mu_q, s_q))):
            start = time.perf_counter()
            for _ in range(trials):
                value, imag = fn()
            times[name] = (time.perf_counter() - start) / trials
            err = abs(value - ref) / ref
            if name == "fdiv":  # sqrtm's failures (complex, negative, inf) are what this benchmark shows
                FINITE.check(f"{case} fdiv relative error", err)
            flag = "" if np.isfinite(value) and value >= 0 and err <= 1e-8 else "  <- fails 1e-8"
            print(f"{case:32} {name:8} {err:11.2e} {imag:9.1e} {1e3 * times[name]:8.2f}{flag}")
        ratio = FINITE.check(f"{case} time ratio", times["sqrtm"] / times["fdiv"])
        print(f"{case:32} time ratio sqrtm / fdiv = {ratio:.2f}")
    return FINITE.exit_code()


if __name__ == "__main__":
    sys.exit(main())
