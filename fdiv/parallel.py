"""Derive the whole catalogue, on all cores: each derivation is independent and CPU-bound in SymPy."""
from __future__ import annotations

import multiprocessing
import os
import sys

from . import catalogue
from .derive import Derivation, derive
from .timelimit import step_seconds


def _one(name: str) -> Derivation:
    return derive(name)


def derive_all(names: list[str] | None = None, processes: int | None = None, *,
               progress: bool = False) -> list[Derivation]:
    """Derivations of `names` (default: the catalogue) in catalogue order; `progress` prints a counter on
    stderr. Entries already in the derivation cache are read from it; the rest run on all cores."""
    from . import cache

    names = names or catalogue.names()
    out: dict[str, Derivation] = {}
    todo = []
    for n in names:
        spec = catalogue.get(n)
        _, values = spec.expr()
        hit = cache.get(cache.key(spec, values, step_seconds()), spec)
        if hit is not None:
            out[n] = hit
        else:
            todo.append(n)
    processes = processes or min(len(todo), os.cpu_count() or 1)

    def report(done: int) -> None:
        if progress:
            sys.stderr.write(f"\rderiving: {done}/{len(names)}")
            sys.stderr.flush()

    report(len(out))
    if processes <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        for n in todo:
            out[n] = derive(n)
            report(len(out))
    else:
        # fork shares the already-imported SymPy; each child's result is cached by the parent below
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            for n, d in zip(todo, pool.imap(_one, todo)):
                out[n] = d
                spec = catalogue.get(n)
                cache.put(cache.key(spec, spec.expr()[1], step_seconds()), d)
                report(len(out))
    if progress:
        sys.stderr.write("\n")
    return [out[n] for n in names]
