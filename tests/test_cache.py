"""The derivation cache: a second derivation is read back (the same objects), a change of spec, parameter,
time limit, version or source is a different key, a damaged entry is ignored, and FDIV_NO_CACHE turns it off."""
from __future__ import annotations

import importlib

import pytest

import fdiv
from fdiv import cache
from fdiv.cli import main

derive_module = importlib.import_module("fdiv.derive")


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FDIV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_MEMORY", {})
    return tmp_path / "cache"


def _forbid_deriving(monkeypatch):
    def fail(*args, **kwargs):
        raise AssertionError("derived again instead of reading the cache")

    monkeypatch.setattr(derive_module, "_derive", fail)


def test_a_second_derivation_is_read_back_identical(fresh_cache, monkeypatch):
    first = fdiv.derive("alpha", alpha="1/3")
    assert len(list(fresh_cache.glob("*.json"))) == 1
    monkeypatch.setattr(cache, "_MEMORY", {})  # a new process: only the disk cache is left
    _forbid_deriving(monkeypatch)
    second = fdiv.derive("alpha", alpha="1/3")
    for field in ("f", "conjugate", "activation", "optimal_critic", "ratio_from_critic", "f_prime_at_one"):
        assert getattr(second, field) == getattr(first, field)  # structurally equal: same generated code
        assert str(getattr(second, field)) == str(getattr(first, field))
    assert second.conjugate_domain == first.conjugate_domain and second.branches == first.branches
    assert [str(c) for c in second.checks] == [str(c) for c in first.checks]


def test_numeric_branches_are_cached_too(fresh_cache, monkeypatch):
    first = fdiv.derive("(u-1)**2 + (1-u)**2/u")
    monkeypatch.setattr(cache, "_MEMORY", {})
    _forbid_deriving(monkeypatch)
    assert fdiv.derive("(u-1)**2 + (1-u)**2/u").conjugate == first.conjugate and first.numeric


@pytest.mark.parametrize("change", ["spec", "parameter", "time limit", "version", "source"])
def test_any_change_is_a_different_key(change, fresh_cache, monkeypatch):
    fdiv.derive("alpha", alpha="1/3")
    monkeypatch.setattr(cache, "_MEMORY", {})
    spec = fdiv.derive("alpha", alpha="1/3").spec
    _, values = spec.expr({"alpha": "1/3"})
    before = cache.key(spec, values, 20.0)
    if change == "spec":
        _, values2 = spec.expr({"alpha": "1/3"})
        after = cache.key(derive_module.custom_spec("(u - 1)**2", {}), {}, 20.0)
    elif change == "parameter":
        after = cache.key(spec, spec.expr({"alpha": "1/4"})[1], 20.0)
    elif change == "time limit":
        after = cache.key(spec, values, 5.0)
    elif change == "version":
        monkeypatch.setattr(cache, "__version__", "999")
        after = cache.key(spec, values, 20.0)
    else:
        monkeypatch.setattr(cache, "_source_digest", lambda: "other source")
        after = cache.key(spec, values, 20.0)
    assert before != after


def test_a_damaged_entry_is_ignored(fresh_cache, monkeypatch):
    monkeypatch.setattr(cache, "_seed", lambda: {})  # else kl comes from the shipped seed and no entry is written
    good = fdiv.derive("kl")
    assert list(fresh_cache.glob("*.json"))
    for entry in fresh_cache.glob("*.json"):
        entry.write_text('{"symbols": {"t": {"real": true}}, "exprs": {"f": "__import__(\\"os\\")"}}')
    monkeypatch.setattr(cache, "_MEMORY", {})
    with pytest.warns(cache.CacheWarning, match="damaged"):
        again = fdiv.derive("kl")  # derived afresh: the entry does not read back
    assert again.conjugate == good.conjugate


def test_no_cache_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FDIV_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "_MEMORY", {})
    assert main(["derive", "jsd", "--no-cache"]) == 0
    assert not (tmp_path / "cache").exists()


def test_derive_all_reads_the_cache(monkeypatch, capsys):
    """(The suite's own cache: the catalogue is derived once per run, whichever test asks first.) A second
    `derive --all` derives nothing: every entry is read back (and checked) from the cache."""
    assert main(["derive", "--all", "--format", "markdown"]) == 0
    first = capsys.readouterr().out
    monkeypatch.setattr(cache, "_MEMORY", {})
    _forbid_deriving(monkeypatch)
    assert main(["derive", "--all", "--format", "markdown"]) == 0
    out, err = capsys.readouterr()
    assert out == first and "note:" not in err


def test_catalogue_derivations_ship_with_the_package(fresh_cache, monkeypatch):
    """An empty cache directory (a fresh machine) still reads the catalogue from the shipped seed, without
    deriving: the same objects as a fresh derivation (python -m fdiv.docs --check keeps the file equal to fresh
    derivations). FDIV_NO_CACHE turns the seed off too."""
    monkeypatch.setenv("FDIV_NO_CACHE", "1")
    fresh = fdiv.derive("jensen-shannon")  # derived here, no cache and no seed
    monkeypatch.delenv("FDIV_NO_CACHE")
    monkeypatch.setattr(cache, "_MEMORY", {})
    _forbid_deriving(monkeypatch)
    seeded = fdiv.derive("jensen-shannon")
    assert not list(fresh_cache.glob("*.json"))  # nothing written: the seed answered
    for field in ("f", "conjugate", "activation", "optimal_critic", "ratio_from_critic", "f_prime_at_one"):
        assert getattr(seeded, field) == getattr(fresh, field)
    monkeypatch.setattr(cache, "_MEMORY", {})
    monkeypatch.setenv("FDIV_NO_CACHE", "1")
    with pytest.raises(AssertionError, match="derived again"):
        fdiv.derive("jensen-shannon")


def test_a_seed_entry_for_other_sources_is_not_used(fresh_cache, monkeypatch):
    """Seed keys carry the source digest: after a change to the derivation code nothing in the seed matches."""
    monkeypatch.setattr(cache, "_source_digest", lambda: "a different source")
    _forbid_deriving(monkeypatch)
    with pytest.raises(AssertionError, match="derived again"):
        fdiv.derive("jensen-shannon")
