"""Specs: a divergence is data (name, aliases, f, parameters with constraints, reference), loaded from TOML."""
from __future__ import annotations

import re
import stat
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sympy as sp

from ..errors import SpecError
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
        unused = [p.name for p in self.params if self.symbols()[p.name] not in f.free_symbols]
        if unused and self.name == "custom":  # a --param that f never mentions is a typo, not a no-op
            raise SpecError(f"--param {unused[0]}: f has no symbol {unused[0]}")
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


MAX_SPEC_BYTES = 1_000_000  # a spec file larger than this is refused before it is read
MAX_DIVERGENCES = 64
MAX_PARAMS = 16
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_RESERVED = {"u", "t", "v", "oo", "I"}  # pi may be a parameter (js-weighted): it then shadows the constant


def _text(value: Any, where: str, key: str) -> str:
    if not isinstance(value, str):
        raise SpecError(f"{where}: {key!r} must be a string, not {_toml_type(value)}")
    return value


def _toml_type(value: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", list: "a list", dict: "a table"}.get(
        type(value), type(value).__name__)


def _strings(value: Any, where: str, key: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(x, (str, int, float)) and not isinstance(x, bool)
                                              for x in value):
        raise SpecError(f"{where}: {key!r} must be a list of strings, not {_toml_type(value)}")
    return tuple(str(x) for x in value)


def _value(value: Any, where: str, key: str) -> str:
    """A number written as a TOML string, integer or float (booleans and tables are refused)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise SpecError(f"{where}: {key!r} must be a number or a string, not {_toml_type(value)}")
    return str(value)


def specs_from_toml(data: dict[str, Any], *, source: str) -> list[Spec]:
    """Specs from parsed TOML: a list of [[divergence]] tables, every field checked for its type."""
    tables = data.get("divergence")
    if not isinstance(tables, list) or not tables or not all(isinstance(t, dict) for t in tables):
        raise SpecError(f"{source}: expected one or more [[divergence]] tables")
    if len(tables) > MAX_DIVERGENCES:
        raise SpecError(f"{source}: {len(tables)} divergences; at most {MAX_DIVERGENCES} per file")
    known = {"name", "f", "aliases", "params", "title", "reference", "notes", "published"}
    specs = []
    for i, table in enumerate(tables):
        where = f"{source}: divergence #{i + 1}"
        extra = sorted(set(table) - known)
        if extra:
            raise SpecError(f"{where}: unknown key {ascii(extra[0])}")
        if "name" not in table or "f" not in table:
            raise SpecError(f"{where}: 'name' and 'f' are required strings")
        name = _text(table["name"], where, "name")
        if not _NAME.fullmatch(name):
            raise SpecError(f"{where}: name {ascii(name)[:70]} must be ASCII letters, digits, '-' or '_' "
                            "(starting with a letter, at most 64 characters)")
        aliases = _strings(table.get("aliases", []), where, "aliases")
        for alias in aliases:
            if not _NAME.fullmatch(alias):
                raise SpecError(f"{where}: alias {ascii(alias)[:70]} must be like a name")
        raw_params = table.get("params", {})
        if not isinstance(raw_params, dict):
            raise SpecError(f"{where}: 'params' must be a table, not {_toml_type(raw_params)}")
        if len(raw_params) > MAX_PARAMS:
            raise SpecError(f"{where}: {len(raw_params)} parameters; at most {MAX_PARAMS}")
        params = []
        for pname, p in raw_params.items():
            if not pname.isidentifier() or not pname.isascii() or pname in _RESERVED or pname.startswith("_"):
                raise SpecError(f"{where}: {ascii(pname)} is not a usable parameter name "
                                "(an ASCII identifier other than u, t, v)")
            if not isinstance(p, dict) or "default" not in p:
                raise SpecError(f"{where}: parameter {pname!r} needs a table with a 'default'")
            unknown = sorted(set(p) - {"default", "interval", "exclude", "description"})
            if unknown:
                raise SpecError(f"{where}: parameter {pname!r}: unknown key {ascii(unknown[0])}")
            params.append(Param(pname, _value(p["default"], where, f"{pname}.default"),
                                _text(p.get("interval", "(-oo, oo)"), where, f"{pname}.interval"),
                                _strings(p.get("exclude", []), where, f"{pname}.exclude"),
                                _text(p.get("description", ""), where, f"{pname}.description")))
        published = table.get("published", {})
        if not isinstance(published, dict) or not all(isinstance(v, str) for v in published.values()):
            raise SpecError(f"{where}: 'published' must be a table of strings")
        spec = Spec(name=name, f=_text(table["f"], where, "f"), aliases=aliases, params=tuple(params),
                    title=_text(table.get("title", name), where, "title"),
                    reference=_text(table.get("reference", ""), where, "reference"),
                    notes=_text(table.get("notes", ""), where, "notes"), published=dict(published))
        spec.resolve()  # defaults must satisfy their own constraints
        parse(spec.f, spec.symbols(), where=f"{where}: f")
        specs.append(spec)
    return specs


def load_toml(path: str | Path) -> list[Spec]:
    """Specs from a TOML file: a regular file (never a FIFO or a device, which could block) under a size cap."""
    if not isinstance(path, (str, Path)):
        raise SpecError(f"expected a path to a TOML file, got {type(path).__name__}")
    path = Path(path)
    try:
        info = path.stat()
    except FileNotFoundError:
        raise SpecError(f"{path}: no such file") from None
    except OSError as exc:
        raise SpecError(f"{path}: cannot read it ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise SpecError(f"{path}: not a regular file")
    if info.st_size > MAX_SPEC_BYTES:
        raise SpecError(f"{path}: larger than {MAX_SPEC_BYTES} bytes")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"{path}: cannot read it ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SpecError(f"{path}: not valid TOML ({' '.join(str(exc).split())})") from None
    return specs_from_toml(data, source=str(path))
