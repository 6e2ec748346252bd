"""Derive the whole catalogue, on all cores: each derivation is independent and CPU-bound in SymPy.

Workers send each derivation back as a cache record (JSON-shaped text read back through fdiv's parser: a
pickled SymPy object would come back re-evaluated, Mul(1/3, a + b) distributed, and the catalogue's modules
would depend on how they were made); the parent alone writes the disk cache, so a cache that cannot be written
costs nothing extra. Workers never outlive their parent, ignore Ctrl-C (the parent reports it, once, and stops
them) and die quietly on SIGTERM.
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time

from . import catalogue
from .derive import Derivation, derive
from .timelimit import step_seconds

#: Seconds between a worker's checks that its parent is still alive.
WATCH_SECONDS = 0.2


def _init_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the parent answers it
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # the pool stops its workers with SIGTERM: no traceback
    os.environ["FDIV_NO_CACHE"] = "1"  # the parent reads and writes the cache; workers only derive

    def watch() -> None:  # a parent killed outright (SIGKILL) cannot stop its workers: they stop themselves
        while os.getppid() == parent:
            time.sleep(WATCH_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def _one(name: str) -> dict | None:
    from .cache import _to_record

    return _to_record(derive(name))


def derive_all(names: list[str] | None = None, processes: int | None = None, *,
               progress: bool = False) -> list[Derivation]:
    """Derivations of `names` (default: the catalogue) in catalogue order; `progress` prints a counter on
    stderr. Entries in the derivation cache are read from it (each checked first); the rest are derived on all
    cores, or one by one here when there is one core or no fork."""
    from . import cache

    names = names or catalogue.names()
    out: dict[str, Derivation] = {}
    todo = []
    for n in names:
        spec = catalogue.get(n)
        f, values = spec.expr()
        hit = cache.get(cache.key(spec, values, step_seconds()), spec, f, values)
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
    if processes > 1 and "fork" in multiprocessing.get_all_start_methods():
        # fork shares the imported SymPy; leaving the block (an error, Ctrl-C, SIGTERM made an exception by the
        # CLI) terminates the workers
        with multiprocessing.get_context("fork").Pool(processes, _init_worker, (os.getpid(),)) as pool:
            for n, record in zip(todo, pool.imap(_one, todo)):
                out[n] = _adopt(n, record)
                report()
    for n in todo:
        if n not in out:
            out[n] = derive(n)
            report()
    if progress:
        sys.stderr.write("\n")
    return [out[n] for n in names]


def _adopt(name: str, record: dict | None) -> Derivation:
    """A worker's derivation, read back from its record and stored in the cache (derived here when the
    derivation has no exact record)."""
    from . import cache

    if record is None:
        return derive(name)
    spec = catalogue.get(name)
    _, values = spec.expr()
    d = cache._from_record(record, spec)
    cache.put(cache.key(spec, values, step_seconds()), d)
    return d
