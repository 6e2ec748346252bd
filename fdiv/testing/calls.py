"""Calling the code under test without trusting it: it gets its own copies of the inputs, and whatever it does
(raise any exception, return the wrong kind of thing, edit its input in place, write to stdout) becomes a
`Returned` describing that one call, never an exception in fdiv.

Two callees share one interface (`call(kind, args, names, grad) -> Returned`):
- `LocalFunction(fn)` calls fn in this process (the Python API and the pytest fixtures). The inputs are fresh
  copies, compared bit for bit after the call; references are always computed from the caller's own values.
- `isolate.ChildFunction` runs FILE.py:FUNC in a child process (the CLI): see isolate.py.

kind "torch": args are numpy arrays (made into torch tensors, requiring grad when `grad`) and plain floats; the
result must be a real floating-point torch tensor; with `grad`, d(sum of the output)/d(each tensor argument) comes
back too (zeros for an argument it does not use). kind "numpy": args are numpy arrays passed as copies; the
result is anything with one real number in it (a float, a 0-d array, a torch scalar); complex results come back
with their imaginary part. `first_of_tuple`: a tuple or list result stands for its first element (TRL's
`dpo_loss` returns (losses, chosen_rewards, rejected_rewards)).
"""
from __future__ import annotations

import inspect
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Returned:
    """One call's outcome: values (float64, the output's shape) or a failure that says what happened."""

    values: np.ndarray | None = None
    imag: float = 0.0  # kind "numpy": the imaginary part of a complex result
    requires_grad: bool = False
    grads: list[np.ndarray] | None = None
    modified: tuple[str, ...] = ()  # arguments it changed in place
    failure: str = ""  # "raised ValueError: ...", "returned a complex tensor", "ended its process ..."
    seconds: float = 0.0  # CPU seconds the call took

    def to_wire(self) -> tuple[dict, list[np.ndarray]]:
        arrays = [] if self.values is None else [self.values]
        arrays += list(self.grads or [])
        head = {"has_values": self.values is not None, "imag": self.imag, "requires_grad": self.requires_grad,
                "n_grads": None if self.grads is None else len(self.grads), "modified": list(self.modified),
                "failure": self.failure, "seconds": self.seconds}
        return head, arrays

    @classmethod
    def from_wire(cls, head: dict, arrays: list[np.ndarray]) -> Returned:
        values = arrays[0] if head.get("has_values") else None
        rest = arrays[1:] if values is not None else arrays
        n = head.get("n_grads")
        grads = None if n is None else [np.asarray(a, dtype=np.float64) for a in rest[:int(n)]]
        return cls(None if values is None else np.asarray(values, dtype=np.float64), float(head.get("imag", 0.0)),
                   bool(head.get("requires_grad")), grads, tuple(str(x) for x in head.get("modified", [])),
                   str(head.get("failure", ""))[:500], float(head.get("seconds", 0.0)))


def first_line(exc: BaseException) -> str:
    """'TypeName: first line of the message' (at most 200 characters of it)."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:200]}" if text else type(exc).__name__


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit for bit (NaN equals the same NaN), without copying large arrays into bytes."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind == "f" and a.dtype.itemsize in (4, 8):
        view = np.int32 if a.dtype.itemsize == 4 else np.int64
        return bool(np.array_equal(np.ascontiguousarray(a).view(view), np.ascontiguousarray(b).view(view)))
    return a.tobytes() == b.tobytes()


def run_call(fn: Callable, kind: str, args: Sequence, names: Sequence[str], grad: bool,
             first_of_tuple: bool = False) -> Returned:
    """Call fn once on copies of args (in this process) and describe what happened. Only KeyboardInterrupt
    escapes; everything else the function does is the call's result."""
    start = time.process_time()
    try:
        if kind == "torch":
            out = _torch_call(fn, args, names, grad, first_of_tuple)
        else:
            out = _numpy_call(fn, args, names, first_of_tuple, many=kind == "numpy-many")
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # noqa: BLE001 - their code: SystemExit, a BaseException subclass, anything
        out = Returned(failure=_raised(exc))
    out.seconds = time.process_time() - start
    return out


