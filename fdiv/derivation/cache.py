"""A content-addressed cache of derivations: in this process, and on disk between runs.

The key hashes fdiv's version, the source of the modules a derivation depends on, the spec (f, parameters and
their constraints) with its resolved parameter values, and the time limit (a limit can decide between a
closed form and a numeric branch): any change to one of them is a different key, so a stale entry is never
read. Entries are JSON whose expressions are read back through fdiv's own whitelisted parser (never eval,
pickle or sympify), and an entry is only written when every expression reads back to exactly the same SymPy
object. The directory is FDIV_CACHE_DIR, else $XDG_CACHE_HOME/fdiv, else ~/.cache/fdiv; FDIV_NO_CACHE=1 (the
CLI's --no-cache) turns the disk cache off.

A file in the cache proves nothing: an entry is used only after it passes fdiv.derivation.cachecheck (its formulas tested
against the spec's own f, numerically); one that fails, does not parse, is not a regular file (a FIFO, a link to
/dev/zero) or is larger than MAX_ENTRY_BYTES is not used, and the derivation is made afresh, with a `note:`.
The shipped seed is checked the same way. A cache directory that cannot be written is used read-only, with one
`note:`. Notes collect in this module (take_notes(); the CLI prints them) and are also issued as CacheWarning.
"""
from __future__ import annotations

import copy
import hashlib
import json
import os
import tempfile
import time
import warnings
from functools import cache
from pathlib import Path

import sympy as sp
from sympy.core.parameters import distribute

from .._util import __version__
from .._util.atomic import ReadError, read_bounded
from .._util.text import escape
from .._util.checks import Check
from .conjugate import Branch, Interval
from .inverse import PieceConjugate, SlopeInverse
from ..spec.parse import EXTENDED, parse
from ..spec.spec import SymbolicRange

_SOURCES = ("derivation/activation", "derivation/cache", "derivation/cachecheck", "_util/checks",
            "derivation/conjugate", "derivation/engine", "derivation/inverse", "derivation/numeric", "spec/parse",
            "derivation/selfcheck", "spec/spec", "_util/timelimit", "derivation/validate")
_MEMORY: dict[str, object] = {}
_GRAMMAR = {**EXTENDED, "PieceConjugate": (PieceConjugate, (4,)), "SlopeInverse": (SlopeInverse, (4,)),
            "Lambda": (sp.Lambda, (2,))}
_EXPRS = ("f", "conjugate", "activation", "optimal_critic", "ratio_from_critic", "f_prime_at_one", "f_at_zero",
          "f_prime_at_zero", "f_prime_at_infinity", "f_at_one")
#: The largest cache entry read (fdiv writes a few kilobytes), and the largest rendering or seed file.
MAX_ENTRY_BYTES = 1 << 20
MAX_SEED_BYTES = 16 << 20
#: A temporary file left by a process that was killed (SIGKILL cannot be cleaned up after) is removed by the
#: next write once it is this many seconds old.
STALE_SECONDS = 600


class CacheWarning(UserWarning):
    """Something about the derivation cache a user should know (the same text as the CLI's `note:` line)."""


_NOTES: list[str] = []
_READ_ONLY: list[str] = []  # the directories found unwritable in this process


def _note(text: str) -> None:
    if text not in _NOTES:
        _NOTES.append(text)
        warnings.warn(text, CacheWarning, stacklevel=3)


def take_notes() -> list[str]:
    """The notes since the last call (each once), for the CLI to print."""
    out = list(_NOTES)
    _NOTES.clear()
    return out


@cache
def _source_digest() -> str:
    h = hashlib.sha256()
    here = Path(__file__).parents[1]
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
SEED = Path(__file__).parents[1] / "catalogue_derivations.json"


@cache
def _seed() -> dict:
    try:
        data = json.loads(read_bounded(SEED, MAX_SEED_BYTES, where="the shipped derivations"))
    except (ReadError, ValueError, RecursionError):  # a missing or unreadable seed only costs time
        return {}
    return data if isinstance(data, dict) else {}


def get(k: str, spec, f: sp.Expr | None = None, values: dict | None = None):
    """The cached derivation for key k (a fresh copy), or None: from this process, else the disk cache, else
    the shipped seed, each only once it passes fdiv.derivation.cachecheck against the spec's f (spec.expr() when f and
    values are not given)."""
    if k in _MEMORY:
        d = _copy(_MEMORY[k])
        d.spec = spec  # the key is the mathematics; the title, notes and published forms are the caller's spec's
        return d
    folder = directory()
    if folder is None:
        return None
    if f is None or values is None:
        f, values = spec.expr({})
    path = folder / f"{k}.json"
    for where, read in ((f"cache entry {path}", lambda: _read_entry(path)),
                        (f"the shipped derivation of {spec.name}", lambda: _seed().get(k))):
        try:
            record = read()
        except ReadError as exc:
            _note(f"{exc}: not used")
            continue
        if record is None:
            continue
        try:
            d = _from_record(record, spec)
        except Exception:  # noqa: BLE001 - whatever is wrong with it, it is not an entry fdiv wrote
            _note(f"{where} is damaged: not used, derived afresh")
            continue
        from .cachecheck import problem

        trouble = problem(d, f, values)
        if trouble is not None:
            _note(f"{where} failed its check ({trouble}): not used, derived afresh")
            continue
        _MEMORY[k] = d
        return _copy(d)
    return None


