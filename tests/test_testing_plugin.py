"""The pytest plugin: declared as an entry point, its fixtures work, and the README's example runs as written."""
from __future__ import annotations

import math
import re
import tomllib
from pathlib import Path

import numpy as np
import numpy.fft  # noqa: F401  in-process pytester runs drop modules they import; numpy's C modules
import pytest  # cannot be loaded twice, so everything the inner runs use is imported here first
import scipy.integrate  # noqa: F401
import scipy.linalg  # noqa: F401
import scipy.special  # noqa: F401
import scipy.stats  # noqa: F401

import fdiv.testing  # noqa: F401
import fdiv.testing.estimators  # noqa: F401  fdiv.testing loads these lazily; loaded here for the same reason
import fdiv.testing.gaussians  # noqa: F401
import fdiv.testing.losses  # noqa: F401
import fdiv.testing.plugin  # noqa: F401
import numerics.gaussian  # noqa: F401

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- verify-example:begin -->\n```python\n(.*?)```\n<!-- verify-example:end -->", text, re.S)
    assert block, "README: the verify example block is missing"
    return block.group(1)


def test_entry_point_is_declared_and_importable():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    plugins = project["entry-points"]["pytest11"]
    assert plugins == {"fdiv.testing.plugin": "fdiv.testing.plugin"}
    import fdiv.testing.plugin as plugin

    assert {"fdiv_reference", "fdiv_dtype", "fdiv_logits", "fdiv_gaussian_cases"} <= set(vars(plugin))


def test_readme_example_runs_in_another_project(pytester):
    pytester.makepyfile(test_my_losses=readme_example())
    result = pytester.runpytest_inprocess("-p", "fdiv.testing.plugin", "-q", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)  # test_critic_loss twice (float32, float64), the naive loss, the FID


def test_a_failing_check_fails_the_users_test_with_the_report(pytester):
    pytester.makepyfile(test_bad="""
import torch

def test_bad(fdiv_reference):
    fdiv_reference.assert_activation(lambda v: torch.sigmoid(v), "gan", logits=[0.0, 1.0])
""")
    result = pytester.runpytest_inprocess("-p", "fdiv.testing.plugin", "-q", "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*WRONG: activation <lambda> against gan (8 comparisons, 8 failed)*",
                                 "*diagnosis: leaves dom f[*] = (-oo, 0)*"])
    # pytest's short summary shows the first line of the message: the verdict, not an empty line
    result.stdout.fnmatch_lines(["FAILED test_bad.py::test_bad - AssertionError: WRONG: activation <lambda>*"])


def test_oracle_exact_values():
    from fdiv.testing.plugin import Oracle

    ref = Oracle()
    assert ref.value("gan", "activation", 0.0) == pytest.approx(-math.log(2), rel=1e-15)
    assert ref.value("kl", "density_ratio", 2.0) == pytest.approx(math.e, rel=1e-15)  # (f')^-1(v) = e^(v - 1)
    kl = ref.divergence("kl", [0.0], [[1.0]], [1.0], [[2.0]])
    assert kl == pytest.approx(0.5 * (0.5 + 0.5 - 1 + math.log(2)), rel=1e-14)
    assert ref.divergence("pearson", [0.0], [[2.5]], [0.0], [[1.0]]) == math.inf
    assert ref.frechet(np.zeros(2), np.eye(2), np.ones(2), np.eye(2)) == pytest.approx(2.0, rel=1e-14)
    with pytest.raises(AttributeError, match="no attribute"):
        ref.no_such_check  # noqa: B018
