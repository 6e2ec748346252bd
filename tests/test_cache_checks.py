"""A cache that cannot lie: an entry is used only after it passes fdiv.derivation.cachecheck against the spec's own f.

Each mutation below is a lie an edited or corrupted entry could tell (a wrong f*, a critic range that is too
wide or too narrow, a wrong sigma_f, (f')^-1, f'(1), f(0+), the closedness of dom f*, a numeric branch solving
the wrong equation); each is caught, noted, and the derivation made afresh. The control: the same entry
unmutated is used as it is, without a note. Reads are bounded and never block; free text is escaped.
"""
from __future__ import annotations

import functools
import importlib.util
import json
import multiprocessing
import os
from pathlib import Path

import pytest

import fdiv
from fdiv.derivation import cache
from fdiv.cli import main
from fdiv._util.timelimit import step_seconds

derive_module = importlib.import_module("fdiv.derivation.engine")
SUITE_CACHE = os.environ.get("FDIV_CACHE_DIR")


@functools.cache
def _truth(name: str, params: tuple = ()):
    """A true derivation (from the suite's own cache) and its record."""
    saved, memory = os.environ.get("FDIV_CACHE_DIR"), dict(cache._MEMORY)
    if SUITE_CACHE:
        os.environ["FDIV_CACHE_DIR"] = SUITE_CACHE
    try:
        d = fdiv.derive(name, **dict(params))
    finally:
        if saved is not None:
            os.environ["FDIV_CACHE_DIR"] = saved
        cache._MEMORY.clear()  # the test's own cache starts empty
        cache._MEMORY.update(memory)
    return d, json.dumps(cache._to_record(d))


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("FDIV_CACHE_DIR", str(folder))
    monkeypatch.setattr(cache, "_MEMORY", {})
    monkeypatch.setattr(cache, "_seed", lambda: {})  # only what the test plants
    cache.take_notes()
    return folder


def _plant(folder: Path, name: str, mutate=None, params: tuple = ()):
    """Write the true record of name, mutated, where the cache looks for it; the key, spec, f and values."""
    d, text = _truth(name, params)
    record = json.loads(text)
    if mutate is not None:
        mutate(record)
    f, values = d.spec.expr(dict(params))
    k = cache.key(d.spec, values, step_seconds())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{k}.json").write_text(json.dumps(record))
    return k, d.spec, f, values


def _expr(**fields):
    def mutate(record):
        for key, value in fields.items():
            if key.startswith("branch"):  # branch<i>_<position>
                i, pos = (int(x) for x in key[6:].split("_"))
                record["branches"][i][pos] = value
            elif key in ("critic_range", "conjugate_domain"):
                record[key] = value
            elif value is None:  # the branch's own change, made in the whole f* too
                record["exprs"][key] = record["exprs"][key].replace("(t, t <= 1)", "(t + 1/10, t <= 1)")
            else:
                record["exprs"][key] = value
    return mutate


def _numeric_f(record):
    for key in ("conjugate",):
        record["exprs"][key] = record["exprs"][key].replace("(sqrt(u) - 1)**4", "(sqrt(u) - 1)**2")
    record["branches"][0][1] = record["branches"][0][1].replace("(sqrt(u) - 1)**4", "(sqrt(u) - 1)**2")


def _symbols(record):
    record["symbols"]["u"] = {"real": True}


NUMERIC = "(sqrt(u)-1)**4"
# a C1 breakpoint between numeric branches: f* there is one closed point t = f'(1) = 1, a kink branch that ends where
# the branch before it ends (every such entry had been refused as "out of order" and derived again)
KINK_POINT = "Abs(u - 1)**(3/2) + u*log(u)"
# a numeric branch up to the closed end t = f'(oo) = 1 of dom f*: f*(1) = 2 is a branch of its own ("end"), which
# the reader did not know (every such entry was "damaged" and derived again, with a warning)
END_POINT = "2*exp(-u/2) + 2*exp(-u) + 3*Max(1 - u, 0) - 2 + u"


