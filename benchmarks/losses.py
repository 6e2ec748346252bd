"""critic_loss + backward: fdiv's generated modules against hand-written stable torch and naive SymPy lambdify.

Run: python benchmarks/losses.py [--sizes 1e6 1e7] [--repeat 15] [--device cpu|cuda]

For GAN, JS (the f-GAN row), KL, squared Hellinger and Jeffrey, on float32 logits, each timing is the median of
`repeat` runs of loss(v_real, v_fake).backward(), the three implementations interleaved round by round (first place
rotating) so drift in machine load hits them alike. Ratios are generated / hand-written and generated / lambdify, measured in the
same run. The naive version lambdifies the f-GAN paper's published conjugate and activation with SymPy's torch
printer (constants pre-evaluated so that it runs at all); Jeffrey's needs Lambert W, which torch lacks, so it
has none. Acceptance: median ratio generated / hand-written <= 1.10 for GAN, JS and KL (CPU, eager).
"""
from __future__ import annotations

import argparse
import importlib
import math
import statistics
import time

import sympy as sp
import torch
import torch.nn.functional as F

from fdiv import catalogue
from fdiv.conjugate import T
from fdiv.parse import EXTENDED, parse

LOG2 = math.log(2.0)


# Hand-written stable versions: what a careful engineer writes for each sigma_f and f*(sigma_f).
def gan(v_real, v_fake):
    return F.softplus(v_fake).mean() + F.softplus(-v_real).mean()


def js(v_real, v_fake):
    return (F.softplus(v_fake) - LOG2).mean() - (LOG2 - F.softplus(-v_real)).mean()


def kl(v_real, v_fake):
    return torch.exp(v_fake - 1).mean() - v_real.mean()


def hellinger(v_real, v_fake):
    # sigma = 1 - softplus(-v), f*(t) = t/(1 - t): f*(sigma) = 1/softplus(-v) - 1 = expm1(-log softplus(-v))
    return torch.expm1(-torch.log(F.softplus(-v_fake))).mean() - (1 - F.softplus(-v_real)).mean()


def _omega(x):
    """W(e^x) by Newton's method in the input's dtype, differentiated through the iterations."""
    w = F.softplus(x)
    for _ in range(4):
        w = w * (1 + (x - w - torch.log(w)) / (1 + w))
    return w


def jeffrey(v_real, v_fake):
    w = _omega(1 - v_fake)  # f*(t) = W(e^(1-t)) + 1/W(e^(1-t)) + t - 2, sigma = v
    return (w + 1 / w + v_fake - 2).mean() - v_real.mean()


CASES = {"gan": gan, "jensen-shannon": js, "kl": kl, "squared-hellinger": hellinger, "jeffrey": jeffrey}


def naive(name: str):
    """The published conjugate and activation, composed and lambdified with SymPy's torch printer."""
    published = catalogue.get(name).published
    v = sp.Symbol("v")
    sigma = parse(published["activation"], {"v": v}, functions=EXTENDED)
    conj = parse(published["conjugate"], {"t": T}, functions=EXTENDED)
    if conj.has(sp.LambertW):
        return None
    act = sp.lambdify(v, sp.N(sigma), "torch")
    conj_act = sp.lambdify(v, sp.N(conj.subs(T, sigma)), "torch")

    def loss(v_real, v_fake):
        return conj_act(v_fake).mean() - act(v_real).mean()
    return loss


def generated(name: str):
    return importlib.import_module(f"fdiv.losses.{name.replace('-', '_')}").critic_loss


def timed(fn, v_real, v_fake, sync) -> float:
    v_real.grad = v_fake.grad = None
    sync()
    start = time.perf_counter()
    fn(v_real, v_fake).backward()
    sync()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=float, nargs="+", default=[1e6, 1e7])
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, float32, "
          f"median of {args.repeat}")
    print(f"{'divergence':18} {'n':>6} {'generated':>11} {'hand':>11} {'lambdify':>11} {'gen/hand':>9} {'gen/lamb':>9}")
    gen = torch.Generator().manual_seed(0)
    for n in (int(s) for s in args.sizes):
        v_real = (torch.randn(n, generator=gen) * 3).to(device).requires_grad_()
        v_fake = (torch.randn(n, generator=gen) * 3).to(device).requires_grad_()
        for name, hand in CASES.items():
            impls = {"generated": generated(name), "hand": hand, "lambdify": naive(name)}
            times: dict[str, list[float]] = {k: [] for k, fn in impls.items() if fn is not None}
            for k in times:  # warm-up
                timed(impls[k], v_real, v_fake, sync)
            order = list(times)
            for r in range(args.repeat):  # rotate who goes first: caches and allocator state favour no one
                for k in order[r % len(order):] + order[:r % len(order)]:
                    times[k].append(timed(impls[k], v_real, v_fake, sync))
            med = {k: statistics.median(x) for k, x in times.items()}
            lamb = f"{med['lambdify'] * 1e3:9.2f}ms" if "lambdify" in med else f"{'none':>11}"
            ratio_l = f"{med['generated'] / med['lambdify']:9.2f}" if "lambdify" in med else f"{'-':>9}"
            print(f"{name:18} {n:6.0e} {med['generated'] * 1e3:9.2f}ms {med['hand'] * 1e3:9.2f}ms {lamb} "
                  f"{med['generated'] / med['hand']:9.2f} {ratio_l}")


if __name__ == "__main__":
    main()
