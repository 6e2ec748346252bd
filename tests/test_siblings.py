"""numerics and proofs from fdiv: the checkout's top-level packages here (an installed fdiv maps them into fdiv,
checked by .ci/wheel_smoke), and `fdiv proofs` handing its options to the proofs' main."""
from __future__ import annotations

import importlib
import types

import pytest

from fdiv import cli
from fdiv._util import siblings
from fdiv.commands import proofs as proofs_command


def test_a_checkout_loads_its_own_folders():
    assert siblings.in_checkout("numerics") and siblings.in_checkout("proofs")
    assert siblings.load("numerics.gaussian") is importlib.import_module("numerics.gaussian")
    assert siblings.load("proofs.claims") is importlib.import_module("proofs.claims")


def test_only_the_two_siblings_load():
    with pytest.raises(ValueError, match="not in numerics or proofs"):
        siblings.load("os.path")


@pytest.fixture
def fake_main(monkeypatch):
    calls = []

    def main(argv, prog):
        calls.append((argv, prog))
        print("proofs: 1 of 2 proofs pass")
        return 1

    monkeypatch.setattr(proofs_command, "load", lambda name: types.SimpleNamespace(main=main))
    return calls


@pytest.mark.parametrize("argv, passed", [(["proofs"], []), (["proofs", "--check"], ["--check"]),
                                          (["proofs", "--write", "--out", "r"], ["--write", "--out", "r"])])
def test_fdiv_proofs_passes_its_options_and_exit_code_on(fake_main, capsys, argv, passed):
    assert cli.main(argv) == 1
    assert fake_main == [(passed, "fdiv proofs")]
    assert "1 of 2 proofs pass" in capsys.readouterr().out


def test_fdiv_proofs_write_outside_a_checkout_needs_out(fake_main, monkeypatch, capsys):
    monkeypatch.setattr(proofs_command, "in_checkout", lambda package: False)
    assert cli.main(["proofs", "--write"]) == 2
    assert capsys.readouterr().err.startswith("error: --write needs --out DIR")
    assert fake_main == []
    assert cli.main(["proofs", "--write", "--out", "r"]) == 1  # with a directory it runs
