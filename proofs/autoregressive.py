"""Autoregressive models and their maximum likelihood (notes 004 §1.2 "Chain Rule", §2.3 FVSBN, §2.4 NADE,
§2.6 RNADE, §2.7 MADE, §3.2 "MLE for Autoregressive Models").

The parameter counts are checked against actual torch modules (`numel()`), and NADE's shared-weight recursion and
the FVSBN likelihood gradient against torch computations in float64.
"""
from __future__ import annotations

import functools
import itertools
import random
import warnings

import sympy as sp

from . import gaussian
from .engine import Proof, Source, integral

TITLE = "Autoregressive models: chain rule, FVSBN, NADE, RNADE, MADE, MLE"

i, n = sp.symbols("i n", positive=True, integer=True)


def sigmoid(z):
    return 1 / (1 + sp.exp(-z))


def chain_rule() -> Proof:
    M = sp.Function("M", positive=True)  # M(i) = p(x_1, ..., x_i), M(0) = 1
    telescoping = ("a telescoping sum", lambda e: e.doit())
    return (Proof("Chain rule: the product of the conditionals is the joint", Source("004", "1.2 Background, Chain Rule", 228),
                  "with the conditionals p(x_i | x_<i) = M_i/M_(i-1), M_i the marginal of the first i variables "
                  "and M_0 = 1: log of the product = sum of log M_i - log M_(i-1) = log M_n, the joint (any n)")
            .start(sp.Sum(sp.log(M(i)) - sp.log(M(i - 1)), (i, 1, n)))
            .eq(sp.log(M(n)) - sp.log(M(0)), "the sum telescopes", rewrites=[telescoping])
            .eq(sp.log(M(n)), "M_0 = 1", rewrites=[("M_0 = 1 (the empty marginal)", {M(0): 1})]))


def fvsbn() -> Proof:
    """3 binary variables, p(x_1 = 1) = a, p(x_i = 1 | x_<i) = sigmoid(b_i0 + sum_j b_ij x_j), symbolic."""
    a = sp.Symbol("a", positive=True)  # p(x_1 = 1), 0 < a < 1
    b = {(k, j): sp.Symbol(f"b{k}{j}", real=True) for k in (2, 3) for j in range(k)}

    def cond(k: int, xs: tuple) -> sp.Expr:  # p(X_k = 1 | x_<k)
        if k == 1:
            return a
        return sigmoid(b[(k, 0)] + sum(b[(k, j)] * xs[j - 1] for j in range(1, k)))

    def joint(xs: tuple) -> sp.Expr:
        out = sp.S.One
        for k in (1, 2, 3):
            pk = cond(k, xs)
            out *= pk if xs[k - 1] == 1 else 1 - pk
        return out

    configs = list(itertools.product((0, 1), repeat=3))
    proof = Proof("FVSBN with 3 variables: the chain-rule product is a joint whose conditionals are the sigmoids",
                  Source("004", "2.3 Fully Visible Sigmoid Belief Network (FVSBN)", 445),
                  "p(x) = p(x_1) p(x_2|x_1) p(x_3|x_1, x_2) with p(x_1 = 1) = a and sigmoid conditionals "
                  "(all parameters symbolic): the 8 probabilities sum to 1, and the conditionals computed from "
                  "the joint by brute-force marginalisation are the sigmoids")
    proof.start(sum(joint(c) for c in configs)).eq(1, "the joint sums to 1 over the 8 configurations")
    for x1, x2 in itertools.product((0, 1), repeat=2):
        brute = joint((x1, x2, 1)) / (joint((x1, x2, 0)) + joint((x1, x2, 1)))
        proof.start(brute).eq(cond(3, (x1, x2, 0)), f"p(x3 = 1 | x1 = {x1}, x2 = {x2}) from the joint")
    for x1 in (0, 1):
        num = sum(joint((x1, 1, x3)) for x3 in (0, 1))
        den = sum(joint((x1, x2, x3)) for x2 in (0, 1) for x3 in (0, 1))
        proof.start(num / den).eq(cond(2, (x1, 0, 0)), f"p(x2 = 1 | x1 = {x1}) from the joint")
    return proof


@functools.cache
def _torch():
    import torch  # a dependency of the package; imported only for these checks

    return torch


