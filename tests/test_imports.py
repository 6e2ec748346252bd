"""A training script that imports a generated loss pays for torch and nothing of fdiv's derivation engine."""
from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("sympy", "mpmath", "fdiv.derivation.engine", "fdiv.derivation.conjugate", "fdiv.codegen.lower")


@pytest.mark.parametrize("statement", ["import fdiv", "import fdiv.losses.gan",
                                       "from fdiv.losses import jeffrey, kl; jeffrey.Loss(); kl.critic_loss"])
def test_generated_losses_load_no_sympy(statement):
    code = f"import sys; {statement}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"{statement} loaded: {out.stdout.strip()}"


def test_the_check_can_fail():
    """The same probe sees SymPy once the derivation engine is imported."""
    code = f"import sys; import fdiv.derivation.engine; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "sympy" in out.stdout.split()


def test_derive_is_the_function_and_the_package_a_plain_module():
    """No module shares the name `derive`: the package attribute is the function whatever was imported before,
    loaded by a module-level __getattr__ (PEP 562), and the package is an ordinary module object."""
    code = ("import sys, types; import fdiv; assert 'sympy' not in sys.modules; import fdiv.derivation.engine; "
            "import fdiv.spec.spec; print(type(fdiv) is types.ModuleType, callable(fdiv.derive), "
            "isinstance(fdiv.derive, types.ModuleType), fdiv.derive is fdiv.derivation.engine.derive, "
            "fdiv.Spec is fdiv.spec.spec.Spec)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "False", "True", "True"]
