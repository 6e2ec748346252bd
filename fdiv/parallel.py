"""Derive the whole catalogue, on all cores: each derivation is independent and CPU-bound in SymPy."""
from __future__ import annotations

import multiprocessing
import os
import sys

from . import catalogue
from .derive import Derivation, derive
from .timelimit import step_seconds


def _one(name: str) -> None:
    derive(name)  # the result travels through the disk cache: a pickled SymPy object would come back
    # re-evaluated (Mul(1/3, a + b) distributed), and the catalogue's modules would depend on how they were made


def derive_all(names: list[str] | None = None, processes: int | None = None, *,
               progress: bool = False) -> list[Derivation]:
    """Derivations of `names` (default: the catalogue) in catalogue order; `progress` prints a counter on
    stderr. Entries already in the derivation cache are read from it; the rest are derived on all cores (each
    child writes the disk cache, the parent reads it back) or, without a disk cache, one by one here."""
    from . import cache

    names = names or catalogue.names()
    out: dict[str, Derivation] = {}
    todo = []
    for n in names:
        spec = catalogue.get(n)
        hit = cache.get(cache.key(spec, spec.expr()[1], step_seconds()), spec)
        if hit is not None:
            out[n] = hit
        else:
            todo.append(n)

    def report() -> None:
        if progress:
            sys.stderr.write(f"\rderiving: {len(out)}/{len(names)}")
            sys.stderr.flush()

    report()
    processes = processes or min(len(todo), os.cpu_count() or 1)
    if processes > 1 and cache.directory() is not None and "fork" in multiprocessing.get_all_start_methods():
        with multiprocessing.get_context("fork").Pool(processes) as pool:  # fork shares the imported SymPy
            for n, _ in zip(todo, pool.imap(_one, todo)):
                out[n] = derive(n)  # from the disk cache (or derived here if the entry could not be stored)
                report()
    for n in todo:
        if n not in out:
            out[n] = derive(n)
            report()
    if progress:
        sys.stderr.write("\n")
    return [out[n] for n in names]
