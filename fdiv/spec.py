"""Specs: a divergence is data (name, aliases, f, parameters with constraints, reference), loaded from TOML."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sympy as sp

from .errors import SpecError
from .parse import parse, parse_number

U = sp.Symbol("u", positive=True)


@dataclass(frozen=True)
class Param:
    """A real parameter with a constraint: an interval "(0, 1)" and/or excluded values."""

    name: str
    default: str
    interval: str = "(-oo, oo)"
    exclude: tuple[str, ...] = ()
    description: str = ""

    def check(self, value: sp.Expr, *, where: str) -> sp.Expr:
        lo, hi, lo_closed, hi_closed = _interval(self.interval, where=f"{where}: interval of {self.name}")
        ok = sp.Interval(lo, hi, not lo_closed, not hi_closed).contains(value)
        if ok is not sp.true:
            raise SpecError(f"{where}: parameter {self.name}={value} is outside {self.interval}")
        for bad in self.exclude:
            if sp.simplify(value - parse_number(bad, where=where)) == 0:
                raise SpecError(f"{where}: parameter {self.name} must not equal {bad}")
        return value

    def describe(self) -> str:
        text = f"{self.name} in {self.interval}"
        if self.exclude:
            text += f", {self.name} not in {{{', '.join(self.exclude)}}}"
        return text


@dataclass(frozen=True)
class SymbolicRange:
    """A parameter kept symbolic on an open range, written through a positive symbol s:
    (a, oo): a + s;  (-oo, b): b - s;  (a, b): a + (b - a) s/(1 + s). SymPy's assumptions then know its sign."""

    name: str
    lower: sp.Expr
    upper: sp.Expr

    @property
    def symbol(self) -> sp.Symbol:
        return sp.Symbol(f"{self.name}_s", positive=True)

    @property
    def parameter(self) -> sp.Symbol:
        return sp.Symbol(self.name, real=True)

    def expr(self) -> sp.Expr:
        s, a, b = self.symbol, self.lower, self.upper
        if b == sp.oo:
            return a + s
        if a == -sp.oo:
            return b - s
        return a + (b - a) * s / (1 + s)

    def inverse(self) -> sp.Expr:
        """s in terms of the parameter."""
        p, a, b = self.parameter, self.lower, self.upper
        if b == sp.oo:
            return p - a
        if a == -sp.oo:
            return b - p
        return (p - a) / (b - p)

    def sample(self) -> sp.Expr:
        """The value of s used by numeric checks (named in their reports)."""
        return sp.Rational(1, 2)

    def __str__(self) -> str:
        return f"({self.lower}, {self.upper})"


def is_range(raw: object) -> bool:
    return isinstance(raw, str) and raw.strip()[:1] in "([" and "," in raw


@dataclass(frozen=True)
class Spec:
    """One divergence generator f(u) and what is known about it."""

    name: str
    f: str
    aliases: tuple[str, ...] = ()
    params: tuple[Param, ...] = ()
    title: str = ""
    reference: str = ""
    notes: str = ""
    published: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def symbols(self) -> dict[str, sp.Symbol]:
        names = {"u": U}
        names.update({p.name: sp.Symbol(p.name, real=True) for p in self.params})
        return names

    def resolve(self, values: dict[str, str | sp.Expr] | None = None) -> dict[str, sp.Expr]:
        """Parameter values (defaults filled in), each parsed exactly and checked against its constraint."""
        values = dict(values or {})
        unknown = sorted(set(values) - set(self.param_names))
        if unknown:
            have = ", ".join(self.param_names) or "none"
            raise SpecError(f"{self.name}: unknown parameter {unknown[0]!r} (parameters: {have})")
        out = {}
        for p in self.params:
            raw = values.get(p.name, p.default)
            if is_range(raw):
                out[p.name] = self._range(p, raw)
                continue
            value = raw if isinstance(raw, sp.Expr) else parse_number(str(raw), where=f"--param {p.name}")
            out[p.name] = p.check(sp.nsimplify(value, rational=True) if value.is_Float else value, where=self.name)
        return out

    def _range(self, p: Param, raw: str) -> SymbolicRange:
        where = f"--param {p.name}"
        lo, hi, lo_closed, hi_closed = _interval(raw, where=where)
        if lo_closed or hi_closed or not lo < hi or (lo == -sp.oo and hi == sp.oo):
            raise SpecError(f"{where}: a symbolic range must be an open interval with a finite end, like (1, oo)")
        c_lo, c_hi, c_lo_closed, c_hi_closed = _interval(p.interval, where=where)
        if lo < c_lo or hi > c_hi:
            raise SpecError(f"{where}: range {raw} is not inside {p.interval}")
        for bad in p.exclude:
            x = parse_number(bad, where=where)
            if lo < x < hi:
                raise SpecError(f"{where}: range {raw} contains the excluded value {bad}")
        return SymbolicRange(p.name, lo, hi)

    def expr(self, values: dict[str, str | sp.Expr] | None = None) -> tuple[sp.Expr, dict[str, sp.Expr]]:
        """f as a SymPy expression in u with parameter values substituted, and those values."""
        resolved = self.resolve(values)
        f = parse(self.f, self.symbols(), where="f" if self.name == "custom" else f"f of {self.name}")
        subs = {self.symbols()[k]: (v.expr() if isinstance(v, SymbolicRange) else v) for k, v in resolved.items()}
        return (f.xreplace(subs) if subs else f), resolved


