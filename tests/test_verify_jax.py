"""The oracle on JAX code: a JAX user's loss gets the verdicts and diagnoses a torch twin of it gets (agree,
numerically limited, wrong), through the Python API and `fdiv verify loss` (a child process, --backend jax or
detected from the file's imports); the jax extra is pinned and installed like the others."""
from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from fdiv.cli import main

ROOT = Path(__file__).resolve().parents[1]
NO_JAX = "the jax extra is not installed (pip install 'fdiv[jax]')"
needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason=NO_JAX)

# Each loss twice, in torch and in JAX, the same formula in the same order of operations. Stable KL (sigma = v,
# f*(t) = exp(t - 1)) and GAN (softplus) agree; the naive log(1 + exp) GAN is numerically limited (overflow); a
# wrong sign and a conjugate swapped for another divergence's are wrong.
TWINS = {
    "kl": ("kl", "-v_real.mean() + {lib}.exp(v_fake - 1.0).mean()"),
    "gan": ("gan", "{sp}(-v_real).mean() + {sp}(v_fake).mean()"),
    "gan_naive": ("gan", "{lib}.log(1 + {lib}.exp(-v_real)).mean() + {lib}.log(1 + {lib}.exp(v_fake)).mean()"),
    "gan_wrong_sign": ("gan", "{sp}(v_real).mean() + {sp}(v_fake).mean()"),
    # reverse-kl's f*(t) = -1 - log(-t) with sigma = -exp(-v) is 1 - v... used as kl's conjugate term
    "kl_swapped_conjugate": ("kl", "-v_real.mean() + (-1.0 + v_fake).mean()"),
}


def _source(lib: str) -> str:
    if lib == "torch":
        head, lib_name = "import torch\nimport torch.nn.functional as F\n", "torch"
        sp = "(lambda x: F.softplus(x, threshold=40))"  # the default threshold 20 is float64-inexact above 20
    else:
        head, sp, lib_name = "import jax\nimport jax.numpy as jnp\n", "jax.nn.softplus", "jnp"
    body = "".join(f"\n\ndef {name}(v_real, v_fake):\n    return {expr.format(lib=lib_name, sp=sp)}\n"
                   for name, (_, expr) in TWINS.items())
    return head + body


@pytest.fixture(scope="module")
def twins(tmp_path_factory):
    folder = tmp_path_factory.mktemp("twins")
    paths = {}
    for lib in ("torch", "jax"):
        paths[lib] = folder / f"losses_{lib}.py"
        paths[lib].write_text(_source(lib))
    return paths