def _end_value(value: str):
    def mutate(record):
        record["branches"][4][1] = value
        record["exprs"]["conjugate"] = record["exprs"]["conjugate"].replace("(2, True)", f"({value}, True)")
    return mutate


ALPHA_RANGE = (("alpha", "(1, oo)"),)
MUTATIONS = [
    ("kl", (), "f* = exp(t) - 2", _expr(conjugate="exp(t) - 2", branch0_1="exp(t) - 2")),
    ("kl", (), "f* doubled", _expr(conjugate="2*exp(t - 1)", branch0_1="2*exp(t - 1)")),
    ("kl", (), "(f')^-1 = exp(t)", _expr(ratio_from_critic="exp(t)", branch0_4="exp(t)")),
    ("kl", (), "T* = log(u)", _expr(optimal_critic="log(u)")),
    ("kl", (), "f of another divergence", _expr(f="u*log(u) - u + 1")),
    ("kl", (), "f(1) = 1", _expr(f_at_one="1")),
    ("kl", (), "f'(1) = 0", _expr(f_prime_at_one="0")),
    ("kl", (), "f(0+) = 1", _expr(f_at_zero="1")),
    ("kl", (), "f(0+) = oo", _expr(f_at_zero="oo")),
    ("kl", (), "sigma_f = 2 v", _expr(activation="2*v")),
    ("kl", (), "u declared real", _symbols),
    ("kl", (), "smooth branch called boundary", _expr(branch0_0="boundary")),
    ("gan", (), "critic range widened to (-oo, 1)",
     _expr(critic_range=["-oo", "1", False, False], conjugate_domain=["-oo", "1", False, False], f_prime_at_infinity="1",
           activation="1 - log(1 + exp(-v))", branch0_2="1")),
    ("pearson", (), "boundary branch -2 instead of -f(0) = -1",
     _expr(conjugate="Piecewise((-2, t <= -2), (t**2/4 + t, True))", branch0_1="-2")),
    ("pearson", (), "critic range narrowed to (-1, oo)",
     _expr(critic_range=["-1", "oo", False, False], f_prime_at_zero="-1", activation="log(exp(v) + 1) - 1",
           conjugate="Piecewise((-3/4, t <= -1), (t**2/4 + t, True))", branch0_1="-3/4", branch0_2="-1")),
    ("pearson", (), "f(0+) and its branch both 2", _expr(f_at_zero="2", branch0_1="-2",
                                                          conjugate="Piecewise((-2, t <= -2), (t**2/4 + t, True))")),
    ("pearson", (), "critic range closed at -2", _expr(critic_range=["-2", "oo", True, False])),
    ("total-variation", (), "critic range open at -1/2", _expr(critic_range=["-1/2", "1/2", False, True])),
    ("total-variation", (), "kink at u = 2", _expr(branch1_4="2", ratio_from_critic="2")),
    # the check allows sigma_f to round 1e-20 past an end (tanh's e^-120 at v = -60); 5e-7 past it is refused
    ("total-variation", (), "sigma_f 5e-7 past the critic range", _expr(activation="(1 + 1/10**6)*tanh(v)/2")),
    ("total-variation", (), "dom f* open at 1/2", _expr(conjugate_domain=["-oo", "1/2", False, False])),
    ("squared-hellinger", (), "dom f* closed at 1", _expr(conjugate_domain=["-oo", "1", False, True])),
    ("kl", (), "dom f* closed at oo", _expr(conjugate_domain=["-oo", "oo", False, True])),
    ("kl", (), "critic range closed at oo", _expr(critic_range=["-oo", "oo", False, True])),
    (NUMERIC, (), "numeric branch solving for another f", _numeric_f),
    (KINK_POINT, (), "f* at the kink point t + 1/10", _expr(branch1_1="t + 1/10",
                                                              conjugate=None)),
    (END_POINT, (), "f* at the closed end 5/2, above the limit 2", _end_value("5/2")),
    (END_POINT, (), "f* at the closed end 3/2, below b u - f(u) at u = 1000", _end_value("3/2")),
    ("alpha", ALPHA_RANGE, "symbolic range: boundary value doubled",
     _expr(conjugate="Piecewise((-2/alpha, t <= -1/(alpha - 1)), ((t*(alpha - 1)*(t*(alpha - 1) + 1)**(1/(alpha - 1)) "
                     "+ (t*(alpha - 1) + 1)**(1/(alpha - 1)) - 1)/alpha, True))", branch0_1="-2/(alpha_s + 1)")),
]


