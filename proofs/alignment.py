"""RL-based alignment (notes 000 "Family of DGMs" 6. "RL-Based Alignment for LLMs: RLHF, PPO, DPO"; 002 "RL-based
alignment for LLMs, RLHF, PPO, DPO", a heading the notes leave without a derivation): the KL-regularised
objective and its optimum, DPO, and f-DPO with the condition on f that makes the normaliser cancel.

References: the Gibbs variational principle (Donsker and Varadhan, 1975); Ziegler et al. (2019), "Fine-tuning
language models from human preferences"; Rafailov et al. (2023), "Direct Preference Optimization"; Wang et al.
(2023), "Beyond Reverse KL: Generalizing DPO with Diverse Divergence Constraints".

Responses y range over a finite set; an integral over y is the sum over responses (counting measure), and
pi(y), pi_ref(y) are probabilities that sum to 1. Convention: D_f(pi||pi_ref) = E_pi_ref[f(pi/pi_ref)], so
KL(pi||pi_ref) is fdiv's `kl`, f = u log u.
"""
from __future__ import annotations

import functools
import importlib.util
import tempfile
from pathlib import Path

import sympy as sp

from fdiv.spec import catalogue
from fdiv.spec.spec import U

from .derivations import derivation
from .engine import Proof, Source, integral
from .gan import sigmoid
from .lemmas import log_bound

TITLE = "RL-based alignment: KL-regularised RL, DPO and f-DPO"

NOTE = Source("002", "RL-based alignment for LLMs, RLHF, PPO, DPO", 689)
FAMILY = Source("000", "Family of DGMs: 6. RL-Based Alignment for LLMs (RLHF, PPO, DPO)", 14)

y = sp.Symbol("y", real=True)  # a response; integrals over y are sums over the responses
pi = sp.Function("pi", positive=True)(y)
pi_ref = sp.Function("pi_ref", positive=True)(y)
r = sp.Function("r", real=True)(y)
beta, Z = sp.symbols("beta Z", positive=True)
pi_star = pi_ref * sp.exp(r / beta) / Z
PARTITION = {integral(pi_ref * sp.exp(r / beta), y): Z}  # Z = sum over y of pi_ref(y) e^(r(y)/beta)


def _plus(*terms) -> sp.Expr:
    """A sum shown as written (the step then states what cancels)."""
    return sp.Add(*terms, evaluate=False)


def _neg(e) -> sp.Expr:
    return sp.Mul(-1, e, evaluate=False)


def _sigmoid(z) -> sp.Expr:
    """1/(1 + e^-z) with z kept as written."""
    return sp.Pow(sp.Add(1, sp.exp(_neg(z), evaluate=False), evaluate=False), -1, evaluate=False)


def gibbs() -> Proof:
    objective = integral(pi * r - beta * pi * sp.log(pi / pi_ref), y)
    return (Proof("KL-regularised RL: the optimum is pi* = pi_ref exp(r/beta)/Z", NOTE,
                  "for every policy pi, E_pi[r] - beta KL(pi||pi_ref) = beta log Z - beta KL(pi||pi*) <= beta log Z, "
                  "with pi* = pi_ref e^(r/beta)/Z and Z = sum_y pi_ref(y) e^(r(y)/beta) (Gibbs variational "
                  "principle); KL(pi||pi*) >= 0 is Gibbs' inequality (log t <= t - 1 at t = pi*/pi), with equality "
                  "only at pi = pi*, so pi* is the unique maximiser. Second order: the objective is strictly concave "
                  "in each pi(y), and the Lagrangian's stationary point is pi* (multiplier lambda = beta log Z - beta)",
                  densities=[pi, pi_ref], var=y, definitions=PARTITION)
            .start(objective)
            .eq(beta * sp.log(Z) - integral(beta * pi * sp.log(pi / pi_star), y),
                "r = beta log(pi*/pi_ref) + beta log Z pointwise, and pi sums to 1")
            .le(beta * sp.log(Z) + integral(beta * pi * (pi_star / pi - 1), y), log_bound(pi_star / pi),
                "Gibbs' inequality: -log(pi/pi*) <= pi*/pi - 1", weight=beta * pi)
            .eq(beta * sp.log(Z), "pi* sums to 1 (the definition of Z) and so does pi")
            .start(sp.Derivative(pi.func(y) * r - beta * pi.func(y) * sp.log(pi.func(y) / pi_ref)
                                 - (beta * sp.log(Z) - beta) * pi.func(y), pi.func(y)).doit().subs(pi, pi_star))
            .eq(0, "the Lagrangian's derivative in pi(y) vanishes at pi*, with lambda = beta log Z - beta")
            .sign(sp.diff(pi.func(y) * r - beta * pi.func(y) * sp.log(pi.func(y) / pi_ref), pi.func(y), 2), "<",
                  "second order: d^2/dpi(y)^2 of pi r - beta pi log(pi/pi_ref) is -beta/pi(y) < 0"))


