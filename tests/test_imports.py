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
