"""Lowering: each rewrite rule, the torch runtime helpers, and generated modules (GAN = BCE with logits)."""
from __future__ import annotations

import importlib
import math

import mpmath
import pytest
import sympy as sp
import torch

import fdiv
from fdiv.spec import catalogue
from fdiv.codegen.lower import rules
from fdiv.codegen.lower.runtime import _log1mexp, _log_softplus, _softplus, _wright_omega

x = sp.Symbol("x", real=True)


@pytest.mark.parametrize("rule, before, after", [
    (rules.rule_softplus, sp.log(1 + sp.exp(x)), rules.softplus(x)),
    (rules.rule_log1mexp, sp.log(1 - sp.exp(-x**2)), rules.log1mexp(-x**2)),
    (rules.rule_expm1, sp.exp(x) - 1 + x, rules.expm1(x) + x),
    (rules.rule_log1p, sp.log(1 + x**2), rules.log1p(x**2)),
    (rules.rule_log_softplus, sp.log(rules.softplus(x)), rules.log_softplus(x)),
    (rules.rule_log_softplus, sp.sqrt(rules.softplus(x)), sp.exp(rules.log_softplus(x) / 2)),
    (rules.rule_wright_omega, sp.LambertW(2 * sp.exp(x)), rules.wright_omega(x + sp.log(2))),
    # omega(1 - x) = 1 - x - log omega(1 - x) cancels the x: Jeffrey's f*(v) without cancellation
    (rules.rule_wright_omega, x + sp.LambertW(sp.exp(1 - x)) - 2,
     -1 - sp.log(rules.wright_omega(1 - x))),
    # 36/W(6 e^(6 - 3x/2))^2 overflows float32 once W underflows (x = 30); as an exponential it is e^(3x - 12 + 2 omega)
    (rules.rule_wright_omega, 36 / sp.LambertW(6 * sp.exp(6 - 3 * x / 2))**2,
     36 * sp.exp(2 * rules.wright_omega(6 - 3 * x / 2 + sp.log(6)) - 2 * (6 - 3 * x / 2 + sp.log(6)))),
    (rules.rule_wright_omega, 48 / sp.Abs(sp.LambertW(sp.exp(x))), 48 * sp.exp(rules.wright_omega(x) - x)),
    (rules.rule_expm1_softplus, rules.expm1(2 * rules.softplus(x)),
     sp.exp(x + rules.softplus(x) + rules.log1p(sp.exp(-rules.softplus(x))))),
    (rules.rule_exp_coefficient, 3 * sp.exp(x), sp.exp(x + sp.log(3), evaluate=False)),
    (rules.rule_log_reciprocal, sp.log(1 / (1 - sp.exp(x))), -sp.log(1 - sp.exp(x))),
    (rules.rule_log_reciprocal, sp.log(-1 / (sp.exp(x) - 2)), -sp.log(2 - sp.exp(x))),
    (rules.rule_log_const_minus_exp, sp.log(2 - sp.exp(x)),
     sp.log(2) + sp.log(1 - sp.exp(x - sp.log(2), evaluate=False))),
    # a repeated root: expanded, t^2 - 4t + 4 cancels next to t = 2 (the campaign's 2(u - 1) - 2 log u)
    (rules.rule_log_repeated_factor, sp.log(4 / (x**2 - 4 * x + 4)), sp.log(4) - 2 * sp.log(sp.Abs(x - 2))),
    (rules.rule_log_repeated_factor, sp.log((x**2 + 1) / (x**3 + 3 * x**2 + 3 * x + 1)),
     sp.log(x**2 + 1) - 3 * sp.log(sp.Abs(x + 1))),
    (rules.rule_log_repeated_factor, sp.log(x**2 - 1), sp.log(x**2 - 1)),  # no repeated factor: left alone
])
def test_rule(rule, before, after):
    """The rule gives exactly `after` (structurally: it fired, or did not, as intended), and `after` is the same
    function as `before` (checked at 40 digits at x = -3, 0.5, 7: the primitives are not SymPy functions)."""
    assert rule(before) == after
    defs = {"softplus": lambda y: mpmath.log1p(mpmath.exp(y)), "log_softplus": lambda y: mpmath.log(mpmath.log1p(mpmath.exp(y))),
            "log1p": mpmath.log1p, "expm1": mpmath.expm1, "log1mexp": lambda y: mpmath.log(-mpmath.expm1(y)),
            "wright_omega": lambda y: mpmath.lambertw(mpmath.exp(y)).real}
    f_before, f_after = (sp.lambdify(x, e, [defs, "mpmath"]) for e in (before, after))
    with mpmath.workdps(40):
        for point in (-3, 0.5, 7):
            a, b = f_before(mpmath.mpf(point)), f_after(mpmath.mpf(point))
            if isinstance(a, mpmath.mpc):  # the identities hold where the expression is real
                continue
            if mpmath.isfinite(a):
                assert abs(a - b) <= mpmath.mpf(10) ** -35 * max(1, abs(a))


