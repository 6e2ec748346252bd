"""Safe expression parser: a whitelist over Python's AST, built straight into SymPy objects.

No user text ever reaches eval, exec or sympify. Grammar for f: numbers, + - * / **, unary +/-, parentheses,
the declared variables and parameters, the constants pi and E, and the functions log, exp, sqrt, Abs, Max,
Min. Decimal literals become exact rationals (0.5 -> 1/2) so derivations stay exact.

Formulas in t and v (claims, published tables, fdiv's own output) use the extended grammar: everything fdiv
prints parses back -- Piecewise((expr, cond), ...), comparisons, & | ~ (And, Or, Not), True/False, oo,
tanh, LambertW, sign.

Work is bounded before it is done: the text's length and node count are capped, and every constant
subexpression is first evaluated in floating point, so a literal, a product or a power whose value would
pass 1e300 (or an exponent beyond +-64) is refused before SymPy ever builds it: (((9**64)**64)**64)**64 and
u**exp(exp(exp(64))) fail at once instead of running for minutes.

Constants stay within float64 from below as well: a nonzero constant smaller in magnitude than the smallest
normal float64 (2.2e-308) is refused the same way (1e-310, exp(-710)), and so is any constant of the built
expression outside [2.2e-308, 1e300] that SymPy formed by combining factors the text kept apart
(u*1e12*1e12*...*log(u)). Such a constant would reach generated code as 0, a subnormal or inf.
"""
from __future__ import annotations

import ast
import math
import sys
import warnings
from collections.abc import Mapping

import sympy as sp

from .errors import ParseError

MAX_LENGTH = 1000  # characters of input
MAX_NODES = 400  # AST nodes
MAX_LITERAL = 10**12  # magnitude of a numeric literal
MAX_CONSTANT = 1e300  # magnitude of any constant subexpression (evaluated in floating point first)
MAX_EXPONENT = 64  # magnitude of a constant exponent (u**(9**9**9) must not reach SymPy)
MIN_CONSTANT = sys.float_info.min  # smallest magnitude of a nonzero constant: float64's smallest normal number

FUNCTIONS: dict[str, tuple[object, tuple[int, ...]]] = {
    "log": (sp.log, (1,)),
    "exp": (sp.exp, (1,)),
    "sqrt": (sp.sqrt, (1,)),
    "Abs": (sp.Abs, (1,)),
    "Max": (sp.Max, (2, 3, 4)),
    "Min": (sp.Min, (2, 3, 4)),
}
#: Formulas in t and v (published tables, claims, fdiv's own output): activations, Lambert W, piecewise.
EXTENDED = {**FUNCTIONS, "tanh": (sp.tanh, (1,)), "LambertW": (sp.LambertW, (1,)), "sign": (sp.sign, (1,)),
            "Piecewise": (sp.Piecewise, tuple(range(1, 9))), "atanh": (sp.atanh, (1,))}
CONSTANTS = {"pi": sp.pi, "E": sp.E}
EXTENDED_CONSTANTS = {**CONSTANTS, "oo": sp.oo, "True": sp.true, "False": sp.false}
_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)
_COMPARE = {ast.Lt: sp.StrictLessThan, ast.LtE: sp.LessThan, ast.Gt: sp.StrictGreaterThan,
            ast.GtE: sp.GreaterThan, ast.Eq: sp.Eq, ast.NotEq: sp.Ne}
_FLOAT_FUNCTIONS = {"log": math.log, "exp": math.exp, "sqrt": math.sqrt, "Abs": abs, "Max": max, "Min": min,
                    "tanh": math.tanh, "atanh": math.atanh, "sign": lambda x: (x > 0) - (x < 0)}