def _raised(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"raised SystemExit({exc.code!r}) (sys.exit inside the function)"
    return f"raised {first_line(exc)}"


def _unwrap(out, first_of_tuple: bool):
    if first_of_tuple and isinstance(out, (tuple, list)) and out:
        return out[0]
    return out


def _torch_call(fn, args, names, grad: bool, first_of_tuple: bool) -> Returned:
    import torch

    tensors: list = []
    leaves: list[tuple[str, torch.Tensor, np.ndarray]] = []
    for name, a in zip(names, args):
        if isinstance(a, np.ndarray):
            t = torch.from_numpy(a.copy())
            if grad:
                t.requires_grad_(True)
            leaves.append((name, t, a))
            tensors.append(t)
        else:
            tensors.append(a)
    try:
        out = _unwrap(fn(*tensors), first_of_tuple)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return Returned(failure=_raised(exc), modified=_modified(leaves))
    modified = _modified(leaves)
    if not isinstance(out, torch.Tensor):
        return Returned(failure=f"returned {type(out).__name__}, not a torch tensor", modified=modified)
    why = _bad_tensor(out)
    if why:
        return Returned(failure=why, modified=modified)
    values = out.detach().to(device="cpu", dtype=torch.float64).numpy().copy()
    if not (grad and out.requires_grad):
        return Returned(values, modified=modified)
    inputs = [t for _, t, _ in leaves]
    try:
        gs = torch.autograd.grad(out.sum(), inputs, allow_unused=True)
    except BaseException as exc:  # noqa: BLE001 - a custom backward of theirs
        if isinstance(exc, KeyboardInterrupt):
            raise
        return Returned(failure=f"its backward pass {_raised(exc)}", modified=modified)
    grads = []
    for g, t in zip(gs, inputs):
        if g is None:
            grads.append(np.zeros(t.shape))
        elif g.is_complex() or g.device.type == "meta" or g.layout != torch.strided:
            return Returned(failure="its backward pass returned a gradient that is not a real dense tensor",
                            modified=modified)
        else:
            grads.append(g.detach().to(device="cpu", dtype=torch.float64).numpy().copy())
    return Returned(values, requires_grad=True, grads=grads, modified=modified)


def _bad_tensor(out) -> str:
    import torch

    if out.device.type == "meta":
        return "returned a meta tensor (it has no values)"
    if out.layout != torch.strided:
        return f"returned a {str(out.layout).replace('torch.', '')} tensor, not a dense one"
    if out.is_complex():
        return f"returned a complex tensor ({str(out.dtype).replace('torch.', '')})"
    if not out.dtype.is_floating_point:
        return f"returned a {str(out.dtype).replace('torch.', '')} tensor, not a floating-point one"
    return ""


def _modified(leaves) -> tuple[str, ...]:
    out = []
    for name, t, original in leaves:
        try:
            now = t.detach().numpy()
        except Exception:  # noqa: BLE001 - resized or otherwise mangled in place
            out.append(name)
            continue
        if not _same_bits(now, original):
            out.append(name)
    return tuple(out)


def _numpy_call(fn, args, names, first_of_tuple: bool, many: bool = False) -> Returned:
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        out = _unwrap(fn(*copies), first_of_tuple)
    except BaseException as exc:  # noqa: BLE001
        if isinstance(exc, KeyboardInterrupt):
            raise
        return Returned(failure=_raised(exc), modified=_changed(names, args, copies))
    modified = _changed(names, args, copies)
    try:
        if many:
            return Returned(_as_numbers(out), modified=modified)
        value, imag = _as_number(out)
    except ValueError as exc:
        return Returned(failure=str(exc), modified=modified)
    return Returned(np.array(value, dtype=np.float64), imag=imag, modified=modified)


def _as_numbers(r) -> np.ndarray:
    """A batched result: real numbers as a float64 array; ValueError with the reason otherwise."""
    kind = type(r).__name__
    if hasattr(r, "detach") and hasattr(r, "cpu"):
        if getattr(getattr(r, "device", None), "type", "") == "meta":
            raise ValueError("returned a meta tensor (it has no values)")
        r = r.detach().cpu()
        if r.is_complex():
            raise ValueError("returned complex values")
        r = r.double().numpy()
    try:
        arr = np.asarray(r)
    except Exception:  # noqa: BLE001
        raise ValueError(f"returned {kind}, not an array of numbers") from None
    if np.iscomplexobj(arr):
        raise ValueError("returned complex values")
    if not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.timedelta64):
        raise ValueError(f"returned {kind} of dtype {arr.dtype}, not numbers")
    return arr.astype(np.float64)


