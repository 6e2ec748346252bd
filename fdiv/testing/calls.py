"""Calling the code under test without trusting it: it gets its own copies of the inputs, and whatever it does
(raise any exception, return the wrong kind of thing, edit its input in place, write to stdout) becomes a
`Returned` describing that one call, never an exception in fdiv (fdiv._util.sandbox does the calling).

Array calls (kind "torch") go to the library the function uses: `backend` "torch" or "jax" (given, read off the
function's module, or, when that does not tell, from what one call on numpy arrays returns); a JAX function gets
jax Arrays and its gradients come from jax.grad (sandbox.py). The checks compare in torch either way.

Two callees share one interface (`call(kind, args, names, grad) -> Returned`):
- `LocalFunction(fn)` calls fn in this process (the Python API and the pytest fixtures). The inputs are fresh
  copies, compared bit for bit after the call; references are always computed from the caller's own values.
- `isolate.ChildFunction` runs FILE.py:FUNC in a child process (the CLI): see isolate.py.
"""
from __future__ import annotations

import abc
import inspect
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fdiv._util.sandbox import BACKENDS, Returned, first_line, namespace_backend, run_call
from fdiv.errors import FdivError

__all__ = ["BACKENDS", "Callee", "LocalFunction", "Returned", "as_callee", "backend_option", "first_line",
           "run_call"]


def backend_option(backend: str | None) -> str:
    """'auto', 'torch' or 'jax' (None is 'auto'); FdivError for anything else, or for 'jax' without JAX."""
    value = "auto" if backend is None else backend
    if value not in ("auto", *BACKENDS):
        raise FdivError(f"backend {backend!r}: expected auto, torch or jax")
    if value == "jax":
        import importlib.util

        if importlib.util.find_spec("jax") is None:
            raise FdivError("backend 'jax': JAX is not installed (pip install 'fdiv[jax]')")
    return value


# ------------------------------------------------------------------------------------------------- callees
@dataclass
class Callee(abc.ABC):
    """What the checks call: a name, a signature (or None), and call(); every call is memoised (the checks try
    several references on the same inputs) and the in-place edits and CPU time are recorded."""

    name: str = "fn"
    signature: inspect.Signature | None = None
    first_of_tuple: bool = False
    seconds: float = 0.0  # CPU seconds spent in the function (import included for a child)
    calls: int = 0
    modified: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (where, argument names)
    backend: str = ""  # "torch" or "jax" for array calls; "" until known
    _memo: dict = field(default_factory=dict, repr=False)

    def call(self, kind: str, args: Sequence, names: Sequence[str], grad: bool, where: str = "") -> Returned:
        # torch calls are memoised (several references look at the same logits); Gaussian cases are called once
        key = (kind, grad, tuple(names), tuple(_key(a) for a in args)) if kind == "torch" else None
        out = self._memo.get(key) if key is not None else None
        if out is None:
            if kind == "torch":
                kind = self._array_backend(args, names)
            out = self._call(kind, list(args), list(names), grad)
            if key is not None:
                self._memo[key] = out
            self.calls += 1
            self.seconds += out.seconds
            if out.modified:
                self.modified.append((where, out.modified))
        return out

    def backend_note(self) -> str:
        """The report's note on how a JAX function was called (empty for torch)."""
        if self.backend != "jax":
            return ""
        return "called as a JAX function: jax Arrays of each dtype (float64 under jax.enable_x64), gradients by jax.grad"

    def _array_backend(self, args: Sequence, names: Sequence[str]) -> str:
        """The library an array call goes to; when neither was given nor read off the module, one call on numpy
        copies of the first inputs decides (a function that returns a jax Array is a JAX function)."""
        if not self.backend:
            probe = self._call("detect", list(args), list(names), False)
            self.seconds += probe.seconds
            self.backend = probe.backend or "torch"
        return self.backend

    @abc.abstractmethod
    def _call(self, kind, args, names, grad) -> Returned:
        """One call of the function under test (in this process or in a child)."""

    def in_place_failure(self) -> str:
        """The failed check for arguments changed in place (empty when none was)."""
        if not self.modified:
            return ""
        names = sorted({n for _, ns in self.modified for n in ns})
        where = self.modified[0][0]
        return (f"{self.name} changes its argument{'s' if len(names) > 1 else ''} {', '.join(names)} in place "
                f"({len(self.modified)} call{'s' if len(self.modified) > 1 else ''}, e.g. at {where}): the caller's "
                f"tensors would be corrupted; every value here was compared with the exact value at the input as "
                f"given, before the call")

    def close(self) -> None:
        pass


def _key(a):
    if isinstance(a, np.ndarray):
        return (str(a.dtype), a.shape, a.tobytes())
    if isinstance(a, float) and math.isnan(a):
        return "nan"
    return a


class LocalFunction(Callee):
    """fn called in this process, on copies of its inputs; backend "auto" reads the library off fn's module."""

    def __init__(self, fn: Callable, first_of_tuple: bool = False, backend: str = "auto"):
        super().__init__(name=str(getattr(fn, "__name__", type(fn).__name__)), signature=_signature(fn),
                         first_of_tuple=first_of_tuple)
        self.fn = fn
        if not callable(fn):
            raise TypeError(f"expected a callable, got {type(fn).__name__}")
        backend = backend_option(backend)
        self.backend = backend if backend != "auto" else namespace_backend(fn)

    def _call(self, kind, args, names, grad) -> Returned:
        return run_call(self.fn, kind, args, names, grad, self.first_of_tuple)


def _signature(fn) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def as_callee(fn, first_of_tuple: bool = False, backend: str | None = "auto") -> Callee:
    """A Callee as given, or a plain callable wrapped to run in this process. backend: "torch", "jax" or "auto"
    (read off the function's module, else from what it returns)."""
    if isinstance(fn, Callee):
        if first_of_tuple:
            fn.first_of_tuple = True
        chosen = backend_option(backend)
        if chosen != "auto":
            fn.backend = chosen
        return fn
    return LocalFunction(fn, first_of_tuple, "auto" if backend is None else backend)
