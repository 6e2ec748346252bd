"""Lowering that does less work for the same numbers: a Piecewise as one function per branch, each run on its own
elements (runtime _branchwise), terms a branch repeats bound once (lower.shared), and log(1 - e^(k x)) formed
where it keeps its digits.

The speed itself is measured by benchmarks/any_f.py (time against the Jeffrey loss); these tests pin what the
speed must not cost: the same values as the torch.where form (to the last bit where the same kernels run),
gradients that agree with the exact slope, NaN and the ends of each branch where they were.
"""
from __future__ import annotations

import ast
import importlib.util
import math

import mpmath
import pytest
import torch

import fdiv
import fdiv.testing as ft
from fdiv.codegen.emit import render_module, write_module
from fdiv.codegen.lower import runtime
from fdiv.codegen.lower.shared import bind_shared


def _module(f: str, directory, name: str):
    path = write_module(fdiv.derive(f), directory, name)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, path.read_text()


def _run(lines: list[str], text: str, env: dict):
    scope = dict(env)
    for line in lines:
        exec(line, scope)  # printer output of the pass under test, on fixed strings
    return eval(text, scope)  # noqa: S307 - same


# ------------------------------------------------------------------------------------------- shared terms
def test_a_repeated_term_is_bound_once_and_the_value_is_the_same_to_the_bit():
    text = ("torch.where(v < 0.0, torch.sqrt(torch.tanh(v) ** 2 + 1.0) * torch.tanh(v) - torch.sqrt(torch.tanh(v) ** 2"
            " + 1.0), torch.exp(-v) * 2.0 + torch.exp(-v))")
    lines, out = bind_shared(text)
    # tanh(v) inside sqrt(...) twice and once more outside: sqrt bound once, tanh once, exp(-v) once
    defs = dict(line.split(" = ", 1) for line in lines)
    tanh = next(k for k, d in defs.items() if d == "torch.tanh(v)")
    assert sorted(defs.values()) == sorted(["torch.tanh(v)", f"torch.sqrt({tanh} ** 2 + 1.0)", "torch.exp(-v)"])
    assert list(defs).index(tanh) < list(defs.values()).index(f"torch.sqrt({tanh} ** 2 + 1.0)")  # bound before use
    assert out.count("torch.") == 1  # only the where is left inline
    v = torch.linspace(-30, 30, 10001, dtype=torch.float64)
    env = {"torch": torch, "v": v}
    assert torch.equal(_run(lines, out, env), eval(text, env))  # noqa: S307 - fixed text


def test_a_term_repeated_only_inside_a_bound_one_is_not_bound_apart():
    lines, out = bind_shared("f(g(x) + 1) * 2 + f(g(x) + 1)")
    assert lines == ["c0 = f(g(x) + 1)"] and out == "c0 * 2 + c0"


def test_nothing_repeated_or_a_lazy_expression_is_left_as_it_is():
    assert bind_shared("torch.exp(v) + torch.log(v)") == ([], "torch.exp(v) + torch.log(v)")
    lazy = "torch.exp(v) if flag else torch.exp(v)"  # hoisting would evaluate the branch not taken
    assert bind_shared(lazy) == ([], lazy)


def test_bound_names_never_shadow_a_name_the_text_reads():
    lines, out = bind_shared("torch.exp(c0) + torch.exp(c0)")
    assert lines == ["c0_ = torch.exp(c0)"] and out == "c0_ + c0_"


# ------------------------------------------------------------------------------------------- _branchwise
def _where_reference(x, bounds, fns):
    """The nested torch.where the printer wrote before (safe copies left out: every branch is finite here)."""
    out = fns[-1](x, None)
    for i in reversed(range(len(bounds))):
        b, op = bounds[i]
        out = torch.where(x < b if op == "<" else x <= b, fns[i](x, None), out)
    return out


