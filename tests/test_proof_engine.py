"""The proof engine refuses each false conclusion that a trusting engine certified: a citation of an unrelated
proof, a citation whose premises fail at the instance, a lemma without conditions or with a changed gap,
Jensen with two independently written sides, a rewrite that carries the step's claim or is not shown, a limit
detached from its chain, a loose tolerance. Each test shows the honest step passing and the wrong one failing.
The mutation harness (python -m proofs.mutate) leaves no survivor on a spread sample of every family."""
from __future__ import annotations

import dataclasses

import mpmath
import pytest
import sympy as sp

from proofs import fdivergence, gan, mle_vae
from proofs.engine import E, Assumed, Lemma, Proof, Source, cite, integral, summary, x
from proofs.lemmas import EXPECTATION, jensen, squared_norm
from proofs.numeric import float64


def _replace_step(proof: Proof, index: int, **changes):
    step = proof.steps[index]
    return proof.check_step(index, dataclasses.replace(step, **changes))


def _index(proof: Proof, relation: str, occurrence: int = 0) -> int:
    return [i for i, s in enumerate(proof.steps) if s.relation == relation][occurrence]


# ------------------------------------------------------------------------------------------ citations
def test_citing_an_unrelated_proof_does_not_give_the_gan_bound():
    """V(G, D*) >= -log 4 rests on JSD >= 0 (cited from 'D_f >= f(1) for every catalogue f'); the same step
    citing a passing but unrelated proof fails, and so does V(G, D*) >= 0 with the right citation."""
    proof = gan.value_at_optimum()
    i = _index(proof, ">=")
    assert proof.check_step(i).passed
    for unrelated in (gan.optimal_logit, fdivergence.kl, mle_vae.iwae_unbiased):
        assert unrelated().result().passed
        result = _replace_step(proof, i, lemma=cite(unrelated))
        assert not result.passed and "no conclusion" in result.detail
    wrong_claim = _replace_step(proof, i, rhs=sp.S.Zero)  # V(G, D*) >= 0
    assert not wrong_claim.passed


def test_kl_at_a_non_density_does_not_lift_the_elbo():
    """log p(x) >= ELBO uses KL(q || p(z|x)) >= 0. Instantiating 'KL >= 0' with e p(z|x), which integrates to e,
    would give log p(x) >= ELBO + 1: the premise 'q is a density' fails at that instance."""
    proof = mle_vae.elbo_decomposition()
    i = _index(proof, ">=")
    assert proof.check_step(i).passed
    elbo = proof.steps[i].rhs
    not_density = cite(mle_vae.kl_nonnegative, {mle_vae.p: mle_vae.qz, mle_vae.q_: sp.E * mle_vae.p_xz / mle_vae.p_x,
                                                x: mle_vae.z})
    result = _replace_step(proof, i, rhs=elbo + 1, lemma=not_density)
    assert not result.passed and "density" in result.detail
    # the honest instance with the wrong claim fails on the gap instead
    assert not _replace_step(proof, i, rhs=elbo + 1).passed


def test_a_premise_the_citing_proof_cannot_show_is_refused():
    """'KL >= 0' cited at q = p_z in a proof that does not declare p_z a density: refused (the beta-VAE proof
    declares it)."""
    proof = mle_vae.beta_vae()
    i = _index(proof, "<=")
    assert proof.check_step(i).passed
    bare = Proof(proof.title, proof.source, proof.statement, densities=[mle_vae.qz], var=mle_vae.z)
    bare.first, bare.steps = proof.first, list(proof.steps)
    result = bare.check_step(i)
    assert not result.passed and "density" in result.detail