def _ref(fn, values):
    with mpmath.workdps(60):
        return [fn(mpmath.mpf(v)) for v in values]


@pytest.mark.parametrize("dtype, rtol", [(torch.float32, 2e-6), (torch.float64, 1e-13)])
def test_runtime_helpers(dtype, rtol):
    """Against mpmath at 60 digits; tolerances are a few ulps of each dtype."""
    xs = [-1e4, -700.5, -88.0, -30.0, -15.5, -14.5, -1.0, -1e-6, 0.0, 1e-6, 1.0, 20.0, 30.0, 88.0, 1e4]
    t = torch.tensor(xs, dtype=dtype, requires_grad=True)
    w = _wright_omega(t)
    w.sum().backward()
    exact = _ref(lambda v: mpmath.lambertw(mpmath.exp(v)).real, xs)
    for got, ref, grad in zip(w.tolist(), exact, t.grad.tolist()):
        if ref > mpmath.mpf(torch.finfo(dtype).tiny):
            assert abs(got - ref) <= rtol * ref, (got, ref)
            assert abs(grad - ref / (1 + ref)) <= 4 * rtol * ref / (1 + ref)
    sp_ = _softplus(torch.tensor(xs, dtype=dtype))
    for got, ref in zip(sp_.tolist(), _ref(lambda v: mpmath.log1p(mpmath.exp(v)), xs)):
        if ref > mpmath.mpf(torch.finfo(dtype).tiny):
            assert abs(got - ref) <= rtol * ref
    lsp = _log_softplus(torch.tensor(xs, dtype=dtype))
    for got, ref in zip(lsp.tolist(), _ref(lambda v: mpmath.log(mpmath.log1p(mpmath.exp(v))), xs)):
        assert abs(got - ref) <= rtol * max(abs(ref), 1)
    neg = [v for v in xs if v < 0]
    l1m = _log1mexp(torch.tensor(neg, dtype=dtype))
    for got, ref in zip(l1m.tolist(), _ref(lambda v: mpmath.log(-mpmath.expm1(v)), neg)):
        assert abs(got - ref) <= rtol * max(abs(ref), 1)


def test_gan_module_equals_bce_with_logits():
    gan = importlib.import_module("fdiv.losses.gan")
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    g = torch.Generator().manual_seed(0)
    real, fake = torch.randn(1000, generator=g, dtype=torch.float64) * 30, torch.randn(1000, generator=g, dtype=torch.float64) * 30
    ones, zeros = torch.ones_like(real), torch.zeros_like(fake)
    assert torch.allclose(gan.critic_loss(real, fake), bce(real, ones) + bce(fake, zeros), rtol=1e-14, atol=0)
    assert torch.allclose(gan.generator_loss_nonsaturating(fake), bce(fake, ones), rtol=1e-14, atol=0)
    assert torch.allclose(gan.generator_loss(fake), -bce(fake, zeros), rtol=1e-14, atol=0)
    assert torch.allclose(gan.density_ratio(torch.tensor([0.0, 2.0], dtype=torch.float64)),
                          torch.exp(torch.tensor([0.0, 2.0], dtype=torch.float64)), rtol=1e-14)