def _changed(names, args, copies) -> tuple[str, ...]:
    return tuple(n for n, a, c in zip(names, args, copies)
                 if isinstance(a, np.ndarray) and not (isinstance(c, np.ndarray) and _same_bits(a, c)))


def _as_number(r) -> tuple[float, float]:
    """(real, imaginary) of a result that holds one number; ValueError with the reason otherwise."""
    kind = type(r).__name__
    if hasattr(r, "detach") and hasattr(r, "cpu"):  # a torch tensor
        if getattr(getattr(r, "device", None), "type", "") == "meta":
            raise ValueError("returned a meta tensor (it has no values)")
        r = r.detach().cpu()
        r = r.resolve_conj().numpy() if r.is_complex() else r.double().numpy()
    try:
        arr = np.asarray(r)
    except Exception:  # noqa: BLE001 - an object numpy cannot read
        raise ValueError(f"returned {kind}, not a number") from None
    if arr.size != 1 or not np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.timedelta64):
        raise ValueError(f"returned {kind} of shape {arr.shape}, not a single number")
    x = arr.reshape(()).item()
    if isinstance(x, complex):
        return x.real, x.imag
    return float(x), 0.0


# ------------------------------------------------------------------------------------------------- callees
@dataclass
class Callee:
    """What the checks call: a name, a signature (or None), and call(); every call is memoised (the checks try
    several references on the same inputs) and the in-place edits and CPU time are recorded."""

    name: str = "fn"
    signature: inspect.Signature | None = None
    first_of_tuple: bool = False
    seconds: float = 0.0  # CPU seconds spent in the function (import included for a child)
    calls: int = 0
    modified: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)  # (where, argument names)
    _memo: dict = field(default_factory=dict, repr=False)

    def call(self, kind: str, args: Sequence, names: Sequence[str], grad: bool, where: str = "") -> Returned:
        # torch calls are memoised (several references look at the same logits); Gaussian cases are called once
        key = (kind, grad, tuple(names), tuple(_key(a) for a in args)) if kind == "torch" else None
        out = self._memo.get(key) if key is not None else None
        if out is None:
            out = self._call(kind, list(args), list(names), grad)
            if key is not None:
                self._memo[key] = out
            self.calls += 1
            self.seconds += out.seconds
            if out.modified:
                self.modified.append((where, out.modified))
        return out

    def _call(self, kind, args, names, grad) -> Returned:
        raise NotImplementedError

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
    """fn called in this process, on copies of its inputs."""

    def __init__(self, fn: Callable, first_of_tuple: bool = False):
        super().__init__(name=str(getattr(fn, "__name__", type(fn).__name__)), signature=_signature(fn),
                         first_of_tuple=first_of_tuple)
        self.fn = fn
        if not callable(fn):
            raise TypeError(f"expected a callable, got {type(fn).__name__}")

    def _call(self, kind, args, names, grad) -> Returned:
        return run_call(self.fn, kind, args, names, grad, self.first_of_tuple)


def _signature(fn) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):
        return None


def as_callee(fn, first_of_tuple: bool = False) -> Callee:
    """A Callee as given, or a plain callable wrapped to run in this process."""
    if isinstance(fn, Callee):
        if first_of_tuple:
            fn.first_of_tuple = True
        return fn
    return LocalFunction(fn, first_of_tuple)