BOUNDS = ((-1.0, "<"), (0.0, "<="), (2.0, "<"))
FNS = (lambda x, m: x * 0.0 - 7.0, lambda x, m: x * 2.0 + 1.0, lambda x, m: x * 3.0 + 2.0, lambda x, m: x * 5.0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_each_element_takes_the_branch_the_where_form_gives_it(dtype):
    # the ends themselves: -1 opens branch 1 (x < -1 holds no more), 0 closes branch 1, 2 opens branch 3; NaN and
    # both infinities; an empty input and a 0-d one
    x = torch.tensor([-math.inf, -5.0, -1.0, -0.5, 0.0, 1e-30, 1.0, 2.0, 3.0, math.inf, math.nan], dtype=dtype)
    got = runtime._branchwise(x, BOUNDS, (None,) * 4, FNS)
    want = _where_reference(x, BOUNDS, FNS)
    assert torch.equal(got.isnan(), want.isnan()) and torch.equal(got.nan_to_num(), want.nan_to_num())
    assert runtime._branchwise(x[:0], BOUNDS, (None,) * 4, FNS).shape == (0,)
    assert runtime._branchwise(x[3].clone(), BOUNDS, (None,) * 4, FNS).shape == ()


def test_a_branch_is_evaluated_on_its_own_elements_only():
    seen = []

    def spy(i):
        def fn(x, mask):
            seen.append((i, x.numel(), mask))
            return x * 1.0
        return fn

    x = torch.linspace(-3, 3, 601)
    runtime._branchwise(x, BOUNDS, (None,) * 4, tuple(spy(i) for i in range(4)))
    assert sum(n for _, n, _ in seen) == x.numel() and all(m is None for _, _, m in seen)


def test_a_wrong_branch_index_is_caught_by_the_where_reference():
    """The comparison above rejects a branch index off by one at a closed end (a planted '<' for '<=')."""
    x = torch.tensor([-1.0, 0.0, 2.0])
    planted = ((-1.0, "<"), (0.0, "<"), (2.0, "<"))
    assert not torch.equal(runtime._branchwise(x, planted, (None,) * 4, FNS), _where_reference(x, BOUNDS, FNS))


def test_gradients_come_only_from_the_branch_taken():
    """sqrt(-x) on x < 0 beside x on x >= 0: through torch.where, the branch not taken met sqrt at its clamp; here
    it never sees those elements, so every slope is finite and exact."""
    fns = (lambda x, m: torch.sqrt(-x), lambda x, m: x)
    x = torch.tensor([-4.0, -1.0, 0.0, 1.0, 9.0], dtype=torch.float64, requires_grad=True)
    runtime._branchwise(x, ((0.0, "<"),), (-1.0, None), fns).sum().backward()
    assert x.grad.tolist() == [-0.25, -0.5, 1.0, 1.0, 1.0]


# ------------------------------------------------------------------------------------------- generated modules
F_KINKS = "1/2*(Max(u - 1, 0)) + 4*(sqrt(1 + u**2)) + 2/3*(Max(1/2 - u, 0))"


def test_a_piecewise_conjugate_is_one_function_per_branch(tmp_path):
    text = render_module(fdiv.derive(F_KINKS), [])
    tree = ast.parse(text)
    body = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "conjugate_of_activation")
    branches = [n.name for n in body.body if isinstance(n, ast.FunctionDef)]
    # one function per branch of the _branchwise call (its bounds, one fewer than its branches): five closed
    # branches, and more where the judge sends a branch to a numeric solve with a form at each end (a NaN slope
    # of f*(t) next to t = -2/3 in float32 does)
    (call,) = [c for c in ast.walk(body) if isinstance(c, ast.Call) and getattr(c.func, "id", "") == "_branchwise"]
    bounds = call.args[1]
    assert len(branches) >= 5 and branches == [f"branch_{i}" for i in range(len(bounds.elts) + 1)]
    # each branch holds its terms once: no call repeated within a branch function
    for fn in (n for n in body.body if isinstance(n, ast.FunctionDef)):
        calls = [ast.dump(c) for c in ast.walk(fn) if isinstance(c, ast.Call)]
        assert len(calls) == len(set(calls)), fn.name


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_branch_functions_agree_with_the_where_form_and_the_reference(tmp_path, monkeypatch, dtype):
    module, _ = _module(F_KINKS, tmp_path, "kinks")
    v = torch.cat([torch.linspace(-40, 40, 4001, dtype=dtype),
                   torch.tensor(ft.default_logits(drawn=0), dtype=dtype)])
    eager = module.conjugate_of_activation(v)
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)  # the runtime's torch.where form
    where = module.conjugate_of_activation(v)
    monkeypatch.undo()
    # the same formulas on the same elements: vectorised and scalar loops may round transcendental functions
    # differently by an ulp, nothing more
    ulp = torch.finfo(dtype).eps
    assert torch.equal(eager.isfinite(), where.isfinite())
    assert ((eager - where).abs() <= 2 * ulp * where.abs()).all()
    # (conjugate's float32 slope at t = -0.66663, next to the end of a branch, cancels in the closed form; it did
    # through torch.where too, and stays open work)
    for role in ("conjugate_of_activation", "density_ratio", "critic_loss"):
        report = ft.check_loss(getattr(module, role), F_KINKS, role=role, logits=ft.default_logits(drawn=0))
        assert report.ok, report.text()


# ------------------------------------------------------------------------------------------- arguments that keep digits
def test_log1mexp_of_a_multiple_takes_the_log_of_the_input_itself():
    """f = 5/2 (u log u - (u + 1) log(u + 1)): f*(t) = -5/2 log(1 - e^(2t/5)). At a subnormal float32 t, 0.4 t
    rounds (3.78e-44 has five significant bits) and f* was 2e-4 off; log(-t) + log 0.4 keeps every digit."""
    t = torch.tensor([-3.783505853677006e-44, -1e-30, -1e-3, -0.3, -5.0], dtype=torch.float32)
    exact = [float(-2.5 * mpmath.log(-mpmath.expm1(mpmath.mpf(x) * mpmath.mpf(2) / 5))) for x in t.tolist()]
    scaled = (runtime._log1mexp(t, 0.4) * -2.5).tolist()
    planted = (runtime._log1mexp(t * 0.4) * -2.5).tolist()  # the old lowering
    assert all(abs(a - b) <= 1e-6 * abs(b) for a, b in zip(scaled, exact))
    assert abs(planted[0] - exact[0]) > 1e-5 * exact[0]
    # k = 1 is the catalogue's formula, bit for bit
    x = -torch.logspace(-40, 2, 500, dtype=torch.float64)
    assert torch.equal(runtime._log1mexp(x), runtime._log1mexp(x, 1.0))


def test_a_gan_family_conjugate_is_printed_with_the_scaled_helper():
    text = render_module(fdiv.derive("5/2*(u*log(u) - (u + 1)*log(u + 1))"), "gan_weighted")
    assert "_log1mexp(t_0, 0.4)" in text and "_log1mexp(t_0 * 0.4)" not in text