def _fvsbn_module(d: int):
    torch = _torch()
    # conditional i (1-based) is a logistic regression on the i - 1 earlier variables; the first is a CPT.
    # On the meta device: shapes and numel() without allocating or initialising 784 weight tensors. The first
    # layer, Linear(0, 1), is the CPT's bias alone: torch's note that a zero-element weight is not initialised is
    # expected there
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Initializing zero-element tensors is a no-op", UserWarning)
        return torch.nn.ModuleList([torch.nn.Linear(k, 1, device="meta") for k in range(d)])


def _nade_module(d: int, hidden: int):
    torch = _torch()
    return torch.nn.ModuleDict({"W_c": torch.nn.Linear(d, hidden, device="meta"),
                                "alpha_b": torch.nn.Linear(hidden, d, device="meta")})


def _made_module(d: int, hidden: int):
    """MADE with one hidden layer: masked linear layers, the masks kept as buffers (not parameters)."""
    torch = _torch()

    class MaskedLinear(torch.nn.Linear):
        def __init__(self, n_in: int, n_out: int):
            super().__init__(n_in, n_out, device="meta")
            self.register_buffer("mask", torch.ones(n_out, n_in, device="meta"))

        def forward(self, x):
            return torch.nn.functional.linear(x, self.weight * self.mask, self.bias)

    return torch.nn.Sequential(MaskedLinear(d, hidden), torch.nn.ReLU(), MaskedLinear(hidden, d))


def parameter_counts() -> Proof:
    d = sp.Symbol("d", positive=True, integer=True)
    H = sp.Symbol("H", positive=True, integer=True)
    d0, h0, k0 = 784, 500, 5
    torch_count = "exact computation (torch numel)"
    return (Proof("Parameter counts: FVSBN, NADE, MADE, RNADE against torch modules",
                  Source("004", "2.3 FVSBN, 2.4 NADE, 2.6 RNADE", 453),
                  "FVSBN: 1 + 2 + ... + d = d(d + 1)/2 ~ d^2/2; NADE with tied weights: W (H x d), c (H), alpha_i "
                  "(H) and b_i for each i: H d + H + d (H + 1) = 2 H d + H + d, linear in d; an RNADE head with K "
                  "equal-weight Gaussians: 2 K outputs (means and log-scales) per conditional. Checked against the "
                  f"numel() of torch modules for d = {d0} (28 x 28 pixels), H = {h0}, K = {k0}")
            .start(sp.Sum(i, (i, 1, d)))
            .eq(d * (d + 1) / 2, "arithmetic series", rewrites=[("evaluate the sum", lambda e: e.doit())])
            .limit(d * (d + 1) / 2 / (d**2 / 2), d, sp.oo, 1, "d(d + 1)/2 ~ d^2/2")
            .computed("FVSBN numel", lambda: sum(p.numel() for p in _fvsbn_module(d0).parameters()),
                      (d * (d + 1) / 2).subs(d, d0), "one Linear(i - 1, 1) per conditional", method=torch_count)
            .computed("NADE numel", lambda: sum(p.numel() for p in _nade_module(d0, h0).parameters()),
                      (2 * H * d + H + d).subs({d: d0, H: h0}), "Linear(d, H) for W, c; Linear(H, d) for the alpha_i, b_i",
                      method=torch_count)
            .computed("MADE numel", lambda: sum(p.numel() for p in _made_module(d0, h0).parameters()),
                      (d0 * h0 + h0) + (h0 * d0 + d0),
                      "MADE with one hidden layer: masked Linear(n, H) and Linear(H, n); the masks are buffers, so "
                      "the count is n H + H + H n + n, as for NADE's tied weights", method=torch_count)
            .computed("RNADE head numel",
                      lambda: sum(p.numel() for p in _torch().nn.Linear(h0, 2 * k0, device="meta").parameters()),
                      (2 * k0) * (h0 + 1), "Linear(H, 2K): K means and K log-scales per conditional",
                      method=torch_count))


