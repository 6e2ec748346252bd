"""Derive the whole catalogue, on all cores: each derivation is independent and CPU-bound in SymPy."""
from __future__ import annotations

import multiprocessing
import os

from . import catalogue
from .derive import Derivation, derive


def _one(name: str) -> Derivation:
    return derive(name)


def derive_all(names: list[str] | None = None, processes: int | None = None) -> list[Derivation]:
    """Derivations of `names` (default: the catalogue) in catalogue order."""
    names = names or catalogue.names()
    processes = processes or min(len(names), os.cpu_count() or 1)
    if processes <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [derive(n) for n in names]
    # longest first so the pool finishes together; fork shares the already-imported SymPy
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        return pool.map(_one, names, chunksize=1)
