"""Safe expression parser: a whitelist over Python's AST, built straight into SymPy objects.

No user text ever reaches eval, exec or sympify. Grammar: numbers, + - * / **, unary +/-, parentheses,
the declared variables and parameters, the constants pi and E, and the functions log, exp, sqrt, Abs,
Max, Min. Decimal literals become exact rationals (0.5 -> 1/2) so derivations stay exact.
"""
from __future__ import annotations

import ast
from collections.abc import Mapping

import sympy as sp

from .errors import ParseError

MAX_LENGTH = 1000  # characters of input
MAX_NODES = 400  # AST nodes
MAX_LITERAL = 10**12  # magnitude of a numeric literal
MAX_EXPONENT = 64  # magnitude of a constant exponent (u**(9**9**9) must not reach SymPy)

FUNCTIONS: dict[str, tuple[object, tuple[int, ...]]] = {
    "log": (sp.log, (1,)),
    "exp": (sp.exp, (1,)),
    "sqrt": (sp.sqrt, (1,)),
    "Abs": (sp.Abs, (1,)),
    "Max": (sp.Max, (2, 3, 4)),
    "Min": (sp.Min, (2, 3, 4)),
}
#: For formulas in t and v (published tables, claims): activations and the Lambert W function as well.
EXTENDED = {**FUNCTIONS, "tanh": (sp.tanh, (1,)), "LambertW": (sp.LambertW, (1,))}
CONSTANTS = {"pi": sp.pi, "E": sp.E}
_BINOPS = {ast.Add: sp.Add, ast.Sub: None, ast.Mult: sp.Mul, ast.Div: None, ast.Pow: None}


def parse(text: str, symbols: Mapping[str, sp.Symbol], *, where: str = "expression",
          functions: Mapping[str, tuple[object, tuple[int, ...]]] = FUNCTIONS) -> sp.Expr:
    """Parse `text` into a SymPy expression over `symbols` (name -> Symbol); raise ParseError otherwise.

    `where` names the input in messages (for example "f" or "--claim").
    """
    if not isinstance(text, str):
        raise ParseError(f"{where}: expected a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ParseError(f"{where}: input is {len(text)} characters long; the limit is {MAX_LENGTH}")
    if not text.strip():
        raise ParseError(f"{where}: empty expression")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ParseError(f"{where}: syntax error at column {exc.offset or 0}: {exc.msg}") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise ParseError(f"{where}: expression has {count} syntax nodes; the limit is {MAX_NODES}")
    return _Builder(symbols, where, functions).build(tree.body)


class _Builder:
    def __init__(self, symbols: Mapping[str, sp.Symbol], where: str, functions: Mapping):
        self.symbols = dict(symbols)
        self.where = where
        self.functions = functions

    def fail(self, node: ast.AST, message: str) -> ParseError:
        col = getattr(node, "col_offset", None)
        at = f" at column {col + 1}" if col is not None else ""
        return ParseError(f"{self.where}: {message}{at}")

    def build(self, node: ast.AST) -> sp.Expr:
        method = getattr(self, "on_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, f"{_describe(node)} is not allowed")
        return method(node)

    def on_Constant(self, node: ast.Constant) -> sp.Expr:
        value = node.value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(node, f"{_describe(node)} is not allowed")
        if isinstance(value, float) and not value == value or abs(value) > MAX_LITERAL:
            raise self.fail(node, f"number {value!r} is too large (limit {MAX_LITERAL:.0e})")
        if isinstance(value, int):
            return sp.Integer(value)
        return sp.Rational(repr(value))  # exact: 0.1 -> 1/10

    def on_Name(self, node: ast.Name) -> sp.Expr:
        if node.id in self.symbols:
            return self.symbols[node.id]
        if node.id in CONSTANTS:
            return CONSTANTS[node.id]
        if node.id in self.functions:
            raise self.fail(node, f"function {node.id!r} used without arguments")
        allowed = ", ".join(sorted(self.symbols)) or "none"
        raise self.fail(node, f"unknown name {node.id!r} (variables and parameters: {allowed}; constants: pi, E)")

    def on_UnaryOp(self, node: ast.UnaryOp) -> sp.Expr:
        operand = self.build(node.operand)
        if isinstance(node.op, ast.USub):
            return -operand
        if isinstance(node.op, ast.UAdd):
            return operand
        raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")

    def on_BinOp(self, node: ast.BinOp) -> sp.Expr:
        op = type(node.op)
        if op is ast.BitXor:
            raise self.fail(node, "'^' is not a power here; write '**'")
        if op not in _BINOPS:
            raise self.fail(node, f"operator {op.__name__} is not allowed")
        if op is ast.Pow:
            return self.power(node)
        left, right = self.build(node.left), self.build(node.right)
        if op is ast.Add:
            return left + right
        if op is ast.Sub:
            return left - right
        if op is ast.Mult:
            return left * right
        if right == 0:
            raise self.fail(node, "division by zero")
        return left / right

    def power(self, node: ast.BinOp) -> sp.Expr:
        if any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) for n in ast.walk(node.right)):
            raise self.fail(node, "exponent towers (a**b**c) are not allowed")
        base, exponent = self.build(node.left), self.build(node.right)
        if exponent.is_number:
            value = exponent.evalf(15)
            if not value.is_real or abs(value) > MAX_EXPONENT:
                raise self.fail(node, f"constant exponent {exponent} is outside [-{MAX_EXPONENT}, {MAX_EXPONENT}]")
        if base == 0 and exponent.is_number and exponent.evalf(15) <= 0:
            raise self.fail(node, "0 raised to a non-positive power")
        return base**exponent

    def on_Call(self, node: ast.Call) -> sp.Expr:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only plain function calls like log(u) are allowed")
        name = node.func.id
        if name not in self.functions:
            raise self.fail(node, f"unknown function {name!r} (allowed: {', '.join(self.functions)})")
        if node.keywords:
            raise self.fail(node, f"{name}() takes no keyword arguments")
        function, arities = self.functions[name]
        if len(node.args) not in arities:
            raise self.fail(node, f"{name}() takes {' or '.join(map(str, arities))} argument(s), got {len(node.args)}")
        return function(*(self.build(a) for a in node.args))


def _describe(node: ast.AST) -> str:
    kinds = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripting",
        ast.Lambda: "lambda",
        ast.Constant: "a string or other non-numeric literal",
        ast.Compare: "comparison",
        ast.BoolOp: "boolean operator",
        ast.IfExp: "conditional expression",
        ast.List: "list",
        ast.Tuple: "tuple",
        ast.Dict: "dict",
        ast.Set: "set",
        ast.JoinedStr: "f-string",
        ast.NamedExpr: "assignment",
        ast.Starred: "starred expression",
    }
    for kind, text in kinds.items():
        if isinstance(node, kind):
            return text
    return type(node).__name__


def parse_number(text: str, *, where: str) -> sp.Expr:
    """Parse a constant (e.g. a parameter value such as 1/3 or 0.25) to an exact real SymPy number."""
    value = parse(text, {}, where=where)
    if not value.is_number or not value.is_real:
        raise ParseError(f"{where}: {text!r} is not a real number")
    return value