def dpo_reparametrisation() -> Proof:
    pw, pl, qw, ql = sp.symbols("pi_w pi_l piref_w piref_l", positive=True)  # pi*(y_w), ..., pi_ref(y_l)
    rw, rl = sp.symbols("r_w r_l", real=True)

    def implicit(p, q):  # the reward recovered from the optimum: beta log(pi*/pi_ref) + beta log Z
        return _plus(beta * sp.log(p / q), beta * sp.log(Z))

    star = {pw: qw * sp.exp(rw / beta) / Z, pl: ql * sp.exp(rl / beta) / Z}
    h = beta * (sp.log(pw / qw) - sp.log(pl / ql))
    return (Proof("DPO: the reward from the optimal policy; Z cancels in Bradley-Terry; the DPO loss", NOTE,
                  "inverting pi* = pi_ref e^(r/beta)/Z gives r = beta log(pi*/pi_ref) + beta log Z; in the "
                  "Bradley-Terry probability P(y_w > y_l) = sigma(r_w - r_l) the unknown beta log Z cancels, so "
                  "the negative log-likelihood of a preference is -log sigma(beta log(pi_w/piref_w) - beta "
                  "log(pi_l/piref_l)) in terms of the policy alone: the DPO loss (Rafailov et al., 2023, eq. 7)")
            .start(implicit(pw, qw))
            .eq(rw, "the reward recovered at the optimum", rewrites=[("pi_w = pi*(y_w) = piref_w e^(r_w/beta)/Z", star)])
            .start(_sigmoid(_plus(implicit(pw, qw), _neg(implicit(pl, ql)))))
            .eq(sigmoid(h), "beta log Z cancels in the difference")
            .start(_neg(sp.log(_sigmoid(_plus(implicit(pw, qw), _neg(implicit(pl, ql)))))))
            .eq(sp.log(1 + sp.exp(-h)), "the DPO loss: -log sigma(h) = log(1 + e^-h), h the implicit reward margin"))


def dpo_gradient() -> Proof:
    theta = sp.Symbol("theta", real=True)
    a, b = sp.Function("logpi_w")(theta), sp.Function("logpi_l")(theta)  # log pi_theta(y_w), log pi_theta(y_l)
    qa, qb = sp.symbols("logpiref_w logpiref_l", real=True)
    rw, rl = beta * (a - qa), beta * (b - qb)  # the implicit rewards
    loss = -sp.log(sigmoid(rw - rl))
    return (Proof("DPO: the gradient weights each pair by sigma(rhat_l - rhat_w)", NOTE,
                  "with implicit rewards rhat = beta (log pi_theta - log pi_ref), d/dtheta of -log sigma(rhat_w - "
                  "rhat_l) is -beta sigma(rhat_l - rhat_w) (d log pi(y_w) - d log pi(y_l)): a pair weighs by how "
                  "wrongly the implicit reward orders it (Rafailov et al., 2023, section 4)")
            .start(sp.Derivative(loss, theta))
            .eq(-beta * sigmoid(rl - rw) * (sp.diff(a, theta) - sp.diff(b, theta)), "chain rule"))