@pytest.mark.parametrize("name", ["kl", "gan"])
def test_divergence_estimate_at_optimal_logits(name):
    """On N(0,1) vs N(1,2) the estimate at the optimal critic's logits matches D_f within 4 standard errors."""
    import math

    mod = importlib.import_module(f"fdiv.losses.{name}")
    from numerics.closed_forms import divergence

    g = torch.Generator().manual_seed(1)
    n = 400_000
    xp = torch.randn(n, generator=g, dtype=torch.float64)
    xq = 1 + math.sqrt(2) * torch.randn(n, generator=g, dtype=torch.float64)

    def log_ratio(x):
        return -0.5 * x**2 + 0.25 * (x - 1) ** 2 + 0.5 * math.log(2)

    logit = (lambda x: log_ratio(x) + 1) if name == "kl" else log_ratio  # sigma_f^-1(f'(p/q))
    a, b = mod.activation(logit(xp)), mod.conjugate_of_activation(logit(xq))
    estimate = float(mod.divergence_estimate(logit(xp), logit(xq)))
    se = math.sqrt(float(a.var()) / n + float(b.var()) / n)
    exact = divergence(name if name != "gan" else "gan", (0.0, 1.0), (1.0, 2.0)).value
    assert abs(estimate - exact) <= 4 * se


