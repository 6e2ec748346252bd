"""SymPy -> source for a backend (torch or JAX): one visitor with one method per expression kind, and a table per
backend of what differs between them (function names, where/clamp spelling); the rewrite rules run before it.

Constants print as exact float literals (repr of the correctly rounded double), so output is deterministic.
A Piecewise prints as nested torch.where whose branches see a clamped copy of the variable, so the branch not
taken is evaluated at a safe point inside its own interval and cannot poison values or gradients with NaN.
"""
from __future__ import annotations

from dataclasses import dataclass

import sympy as sp

from ...errors import DerivationError
from .shared import bind_shared

HELPERS = {"softplus": "_softplus", "log_softplus": "_log_softplus", "log1mexp": "_log1mexp",
           "wright_omega": "_wright_omega", "log_wright_omega": "_log_wright_omega",
           "log1mexp_ratio": "_log1mexp_ratio", "log1mexp_softplus": "_log1mexp_softplus",
           "log_gap": "_log_gap", "xlog1px": "_xlog1px", "xlogx": "_xlogx"}
# tanh's slope as 1 - tanh^2 cancels in float32 (3e-4 relative at |x| = 5): a helper in both backends (runtime)
TORCH = {"exp": "torch.exp", "log": "torch.log", "tanh": "_tanh", "sqrt": "torch.sqrt", "Abs": "torch.abs",
         "sign": "torch.sign", "log1p": "torch.log1p", "expm1": "torch.expm1", "sigmoid": "torch.sigmoid",
         "hypot": "_hypot"}
# XLA's tanh is a few ulps off next to |tanh| = 1, which JAX's slope 1 - tanh^2 magnifies: a helper (runtime_jax)
JAX = {**{k: v.replace("torch.", "jnp.") for k, v in TORCH.items()}, "sigmoid": "jax.nn.sigmoid", "tanh": "_tanh",
       "hypot": "jnp.hypot"}


@dataclass(frozen=True)
class Backend:
    """What differs between the targets' spellings: the rest of the printer is shared."""
    name: str
    functions: dict  # SymPy function name -> the target's elementwise function
    where: str  # where(mask, a, b)
    full_like: str  # full_like(x, value)
    clamp_min: str  # max(x, 0), {} the operand
    rsqrt: str
    maximum: str
    masked_solves: bool  # a numeric solve inside a Piecewise branch gets its branch's mask (eager torch)
    branchwise: bool = False  # a Piecewise as one function per branch, run on its own elements (runtime _branchwise)


TORCH_BACKEND = Backend("torch", TORCH, "torch.where", "torch.full_like", "torch.clamp({}, min=0.0)", "torch.rsqrt",
                        "torch.maximum", True, True)
# under jax.jit shapes are static: every element is evaluated, so a numeric solve takes no mask
JAX_BACKEND = Backend("jax", JAX, "jnp.where", "jnp.full_like", "jnp.maximum({}, 0.0)", "jax.lax.rsqrt",
                      "jnp.maximum", False)
BACKENDS = {b.name: b for b in (TORCH_BACKEND, JAX_BACKEND)}


# The helpers' definitions, for a constant subexpression that holds one (its value is printed, never a call)
_DEFINITIONS = {
    "softplus": lambda x: sp.log(1 + sp.exp(x)), "log_softplus": lambda x: sp.log(sp.log(1 + sp.exp(x))),
    "log1p": lambda x: sp.log(1 + x), "expm1": lambda x: sp.exp(x) - 1, "log1mexp": lambda x: sp.log(1 - sp.exp(x)),
    "wright_omega": lambda x: sp.LambertW(sp.exp(x)), "log_wright_omega": lambda x, w: sp.log(w),
    "log1mexp_ratio": lambda x: sp.log((1 - sp.exp(-x)) / x), "sigmoid": lambda x: 1 / (1 + sp.exp(-x)),
    "log1mexp_softplus": lambda x, k: sp.log(1 - sp.exp(-k * sp.log(1 + sp.exp(x)))),
    "log_gap": lambda x: sp.log(x), "ratio": lambda p, q: p / q, "hypot": lambda a, b: sp.sqrt(a**2 + b**2),
    "xlog1px": lambda y: (1 + y) * sp.log(1 + y), "xlogx": lambda x: x * sp.log(sp.Abs(x)),
}