# -------------------------------------------------------------------------------------------------- f-DPO
def fdpo_kkt() -> Proof:
    p, q = sp.symbols("p q", positive=True)  # pi(y) and pi_ref(y) for one response
    ry, lam, mu = sp.Symbol("r", real=True), sp.Symbol("lambda", real=True), sp.Symbol("mu", nonnegative=True)
    f = sp.Function("f")
    uw, ul = sp.symbols("u_w u_l", positive=True)
    rw, rl = sp.symbols("r_w r_l", real=True)
    fp = sp.Function("fprime")  # f', named so that the statement reads as written
    lagrangian = p * ry - beta * q * f(p / q) - lam * p + mu * p
    derivative_of_f = ("f' is the derivative of f (chain rule: d/dp q f(p/q) = f'(p/q))",
                       lambda e: e.doit().replace(lambda z: isinstance(z, sp.Subs), lambda z: fp(z.args[2][0])))
    stationary = ("stationarity with mu = 0: r = beta f'(u) + lambda", {rw: beta * fp(uw) + lam, rl: beta * fp(ul) + lam})
    return (Proof("f-DPO: the KKT conditions on the simplex and the implicit reward beta f'(pi/pi_ref)", NOTE,
                  "max over the simplex of sum_y pi(y) r(y) - beta sum_y pi_ref(y) f(pi(y)/pi_ref(y)): the "
                  "objective is concave (f convex) and the constraints affine, so the KKT conditions characterise "
                  "the optimum: r(y) - beta f'(pi/pi_ref) - lambda + mu(y) = 0, mu(y) >= 0, mu(y) pi(y) = 0. If "
                  "f'(0+) = -oo, pi(y) = 0 would need mu(y) = +oo, so every pi*(y) > 0, mu = 0 and r = beta "
                  "f'(pi*/pi_ref) + lambda with one lambda for all responses; lambda cancels in sigma(r_w - r_l). "
                  "With f'(0+) finite, responses with r(y) < lambda + beta f'(0+) get pi*(y) = 0 and mu(y) > 0: "
                  "there the implicit reward is not r - lambda and the loss is not the Bradley-Terry likelihood "
                  "(Wang et al., 2023, Theorem 1). f strictly convex makes pi* unique and f' invertible")
            .assume("KKT: for a concave objective with affine constraints (Slater's condition holds at pi = pi_ref), "
                    "the KKT conditions are necessary and sufficient", "Boyd and Vandenberghe (2004), section 5.5.3")
            .start(sp.Derivative(lagrangian, p))
            .eq(ry - beta * fp(p / q) - lam + mu, "stationarity in pi(y)", rewrites=[derivative_of_f])
            .start(sigmoid(rw - rl))
            .eq(sigmoid(beta * fp(uw) - beta * fp(ul)), "lambda cancels in the Bradley-Terry probability",
                rewrites=[stationary]))


@functools.cache
def fdpo_catalogue() -> Proof:
    u = sp.Symbol("u", positive=True)
    proof = Proof("f-DPO: which catalogue f's give a valid link", NOTE,
                  "for each catalogue f (parameters at their defaults): f'(0+), whose value -oo is the condition, and "
                  "for the valid ones f'' > 0 on u > 0 (f' strictly increasing, so invertible). Valid: kl (DPO), "
                  "reverse-kl, neyman, squared-hellinger, jeffrey, jensen-shannon, jsd, js-weighted, gan and the "
                  "normalised KLs; not valid: total-variation (a kink, affine pieces), pearson, triangular and "
                  "alpha at alpha = 3 (f'(0+) finite)")
    for name in catalogue.names():
        d = derivation(name)
        fp = d.optimal_critic
        if isinstance(fp, sp.Piecewise):  # total variation: f'(0+) is the first piece's value
            fp = fp.args[0][0]
        valid = d.f_prime_at_zero == -sp.oo
        proof.limit(fp, U, 0, d.f_prime_at_zero,
                    f"{name}: f'(0+) = {d.f_prime_at_zero}" + ("" if valid else ", finite: no valid link"))
        if valid:
            proof.sign(sp.diff(d.f, U, 2).subs(U, u), ">", f"{name}: f'' > 0 on u > 0, f' strictly increasing")
    return proof