# --------------------------------------------------------------------------------------- lemmas, axioms
def test_a_lemma_without_conditions_is_not_an_axiom_unless_named():
    """x'y <= x'Ax/2 + y'A^-1 y/2 rests on the squared norm |B'x - B^-1 y|^2 >= 0 (an axiom of the list).
    Lemma(..., []) with the gap negated would certify x'y <= x'y - |B'x - B^-1 y|^2/2; it is refused, and so is
    the axiom's lemma with its gap changed after it was built."""
    n = sp.Symbol("d", positive=True, integer=True)
    B = sp.MatrixSymbol("B", n, n)
    X, Y = sp.MatrixSymbol("x", n, 1), sp.MatrixSymbol("y", n, 1)
    d = B.T * X - B.I * Y
    xy = sp.Trace(X.T * Y)
    honest = Proof("FY", Source("t", "-"), "").start(xy).le(
        sp.Trace(X.T * B * B.T * X) / 2 + sp.Trace(Y.T * (B * B.T).I * Y) / 2, squared_norm(d), weight=sp.S.Half)
    result = honest.check()
    assert result.passed and summary([result])["axioms"] == 1
    negated = Lemma("a squared norm is non-negative", -sp.Trace(d.T * d), [])
    false = Proof("FY", Source("t", "-"), "").start(xy).le(xy - sp.Trace(d.T * d) / 2, negated, weight=sp.S.Half)
    step = false.check().steps[0]
    assert not step.passed and "refused" in step.detail
    tampered = dataclasses.replace(squared_norm(d), gap=-sp.Trace(d.T * d))
    false = Proof("FY", Source("t", "-"), "").start(xy).le(xy - sp.Trace(d.T * d) / 2, tampered, weight=sp.S.Half)
    step = false.check().steps[0]
    assert not step.passed and "not what its rule builds" in step.detail


def test_jensen_is_built_from_the_function_and_the_random_quantity():
    """IWAE's L_k <= log p(x) is Jensen for log and the mean weight W. E log(2 W) <= log E W does not follow:
    Jensen built from (log, 2 W) gives log E(2 W), and a lemma with independently written sides is refused."""
    y = sp.Symbol("y", positive=True)
    W = mle_vae.mean_weight()
    honest = Proof("J", Source("t", "-"), "").start(E(sp.log(W))).le(sp.log(E(W)), jensen(sp.log, W, EXPECTATION, y))
    assert honest.check().passed
    false = Proof("J", Source("t", "-"), "").start(E(sp.log(2 * W))).le(sp.log(E(W)),
                                                                      jensen(sp.log, 2 * W, EXPECTATION, y))
    assert not false.check().passed
    false = Proof("J", Source("t", "-"), "").start(E(sp.log(2 * W))).le(sp.log(E(W)),
                                                                      jensen(sp.log, W, EXPECTATION, y))
    assert not false.check().passed
    sides = Lemma("Jensen", sp.log(E(W)) - E(sp.log(2 * W)), jensen(sp.log, W, EXPECTATION, y).conditions)
    step = Proof("J", Source("t", "-"), "").start(E(sp.log(2 * W))).le(sp.log(E(W)), sides).check().steps[0]
    assert not step.passed and "refused" in step.detail


# ---------------------------------------------------------------------------------------------- rewrites
def test_a_rewrite_that_drops_the_entropy_term_is_refused():
    """IWAE's L_1 = ELBO = the integral of q log(p(x, z)/q). With the rewrite E log w_1 -> the integral of
    q log p(x, z) (the entropy term dropped) the step would 'prove' L_1 = integral of q log p(x, z): as a
    substitution it maps one side onto the other and is not shown; declared an assumption it still carries the
    step's claim; the law of w_1 (LOTUS) gives the honest right side only."""
    proof = mle_vae.iwae_first_is_elbo()
    assert proof.check().passed
    lhs = E(sp.log(mle_vae.w(1)))
    dropped = integral(mle_vae.qz * sp.log(mle_vae.p_xz), mle_vae.z)
    for rewrite in (("z_1 ~ q", {lhs: dropped}), Assumed("z_1 ~ q", {lhs: dropped}, "trusted")):
        result = _replace_step(proof, 0, rhs=dropped, rewrites=(rewrite,))
        assert not result.passed and ("onto the other" in result.detail or "claim" in result.detail)
    assert not _replace_step(proof, 0, rhs=dropped).passed  # with the law of w_1