@pytest.mark.parametrize("name, params", sorted({(m[0], m[1]) for m in MUTATIONS}))
def test_a_true_entry_is_used_without_a_note(name, params, fresh, monkeypatch):
    k, spec, f, values = _plant(fresh, name, params=params)

    def fail(*args, **kwargs):
        raise AssertionError("derived again instead of using the true entry")

    monkeypatch.setattr(derive_module, "_derive", fail)
    got = cache.get(k, spec, f, values)
    assert got is not None and cache.take_notes() == []
    assert got.conjugate == _truth(name, params)[0].conjugate


@pytest.mark.parametrize("name, params, lie, mutate", MUTATIONS, ids=[m[2] for m in MUTATIONS])
def test_an_entry_that_lies_is_not_used(name, params, lie, mutate, fresh):
    k, spec, f, values = _plant(fresh, name, mutate, params)
    with pytest.warns(cache.CacheWarning):
        assert cache.get(k, spec, f, values) is None
    notes = cache.take_notes()
    assert len(notes) == 1 and ("failed its check" in notes[0] or "damaged" in notes[0]), notes


def _poison(folder: Path) -> None:
    _plant(folder, "kl", _expr(conjugate="exp(t) - 2", branch0_1="exp(t) - 2"))
    cache._MEMORY.clear()


def test_a_poisoned_entry_reaches_no_output(fresh, tmp_path, capsys):
    """The issue's entry: f* of kl edited to exp(t) - 2. derive prints the true f* with its checks, gen writes
    the true loss, check does not verify the edited claim; each says once that the entry was not used."""
    _poison(fresh)
    assert main(["derive", "kl"]) == 0
    out, err = capsys.readouterr()
    assert "f*(t)               = exp(t - 1)" in out and "exp(t) - 2" not in out and "FAILED" not in out
    assert err.count("note:") == 1 and "failed its check" in err

    _poison(fresh)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    assert main(["gen", "kl", "-o", str(out_dir)]) == 0
    spec = importlib.util.spec_from_file_location("poisoned_kl", out_dir / "kl.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import torch

    t = torch.tensor([-1.0, 0.0, 0.5, 2.0], dtype=torch.float64)
    assert torch.allclose(module.conjugate(t), torch.exp(t - 1), rtol=1e-14, atol=0)  # not exp(t) - 2
    capsys.readouterr()

    _poison(fresh)
    code = main(["check", "conjugate", "kl", "--claim", "exp(t) - 2"])
    out, err = capsys.readouterr()
    assert code != 0 and "failed its check" in err, out + err
    _poison(fresh)
    assert main(["check", "conjugate", "kl", "--claim", "exp(t - 1)"]) == 0
    capsys.readouterr()


def test_free_text_of_an_entry_is_escaped(fresh, capsys):
    """A check's name that would clear the line and print a fake [ok] is shown escaped, through the API and
    the CLI."""
    def fake(record):
        record["checks"][0][0] = "\x1b[2K\r    [ok] everything \u202e"
        record["checks"][0][3] = "\x9b31m"

    k, spec, f, values = _plant(fresh, "kl", fake)
    d = cache.get(k, spec, f, values)
    assert d is not None and not any(ch in str(c) for c in d.checks for ch in "\x1b\r\u202e\x9b")
    cache._MEMORY.clear()
    assert main(["derive", "kl"]) == 0
    out, err = capsys.readouterr()
    assert "\\u001b" in out and not any(ch in out + err for ch in "\x1b\r\u202e\x9b")


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory", "large", "not json", "wrong shape"])
def test_an_entry_that_is_not_a_small_regular_file_is_not_read(kind, fresh):
    """A FIFO used to hang derive forever, a link to /dev/zero read 2.4 GB; each is now refused at once with a
    note (the test's own time and memory limits would stop it otherwise)."""
    import resource
    import signal

    d, _ = _truth("kl")
    f, values = d.spec.expr({})
    k = cache.key(d.spec, values, step_seconds())
    fresh.mkdir(parents=True)
    path = fresh / f"{k}.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "large":
        path.write_bytes(b" " * (cache.MAX_ENTRY_BYTES + 1))
    elif kind == "not json":
        path.write_bytes(b"\x00\xff{" * 100)
    else:
        path.write_text('{"symbols": [], "exprs": 3}')
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    signal.alarm(20)  # a hang fails the test instead of the run
    try:
        with pytest.warns(cache.CacheWarning, match="not used"):
            assert cache.get(k, d.spec, f, values) is None
    finally:
        signal.alarm(0)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB: nothing huge was read
    notes = cache.take_notes()
    assert len(notes) == 1 and str(fresh) in notes[0], notes


def test_an_unwritable_cache_is_used_read_only_with_one_note(fresh, monkeypatch, capsys):
    _plant(fresh, "kl")

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache.tempfile, "mkstemp", denied)
    monkeypatch.setattr(cache, "_READ_ONLY", [])
    assert main(["derive", "kl"]) == 0  # read from the directory
    assert main(["derive", "jsd"]) == 0  # derived; its entry cannot be stored
    assert main(["derive", "reverse-kl"]) == 0
    out, err = capsys.readouterr()
    assert err.count("note:") == 1 and "used read-only" in err and "Permission denied" in err, err