def _load(path: Path):
    spec = importlib.util.spec_from_file_location(f"_twins_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _shape(diagnosis: str) -> str:
    """The diagnosis without its numbers (which name the failed points: libraries may round an edge differently)."""
    return re.sub(r"-?\d[\d.e+-]*", "#", diagnosis)


@needs_jax
@pytest.mark.parametrize("name", TWINS)
def test_jax_twin_gets_the_torch_twins_verdict_and_diagnosis(name, twins):
    import fdiv.testing as ft

    against = TWINS[name][0]
    torch_fn, jax_fn = (getattr(_load(twins[lib]), name) for lib in ("torch", "jax"))
    theirs = ft.check_loss(jax_fn, against, role="critic_loss")  # backend read off the module: jax
    ours = ft.check_loss(torch_fn, against, role="critic_loss")
    expected = {"kl": "agree", "gan": "agree", "gan_naive": "limited", "gan_wrong_sign": "wrong",
                "kl_swapped_conjugate": "wrong"}[name]
    assert ours.outcome == expected, ours.text()
    assert theirs.outcome == expected, theirs.text()
    assert _shape(theirs.diagnosis) == _shape(ours.diagnosis), (theirs.diagnosis, ours.diagnosis)
    assert len(theirs.points) == len(ours.points)  # the same comparisons: values and gradients in both dtypes
    assert any("called as a JAX function" in n for n in theirs.notes)
    assert not any("JAX" in n for n in ours.notes)


@needs_jax
def test_a_jax_function_gets_jax_arrays_of_each_dtype_and_jax_grad_gradients():
    import jax
    import jax.numpy as jnp
    import numpy as np

    from fdiv.testing.calls import LocalFunction

    seen = []

    def loss(v_real, v_fake):
        seen.append((type(v_real), v_real.dtype))
        return jnp.mean(jax.nn.softplus(-v_real)) + jnp.mean(jax.nn.softplus(v_fake))

    callee = LocalFunction(loss)
    assert callee.backend == "jax"
    for dtype in (np.float32, np.float64):
        x = np.array([-3.0, 0.5, 40.0], dtype=dtype)
        r = callee.call("torch", [x, -x], ["v_real", "v_fake"], True)
        assert not r.failure and r.requires_grad
        (plain, plain_dtype), (_, traced_dtype) = seen[-2:]  # the call, then jax.grad's trace of it
        assert issubclass(plain, jax.Array) and plain_dtype == traced_dtype == dtype
        # d/dv_real mean softplus(-v) = -sigmoid(-v) / 3, to a few ulps of the dtype
        want = -1 / (1 + np.exp(x.astype(np.float64))) / 3
        assert np.allclose(r.grads[0], want, rtol=8 * np.finfo(dtype).eps, atol=0)
    assert not jax.config.jax_enable_x64  # float64 calls switch x64 on for themselves only


@needs_jax
def test_a_function_jax_cannot_trace_fails_its_gradients_not_its_values():
    import jax.numpy as jnp
    import numpy as np

    import fdiv.testing as ft

    def through_numpy(v_real, v_fake):
        return jnp.asarray(np.mean(-np.asarray(v_real)) + np.mean(np.exp(np.asarray(v_fake) - 1.0)))

    report = ft.check_loss(through_numpy, "kl", role="critic_loss", backend="jax", dtypes=["float64"],
                           logits=[0.0, 1.0, -3.0])
    assert report.outcome == "wrong"
    failed = {p.quantity for p in report.failures}
    assert failed == {"gradient"} and all("carries no gradient" in p.expected for p in report.failures)


@needs_jax
def test_backend_from_the_code_else_from_what_it_returns():
    import jax
    import jax.numpy as jnp
    import torch

    import fdiv.testing as ft
    from fdiv.testing.calls import LocalFunction

    ns: dict = {"jax": jax, "jnp": jnp, "torch": torch}
    exec("def loss(v_real, v_fake):\n    return jnp.mean(-v_real) + jnp.mean(jnp.exp(v_fake - 1.0))\n"
         "def tloss(v_real, v_fake):\n    return -v_real.mean() + torch.exp(v_fake - 1.0).mean()\n", ns)
    assert LocalFunction(ns["loss"]).backend == "jax"  # the module names both; the function's code names jnp
    exec("def hidden(v_real, v_fake):\n    return helpers[0](v_real, v_fake)\n", ns)
    ns["helpers"] = [ns["loss"]]
    assert LocalFunction(ns["hidden"]).backend == ""  # a list hides it: the module names both libraries
    assert ft.check_loss(ns["hidden"], "kl", role="critic_loss").outcome == "agree"  # what it returns tells
    assert ft.check_loss(ns["loss"], "kl", role="critic_loss").outcome == "agree"
    assert ft.check_loss(ns["tloss"], "kl", role="critic_loss").outcome == "agree"
    # told the wrong library, the JAX function gets torch tensors and fails every call
    with pytest.raises(ft.UserFunctionError, match="no usable result"):
        ft.check_loss(ns["loss"], "kl", role="critic_loss", backend="torch")


def verify(capsys, *args):
    code = main(["verify", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


@needs_jax
def test_cli_detects_a_jax_file_and_checks_it_in_a_child(twins, capsys):
    code, out, err = verify(capsys, "loss", f"{twins['jax']}:gan", "--against", "gan", "--role", "critic_loss",
                            "--format", "json")
    assert code == 0, err
    assert json.loads(out)["verdict"] == "agree"
    code, out, err = verify(capsys, "loss", f"{twins['jax']}:gan_naive", "--against", "gan", "--role",
                            "critic_loss", "--backend", "jax")
    assert code == 1 and out.startswith("NUMERICALLY LIMITED: critic_loss gan_naive against gan"), out + err
    assert "diagnosis: overflow" in out


@needs_jax
def test_cli_jax_dpo_loss(tmp_path, capsys):
    path = tmp_path / "dpo_jax.py"
    path.write_text("import jax\nimport jax.numpy as jnp\n\n\ndef dpo(logp_w, logp_ref_w, logp_l, logp_ref_l, beta):\n"
                    "    margin = beta * ((logp_w - logp_ref_w) - (logp_l - logp_ref_l))\n"
                    "    return jax.nn.softplus(-margin)\n")
    code, out, err = verify(capsys, "dpo", f"{path}:dpo", "--against", "kl", "--format", "json")
    assert code == 0, out + err
    assert json.loads(out)["verdict"] == "agree"


@pytest.mark.parametrize("bad", [["--backend", "tf"], ["--backend", ""]])
def test_bad_backend_is_one_error_line_exit_2(bad, tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text("def f(v_real, v_fake):\n    return v_real.mean()\n")
    code, out, err = verify(capsys, "loss", f"{path}:f", "--against", "gan", "--role", "critic_loss", *bad)
    assert code == 2 and out == "" and err.count("\n") == 1 and err.startswith("error: ") and "--backend" in err


def test_backend_jax_without_jax_is_one_error_line_exit_2(tmp_path, capsys, monkeypatch):
    path = tmp_path / "mine.py"
    path.write_text("def f(v_real, v_fake):\n    return v_real.mean()\n")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real(name, *a))
    code, out, err = verify(capsys, "loss", f"{path}:f", "--against", "gan", "--role", "critic_loss",
                            "--backend", "jax")
    assert code == 2 and out == "" and err.strip() == "error: backend 'jax': JAX is not installed (pip install " \
                                                     "'fdiv[jax]')"


def test_file_imports_choose_the_childs_library(tmp_path):
    from fdiv.commands.verify import _array_kind

    cases = {"import jax.numpy as jnp\n": "jax", "from flax import linen\n": "jax", "import torch\n": "torch",
             "import torch\nimport jax\n": "auto", "import numpy\n": "auto", "def f(:\n": "auto",
             "from . import jax\n": "auto"}
    for i, (text, kind) in enumerate(cases.items()):
        path = tmp_path / f"m{i}.py"
        path.write_text(text)
        assert _array_kind(str(path), "auto") == kind, text
        assert _array_kind(str(path), "torch") == "torch"


def test_the_jax_extra_is_pinned_and_installed():
    """Every requirement of the jax extra is pinned in constraints.txt (with what jax pulls in), and make setup
    installs the extra, so CI runs the JAX tests instead of skipping them."""
    import tomllib

    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["jax"]
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    for req in extra:
        name = re.match(r"[A-Za-z0-9_.-]+", req).group(0)
        assert name in pins, req
    assert {"jaxlib", "ml_dtypes", "opt_einsum"} <= set(pins)
    setup = re.search(r"-e '\.\[([a-z,]+)\]'", (ROOT / "Makefile").read_text())
    assert setup and "jax" in setup.group(1).split(",")
    if sys.version_info >= (3, 11) and importlib.util.find_spec("jax") is not None:
        from importlib.metadata import version

        assert version("jax") == pins["jax"] and version("jaxlib") == pins["jaxlib"]