def alpha_family() -> Proof:
    u, k = sp.Symbol("u", positive=True), sp.Symbol("k", positive=True)
    a = sp.Symbol("alpha", real=True)
    fp = (u ** (a - 1) - 1) / (a - 1)  # f'(u) of fdiv's alpha row, f = (u^a - 1 - a (u - 1))/(a (a - 1))
    f = (u**a - 1 - a * (u - 1)) / (a * (a - 1))
    return (Proof("f-DPO: the alpha-divergences give a valid link exactly for alpha < 1", NOTE,
                  "fdiv's alpha row f = (u^alpha - 1 - alpha (u - 1))/(alpha (alpha - 1)) has f'(u) = "
                  "(u^(alpha-1) - 1)/(alpha - 1) and f''(u) = u^(alpha-2) > 0: f'(0+) = -oo for alpha = 1 - k < 1 "
                  "(k > 0), and f'(0+) = -1/(alpha - 1) is finite for alpha = 1 + k > 1")
            .start(sp.diff(f, u))
            .eq(fp, "f'")
            .sign(sp.diff(f, u, 2), ">", "f'' = u^(alpha - 2) > 0")
            .limit(fp.subs(a, 1 - k), u, 0, -sp.oo, "alpha = 1 - k < 1: f'(0+) = -oo, a valid link")
            .limit(fp.subs(a, 1 + k), u, 0, -1 / k, "alpha = 1 + k > 1: f'(0+) = -1/k, finite"))


def kl_is_dpo() -> Proof:
    a, b = sp.symbols("r_w r_l", real=True)  # log-ratios log pi - log pi_ref
    d = derivation("kl")
    dr = derivation("reverse-kl")
    pw, qw = sp.symbols("pi_w piref_w", positive=True)
    v = sp.Symbol("v", positive=True)
    fp, fp_r = d.optimal_critic.subs(U, v), dr.optimal_critic.subs(U, v)
    return (Proof("f-DPO with fdiv's kl (f = u log u) is DPO; with reverse-kl the implicit reward is "
                  "-beta pi_ref/pi", NOTE,
                  f"with f'(u) = {d.optimal_critic} from fdiv's derivation of kl, beta f'(e^r_w) - beta f'(e^r_l) = "
                  "beta (r_w - r_l), the DPO margin (the constant 1 cancels); fdiv's reverse-kl (f = -log u, the "
                  "f-DPO paper's 'forward KL') has f'(u) = -1/u, so its implicit reward is -beta pi_ref/pi")
            .start(_plus(beta * sp.Subs(fp, v, sp.exp(a)), _neg(beta * sp.Subs(fp, v, sp.exp(b)))))
            .eq(beta * (a - b), "the DPO margin")
            .start(beta * sp.Subs(fp_r, v, pw / qw))
            .eq(-beta * qw / pw, "the reverse-kl implicit reward"))


def _generated_kl_against_dpo() -> sp.Float:
    """max relative difference, values and gradients (float64), between fdiv's generated kl module and the
    standard DPO loss -logsigmoid(beta ((lw - lrw) - (ll - lrl))) at log-ratios from -1e4 to 1e4."""
    import torch

    from fdiv.codegen.objectives.dpo import write_module

    with tempfile.TemporaryDirectory() as tmp:
        path = write_module(derivation("kl"), tmp, "kl_dpo_check")
        spec = importlib.util.spec_from_file_location("kl_dpo_check", Path(path))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    grid = [0.0, 1.0, -1.0, 20.0, -20.0, 100.0, -100.0, 1e4, -1e4]
    rw = torch.tensor([a for a in grid for _ in grid], dtype=torch.float64)
    rl = torch.tensor([b for _ in grid for b in grid], dtype=torch.float64)
    ref_w, ref_l = torch.full_like(rw, -3.0), torch.full_like(rl, -7.0)
    worst = 0.0
    for b in (0.1, 2.0):
        ours = [t.clone().requires_grad_(True) for t in (rw + ref_w, ref_w, rl + ref_l, ref_l)]
        std = [t.clone().requires_grad_(True) for t in (rw + ref_w, ref_w, rl + ref_l, ref_l)]
        lo = module.preference_loss(*ours, b, reduction="none")
        ls = -torch.nn.functional.logsigmoid(b * ((std[0] - std[1]) - (std[2] - std[3])))
        lo.sum().backward()
        ls.sum().backward()
        for x, s in [(lo, ls)] + [(o.grad, t.grad) for o, t in zip(ours, std)]:
            scale = torch.clamp(s.detach().abs(), min=torch.finfo(torch.float64).tiny)
            worst = max(worst, float(((x.detach() - s.detach()).abs() / scale).max()))
    return sp.Float(worst, 20)