def parse(text: str, symbols: Mapping[str, sp.Symbol], *, where: str = "expression",
          functions: Mapping[str, tuple[object, tuple[int, ...]]] = FUNCTIONS, max_length: int = MAX_LENGTH,
          max_nodes: int = MAX_NODES) -> sp.Expr:
    """Parse `text` into a SymPy expression over `symbols` (name -> Symbol); raise ParseError otherwise.

    `where` names the input in messages (for example "f" or "--claim"). With functions=EXTENDED the
    extended grammar (relations, booleans, Piecewise, oo) is accepted too.
    """
    if not isinstance(text, str):
        raise ParseError(f"{where}: expected a string, got {type(text).__name__}")
    if len(text) > max_length:
        raise ParseError(f"{where}: input is {len(text)} characters long; the limit is {max_length}")
    if not text.strip():
        raise ParseError(f"{where}: empty expression")
    if not text.isprintable():
        raise ParseError(f"{where}: control characters are not allowed")
    try:
        with warnings.catch_warnings():  # "invalid escape sequence" and the like: the error is ours to report
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ParseError(f"{where}: syntax error at column {exc.offset or 0}: {exc.msg}") from None
    except (ValueError, MemoryError, RecursionError, OverflowError) as exc:  # e.g. a 5000-digit literal
        raise ParseError(f"{where}: cannot be read ({type(exc).__name__})") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > max_nodes:
        raise ParseError(f"{where}: expression has {count} syntax nodes; the limit is {max_nodes}")
    try:
        result = _Builder(symbols, where, functions).build(tree.body)
        _check_constants(result, where)
        return result
    except RecursionError:
        raise ParseError(f"{where}: expression is too deeply nested") from None


def _check_constants(expr: sp.Basic, where: str) -> None:
    """Every maximal constant subexpression of the built expression within [MIN_CONSTANT, MAX_CONSTANT] in
    magnitude (or exactly 0): SymPy multiplies u*1e12*1e12 into one coefficient the text never wrote."""
    stack = [expr]
    while stack:
        e = stack.pop()
        if isinstance(e, sp.Expr) and not e.free_symbols and e.is_number:
            if e.is_infinite or e in (sp.oo, -sp.oo, sp.zoo):
                continue  # oo in the extended grammar; the validation of f refuses it where it does not belong
            value = e.evalf(20)
            if not value.is_real or value.is_zero or not value.is_finite:
                continue  # complex or undefined: the checks after parsing decide
            size, shown = abs(value), f"{_short(str(e), 30)} = {sp.Float(value, 3)}"
            if size > MAX_CONSTANT:
                raise ParseError(f"{where}: constant {shown} is too large (limit {MAX_CONSTANT:.0e})")
            if size < MIN_CONSTANT:
                raise ParseError(f"{where}: constant {shown} is too small: below float64's smallest normal number "
                                 f"{MIN_CONSTANT:.3g}, it would become 0 or lose its digits")
            continue
        stack.extend(a for a in e.args if isinstance(a, sp.Basic))