def test_a_substitution_is_checked_and_an_assumed_one_counted():
    a, b = sp.symbols("a b", positive=True)
    ok = Proof("s", Source("t", "-"), "").start(sp.log(a * b) + 1).eq(sp.log(a) + sp.log(b) + 1, "",
                                                                     rewrites=[("log of a product",
                                                                                {sp.log(a * b): sp.log(a) + sp.log(b)})])
    assert ok.check().passed
    wrong = Proof("s", Source("t", "-"), "").start(sp.log(a * b) + 1).eq(sp.log(a) + 1, "",
                                                                        rewrites=[("drop", {sp.log(a * b): sp.log(a)})])
    step = wrong.check().steps[0]
    assert not step.passed and "not shown" in step.detail
    f = sp.Function("f")
    given = Assumed("f(a) = f(b) + a", {f(a): f(b) + a}, "given")
    assumed = Proof("s", Source("t", "-"), "").start((f(a) + f(b)) ** 2).eq(
        4 * f(b) ** 2 + 4 * a * f(b) + a**2, "", rewrites=[given])
    result = assumed.check()
    assert result.passed and summary([result])["assumptions"] == 1
    carried = Proof("s", Source("t", "-"), "").start(f(a) + f(b)).eq(2 * f(b) + a, "", rewrites=[given])
    step = carried.check().steps[0]
    assert not step.passed and "carries the step's own claim" in step.detail


def test_a_changed_variance_does_not_certify_the_iwae_bound():
    """log p(x) - L_k <= sigma^2/(2 k a^2) cites the Monte Carlo variance sigma^2/k. Citing it at sigma^2/k (so
    that the instance reads sigma^2/k^2) fails the premise E w^2 = sigma^2 + p(x)^2; a substitution
    Var = sigma^2/k^2 is not shown."""
    from proofs import foundations as mc

    proof = mle_vae.iwae_limit()
    i = [k for k, s in enumerate(proof.steps) if s.relation == "=" and any(
        getattr(r, "factory", None) is mc.monte_carlo_proof for r in s.rewrites)][0]
    assert proof.check_step(i).passed
    citation = proof.steps[i].rewrites[0]
    sigma2, a, k = sp.Symbol("sigma2", positive=True), sp.Symbol("a", positive=True), mle_vae.k_
    pairs = tuple((old, new / k if old == mc.sigma2 else new) for old, new in citation.subs.pairs)
    changed = dataclasses.replace(citation, subs=dataclasses.replace(citation.subs, pairs=pairs))
    result = _replace_step(proof, i, rhs=sigma2 / (2 * k**2 * a**2), rewrites=(changed,))
    assert not result.passed and "premise" in result.detail
    lhs = proof._context(i)[0]
    quad = [e for e in lhs.atoms(E)][0]
    result = _replace_step(proof, i, rhs=sigma2 / (2 * k**2 * a**2),
                           rewrites=(("Var", {quad: sigma2 / k**2}),))
    assert not result.passed


def test_the_discrete_iwae_model_violates_the_changed_bound():
    """The bound with sigma^2/k^2 is false: on the exact discrete model log p(x) - L_k exceeds it for k = 10."""
    q1, w0, w1, px = sp.Rational(1, 4), sp.Rational(2, 15), sp.Rational(6, 5), sp.Rational(2, 5)
    k = 10
    L = sum(sp.binomial(k, j) * q1**j * (1 - q1) ** (k - j) * sp.log((j * w1 + (k - j) * w0) / k) for j in range(k + 1))
    var_w = q1 * w1**2 + (1 - q1) * w0**2 - px**2
    assert sp.N(sp.log(px) - L - var_w / (2 * k**2 * w0**2), 30) > 0


