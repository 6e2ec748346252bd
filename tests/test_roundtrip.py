"""One grammar in and out: everything `derive --format json` prints reads back through fdiv's own whitelisted
parser, and fdiv's checker verifies fdiv's own output -- for every catalogue entry and every f in the tests."""
from __future__ import annotations

import json

import pytest
import sympy as sp
from sympy.core.parameters import distribute

import fdiv
from fdiv.spec import catalogue
from fdiv.derivation.activation import V
from fdiv.cli import main
from fdiv.derivation.conjugate import T
from fdiv.spec.parse import EXTENDED, parse
from fdiv.spec.spec import U
from proofs import claims

from .test_any_f import BRANCHED, NUMERIC_FS
from .test_losses_accuracy import USER_FS

FS = catalogue.names() + USER_FS + BRANCHED + NUMERIC_FS + ["u*log(u) - (u+1)*log(u+1)", "(u - 1)**2 + 2"]


def _json(target: str, capsys) -> dict:
    args = ["derive", target] if catalogue.find(target) else ["derive", "--f", target]
    assert main([*args, "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _interval(data: dict) -> str:
    return f"{'[' if data['lower_closed'] else '('}{data['lower']}, {data['upper']}{']' if data['upper_closed'] else ')'}"


@pytest.mark.parametrize("target", FS)
def test_json_round_trips_through_the_checker(target, capsys):
    data = _json(target, capsys)
    d = fdiv.derive(target)
    symbols = {"u": U, "t": T, "v": V, **{k: sp.Symbol(k, real=True) for k in data["parameters"]}}
    for key in ("f", "activation", "optimal_critic", "ratio_from_critic", "f_prime_at_one", "f_at_one", "conjugate"):
        if data[key] is None:  # a numeric conjugate: null, with conjugate_numeric describing it
            assert key in ("conjugate", "ratio_from_critic") and data["conjugate_evaluation"] == "numeric"
            continue
        with distribute(False):  # read back exactly as printed
            parsed = parse(data[key], symbols, where=key, functions=EXTENDED)
        assert parsed == getattr(d, key), key
    if data["conjugate"] is not None:
        verdict = claims.check_conjugate(d, claims.parse_claim(data["conjugate"], T, d))
        assert verdict.verdict == claims.VERIFIED, verdict.text()
    verdict = claims.check_domain(d, _interval(data["conjugate_domain"]))
    assert verdict.verdict == claims.VERIFIED, verdict.text()
    verdict = claims.check_activation(d, claims.parse_claim(data["activation"], V, d))
    assert verdict.verdict == claims.VERIFIED, verdict.text()


def test_the_checker_reads_the_pearson_conjugate_it_prints(capsys):
    data = _json("pearson", capsys)
    assert main(["check", "conjugate", "pearson", "--claim", data["conjugate"]]) == 0
    assert capsys.readouterr().out.startswith("verified")


def test_check_takes_spec_files(tmp_path, capsys):
    spec = tmp_path / "mygan.toml"
    spec.write_text('[[divergence]]\nname = "mygan"\nf = "u*log(u) - (u + 1)*log(u + 1)"\n')
    assert main(["check", "conjugate", str(spec), "--claim", "-log(1 - exp(t))"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("verified") and err.startswith("note: f(1) = -log(4)")