def nade_recursion() -> Proof:
    """d = 4 binary variables, H = 3 hidden units, random weights (seeded), float64."""
    d, H = 4, 3

    def worst_and_total():
        torch = _torch()
        gen = torch.Generator().manual_seed(0)
        W = torch.randn(H, d, generator=gen, dtype=torch.float64)
        c = torch.randn(H, generator=gen, dtype=torch.float64)
        alpha = torch.randn(d, H, generator=gen, dtype=torch.float64)
        b = torch.randn(d, generator=gen, dtype=torch.float64)
        worst, total = 0.0, 0.0
        for config in itertools.product((0.0, 1.0), repeat=d):
            xv = torch.tensor(config, dtype=torch.float64)
            a = c.clone()  # a_1 = c; a_(i+1) = a_i + W[:, i] x_i: O(H d) for all conditionals
            prob = 1.0
            for k in range(d):
                direct = torch.sigmoid(W[:, :k] @ xv[:k] + c)  # h_k = sigma(W_(:, <k) x_<k + c)
                recur = torch.sigmoid(a)
                worst = max(worst, float((direct - recur).abs().max()))
                pk = torch.sigmoid(alpha[k] @ recur + b[k])
                prob *= float(pk if config[k] == 1.0 else 1 - pk)
                a = a + W[:, k] * xv[k]
            total += prob
        return worst, total

    # float64: the recursion and the direct product differ by rounding only (< 1e-15 relative on O(1) values);
    # the sum of 16 products of 4 probabilities is 1 to ~1e-15
    return (Proof("NADE: the shared-weight recursion gives the same conditionals, and the joint sums to 1",
                  Source("004", "2.4 Neural Autoregressive Density Estimation (NADE)", 475),
                  "h_i = sigma(W_(:, <i) x_<i + c) computed directly and by the recursion a_(i+1) = a_i + W_(:, i) "
                  "x_i agree (torch, float64, d = 4, H = 3, seeded random weights), and the chain-rule product "
                  "sums to 1 over all 16 binary vectors")
            .computed("max |direct - recursion|", lambda: sp.Float(worst_and_total()[0], 20), 0,
                      "the same hidden units", method="numeric (torch float64)", tol=1e-12)
            .computed("sum of p(x) over {0, 1}^4", lambda: sp.Float(worst_and_total()[1], 20), 1,
                      "a normalised joint", method="numeric (torch float64)", tol=1e-12))


def rnade_mixture() -> Proof:
    xx = sp.Symbol("x", real=True)
    mus = sp.symbols("mu1:4", real=True)
    sig = sp.symbols("sigma1:4", positive=True)
    mixture = sum(gaussian.gaussian(xx, m, s**2) / 3 for m, s in zip(mus, sig))
    return (Proof("RNADE: an equal-weight mixture of K Gaussians is a density", Source("004", "2.6 RNADE", 527),
                  "p(x_i | x_<i) = sum_j (1/K) N(x_i; mu_j, sigma_j^2) integrates to 1 (K = 3, symbolic means and "
                  "scales; sigma_j = exp(.) > 0 keeps each scale positive)", var=xx)
            .start(integral(mixture, xx))
            .eq(1, "each component integrates to 1 (moment 0)", rewrites=[gaussian.moments_rule(xx)]))


def made_masks() -> Proof:
    """MADE with ordering x2, x3, x1 (the note's example), two hidden layers of 4 units."""
    order = {2: 1, 3: 2, 1: 3}  # variable -> its position in the ordering
    nvar, width = 3, 4
    rng = random.Random(1)
    m1 = [rng.randint(1, nvar - 1) for _ in range(width)]
    m2 = [rng.randint(min(m1), nvar - 1) for _ in range(width)]

    def reach() -> list[list[int]]:
        # mask rules: hidden unit k (number m(k)) connects to units of the previous layer with number <= m(k);
        # an output (position p) connects to hidden units with number < p
        in_h1 = [[1 if order[v] <= m1[k] else 0 for v in (1, 2, 3)] for k in range(width)]
        h1_h2 = [[1 if m1[j] <= m2[k] else 0 for j in range(width)] for k in range(width)]
        h2_out = [[1 if m2[k] < order[v] else 0 for k in range(width)] for v in (1, 2, 3)]
        paths_h2 = [[sum(h1_h2[k][j] * in_h1[j][v] for j in range(width)) for v in range(3)] for k in range(width)]
        return [[sum(h2_out[o][k] * paths_h2[k][v] for k in range(width)) for v in range(3)] for o in range(3)]

    def violations() -> int:  # paths from an input to an output that is not later in the ordering
        r = reach()
        return sum(r[o][v] for o in range(3) for v in range(3) if order[v + 1] >= order[o + 1])

    return (Proof("MADE: the masks make the autoencoder autoregressive", Source("004", "2.7 MADE", 599),
                  f"ordering x2, x3, x1; hidden numbers m1 = {m1}, m2 = {m2} drawn in [1, n - 1]; masks connect "
                  "units with smaller or equal numbers (strictly smaller into the outputs): counting the paths "
                  "through both layers, no output depends on an input that is not earlier in the ordering")
            .computed("paths to outputs from inputs not earlier", violations, 0, "exact path counting",
                      method="exact computation (integer mask products)"))