# ------------------------------------------------------------------------------------ limits, tolerances
def test_a_limit_must_be_of_its_chain():
    """IWAE's bound sigma^2/(2 k a^2) -> 0; replacing the limit's expression by 1/k (which also tends to 0)
    detaches it from the chain: refused."""
    proof = mle_vae.iwae_limit()
    i = _index(proof, "limit")
    assert proof.check_step(i).passed
    result = _replace_step(proof, i, lhs=1 / mle_vae.k_)
    assert not result.passed and "chain" in result.detail


def test_a_loose_tolerance_does_not_hide_a_small_error():
    """A computed value off by 0.1 % fails at the float64 floor; at tolerance 1e-2 it is refused (no reason, and
    above the ceiling even with one); a looser tolerance with a reason under the ceiling is shown."""
    value = lambda: mpmath.mpf("1.001")  # noqa: E731
    steps = [Proof("c", Source("t", "-"), "").computed("v", value, 1, "", method=float64()),
             Proof("c", Source("t", "-"), "").computed("v", value, 1, "", method=float64(), tol=1e-2),
             Proof("c", Source("t", "-"), "").computed("v", value, 1, "", method=float64(), tol=1e-2, tol_reason="r")]
    for proof in steps:
        assert not proof.check().passed
    near = lambda: mpmath.mpf(1) + mpmath.mpf("1e-11")  # noqa: E731
    loose = Proof("c", Source("t", "-"), "").computed("v", near, 1, "", method=float64(), tol=1e-10,
                                                       tol_reason="an ODE solver's tolerance")
    step = loose.check().steps[0]
    assert step.passed and "looser than the method's floor" in step.method and "ODE" in step.method
    exact = Proof("c", Source("t", "-"), "").computed("n", lambda: sp.Integer(1001), 1000, "", method="exact count",
                                                       tol=1e-2)
    assert not exact.check().passed


# -------------------------------------------------------------------------------------- equality cases
def test_an_equality_case_must_match_the_lemma():
    """KL = 0 iff q/p = 1 (the equality case of log y <= y - 1); claiming it for q/p = 2 is refused."""
    proof = mle_vae.kl_nonnegative()
    i = _index(proof, "iff")
    assert proof.check_step(i).passed
    assert not _replace_step(proof, i, rhs=sp.Integer(2)).passed


def test_a_supremum_needs_the_bound_and_the_attaining_critic():
    proof = fdivergence.variational_representation()
    i = _index(proof, "sup")
    assert proof.check_step(i).passed
    fp = sp.Function("fprime")
    assert not _replace_step(proof, i, extra={**proof.steps[i].extra, "at": 2 * fp(fdivergence.p / fdivergence.q)}).passed


# ---------------------------------------------------------------------------------------------- harness
@pytest.mark.parametrize("family", ["sign", "factor", "swap", "citation", "lemma", "rewrite", "limit", "tolerance"])
def test_no_mutant_survives(family):
    """A spread sample of each family's mutants over every proof (python -m proofs.mutate runs them all): none
    survives, and each family has mutants."""
    from proofs import all_proofs
    from proofs.mutate import run

    tally = run(_all(), (family,), limit=6)[family]
    assert tally.mutants >= 4
    assert tally.survivors == []


_PROOFS: list = []


def _all():
    if not _PROOFS:
        from proofs import all_proofs

        _PROOFS.extend(all_proofs())
    return _PROOFS


def test_the_readme_gives_each_familys_survival_before_and_now():
    """The proofs page's mutation table has a row per family of the harness, each with its before and now figures
    (no placeholder left where the table belongs)."""
    from pathlib import Path

    from proofs.mutate import FAMILIES

    readme = (Path(__file__).resolve().parents[1] / "docs" / "proofs-guide.md").read_text(encoding="utf-8")
    rows = {line.split("|")[1].strip(): line for line in readme.splitlines() if line.startswith("| ")}
    for family in FAMILIES:
        assert family in rows, family
        assert rows[family].count(" / ") == 2 and "(0 %)" in rows[family], rows[family]
    assert "MUTATION_TABLE" not in readme