class _Builder:
    def __init__(self, symbols: Mapping[str, sp.Symbol], where: str, functions: Mapping):
        self.symbols = dict(symbols)
        self.where = where
        self.functions = functions
        self.extended = "Piecewise" in functions
        self.constants = EXTENDED_CONSTANTS if self.extended else CONSTANTS

    def fail(self, node: ast.AST, message: str) -> ParseError:
        col = getattr(node, "col_offset", None)
        at = f" at column {col + 1}" if col is not None else ""
        return ParseError(f"{self.where}: {message}{at}")

    def build(self, node: ast.AST) -> sp.Basic:
        method = getattr(self, "on_" + type(node).__name__, None)
        if method is None:
            raise self.fail(node, f"{_describe(node)} is not allowed")
        self.bounded(node)
        return method(node)

    # ------------------------------------------------------------------ size of constants, before building
    def bounded(self, node: ast.AST) -> None:
        """Refuse a constant subexpression whose value passes MAX_CONSTANT, judged in floating point."""
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Call, ast.Constant)) and not self.has_names(node):
            value = self.magnitude(node)
            if value is not None and not abs(value) <= MAX_CONSTANT and not isinstance(node, ast.Constant):
                raise self.fail(node, f"constant {_short(ast.unparse(node))} is too large (limit {MAX_CONSTANT:.0e})")
            if value is not None and 0 < abs(value) < MIN_CONSTANT:
                raise self.fail(node, f"constant {_short(ast.unparse(node))} is too small: below float64's smallest "
                                      f"normal number {MIN_CONSTANT:.3g}, it would become 0 or lose its digits")

    def has_names(self, node: ast.AST) -> bool:
        calls = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
        return any(isinstance(n, ast.Name) and id(n) not in calls and n.id not in self.constants
                   for n in ast.walk(node))

    def magnitude(self, node: ast.AST) -> float | None:
        """The float value of a constant subtree (inf when it overflows), or None where floats cannot tell
        (a complex or undefined intermediate: SymPy, and the checks after it, decide those)."""
        try:
            return float(_evalf(node, self.constants))
        except OverflowError:
            return math.inf
        except _Underflow:
            return math.ulp(0.0)  # nonzero, below every normal number
        except Exception:  # noqa: BLE001 - not evaluable in floats (exp(), log(-1), ...): the build decides
            return None

    # ------------------------------------------------------------------------------------------- atoms
    def on_Constant(self, node: ast.Constant) -> sp.Basic:
        value = node.value
        if isinstance(value, bool):
            if self.extended:
                return sp.true if value else sp.false
            raise self.fail(node, "a boolean is not allowed")
        if not isinstance(value, (int, float)):
            raise self.fail(node, f"{_describe(node)} is not allowed")
        if isinstance(value, float) and not math.isfinite(value) or abs(value) > MAX_LITERAL:
            raise self.fail(node, f"number {_short(repr(value))} is too large (limit {MAX_LITERAL:.0e})")
        if isinstance(value, int):
            return sp.Integer(value)
        return sp.Rational(repr(value))  # exact: 0.1 -> 1/10

    def on_Name(self, node: ast.Name) -> sp.Basic:
        if node.id in self.symbols:
            return self.symbols[node.id]
        if node.id in self.constants:
            return self.constants[node.id]
        if node.id in self.functions:
            raise self.fail(node, f"function {node.id!r} used without arguments")
        allowed = ", ".join(sorted(self.symbols)) or "none"
        raise self.fail(node, f"unknown name {_short(node.id)!r} (variables and parameters: {allowed}; "
                              f"constants: {', '.join(self.constants)})")

    def on_UnaryOp(self, node: ast.UnaryOp) -> sp.Basic:
        operand = self.build(node.operand)
        if isinstance(node.op, ast.USub):
            return -self.expr(operand, node)
        if isinstance(node.op, ast.UAdd):
            return self.expr(operand, node)
        if isinstance(node.op, ast.Invert) and self.extended:
            return sp.Not(self.boolean(operand, node))
        raise self.fail(node, f"operator {type(node.op).__name__} is not allowed")

    def expr(self, value: sp.Basic, node: ast.AST) -> sp.Expr:
        if not isinstance(value, sp.Expr):
            raise self.fail(node, "a condition is used where a number is expected")
        return value

    def boolean(self, value: sp.Basic, node: ast.AST) -> sp.Basic:
        if isinstance(value, sp.Expr) and value not in (sp.true, sp.false):
            raise self.fail(node, "a number is used where a condition is expected")
        return value

    def on_BinOp(self, node: ast.BinOp) -> sp.Basic:
        op = type(node.op)
        if op is ast.BitXor:
            raise self.fail(node, "'^' is not a power here; write '**'")
        if op in (ast.BitAnd, ast.BitOr) and self.extended:
            left, right = self.build(node.left), self.build(node.right)
            combine = sp.And if op is ast.BitAnd else sp.Or
            return combine(self.boolean(left, node), self.boolean(right, node))
        if op not in _BINOPS:
            raise self.fail(node, f"operator {op.__name__} is not allowed")
        if op is ast.Pow:
            return self.power(node)
        left, right = self.expr(self.build(node.left), node), self.expr(self.build(node.right), node)
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
        if not self.has_names(node.right):
            exponent_value = self.magnitude(node.right)
            if exponent_value is not None and not abs(exponent_value) <= MAX_EXPONENT:
                raise self.fail(node, f"constant exponent {_short(ast.unparse(node.right))} is outside "
                                      f"[-{MAX_EXPONENT}, {MAX_EXPONENT}]")
        base = self.expr(self.build(node.left), node)
        exponent = self.expr(self.build(node.right), node)
        if exponent.is_number:
            value = exponent.evalf(15)
            if not value.is_real or abs(value) > MAX_EXPONENT:
                raise self.fail(node, f"constant exponent {exponent} is outside [-{MAX_EXPONENT}, {MAX_EXPONENT}]")
        if base == 0 and exponent.is_number and exponent.evalf(15) <= 0:
            raise self.fail(node, "0 raised to a non-positive power")
        return base**exponent

    def on_Compare(self, node: ast.Compare) -> sp.Basic:
        if not self.extended:
            raise self.fail(node, "comparison is not allowed")
        terms = [self.expr(self.build(node.left), node)] + [self.expr(self.build(c), node) for c in node.comparators]
        parts = []
        for (a, b), op in zip(zip(terms, terms[1:]), node.ops):
            if type(op) not in _COMPARE:
                raise self.fail(node, f"comparison {type(op).__name__} is not allowed")
            parts.append(_COMPARE[type(op)](a, b))
        return sp.And(*parts) if len(parts) > 1 else parts[0]

    def on_Tuple(self, node: ast.Tuple) -> sp.Basic:
        raise self.fail(node, "a tuple is only allowed as a Piecewise branch (expr, condition)")

    def on_Call(self, node: ast.Call) -> sp.Basic:
        if not isinstance(node.func, ast.Name):
            raise self.fail(node, "only plain function calls like log(u) are allowed")
        name = node.func.id
        if name not in self.functions:
            raise self.fail(node, f"unknown function {_short(name)!r} (allowed: {', '.join(self.functions)})")
        if node.keywords:
            raise self.fail(node, f"{name}() takes no keyword arguments")
        function, arities = self.functions[name]
        if len(node.args) not in arities:
            raise self.fail(node, f"{name}() takes {' or '.join(map(str, arities))} argument(s), got {len(node.args)}")
        if name == "Piecewise":
            return self.piecewise(node)
        return function(*(self.expr(self.build(a), node) for a in node.args))

    def piecewise(self, node: ast.Call) -> sp.Expr:
        pairs = []
        for arg in node.args:
            if not (isinstance(arg, ast.Tuple) and len(arg.elts) == 2):
                raise self.fail(arg, "Piecewise takes (expression, condition) pairs")
            pairs.append((self.expr(self.build(arg.elts[0]), arg), self.boolean(self.build(arg.elts[1]), arg)))
        try:
            return sp.Piecewise(*pairs)
        except (TypeError, ValueError) as exc:
            raise self.fail(node, f"not a valid Piecewise ({exc})") from None


