"""The AST-whitelist parser: what it builds, and one rejection per class of bad input."""
import pytest
import sympy as sp

from fdiv.errors import ParseError
from fdiv.spec.parse import parse
from fdiv.spec.spec import U

SYMS = {"u": U, "alpha": sp.Symbol("alpha", real=True)}


@pytest.mark.parametrize("text, expected", [
    ("u*log(u)", U * sp.log(U)),
    ("0.5*(u - 1)**2", sp.Rational(1, 2) * (U - 1) ** 2),  # decimals are exact rationals
    ("-log(u)", -sp.log(U)),
    ("+u - 1", U - 1),
    ("Abs(u - 1)/2", sp.Abs(U - 1) / 2),
    ("Max(u, 1) - Min(u, 1)", sp.Max(U, 1) - sp.Min(U, 1)),
    ("sqrt(u)*exp(u)", sp.sqrt(U) * sp.exp(U)),
    ("u**alpha", U ** SYMS["alpha"]),
    ("pi*E*u", sp.pi * sp.E * U),
])
def test_builds_sympy(text, expected):
    assert parse(text, SYMS) == expected


@pytest.mark.parametrize("text, message", [
    ("__import__('os').system('rm -rf /')", "only plain function calls"),
    ("u.__class__.__mro__", "attribute access"),
    ("(lambda: 1)()", "only plain function calls"),
    ("lambda u: u", "lambda"),
    ("u[0]", "subscripting"),
    ("'u'", "string"),
    ("x + 1", "unknown name 'x'"),
    ("gamma(u)", "unknown function 'gamma'"),
    ("log(u, 2)", "takes 1 argument"),
    ("log(u=2)", "keyword"),
    ("u**(9**9**9)", "exponent towers"),
    ("u**100", "outside [-64, 64]"),
    ("u^2", "write '**'"),
    ("u if u else 1", "conditional"),
    ("u > 1", "comparison"),
    ("1e300 * u", "too large"),
    ("u" + " + u" * 3000, "characters long"),
    ("u +", "syntax error"),
    ("", "empty"),
    ("[u]", "list"),
    ("f'{u}'", "f-string"),
    ("u / 0", "division by zero"),
])
def test_rejects(text, message):
    with pytest.raises(ParseError, match="^f: ") as info:
        parse(text, SYMS, where="f")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_column_is_reported():
    with pytest.raises(ParseError, match="column 5"):
        parse("u + x", SYMS, where="f")
