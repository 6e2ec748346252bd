"""A content-addressed cache of derivations: in this process, and on disk between runs.

The key hashes fdiv's version, the source of the modules a derivation depends on, the spec (f, parameters and
their constraints) with its resolved parameter values, and the time limit (a limit can decide between a
closed form and a numeric branch): any change to one of them is a different key, so a stale entry is never
read. Entries are JSON whose expressions are read back through fdiv's own whitelisted parser (never eval,
pickle or sympify), and an entry is only written when every expression reads back to exactly the same SymPy
object. The directory is FDIV_CACHE_DIR, else $XDG_CACHE_HOME/fdiv, else ~/.cache/fdiv; FDIV_NO_CACHE=1 (the
CLI's --no-cache) turns the disk cache off. A cache that cannot be read or written is skipped silently: it
only ever saves time.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
from functools import cache
from pathlib import Path

import sympy as sp
from sympy.core.parameters import distribute

from . import __version__
from .checks import Check
from .conjugate import Branch, Interval
from .inverse import PieceConjugate, SlopeInverse
from .parse import EXTENDED, parse
from .spec import SymbolicRange

_SOURCES = ("activation", "cache", "checks", "conjugate", "derive", "inverse", "numeric", "parse", "selfcheck",
            "spec", "timelimit", "validate")
_MEMORY: dict[str, object] = {}
_GRAMMAR = {**EXTENDED, "PieceConjugate": (PieceConjugate, (4,)), "SlopeInverse": (SlopeInverse, (4,)),
            "Lambda": (sp.Lambda, (2,))}
_EXPRS = ("f", "conjugate", "activation", "optimal_critic", "ratio_from_critic", "f_prime_at_one", "f_at_zero",
          "f_prime_at_zero", "f_prime_at_infinity", "f_at_one")


@cache
def _source_digest() -> str:
    h = hashlib.sha256()
    here = Path(__file__).parent
    for name in _SOURCES:
        h.update((here / f"{name}.py").read_bytes())
    return h.hexdigest()


def directory() -> Path | None:
    if os.environ.get("FDIV_NO_CACHE", "") not in ("", "0"):
        return None
    root = os.environ.get("FDIV_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "fdiv")
    return Path(root)


def key(spec, values: dict, seconds: float) -> str:
    """The content address of a derivation."""
    params = {k: (["range", str(v.lower), str(v.upper)] if isinstance(v, SymbolicRange) else str(v))
              for k, v in values.items()}
    data = {"version": __version__, "source": _source_digest(), "f": spec.f, "name": spec.name,
            "params": [[p.name, p.default, p.interval, list(p.exclude)] for p in spec.params], "values": params,
            "seconds": seconds}
    from . import conjugate

    if conjugate.FORCE_NUMERIC:
        data["force_numeric"] = True
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


#: The catalogue's derivations, shipped with the package (`python -m fdiv.docs --write` regenerates the file from
#: fresh derivations, `--check` fails when it differs): read when the disk cache misses, so a fresh checkout's
#: `python -m proofs` or `fdiv gen` does not derive the catalogue again. Its keys carry the source digest like any
#: entry: after a change to the derivation code they no longer match and are simply not used.
SEED = Path(__file__).parent / "catalogue_derivations.json"


@cache
def _seed() -> dict:
    try:
        return json.loads(SEED.read_text(encoding="utf-8"))
    except Exception:  # noqa: BLE001 - a missing or unreadable seed only costs time
        return {}


def get(k: str, spec):
    """The cached derivation for key k (a fresh copy), or None."""
    if k in _MEMORY:
        return _copy(_MEMORY[k])
    folder = directory()
    if folder is None:
        return None
    for read in (lambda: json.loads((folder / f"{k}.json").read_text(encoding="utf-8")), lambda: _seed()[k]):
        try:
            d = _from_record(read(), spec)
        except Exception:  # noqa: BLE001 - a missing, unreadable or stale entry is simply not used
            continue
        _MEMORY[k] = d
        return _copy(d)
    return None


def seed_text() -> str:
    """The seed file's text, from fresh derivations of the catalogue (never from a cache)."""
    from . import catalogue
    from .derive import _derive, step_seconds

    records = {}
    for name in catalogue.names():
        spec = catalogue.get(name)
        f, values = spec.expr({})
        if any(isinstance(v, SymbolicRange) for v in values.values()):
            continue
        record = _to_record(_derive(spec, f, values, []))
        if record is not None:
            records[key(spec, values, step_seconds())] = record
    return json.dumps(records, sort_keys=True, indent=0) + "\n"


