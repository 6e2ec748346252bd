"""Hypothesis strategies for the fuzz suite (tests/test_fuzz.py) and its long run (benchmarks/fuzz.py)."""
from __future__ import annotations

from hypothesis import strategies as st

HOSTILE = ['"""', "'''", "\\", "\\N", "\\x00", "#", "\n", "\r", "\t", "\u202e", "ｋｌ", "__import__('os')",
           "${HOME}", "%s", "{0}", "\x7f", "\ufeff", "é", "\\u0022"]
NAMES = ["u", "t", "v", "x", "pi", "E", "oo", "I", "alpha", "__debug__", "__class__", "True", "None"]
FUNCTIONS = ["log", "exp", "sqrt", "Abs", "Max", "Min", "tanh", "LambertW", "Piecewise", "sign", "gamma",
             "eval", "__import__", "open", "sin"]
NUMBERS = ["0", "1", "2", "-1", "0.5", "1e300", "1e-300", "9" * 30, "9" * 5000, "1_000", "0x10", "1j", "nan",
           "inf", "3/10", "1e12", "1e13"]
OPERATORS = ["+", "-", "*", "/", "**", "^", "%", "//", "&", "|", "<", "<=", "==", "and", "or", "@"]


def expressions() -> st.SearchStrategy[str]:
    """Random expression trees in f's grammar and around it (unknown names and functions, odd literals, comments
    and junk), plus plain random text."""
    leaf = st.one_of(st.sampled_from(NAMES), st.sampled_from(NUMBERS), st.integers(-10**6, 10**6).map(str),
                     st.floats(allow_nan=True, allow_infinity=True).map(repr))

    def extend(inner):
        unary = st.tuples(st.sampled_from(["-", "+", "~", "not "]), inner).map(lambda x: x[0] + x[1])
        binary = st.tuples(inner, st.sampled_from(OPERATORS), inner).map(lambda x: f"({x[0]} {x[1]} {x[2]})")
        call = st.tuples(st.sampled_from(FUNCTIONS), st.lists(inner, min_size=0, max_size=3)).map(
            lambda x: f"{x[0]}({', '.join(x[1])})")
        pair = st.tuples(inner, inner).map(lambda x: f"({x[0]}, {x[1]})")
        return st.one_of(unary, binary, call, pair)

    tree = st.recursive(leaf, extend, max_leaves=12)
    commented = st.tuples(tree, st.sampled_from(HOSTILE)).map(lambda x: f"{x[0]} #{x[1]}")
    return st.one_of(tree, commented, st.text(max_size=40), st.sampled_from(HOSTILE))


_CATALOGUE = ["kl", "gan", "pearson", "tv", "alpha", "js-weighted", "no-such", "KL", "kll", "jeffrey"]


def argv_lists() -> st.SearchStrategy[list[str]]:
    """Random command lines: real subcommands and flags with values drawn from everything above (negative
    numbers, intervals, hostile text), plus random tokens. 'OUT_DIR' stands for an empty directory."""
    value = st.one_of(expressions(), st.sampled_from(["0,1", "-0.2,2", "0,-1", "0,0", "nan,1", "1,inf", "0",
                                                      "(0, 1)", "(1, oo)", "(-oo, 0]", "alpha=2", "pi=3.14",
                                                      "a=(1, oo)", "K", "-1", "1e300", "OUT_DIR", "", "-"]))
    flag = st.sampled_from(["--f", "--param", "--format", "--time-limit", "--name", "-o", "--p", "--q", "--method",
                            "--claim", "--lhs", "--rhs", "--assume", "--all", "--no-cache", "--help", "--version",
                            "--bogus"])
    head = st.sampled_from([["list"], ["derive"], ["gen"], ["gauss"], ["check", "conjugate"], ["check", "domain"],
                            ["check", "activation"], ["check", "identity"], ["frobnicate"], []])
    body = st.lists(st.one_of(flag, value, st.sampled_from(_CATALOGUE)), max_size=8)
    return st.tuples(head, body).map(lambda x: x[0] + x[1])


def toml_documents() -> st.SearchStrategy[str]:
    """TOML text: well-formed [[divergence]] tables with fields of every type, and malformed text."""
    scalar = st.one_of(st.text(max_size=20), st.integers(), st.floats(allow_nan=False), st.booleans(),
                       expressions())

    def toml_value(x) -> str:
        if isinstance(x, bool):
            return "true" if x else "false"
        if isinstance(x, (int, float)):
            return repr(x) if x == x and abs(x) != float("inf") else "0"
        return '"' + str(x).replace("\\", "\\\\").replace('"', '\\"').encode("unicode_escape").decode("ascii") + '"'

    key = st.sampled_from(["name", "f", "aliases", "params", "title", "reference", "notes", "published",
                           "require_f1_zero", "bogus"])
    field = st.tuples(key, scalar).map(lambda x: f"{x[0]} = {toml_value(x[1])}")
    params = st.lists(st.tuples(st.sampled_from(["a", "b", "u", "pi", "x y", "__init__"]), scalar, scalar),
                      max_size=3).map(lambda ps: "params = { " + ", ".join(
                          f'"{n}" = {{ default = {toml_value(d)}, interval = {toml_value(i)} }}' for n, d, i in ps)
                          + " }")
    table = st.tuples(st.lists(field, max_size=6), st.one_of(st.just(""), params),
                      st.sampled_from(['name = "mine"\nf = "(u - 1)**2"', 'f = "u*log(u)"', ""])).map(
        lambda x: "[[divergence]]\n" + x[2] + "\n" + "\n".join(x[0]) + "\n" + x[1] + "\n")
    return st.one_of(table, st.text(max_size=80), st.just("[[divergence]]\n"), st.just("divergence = 3\n"))


def text_fields() -> st.SearchStrategy[tuple[str, str, str, str, str]]:
    """(name, title, reference, notes, module name): hostile text where text is free, names that are almost
    valid where they are not."""
    hostile = st.one_of(st.sampled_from(HOSTILE), st.text(min_size=1, max_size=30),
                        st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=4).map("".join))
    name = st.one_of(st.sampled_from(["mine", "my-loss", "x", "kl"]), hostile)
    module = st.one_of(st.sampled_from(["mine", "m2", "__init__", "torch", "os", "ｋｌ", "1x", "a-b", "class"]),
                       hostile)
    return st.tuples(name, hostile, hostile, hostile, module)