def mle_ar() -> Proof:
    th = sp.symbols("theta1:4", real=True)
    P = [sp.Function(f"p{k}", positive=True) for k in (1, 2, 3)]  # conditional k, own parameters theta_k
    data = [(sp.Symbol(f"u{j}{k}", real=True) for k in (1, 2, 3)) for j in (1, 2)]
    data = [tuple(sp.Symbol(f"u{j}{k}", real=True) for k in (1, 2, 3)) for j in (1, 2)]
    loglik = sum(sp.log(P[k](row[k], th[k])) for row in data for k in range(3))
    likelihood = sp.Mul(*[P[k](row[k], th[k]) for row in data for k in range(3)])
    return (Proof("MLE for AR models: the log-likelihood separates, and so does its gradient",
                  Source("004", "3.2 MLE for Autoregressive Models", 880),
                  "for m = 2 examples and n = 3 conditionals with separate parameters theta_i: log L = sum over "
                  "examples and conditionals of log p(x_i | x_<i; theta_i), and the gradient in theta_i keeps only "
                  "the i-th conditional's terms (each conditional can be fitted on its own)")
            .start(sp.log(likelihood))
            .eq(loglik, "the log of a product of positive factors")
            .start(sp.Derivative(loglik, th[1]))
            .eq(sum(sp.diff(sp.log(P[1](row[1], th[1])), th[1]) for row in data),
                "only the terms of conditional 2 depend on theta_2"))


def fvsbn_gradient() -> Proof:
    xk = sp.Symbol("x_k", real=True)  # 0 or 1
    ak = sp.Symbol("a", real=True)  # the logit alpha_0 + sum alpha_j x_j
    bern = xk * sp.log(sigmoid(ak)) + (1 - xk) * sp.log(1 - sigmoid(ak))

    def worst():
        torch = _torch()
        gen = torch.Generator().manual_seed(0)
        d, m = 4, 6
        data = (torch.rand(m, d, generator=gen, dtype=torch.float64) > 0.5).to(torch.float64)
        alphas = [torch.randn(k + 1, generator=gen, dtype=torch.float64, requires_grad=True) for k in range(d)]
        loglik = 0.0
        for k in range(d):
            logits = alphas[k][0] + data[:, :k] @ alphas[k][1:]
            loglik = loglik + (data[:, k] * torch.nn.functional.logsigmoid(logits)
                               + (1 - data[:, k]) * torch.nn.functional.logsigmoid(-logits)).sum()
        loglik.backward()
        out = 0.0
        for k in range(d):
            logits = alphas[k][0] + data[:, :k] @ alphas[k][1:]
            resid = data[:, k] - torch.sigmoid(logits)  # the closed-form gradient: sum_j (x_k - sigma) (1, x_<k)
            closed = torch.cat([resid.sum().reshape(1), data[:, :k].T @ resid]).detach()
            out = max(out, float((alphas[k].grad - closed).abs().max()))
        return out

    # float64 autograd against the closed form: rounding only, far below 1e-12 for O(1) sums of 6 terms
    return (Proof("FVSBN maximum likelihood: the gradient of each conditional", Source("004", "3.2 MLE for Autoregressive Models", 900),
                  "d/da log Bern(x; sigmoid(a)) = x - sigmoid(a), so the gradient of the log-likelihood in alpha^k is "
                  "sum over examples of (x_k - sigmoid(a_k)) (1, x_<k); torch autograd agrees (float64, d = 4, six "
                  "examples, seeded)")
            .start(sp.Derivative(bern, ak))
            .eq(xk - sigmoid(ak), "derivative of the Bernoulli log-likelihood in its logit")
            .computed("max |autograd - closed form|", lambda: sp.Float(worst(), 20), 0, "the same gradient",
                      method="numeric (torch float64)", tol=1e-12))


def proofs() -> list[Proof]:
    return [chain_rule(), fvsbn(), parameter_counts(), nade_recursion(), rnade_mixture(), made_masks(), mle_ar(),
            fvsbn_gradient()]