def _interval(text: str, *, where: str) -> tuple[sp.Expr, sp.Expr, bool, bool]:
    """Parse "(a, b]" style intervals (oo for infinity) into (lower, upper, lower_closed, upper_closed)."""
    text = text.strip()
    if len(text) < 5 or text[0] not in "([" or text[-1] not in ")]" or text.count(",") != 1:
        raise SpecError(f"{where}: {text!r} is not an interval like (0, 1] or (-oo, 0)")
    lo_text, hi_text = text[1:-1].split(",")
    ends = []
    for part in (lo_text.strip(), hi_text.strip()):
        if part in ("oo", "+oo", "inf"):
            ends.append(sp.oo)
        elif part in ("-oo", "-inf"):
            ends.append(-sp.oo)
        else:
            ends.append(parse_number(part, where=where))
    lo, hi, lo_closed, hi_closed = ends[0], ends[1], text[0] == "[", text[-1] == "]"
    if (lo_closed and lo == -sp.oo) or (hi_closed and hi == sp.oo):
        raise SpecError(f"{where}: {text!r}: an infinite end cannot be closed")
    if lo == sp.oo or hi == -sp.oo or not (lo < hi or (lo == hi and lo_closed and hi_closed)):
        raise SpecError(f"{where}: {text!r} is empty: the lower end must be below the upper end")
    return lo, hi, lo_closed, hi_closed


def parse_interval(text: str, *, where: str = "interval") -> tuple[sp.Expr, sp.Expr, bool, bool]:
    return _interval(text, where=where)


def specs_from_toml(data: dict[str, Any], *, source: str) -> list[Spec]:
    """Specs from parsed TOML: a list of [[divergence]] tables."""
    tables = data.get("divergence")
    if not isinstance(tables, list) or not tables:
        raise SpecError(f"{source}: expected one or more [[divergence]] tables")
    known = {"name", "f", "aliases", "params", "title", "reference", "notes", "published"}
    specs = []
    for i, table in enumerate(tables):
        where = f"{source}: divergence #{i + 1}"
        extra = sorted(set(table) - known)
        if extra:
            raise SpecError(f"{where}: unknown key {extra[0]!r}")
        if not isinstance(table.get("name"), str) or not isinstance(table.get("f"), str):
            raise SpecError(f"{where}: 'name' and 'f' are required strings")
        params = []
        for pname, p in (table.get("params") or {}).items():
            if not isinstance(p, dict) or "default" not in p:
                raise SpecError(f"{where}: parameter {pname!r} needs a table with a 'default'")
            params.append(Param(pname, str(p["default"]), str(p.get("interval", "(-oo, oo)")),
                                tuple(str(x) for x in p.get("exclude", ())), str(p.get("description", ""))))
        spec = Spec(name=table["name"], f=table["f"], aliases=tuple(table.get("aliases", ())), params=tuple(params),
                    title=table.get("title", table["name"]), reference=table.get("reference", ""),
                    notes=table.get("notes", ""),
                    published=dict(table.get("published", {})))
        spec.resolve()  # defaults must satisfy their own constraints
        parse(spec.f, spec.symbols(), where=f"{where}: f")
        specs.append(spec)
    return specs


def load_toml(path: str | Path) -> list[Spec]:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML ({exc})") from None
    return specs_from_toml(data, source=str(path))