def constant_value(e: sp.Expr) -> float:
    """A constant as the double nearest its exact value (40 digits); DerivationError where it is not a real
    number ((-1)**(1/3) is SymPy's principal, complex root: a closed form written with it is not printed)."""
    try:
        return float(e)  # SymPy's own rounding where it can evaluate e
    except TypeError:
        pass
    e = e.replace(lambda x: isinstance(x, sp.core.function.AppliedUndef) and x.func.__name__ in _DEFINITIONS,
                  lambda x: _DEFINITIONS[x.func.__name__](*x.args))
    if e.has(sp.zoo, sp.nan) or e.free_symbols:
        raise DerivationError(f"expression is not a real constant: {e}")
    value = sp.N(e, 40)
    re, im = value.as_real_imag()
    if not (re.is_Number and im.is_Number) or abs(im) > sp.Float(10) ** -30 * (1 + abs(re)):
        raise DerivationError(f"expression is not real: {e}")
    return float(re)


class Printer:
    """The visitor; `backend` says how the target spells what it prints."""
    backend: Backend = TORCH_BACKEND

    def __init__(self, var: sp.Symbol, var_text: str | None = None, local_names: dict | None = None,
                 backend: Backend | None = None):
        if backend is not None:
            self.backend = backend
        self.var = var
        self.var_text = var_text or var.name  # how the variable prints (a safe copy inside a branch)
        self.local_names = local_names or {}  # symbols bound to local variables (common subexpressions)
        self.helpers: set[str] = set()
        self.branches: list[str] = []  # assignments a Piecewise needs before the returned expression
        self.mask: str | None = None  # the name of the boolean mask of the Piecewise branch being printed
        self.scope: str | None = None  # the variable's whole value in scope: a branch function's parameter

    def doprint(self, expr: sp.Expr) -> str:
        return self.emit(expr)

    def emit(self, e: sp.Expr) -> str:
        if isinstance(e, sp.Expr) and not e.free_symbols and not isinstance(e, sp.Number) and e.args:
            try:
                value = complex(e.evalf(30))
            except TypeError:  # a helper's call (no evalf): its definition's value
                value = complex(constant_value(e))
            if value.imag != 0:
                raise DerivationError(f"expression is not real: {e}")
            return repr(value.real)  # a constant such as log(2): one correctly rounded literal
        for cls in type(e).__mro__:
            method = getattr(self, "_print_" + cls.__name__, None)
            if method is not None:
                return method(e)
        name = getattr(e.func, "__name__", type(e).__name__)
        if name in HELPERS:
            self.helpers.add(HELPERS[name])
            return f"{HELPERS[name]}({', '.join(self.emit(a) for a in e.args)})"
        if name in self.backend.functions:
            function = self.backend.functions[name]
            if function.startswith("_"):  # a runtime helper of the backend
                self.helpers.add(function)
            return f"{function}({', '.join(self.emit(a) for a in e.args)})"
        if name == "wide_gap":  # a piece's call whose distance is formed in float64 (lower.numeric.wide_distance)
            call = e.args[0]
            inner = call.args[0]
            if getattr(inner.func, "__name__", "") == "log_gap":
                d = inner.args[0]
                end = sp.Add(*(a for a in sp.Add.make_args(d) if not a.free_symbols))
                rest = d - end
                self.helpers.add("_wide_gap")
                mask = f", {self.mask}" if self.mask and self.backend.name == "torch" else ""
                return f"_wide_gap({call.func.__name__}_gap, {self.emit(rest)}, {float(end)!r}{mask})"
            return self.emit(call)
        if name.startswith("_piece") and name.endswith("_near") and name.isidentifier():  # (value, t): lower.zero
            return f"{name}({self.emit(e.args[0])}, {self.emit(e.args[1])})"
        if name.startswith("_piece") and name.isidentifier():  # generated solver code (lower.numeric)
            # inside a branch of a Piecewise, the solve runs only where the branch holds (eager mode)
            mask = f", {self.mask}" if self.mask else ""
            if getattr(e.args[0].func, "__name__", "") == "log_gap":  # the piece takes log of the distance itself
                self.helpers.add(HELPERS["log_gap"])
                return f"{name}_gap({self.emit(e.args[0].args[0])}{mask})"
            return f"{name}({self.emit(e.args[0])}{mask})"
        raise DerivationError(f"cannot lower {name} to {self.backend.name} (in {e})")

    # atoms
    def _print_Symbol(self, e):
        if e in self.local_names:
            return self.local_names[e]
        if e != self.var:
            raise DerivationError(f"unexpected free symbol {e} in a lowered expression")
        return self.var_text

    def _print_Number(self, e):
        if e in (sp.oo, -sp.oo):
            return "math.inf" if e == sp.oo else "-math.inf"
        if e.has(sp.zoo, sp.nan):
            raise DerivationError("expression is undefined (zoo or nan)")
        return repr(constant_value(e))

    def _print_NumberSymbol(self, e):
        return repr(constant_value(e))

    def _print_Infinity(self, e):
        return "math.inf"

    def _print_NegativeInfinity(self, e):
        return "-math.inf"

    # arithmetic
    def _constant(self, e) -> bool:
        return not e.free_symbols

    def _print_Add(self, e):
        if self._constant(e):
            return repr(constant_value(e))
        const = sum((a for a in e.args if self._constant(a)), sp.S.Zero)
        terms = sorted((a for a in e.args if not self._constant(a)), key=sp.default_sort_key)
        positive = [t for t in terms if not t.could_extract_minus_sign()]
        if positive and terms[0].could_extract_minus_sign():  # a - b, not -b + a: no negation kernel
            terms.remove(positive[0])
            terms.insert(0, positive[0])
        if const != 0:
            terms.append(sp.Float(constant_value(const)))
        out = self.emit(terms[0])
        for t in terms[1:]:
            if t.could_extract_minus_sign():
                out += f" - {self._wrap(-t, sp.Add)}"
            else:
                out += f" + {self._wrap(t, sp.Add)}"
        return out

    def _wrap(self, e, parent) -> str:
        text = self.emit(e)
        if e.is_Add or (parent is sp.Pow and (e.is_Mul or e.is_Pow or (e.is_Number and e < 0))):
            return f"({text})"
        return text

    def _print_Mul(self, e):
        if self._constant(e):
            return repr(constant_value(e))
        coeff = e.as_coeff_Mul()[0]
        if e.could_extract_minus_sign() and not (coeff.is_Number and coeff < 0 and coeff != -1):
            return f"-{self._wrap(-e, sp.Mul)}" if not (-e).is_Add else f"-({self.emit(-e)})"
        # a negative coefficient other than -1 prints as the factor `* -k`: one kernel, not a negation and a product
        num, den = [], []
        const = sp.Mul(*[f for f in sp.Mul.make_args(e) if self._constant(f)])
        scaled = self._scaled_power(const, [f for f in sp.Mul.make_args(e) if not self._constant(f)])
        if scaled is not None:
            return scaled
        if const != 1:
            num.append(const)
        for f in sp.Mul.make_args(e):
            if self._constant(f):
                continue
            base, power = f.as_base_exp()
            if power.is_Number and power < 0:
                den.append(base if power == -1 else sp.Pow(base, -power))
            else:
                num.append(f)
        num_text = " * ".join(self._wrap(f, sp.Mul) for f in sorted(num, key=self._constant)) or "1.0"
        if not den:
            return num_text
        den_text = " * ".join(self._wrap(f, sp.Mul) for f in den)
        return f"{num_text} / ({den_text})" if len(den) > 1 else f"{num_text} / {self._wrap(den[0], sp.Pow)}"

    def _scaled_power(self, const, rest: list) -> str | None:
        """c/B^n (n >= 2) as (k/B)^n, k = |c|^(1/n): reverse mode forms B^(n+1) on the way to the slope
        -n c/B^(n+1), which overflows float32 where the slope does not when c is small (f* = 1/(432 t^2) of
        -u^(2/3)/4: t^3 = 7e-40 at t = -9e-14, slope 5.7e36, was inf); through k/B it never strays from the slope by
        more than n k."""
        if len(rest) != 1 or not (const.is_Number and const != 0 and abs(const) != 1):
            return None
        base, power = rest[0].as_base_exp()
        if not (power.is_Integer and power <= -2) or base == sp.E or base.is_Number:
            return None
        n = int(-power)
        k = constant_value(abs(const) ** sp.Rational(1, n))
        text = f"({k!r} / {self._wrap(base, sp.Pow)}) ** {n}"
        return f"-{text}" if const < 0 else text

    def _print_ratio(self, e):
        """p/q kept whole (lower.numeric's paired ratios, (u - 1)/(u + 1)): one parenthesised quotient."""
        num, den = e.args
        return f"({self._wrap(num, sp.Mul)} / {self._wrap(den, sp.Pow)})"

    def _radicand(self, base) -> str:
        """The base of a fractional power. It is >= 0 wherever the expression is real, but rounding can put it
        a hair below 0 at a branch point (softplus(v) - 3 at v = log(e^3 - 1) in float32): clamp it there,
        so the value is 0 rather than NaN (and its gradient, through the clamp, is not NaN either)."""
        text = self.emit(base)
        if base.is_nonnegative or getattr(base.func, "__name__", "") in ("softplus", "exp", "sigmoid") or \
                (base.is_Pow and base.base == sp.E):
            return text
        return self.backend.clamp_min.format(text)

    def _print_Pow(self, e):
        base, power = e.args
        if self._constant(e):
            return repr(constant_value(e))
        if power == sp.Rational(1, 2):
            return f"{self.backend.functions['sqrt']}({self._radicand(base)})"
        if power == -1:
            return f"1.0 / {self._wrap(base, sp.Pow)}"
        if power == -sp.Rational(1, 2):
            return f"{self.backend.rsqrt}({self._radicand(base)})"
        if power.is_Integer:
            n = int(power)
            if n in (2, 3, -2):
                return f"{self._wrap(base, sp.Pow)} ** {n}"
            if abs(n) % 2 == 0 or _cheap(base):  # an odd power repeats its base: only a cheap one
                text = _integer_power(self._wrap(base, sp.Pow), abs(n))
                return text if n > 0 else f"1.0 / ({text})"
            return f"{self._wrap(base, sp.Pow)} ** {n}"
        if power.is_Rational and power.q == 2 and abs(power) > 1 and _cheap(base):  # u^(k + 1/2) = u^k sqrt(u)
            k = abs(int(power - sp.Rational(1, 2) if power > 0 else power + sp.Rational(1, 2)))
            root = self._radicand(base)
            whole = _integer_power(root if root.isidentifier() else f"({root})", k)
            sqrt, rsqrt = self.backend.functions["sqrt"], self.backend.rsqrt
            return f"{whole} * {sqrt}({root})" if power > 0 else f"{rsqrt}({root}) / ({whole})"
        if power.is_Number:
            text = self._radicand(base)
            return f"{'(' + text + ')' if base.is_Add or base.is_Mul or base.is_Pow else text} ** {constant_value(power)!r}"
        if base == sp.E:
            return f"{self.backend.functions['exp']}({self.emit(power)})"
        return f"{self._wrap(base, sp.Pow)} ** {self._wrap(power, sp.Pow)}"

    def _print_log1mexp(self, e):
        """log(1 - e^(k x)) for a number k > 0 as _log1mexp(x, k): the helper takes log(-x) + log k, since k x
        rounds where x is subnormal."""
        k, rest = e.args[0].as_coeff_Mul()
        self.helpers.add(HELPERS["log1mexp"])
        if k.is_Number and k > 0 and k != 1 and rest.free_symbols:
            return f"{HELPERS['log1mexp']}({self.emit(rest)}, {float(k)!r})"
        return f"{HELPERS['log1mexp']}({self.emit(e.args[0])})"

    def _print_exp(self, e):
        return f"{self.backend.functions['exp']}({self.emit(e.args[0])})"

    # piecewise
    def _print_Piecewise(self, e):
        """Branches in order; branch i holds on (upper_{i-1}, upper_i] (or with < where its condition says);
        inside it the variable is replaced by a safe interior point wherever the branch is not taken."""
        pieces = list(e.args)
        bounds = [self._upper(c) for _, c in pieces]
        # Eq(x, k): a closed point after a branch x < k (a kink at a C1 breakpoint), i.e. x <= k in order
        ops = ["<=" if isinstance(c, (sp.LessThan, sp.Eq)) else "<" for _, c in pieces]
        x = self.scope or self.var.name
        # a branch whose bound lies below an earlier one's is never taken (a tanh split at v = 0 nested in a branch
        # right of it, flattened): left out rather than evaluated for every element at a safe point
        kept, top = [], None  # top: the largest (bound, op) so far, the lower end of the next branch
        for (expr, _), bound, op in zip(pieces, bounds, ops):
            if bound is not None and top is not None:
                b, t = constant_value(bound), constant_value(top[0])
                if b < t or (b == t and (top[1] == "<=" or op == "<")):
                    continue
            kept.append((expr, bound, op, top))
            if bound is None:
                break
            top = (bound, op)
        # one function per branch pays where two branches or more compute something; a constant branch (+inf past
        # dom f*) costs torch.where one fill
        if self.backend.branchwise and kept[-1][1] is None and sum(bool(k[0].free_symbols) for k in kept) > 1:
            return self._branchwise(kept)
        out = None
        for expr, bound, op, below in reversed(kept):
            hi = (bound, op) if bound is not None else None
            lo = (below[0], ">" if below[1] == "<=" else ">=") if below is not None else None
            safe = self._safe(expr, lo, hi)
            out = safe if out is None else \
                f"{self.backend.where}({x} {op} {constant_value(bound)!r}, {safe}, {out})"
        return out

    def _branchwise(self, kept: list) -> str:
        """_branchwise(x, bounds, points, branches): each branch a local function of the elements it holds, its
        repeated terms bound once; `points` are the interior points the runtime's torch.where form (compiled
        code, other devices) gives a branch where it does not hold, as _safe does."""
        x = self.scope or self.var.name
        bounds, points, names = [], [], []
        for expr, bound, op, below in kept:
            n = len(self.branches)
            param, name = f"{x}_{n}", f"branch_{n}"
            inner = type(self)(self.var, param, backend=self.backend)
            inner.scope = param
            if self.backend.masked_solves and \
                    any(getattr(a.func, "__name__", "").startswith("_piece") for a in expr.atoms(sp.Function)):
                inner.mask = "mask"  # where-form only: the solve then runs where its branch holds
            if expr.free_symbols:
                shared, text = bind_shared(inner.emit(expr))
            else:
                shared, text = [], f"{self.backend.full_like}({param}, {self.emit(expr)})"
            self.helpers |= inner.helpers
            body = [*inner.branches, *shared, f"return {text}"]
            self.branches.append("\n".join([f"def {name}({param}, mask=None):",
                                             *("    " + line.replace("\n", "\n    ") for line in body)]))
            lo = None if below is None else constant_value(below[0])
            hi = None if bound is None else constant_value(bound)
            point = None if not expr.free_symbols or (lo is None and hi is None) else \
                hi - 1 if lo is None else lo + 1 if hi is None else (lo + hi) / 2
            points.append(repr(point))
            names.append(name)
            if bound is not None:
                bounds.append(f"({hi!r}, {op!r})")
        self.helpers.add("_branchwise")

        def tup(items: list[str]) -> str:
            return f"({', '.join(items)}{',' if len(items) == 1 else ''})"
        return f"_branchwise({x}, {tup(bounds)}, {tup(points)}, {tup(names)})"

    def _upper(self, cond) -> sp.Expr | None:
        if cond is sp.true:
            return None
        if isinstance(cond, (sp.LessThan, sp.StrictLessThan, sp.Eq)) and cond.lhs == self.var and \
                not cond.rhs.free_symbols:
            return cond.rhs
        raise DerivationError(f"cannot lower the condition {cond}")

    def _safe(self, expr, lo, hi) -> str:
        """expr on its branch: the variable where the branch holds, an interior point elsewhere, so the branch
        not taken is finite and its zero gradient stays zero (a clamp would put it on the edge, e.g. at a
        sqrt(0) or log(0), where 0 * inf = NaN)."""
        x = self.scope or self.var.name
        if not expr.free_symbols:
            return f"{self.backend.full_like}({x}, {self.emit(expr)})"
        if lo is None and hi is None:
            return self.emit(expr)
        lo_v = None if lo is None else constant_value(lo[0])
        hi_v = None if hi is None else constant_value(hi[0])
        if lo is None:
            point, mask = hi_v - 1, f"{x} {hi[1]} {hi_v!r}"
        elif hi is None:
            point, mask = lo_v + 1, f"{x} {lo[1]} {lo_v!r}"
        else:
            point = (lo_v + hi_v) / 2
            mask = f"({x} {lo[1]} {lo_v!r}) & ({x} {hi[1]} {hi_v!r})"
        name = f"{x}_{len(self.branches)}"
        inner = type(self)(self.var, name, backend=self.backend)
        inner.scope = self.scope  # conditions of a Piecewise inside read the variable in scope, not the copy
        if self.backend.masked_solves and \
                any(getattr(a.func, "__name__", "").startswith("_piece") for a in expr.atoms(sp.Function)):
            inner.mask = f"m{name}"  # a numeric solve: given the mask, it solves only where its branch holds
            self.branches.append(f"{inner.mask} = {mask}")
            mask = inner.mask
        where, full = self.backend.where, self.backend.full_like
        self.branches.append(f"{name} = {where}({mask}, {x}, {full}({x}, {point!r}))")
        text = inner.emit(expr)
        self.helpers |= inner.helpers
        # what a Piecewise inside needs (its branch functions, its own safe copies), after this branch's copy: a
        # density ratio composed with tanh split at v = 0 inside a branch called branch_0 it never defined
        self.branches += inner.branches
        return text


class TorchPrinter(Printer):
    backend = TORCH_BACKEND


class JaxPrinter(Printer):
    backend = JAX_BACKEND


def _cheap(base: sp.Expr) -> bool:
    """A base that costs at most one add to evaluate again (u, u + 1): worth repeating to avoid the pow kernel."""
    return base.is_Symbol or (base.is_Add and all(a.is_Symbol or a.is_Number for a in base.args))


def _integer_power(base: str, n: int) -> str:
    """base ** n for n >= 1 with squares and cubes only: torch computes x ** 2 and x ** 3 as products, any other
    exponent through the general pow kernel, twenty times slower; each product rounds once (a few ulps at n = 8)."""
    if n == 1:
        return base
    if n in (2, 3):
        return f"{base} ** {n}"
    if n % 2 == 0:
        return f"({_integer_power(base, n // 2)}) ** 2"
    return f"{_integer_power(base, n - 1)} * {base}"