def exact_world() -> Proof:
    """Three responses, r = (1, 0, -2), pi_ref uniform, beta = 1/2."""
    third, half = sp.Rational(1, 3), sp.Rational(1, 2)
    rs = [sp.Integer(1), sp.Integer(0), sp.Integer(-2)]
    z = sum(third * sp.exp(ri / half) for ri in rs)
    star = [third * sp.exp(ri / half) / z for ri in rs]
    # Pearson (f = (u - 1)^2, f'(u) = 2 (u - 1), f'(0+) = -2): pi* = pi_ref max(0, 1 + (r - lam)/(2 beta))
    u = [sp.Max(0, 1 + ri / (2 * half)) for ri in rs]  # lambda = 0: u = (2, 1, 0)
    lam = sp.Symbol("lambda", real=True)
    normaliser = ("lambda = 0, the root of sum_y pi_ref(y) max(0, 1 + (r(y) - lambda)/(2 beta)) = 1", {lam: 0})
    v = sp.Symbol("v", positive=True)
    fp = lambda at: sp.Subs(2 * (v - 1), v, at)  # noqa: E731 - Pearson's f'(u), shown at its point
    p1, p3 = sp.symbols("pistar_1 pistar_3", positive=True)
    optimum = ("pi*(y) = pi_ref(y) e^(r(y)/beta)/Z", {p1: star[0], p3: star[2]})

    def kkt(i: int) -> sp.Expr:  # r_i - beta f'(u_i) - lambda
        return _plus(rs[i], _neg(sp.Mul(half, fp(u[i]), evaluate=False)), _neg(lam))

    def implicit(i: int) -> sp.Expr:  # beta f'(u_i) = beta 2 (u_i - 1), as numbers shown unevaluated
        return sp.Mul(half, 2, sp.Add(u[i], -1, evaluate=False), evaluate=False)
    return (Proof("KL-regularised RL, DPO and Pearson on an exact world", NOTE,
                  "three responses with r = (1, 0, -2), pi_ref = (1/3, 1/3, 1/3), beta = 1/2. KL: pi* = pi_ref "
                  "e^(2r)/Z sums to 1 and its implicit rewards beta log(pi*/pi_ref) give the Bradley-Terry "
                  "probabilities sigma(r_w - r_l) exactly. Pearson chi^2 (f'(0+) = -2): pi* = pi_ref max(0, 1 + "
                  "(r - lambda)/(2 beta)) = (2/3, 1/3, 0) with lambda = 0 satisfies the KKT conditions with "
                  "mu_3 = 1 > 0, and its implicit rewards give sigma(2) for y_1 over y_3 where the true "
                  "probability is sigma(3): a finite f'(0+) breaks the link. The generated kl module equals the "
                  "standard DPO loss -logsigmoid(beta ((logp_w - logpref_w) - (logp_l - logpref_l))) in float64, "
                  "values and gradients, at log-ratios from -1e4 to 1e4")
            .computed("sum of pi*(y)", lambda: sp.Add(*star), 1, "pi* is a distribution",
                      method="exact computation")
            .start(_sigmoid(_plus(half * sp.log(p1 / third), _neg(half * sp.log(p3 / third)))))
            .eq(sigmoid(rs[0] - rs[2]), "the implicit rewards give the true preference probability",
                rewrites=[optimum])
            .computed("sum of pi_ref (Pearson u)", lambda: sp.Add(*[third * v for v in u]), 1,
                      "the Pearson optimum is a distribution", method="exact computation")
            .start(kkt(0))
            .eq(0, "KKT at y_1: u_1 = 2, pi > 0 and mu = 0", rewrites=[normaliser])
            .start(kkt(1))
            .eq(0, "KKT at y_2: u_2 = 1", rewrites=[normaliser])
            .start(_neg(kkt(2)))
            .eq(1, "KKT at y_3: u_3 = 0, so the multiplier mu_3 = -(r_3 - beta f'(0) - lambda) = 1 > 0",
                rewrites=[normaliser])
            .start(_sigmoid(_plus(implicit(0), _neg(implicit(2)))))
            .ne(sigmoid(rs[0] - rs[2]), "the Pearson implicit rewards do not give the preference probability")
            .computed("max relative difference, generated kl module vs standard DPO", _generated_kl_against_dpo, 0,
                      "values and gradients agree to rounding", method="numeric (float64 torch, 81 pairs, "
                      "beta = 0.1 and 2)", tol=1e-12))


def proofs() -> list[Proof]:
    return [gibbs(), dpo_reparametrisation(), dpo_gradient(), fdpo_kkt(), fdpo_catalogue(), alpha_family(),
            kl_is_dpo(), exact_world()]