def put(k: str, d) -> None:
    _MEMORY[k] = _copy(d)
    folder = directory()
    if folder is None:
        return
    try:
        record = _to_record(d)
        if record is None:
            return
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(record, handle)
        os.replace(tmp, folder / f"{k}.json")
    except Exception:  # noqa: BLE001 - the cache is an optimisation; a read-only home must not fail a derivation
        return


def _copy(d):
    out = copy.copy(d)
    out.checks = list(d.checks)
    out.parameters = dict(d.parameters)
    return out


# ----------------------------------------------------------------------------------------------- records
def _symbols(exprs) -> dict[str, sp.Symbol]:
    out = {}
    for e in exprs:
        if isinstance(e, sp.Basic):
            for s in e.free_symbols | {s for lam in e.atoms(sp.Lambda) for s in lam.variables}:
                out[s.name] = s
    return out


def _assumptions(s: sp.Symbol) -> dict:
    return {"positive": True} if s.is_positive else {"real": True} if s.is_real else {}


def _to_record(d) -> dict | None:
    exprs = [getattr(d, k) for k in _EXPRS]
    exprs += [x for i in (d.conjugate_domain, d.critic_range) for x in (i.lower, i.upper)]
    exprs += [x for b in d.branches for x in (b.expr, b.upper, b.ratio)]
    exprs += [x for v in d.parameters.values() for x in ((v.lower, v.upper) if isinstance(v, SymbolicRange) else (v,))]
    symbols = _symbols(exprs)
    if len({s.name for s in symbols.values()}) != len(symbols):
        return None
    table = {name: sp.Symbol(name, **_assumptions(s)) for name, s in symbols.items()}
    for e in exprs:  # store only what reads back exactly
        if isinstance(e, sp.Basic) and _read(str(e), table) != e:
            return None

    def interval(i: Interval) -> list:
        return [str(i.lower), str(i.upper), i.lower_closed, i.upper_closed]

    return {
        "symbols": {name: _assumptions(s) for name, s in symbols.items()},
        "exprs": {k: str(getattr(d, k)) for k in _EXPRS},
        "conjugate_domain": interval(d.conjugate_domain), "critic_range": interval(d.critic_range),
        "activation_rule": d.activation_rule,
        "parameters": {k: (["range", str(v.lower), str(v.upper)] if isinstance(v, SymbolicRange) else str(v))
                       for k, v in d.parameters.items()},
        "branches": [[b.kind, str(b.expr), str(b.upper), b.closed, str(b.ratio)] for b in d.branches],
        "checks": [[c.name, c.passed, c.method, c.detail] for c in d.checks],
    }


def _read(text: str, table: dict) -> sp.Basic:
    # SymPy prints Mul(1/3, a + b) as (a + b)/3 but would distribute 1/3 when reading it back: keep the
    # product as printed, so the object read back is the object written (and generated code stays the same)
    with distribute(False):
        return parse(text, table, where="cache", functions=_GRAMMAR, max_length=100_000, max_nodes=20_000)


def _from_record(record: dict, spec):
    from .derive import Derivation

    table = {name: sp.Symbol(name, **facts) for name, facts in record["symbols"].items()}

    def read(text: str) -> sp.Basic:
        return _read(text, table)

    def interval(x: list) -> Interval:
        return Interval(read(x[0]), read(x[1]), bool(x[2]), bool(x[3]))

    params = {}
    for k, v in record["parameters"].items():
        params[k] = SymbolicRange(k, read(v[1]), read(v[2])) if isinstance(v, list) else read(v)
    exprs = {k: read(record["exprs"][k]) for k in _EXPRS}
    return Derivation(
        name=spec.name, spec=spec, parameters=params, conjugate_domain=interval(record["conjugate_domain"]),
        critic_range=interval(record["critic_range"]), activation_rule=record["activation_rule"],
        branches=tuple(Branch(k, read(e), read(u), bool(c), read(r)) for k, e, u, c, r in record["branches"]),
        checks=[Check(n, bool(p), m, de) for n, p, m, de in record["checks"]], **exprs)


# ------------------------------------------------------------------------------------------ rendered output
def text_key(keys: list[str], fmt: str) -> str:
    """The address of a rendering (e.g. `derive --all --format markdown`) of derivations with these keys."""
    return hashlib.sha256(json.dumps([keys, fmt, _source_digest()]).encode()).hexdigest()


def get_text(k: str) -> str | None:
    folder = directory()
    if folder is None:
        return None
    try:
        return (folder / f"{k}.txt").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def put_text(k: str, text: str) -> None:
    folder = directory()
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, folder / f"{k}.txt")
    except OSError:
        return