def test_generated_user_module_imports(tmp_path):
    from fdiv.codegen.emit import write_module

    path = write_module(fdiv.derive("u*log(u) + (u - 1)**2"), tmp_path, "mine")
    spec = importlib.util.spec_from_file_location("mine", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    v = torch.linspace(-50, 50, 11, dtype=torch.float64)
    assert torch.isfinite(mod.conjugate_of_activation(v)).all() and torch.isfinite(mod.density_ratio(v)).all()


def test_readme_training_example_runs_and_bounds_the_jsd(tmp_path):
    """The README's ten-line example, run as written; its estimate is a lower bound of the JSD of N(1,1) and
    N(0,1) (computed here by quadrature, not read from the README) up to sampling noise, and a trained critic
    gets most of the way there."""
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    code = re.search(r"<!-- example:begin -->\n```python\n(.*?)```", readme, re.S).group(1)
    import runpy

    script = tmp_path / "readme_example.py"
    script.write_text(code, encoding="utf-8")
    torch.manual_seed(0)
    estimate = float(runpy.run_path(str(script))["estimate"])
    from numerics.closed_forms import divergence

    jsd = divergence("jsd", (1.0, 1.0), (0.0, 1.0)).value
    assert 0.5 * jsd < estimate < jsd + 0.05


@pytest.mark.parametrize("name", catalogue.names())
def test_modules_compile_fullgraph(name):
    """Every public function of every generated module is captured whole by torch.compile(fullgraph=True) (a
    graph break raises), forward and backward (aot_eager traces the backward graph too), and the compiled
    function gives eager mode's values and gradients exactly: aot_eager runs the same kernels. Inductor (a C
    compiler, minutes) is exercised by benchmarks/compile_check.py."""
    torch._dynamo.reset()
    module = importlib.import_module(f"fdiv.losses.{name.replace('-', '_')}")
    grid = torch.linspace(-30, 30, 61, dtype=torch.float64)
    for fn_name in ("activation", "conjugate", "conjugate_of_activation", "density_ratio", "critic_loss",
                    "generator_loss", "generator_loss_nonsaturating", "divergence_estimate"):
        fn = getattr(module, fn_name)
        x = module.activation(grid) if fn_name == "conjugate" else grid
        args = (x, x.flip(0)) if fn.__code__.co_argcount == 2 else (x,)
        results = []
        for f in (fn, torch.compile(fn, fullgraph=True, backend="aot_eager")):
            xs = [a.clone().requires_grad_() for a in args]
            y = f(*xs)
            y.sum().backward()
            results.append((y.detach(), xs[0].grad))
        (y0, g0), (y1, g1) = results
        assert torch.equal(y0, y1) and torch.equal(g0, g1), fn_name


@pytest.mark.parametrize("power", [4, 5, 6, 7, -3, -4, -5, sp.Rational(3, 2), sp.Rational(5, 2), sp.Rational(-3, 2),
                                   sp.Rational(-7, 2)])
def test_integer_and_half_integer_powers_print_without_the_pow_kernel(power, tmp_path):
    """u^n and u^(k + 1/2) print as squares, cubes, products and sqrt (torch's pow kernel costs 20 times a
    product for other exponents), and equal torch.pow to 8 ulps (one rounding per product) where the power is a
    normal float, and overflow where it does, over 1e-8 ... 1e8, in both dtypes."""
    import re

    from fdiv.codegen.lower.printer import TorchPrinter

    u = sp.Symbol("u", positive=True)
    text = TorchPrinter(u, "u").emit(u**power)
    assert all(k in ("2", "3") for k in re.findall(r"\*\* *\(?(-?[0-9.]+)", text)), text
    module = tmp_path / "printed_power.py"  # loaded as generated modules are
    module.write_text(f"import torch\n\n\ndef power(u):\n    return {text}\n")
    spec = importlib.util.spec_from_file_location("printed_power", module)
    printed = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(printed)
    for dtype in (torch.float32, torch.float64):
        x = torch.logspace(-8, 8, 1001, dtype=dtype)
        got, want = printed.power(x), torch.pow(x.double(), float(power)).to(dtype)
        assert torch.equal(torch.isinf(got), torch.isinf(want)), (power, dtype)
        normal = torch.isfinite(want) & (want >= torch.finfo(dtype).tiny)
        eps = torch.finfo(dtype).eps
        assert torch.all((got - want)[normal].abs() <= 8 * eps * want[normal]), (power, dtype)


def test_termwise_distance_to_the_end_of_the_slope_range_is_exact_and_float64_safe():
    """2 - f'(u) and 2u - f(u) for f = sqrt(1 + u^2) + (u - 1)^2/(u + 1) - sqrt(2), term by term (each group of
    terms less its own asymptote): symbolically equal to the input (their difference simplifies to 0), and, where
    one denominator (u^7) overflows float64, within 1e-13 of mpmath at u = 1e60 and 1e120."""
    import mpmath

    from fdiv.codegen.lower.numeric import U, _termwise

    f = sp.sqrt(1 + U**2) + (U - 1) ** 2 / (U + 1) - sp.sqrt(2)
    for e in (2 - sp.diff(f, U), 2 * U - f):
        form = _termwise(e, sp.oo)
        assert sp.simplify(form - e) == 0, form
        fast, exact = sp.lambdify(U, form, "math"), sp.lambdify(U, e, "mpmath")
        for x in (1e60, 1e120):
            with mpmath.workdps(300):  # e itself cancels ~2 log10(u) digits: the reference carries them
                ref = exact(mpmath.mpf(x))
            assert abs(fast(x) - ref) <= 1e-13 * abs(ref), (form, x)


def test_log_max_is_the_largest_y_whose_exponential_is_finite():
    """The solver's upper clamp on y = log u*: e^y finite in the dtype, e^(next float above y) not (u* = inf would
    make t u* - f(u*) inf - inf)."""
    import numpy as np

    from fdiv.codegen.lower.numeric import _log_max

    for np_dtype, dtype in ((np.float32, torch.float32), (np.float64, torch.float64)):
        y = torch.tensor(_log_max(np_dtype), dtype=dtype)
        assert torch.isfinite(torch.exp(y))
        assert torch.isinf(torch.exp(torch.nextafter(y, torch.tensor(1e4, dtype=dtype))))


def test_inverse_table_reproduces_a_known_inverse():
    """f = u log u: f'(u) = log u + 1, so y = log u* = t - 1 exactly. The table and the Newton steps the builder
    chose reproduce it to float64 resolution at drawn t (1e-15 relative in u*, the builder's own target), and a
    smooth f' needs no more than 1 step in float32 and 2 in float64."""
    import numpy as np

    from fdiv.codegen.lower import table

    G = lambda y: np.log(np.exp(y)) + 1.0  # noqa: E731 - f'(u) at u = e^y (the builder's G takes y)
    mapping = lambda y: (np.exp(y), np.exp(y))  # noqa: E731

    def step(y, tau):
        u, du = mapping(y)
        return (np.log(u) + 1.0 - tau) / (1.0 / u * du)

    t = table.build(G, mapping, step, "slog", (-700.0, 700.0), (-745.0, 709.0))
    assert t.steps["float32"] <= 1 and t.steps["float64"] <= 2
    tau = np.random.default_rng(0).uniform(-600.0, 600.0, 2000)
    y = table.run(t, "slog", step, tau, t.steps["float64"])
    assert np.max(np.abs(y - (tau - 1.0)) / np.maximum(1.0, np.abs(tau - 1.0))) <= 1e-15


def test_the_modules_table_columns_are_the_builders_to_the_bit():
    """A module stores a table's knots in y only; the runtime helpers (torch and JAX) rebuild z at each knot from
    xi0 + k h and the slopes, bit for bit what fdiv.lower.table built and judged (a one-ulp drift would start Newton
    from a point the builder never checked)."""
    import numpy as np

    from fdiv.codegen.emit import _runtime_sources
    from fdiv.codegen.lower import table

    G = lambda y: np.log(np.exp(y)) + 1.0  # noqa: E731 - f = u log u, as above
    mapping = lambda y: (np.exp(y), np.exp(y))  # noqa: E731
    step = lambda y, tau: (np.log(np.exp(y)) + 1.0 - tau)  # noqa: E731
    t = table.build(G, mapping, step, "slog", (-700.0, 700.0), (-745.0, 709.0))
    slope = [(y1 - y0) / (z1 - z0) for y0, y1, z0, z1 in zip(t.knots[:-1], t.knots[1:], t.zs[:-1], t.zs[1:])]
    for backend in ("torch", "jax"):
        namespace: dict = {"torch": torch}
        exec(_runtime_sources(backend)["_table_columns"], namespace)  # noqa: S102 - fdiv's own runtime helper
        knots = torch.tensor(t.knots, dtype=torch.float64) if backend == "torch" else t.knots
        lo, hi, z0, dydz = (list(map(float, c)) for c in namespace["_table_columns"](knots, t.xi0, t.h))
        assert (lo, hi, z0, dydz) == (list(t.knots[:-1]), list(t.knots[1:]), list(t.zs[:-1]), slope), backend


def test_an_infinite_tau_is_bisected_to_the_end_of_the_range():
    """The top knot of a cusp index is tau = inf (the cube of e^236 overflows): its root is the top of y's range.
    It had been guessed next to y = 0, the last interval held none of its roots, and (sqrt(u) - 1)^4 - u/2 got no
    table (the 64-step fallback, 134x Jeffrey's time)."""
    import numpy as np

    from fdiv.codegen.lower import table

    G = lambda y: 2.0 * np.exp(y)  # noqa: E731 - increasing, finite over the range
    y = table.bisect(G, None, np.array([np.inf, -np.inf, 2.0]), -745.0, 709.0)
    assert y[0] > 708.9 and y[1] < -744.9 and abs(y[2]) < 1e-12, y


def test_a_flat_f_prime_is_judged_by_its_residual():
    """Next to a cusp G is flat: f' - f'(1) ~ (u - 1)^3 / 4, so G's last-bit rounding moves its root by ~1e-5 in y
    for the bisection as for any solver. A table whose roots leave a residual G(y) - tau no larger than the
    bisection's (or 4 ulps of tau) is accepted; a G whose rounding is planted 100 times larger than the float
    noise is not (its roots' residuals are then the noise, far above the floor)."""
    import numpy as np

    from fdiv.codegen.lower import table

    def G(y):
        r = np.sqrt(np.exp(y))
        return 2.0 * (r - 1.0) ** 2 * (1.0 - 1.0 / r) - 0.5

    mapping = lambda y: (np.exp(y), np.exp(y))  # noqa: E731

    def step(y, tau):
        u = np.exp(y)
        r = np.sqrt(u)
        return (G(y) - tau) / ((2.0 + 1.0 / r) * (r - 1.0) ** 2)

    t = table.build(G, mapping, step, "cusp", (-1e300, 1e300), (-745.0, 709.0), centre=-0.5)
    assert t.steps["float64"] <= 4
    noisy = lambda y: G(y) + 1e-13 * np.sin(1e9 * y)  # noqa: E731 - a planted rounding, 500 ulps of 1/2
    with pytest.raises(ValueError):
        table.build(noisy, mapping, lambda y, tau: (noisy(y) - tau) / ((2.0 + np.exp(-y / 2)) *
                                                                         (np.exp(y / 2) - 1.0) ** 2),
                    "cusp", (-1e300, 1e300), (-745.0, 709.0), centre=-0.5)


def test_cube_root_cusp_is_found_where_f_second_derivative_vanishes():
    """(sqrt(u) - 1)^4 has f''(1) = 0: the table is indexed by the cube root of t - f'(1) = t there; (u - 1)^2 +
    (1 - u)^2/u (f'' >= 2) has no cusp."""
    from fdiv.codegen.lower import numeric

    for f, cusp in (("(sqrt(u)-1)**4", 0.0), ("(u-1)**2 + (1-u)**2/u", None)):
        piece = fdiv.derive(f).branches
        p = next(iter(numeric.numeric_pieces(piece).values()))
        df = sp.diff(p.f, numeric.U)
        found = numeric._cusp(numeric._numpy(df), numeric._numpy(sp.diff(df, numeric.U)), p)
        assert (found is None) if cusp is None else abs(found - cusp) < 1e-12, (f, found)


def test_numeric_conjugate_next_to_a_cube_root_cusp(tmp_path):
    """(sqrt(u) - 1)^4: f''(1) = 0, so u*(t) = 1 + O(t^(1/3)) has infinite slope at t = 0, where Newton's step
    divides by ~0. The gradient of f*(t), u*(t), matches mpmath (30 digits) at t = +-1e-30 ... +-1e-3 in both
    dtypes, to the accuracy suite's tolerances (1e-5 relative in float32, 1e-11 in float64)."""
    from fdiv.codegen.emit import write_module

    path = write_module(fdiv.derive("(sqrt(u)-1)**4"), tmp_path, "quartic")
    spec = importlib.util.spec_from_file_location("quartic", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ts = [s * 10.0**-k for k in (30, 20, 12, 7, 3) for s in (1, -1)]

    def exact(t):  # 2 (r - 1)^3 / r = t with r = sqrt(u) near 1
        with mpmath.workdps(30):
            start = 1 + mpmath.sign(t) * mpmath.cbrt(abs(mpmath.mpf(t)) / 2)  # the real cube root
            r = mpmath.findroot(lambda r: 2 * (r - 1) ** 3 / r - mpmath.mpf(t), start)
            return r**2

    for dtype, rtol in ((torch.float32, 1e-5), (torch.float64, 1e-11)):
        t = torch.tensor(ts, dtype=dtype, requires_grad=True)
        module.conjugate_of_activation(t).sum().backward()
        for x, g in zip(ts, t.grad.tolist()):
            assert abs(g - float(exact(x))) <= rtol, (dtype, x, g)


def test_an_unreachable_branch_is_not_printed():
    """Branches hold in order (the first whose condition is true), so a branch whose bound lies below an earlier
    one's is never taken: f* of e^(-(u - 1)/2) + 5/2 Max(2 - u, 0)^3 at tanh's sigma_f held two (a tanh split at
    v = 0 flattened into branches right of v = 2.3), each a long expression evaluated for every element. They are
    left out; the reachable ones and their order are unchanged."""
    from fdiv.codegen.lower.printer import TorchPrinter

    v = sp.Symbol("v", real=True)
    e = sp.Piecewise((v + 1, v < 2), (sp.exp(v), v < 0), (sp.tanh(v), v <= 2), (v**3, True), evaluate=False)
    printer = TorchPrinter(v, "v")
    text = printer.emit(e)
    body = "\n    ".join(s.replace("\n", "\n    ") for s in printer.branches + [f"return {text}"])
    assert "exp" not in body and "tanh" in body and "** 3" in body
    from fdiv.codegen.lower.runtime import _branchwise, _tanh

    namespace = {"torch": torch, "math": math, "_branchwise": _branchwise, "_tanh": _tanh}
    exec("def g(v):\n    " + body, namespace)  # noqa: S102
    xs = torch.tensor([-1.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    assert namespace["g"](xs).tolist() == [0.0, 2.0, math.tanh(2.0), 27.0]