def test_derive_all_with_an_unwritable_cache_derives_each_entry_once(fresh, monkeypatch):
    """Workers send their derivations back; they used to go only through the disk cache, so a cache that
    could not be written made the parent derive everything a second time."""
    from fdiv.derivation import parallel

    calls = multiprocessing.get_context("fork").Value("i", 0)
    real = derive_module._derive

    def counted(*args, **kwargs):
        with calls.get_lock():
            calls.value += 1
        return real(*args, **kwargs)

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(derive_module, "_derive", counted)
    monkeypatch.setattr(cache.tempfile, "mkstemp", denied)
    monkeypatch.setattr(cache, "_READ_ONLY", [])
    names = ["kl", "reverse-kl", "jsd"]
    with pytest.warns(cache.CacheWarning, match="cannot be written"):
        ds = parallel.derive_all(names, processes=2)
    assert [d.name for d in ds] == names and all(d.ok for d in ds)
    assert calls.value == len(names)
    assert len(cache.take_notes()) == 1


def test_an_interrupted_cache_write_leaves_no_temporary_file(fresh, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    d, _ = _truth("kl")
    monkeypatch.setattr(cache.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.put("k" * 64, d)
    assert list(fresh.iterdir()) == []


def test_stale_temporary_files_are_swept(fresh, monkeypatch):
    """A process killed outright (SIGKILL) cannot remove its temporary file; the next write does, once it is
    old enough not to belong to a writer still at work."""
    fresh.mkdir(parents=True)
    old, young = fresh / ".old.tmp", fresh / ".young.tmp"
    old.write_text("x")
    young.write_text("x")
    os.utime(old, (1, 1))
    monkeypatch.setattr(cache, "_SWEPT", set())
    d, _ = _truth("kl")
    cache.put("a" * 64, d)
    assert not old.exists() and young.exists()


def test_a_cache_that_is_checked_stays_fast(fresh):
    """Checking every catalogue entry costs well under a second of CPU (it replaced a rendering cache)."""
    import time

    from fdiv.spec import catalogue
    from fdiv.derivation.cachecheck import problem

    ds = [_truth(name)[0] for name in catalogue.names()]
    start = time.process_time()
    for d in ds:
        f, values = d.spec.expr({})
        assert problem(d, f, values) is None, d.name
    assert time.process_time() - start < 3.0  # ~0.3 s measured