class _Underflow(ArithmeticError):
    """A nonzero constant that floats hold only as 0 or a subnormal number."""


def _small(result: float, *operands: float) -> float:
    """result, unless it is subnormal, or 0 from nonzero operands of a product, quotient, power or exp."""
    if 0 < abs(result) < MIN_CONSTANT or (result == 0 and operands and all(x != 0 for x in operands)):
        raise _Underflow
    return result


def _evalf(node: ast.AST, constants: Mapping[str, sp.Basic]) -> float:
    """A constant subtree in floating point (raises OverflowError past the float range, _Underflow below the
    normal numbers)."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise TypeError
        if isinstance(node.value, int) and abs(node.value) > MAX_LITERAL:
            return math.inf
        return _small(float(node.value))
    if isinstance(node, ast.Name):
        value = constants[node.id]
        if value in (sp.oo,):
            raise ValueError
        return float(value)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evalf(node.operand, constants)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, _BINOPS):
        a, b = _evalf(node.left, constants), _evalf(node.right, constants)
        if isinstance(node.op, ast.Pow):
            if a == 0:
                return 0.0
            if abs(b) > MAX_EXPONENT and abs(a) != 1:  # far outside the range either way
                if (abs(a) > 1) == (b > 0):
                    return math.inf
                raise _Underflow
            result = _small(math.pow(abs(a), b), a)  # the sign does not change the magnitude
        elif isinstance(node.op, (ast.Mult, ast.Div)):
            result = _small(a * b if isinstance(node.op, ast.Mult) else a / b, a, b)
        else:
            result = a + b if isinstance(node.op, ast.Add) else a - b
        if not math.isfinite(result):
            raise OverflowError
        return result
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FLOAT_FUNCTIONS:
        args = [_evalf(a, constants) for a in node.args]
        if node.func.id == "exp" and args[0] > 709:
            raise OverflowError
        return _small(float(_FLOAT_FUNCTIONS[node.func.id](*args)), *([1.0] if node.func.id == "exp" else []))
    raise TypeError


def _short(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(node: ast.AST) -> str:
    kinds = {
        ast.Attribute: "attribute access",
        ast.Subscript: "subscripting",
        ast.Lambda: "lambda",
        ast.Constant: "a string or other non-numeric literal",
        ast.Compare: "comparison",
        ast.BoolOp: "boolean operator ('and'/'or'; conditions combine with & and |)",
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
    if not value.is_number or not value.is_real or not value.is_finite:
        raise ParseError(f"{where}: {_short(text)!r} is not a real number")
    return value