def _read_entry(path: Path):
    """The parsed JSON of an entry, or None when there is none; ReadError for anything but a regular file
    within MAX_ENTRY_BYTES (a FIFO, a device, a link), or text that is not JSON."""
    if not os.path.lexists(path):
        return None
    data = read_bounded(path, MAX_ENTRY_BYTES, where=f"cache entry {path}", follow_symlinks=False)
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise ReadError(f"cache entry {path} is damaged (not JSON)") from None


def seed_text() -> str:
    """The seed file's text, from fresh derivations of the catalogue (never from a cache)."""
    from ..spec import catalogue
    from .engine import _derive, step_seconds

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
    record = _to_record(d)
    if record is not None:
        _write(folder, f"{k}.json", json.dumps(record))


def _write(folder: Path, name: str, text: str) -> None:
    """Write one file into the cache atomically. The first failure (a read-only or full disk, no permission)
    is one note and makes the directory read-only for the rest of the process; the temporary file is removed
    on every way out, Ctrl-C included."""
    if str(folder) in _READ_ONLY:
        return
    tmp = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, folder / name)
        tmp = None
        _sweep(folder)
    except OSError as exc:
        _READ_ONLY.append(str(folder))
        _note(f"the derivation cache {folder} cannot be written ({exc.strerror or exc}): it is used read-only")
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


_SWEPT: set[str] = set()


def _sweep(folder: Path) -> None:
    """Once per process and directory: remove temporary files that killed processes left behind."""
    if str(folder) in _SWEPT:
        return
    _SWEPT.add(str(folder))
    cutoff = time.time() - STALE_SECONDS
    for entry in folder.glob(".*.tmp"):
        try:
            if entry.lstat().st_mtime < cutoff:
                entry.unlink()
        except OSError:
            pass


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
        try:
            if isinstance(e, sp.Basic) and _read(str(e), table) != e:
                return None
        except Exception:  # noqa: BLE001 - beyond the reader's grammar or limits: not stored
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


_KINDS = {k: k for k in ("boundary", "smooth", "kink", "end")}


def _from_record(record: dict, spec):
    from .engine import Derivation

    table = {name: sp.Symbol(name, **facts) for name, facts in record["symbols"].items()}

    def read(text: str) -> sp.Basic:
        if not isinstance(text, str):
            raise TypeError("an expression is not a string")
        return _read(text, table)

    def interval(x: list) -> Interval:
        return Interval(read(x[0]), read(x[1]), bool(x[2]), bool(x[3]))

    def words(x) -> str:  # free text of an entry: never a control character on its way to a terminal
        if not isinstance(x, str) or len(x) > 10_000:
            raise TypeError("free text is not a string")
        return escape(x)

    params = {}
    for k, v in record["parameters"].items():
        params[k] = SymbolicRange(k, read(v[1]), read(v[2])) if isinstance(v, list) else read(v)
    exprs = {k: read(record["exprs"][k]) for k in _EXPRS}
    return Derivation(
        name=spec.name, spec=spec, parameters=params, conjugate_domain=interval(record["conjugate_domain"]),
        critic_range=interval(record["critic_range"]), activation_rule=words(record["activation_rule"]),
        branches=tuple(Branch(_KINDS[k], read(e), read(u), bool(c), read(r)) for k, e, u, c, r in record["branches"]),
        checks=[Check(words(n), p is True, words(m), words(de)) for n, p, m, de in record["checks"]], **exprs)


# ------------------------------------------------------------------------------------------- other results
def text_key(keys: list[str], fmt: str) -> str:
    """The address of a small computed text (e.g. fdiv list's f-DPO verdicts) for these inputs."""
    return hashlib.sha256(json.dumps([keys, fmt, _source_digest()]).encode()).hexdigest()


def get_text(k: str) -> str | None:
    """A stored text, or None (also for anything but a regular UTF-8 file within MAX_ENTRY_BYTES). Its reader
    checks its shape; the CLI escapes whatever reaches the terminal."""
    folder = directory()
    if folder is None:
        return None
    path = folder / f"{k}.txt"
    if not os.path.lexists(path):
        return None
    try:
        data = read_bounded(path, MAX_ENTRY_BYTES, where=f"cache entry {path}", follow_symlinks=False)
        return data.decode("utf-8")
    except ReadError as exc:
        _note(f"{exc}: not used")
    except UnicodeDecodeError:
        _note(f"cache entry {path} is damaged (not UTF-8): not used")
    return None


def put_text(k: str, text: str) -> None:
    folder = directory()
    if folder is not None:
        _write(folder, f"{k}.txt", text)
