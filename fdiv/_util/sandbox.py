"""Running code under test without trusting it (the private plumbing of fdiv.testing): `run_call` calls a function
on copies of its inputs and describes whatever happens as a `Returned`; `child_main` is the child process of
fdiv.testing.isolate, with its wire format. Only the standard library and numpy are imported here (torch when a
tensor call needs it), so a child that checks a numpy function starts without torch.

run_call kinds: "torch": args are numpy arrays (made into torch tensors, requiring grad when `grad`) and plain
floats; the result must be a real floating-point torch tensor; with `grad`, d(sum of the output)/d(each tensor
argument) comes back too (zeros for an argument it does not use). "jax": the same contract for a JAX function: the
arrays become jax Arrays of their dtype (float64 ones under `jax.enable_x64`, which JAX needs to keep them float64;
float32 calls run under the caller's own JAX configuration), the result must be a real floating-point jax Array,
and the gradients come from jax.grad of the output's sum (a function jax cannot trace, e.g. one that converts to
numpy, returns its values without gradients). "detect": one call on plain numpy copies, whose result says which
library the function uses (`backend`: "jax" when it returns a jax Array, else "torch"). "numpy": args are numpy arrays passed as copies;
the result is anything with one real number in it (a float, a 0-d array, a torch scalar); complex results come
back with their imaginary part. "numpy-many": a batch, any real numbers. `first_of_tuple`: a tuple or list result
stands for its first element (TRL's `dpo_loss` returns (losses, chosen_rewards, rejected_rewards)). An input
changed in place is reported by name; nothing but KeyboardInterrupt escapes.

Messages between parent and child: 8-byte header (JSON length, binary length), a JSON object, then the arrays'
bytes. Each message carries a random token the parent chose; the parent never unpickles anything.
"""
from __future__ import annotations

import inspect
import json
import math
import os
import select
import signal
import struct
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_HEADER = struct.Struct("<II")
_MAX_JSON = 1 << 20
_MAX_BLOB = 1 << 30


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
    backend: str = ""  # kind "detect": the library the function's result belongs to

    def to_wire(self) -> tuple[dict, list[np.ndarray]]:
        arrays = [] if self.values is None else [self.values]
        arrays += list(self.grads or [])
        head = {"has_values": self.values is not None, "imag": self.imag, "requires_grad": self.requires_grad,
                "n_grads": None if self.grads is None else len(self.grads), "modified": list(self.modified),
                "failure": self.failure, "seconds": self.seconds, "backend": self.backend}
        return head, arrays

    @classmethod
    def from_wire(cls, head: dict, arrays: list[np.ndarray]) -> Returned:
        values = arrays[0] if head.get("has_values") else None
        rest = arrays[1:] if values is not None else arrays
        n = head.get("n_grads")
        grads = None if n is None else [np.asarray(a, dtype=np.float64) for a in rest[:int(n)]]
        return cls(None if values is None else np.asarray(values, dtype=np.float64), float(head.get("imag", 0.0)),
                   bool(head.get("requires_grad")), grads, tuple(str(x) for x in head.get("modified", [])),
                   str(head.get("failure", ""))[:500], float(head.get("seconds", 0.0)),
                   _backend_name(head.get("backend")))


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
        elif kind == "jax":
            out = _jax_call(fn, args, names, grad, first_of_tuple)
        elif kind == "detect":
            out = _detect_call(fn, args, first_of_tuple)
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


# ------------------------------------------------------------------------------------------------------ jax
JAX_ROOTS = frozenset({"jax", "jaxlib", "flax", "equinox", "optax", "haiku", "chex"})
BACKENDS = ("torch", "jax")


def _backend_name(x) -> str:
    return x if x in BACKENDS else ""


def _root(value) -> str:
    if isinstance(value, type(sys)):
        name = value.__name__
    else:
        name = getattr(value, "__module__", None) or type(value).__module__ or ""
    return str(name).split(".")[0]


def namespace_backend(fn) -> str:
    """"jax" or "torch" when the function uses one of them and not the other: first the names its code refers to
    (globals and closure, following its own module's helper functions), then every name its module binds; "" when
    neither tells (neither library, or both) or when looking raises (their objects' attributes are their code)."""
    try:
        return _namespace_backend(fn)
    except Exception:  # noqa: BLE001
        return ""


def _namespace_backend(fn) -> str:
    import functools
    import inspect

    while isinstance(fn, functools.partial):
        fn = fn.func
    try:
        inner = inspect.unwrap(fn)  # jax.jit and functools.wraps keep the function they wrap
    except ValueError:
        inner = fn
    if _root(type(inner)) in JAX_ROOTS:
        return "jax"
    namespace = getattr(inner, "__globals__", None)
    if not isinstance(namespace, dict):
        module = sys.modules.get(getattr(type(inner), "__module__", "") or "")
        namespace = vars(module) if module is not None else {}
    return _which(_referenced(inner, namespace)) or _which(list(namespace.values()))


def _referenced(fn, namespace: dict, depth: int = 3) -> list:
    """The objects fn's code names (globals, closure cells), with those of the functions of its own module that it
    calls, `depth` levels down."""
    out: list = []
    seen: set[int] = set()
    todo = [(fn, depth)]
    while todo:
        f, d = todo.pop()
        if id(f) in seen:
            continue
        seen.add(id(f))
        code = getattr(f, "__code__", None)
        if code is None:
            continue
        names: set[str] = set()
        stack = [code]
        while stack:
            c = stack.pop()
            names.update(c.co_names)
            stack.extend(k for k in c.co_consts if isinstance(k, type(code)))
        values = [namespace[n] for n in names if n in namespace]
        for cell in getattr(f, "__closure__", None) or ():
            try:
                values.append(cell.cell_contents)
            except ValueError:  # an empty cell
                continue
        out += values
        if d > 0:
            todo += [(v, d - 1) for v in values if getattr(v, "__globals__", None) is namespace]
    return out


def _which(values: list) -> str:
    roots = set()
    for value in values:
        try:
            roots.add(_root(value))
        except Exception:  # noqa: BLE001 - an object whose attributes raise
            continue
    jax, torch = bool(roots & JAX_ROOTS), "torch" in roots
    return "jax" if jax and not torch else "torch" if torch and not jax else ""


def _is_jax_array(out) -> bool:
    if "jax" not in sys.modules:
        return False
    import jax

    return isinstance(out, jax.Array)


def _detect_call(fn, args, first_of_tuple: bool) -> Returned:
    import warnings

    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = _unwrap(fn(*copies), first_of_tuple)
        except BaseException as exc:  # noqa: BLE001 - a torch function refuses numpy arrays
            if isinstance(exc, KeyboardInterrupt):
                raise
            out = None
    return Returned(backend="jax" if _is_jax_array(out) else "torch")


def _jax_call(fn, args, names, grad: bool, first_of_tuple: bool) -> Returned:
    import contextlib

    import jax
    import jax.numpy as jnp

    x64 = any(isinstance(a, np.ndarray) and a.dtype == np.float64 for a in args)
    copies = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    with jax.enable_x64(True) if x64 else contextlib.nullcontext():
        inputs = [jnp.asarray(c) if isinstance(c, np.ndarray) else c for c in copies]
        try:
            out = _unwrap(fn(*inputs), first_of_tuple)
        except BaseException as exc:  # noqa: BLE001
            if isinstance(exc, KeyboardInterrupt):
                raise
            return Returned(failure=_raised(exc), modified=_changed(names, args, copies))
        modified = _changed(names, args, copies)
        if not isinstance(out, jax.Array):
            return Returned(failure=f"returned {type(out).__name__}, not a jax Array", modified=modified)
        if jnp.iscomplexobj(out):
            return Returned(failure=f"returned a complex array ({out.dtype})", modified=modified)
        if not jnp.issubdtype(out.dtype, jnp.floating):
            return Returned(failure=f"returned a {out.dtype} array, not a floating-point one", modified=modified)
        values = np.asarray(out, dtype=np.float64).copy()
        where = [i for i, c in enumerate(inputs) if isinstance(c, jax.Array)]
        if not (grad and where):
            return Returned(values, modified=modified)

        def total(*arrays):
            full = list(inputs)
            for i, a in zip(where, arrays):
                full[i] = a
            return jnp.sum(_unwrap(fn(*full), first_of_tuple))

        try:
            gs = jax.grad(total, argnums=tuple(range(len(where))))(*[inputs[i] for i in where])
        except jax.errors.JAXTypeError:
            # it leaves jax's tracing (numpy, float(), a Python branch on a value): values without gradients
            return Returned(values, modified=modified)
        except BaseException as exc:  # noqa: BLE001 - a custom_jvp/custom_vjp rule of theirs
            if isinstance(exc, KeyboardInterrupt):
                raise
            return Returned(failure=f"its gradient (jax.grad) {_raised(exc)}", modified=modified)
        grads = [np.asarray(g, dtype=np.float64).reshape(np.shape(inputs[i])).copy() for g, i in zip(gs, where)]
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


# ------------------------------------------------------------------------------------------------ wire format
def pack(token: str, head: dict, arrays: list[np.ndarray]) -> bytes:
    blobs, specs, offset = [], [], 0
    for a in arrays:
        a = np.ascontiguousarray(a)
        b = a.tobytes()
        specs.append({"dtype": a.dtype.str, "shape": list(a.shape), "offset": offset, "nbytes": len(b)})
        blobs.append(b)
        offset += len(b)
    body = json.dumps({"token": token, "head": head, "arrays": specs}).encode()
    blob = b"".join(blobs)
    return _HEADER.pack(len(body), len(blob)) + body + blob


def unpack(token: str, body: bytes, blob: bytes) -> tuple[dict, list[np.ndarray]]:
    msg = json.loads(body.decode())
    if not isinstance(msg, dict) or msg.get("token") != token:
        raise ValueError("a message without the session token")
    arrays = []
    for spec in msg.get("arrays", []):
        dtype = np.dtype(str(spec["dtype"]))
        if dtype.kind not in "fiub":
            raise ValueError(f"unexpected array dtype {dtype}")
        start, n = int(spec["offset"]), int(spec["nbytes"])
        shape = tuple(int(x) for x in spec["shape"])
        a = np.frombuffer(blob[start:start + n], dtype=dtype)
        arrays.append(a.reshape(shape).copy())
    head = msg.get("head")
    return (head if isinstance(head, dict) else {}), arrays


def read_exact(fd: int, n: int, deadline: float | None, alive) -> bytes | None:
    """n bytes from fd, or None on EOF, a deadline passed or the process gone (alive() False)."""
    chunks, got = [], 0
    while got < n:
        timeout = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            if deadline is not None and time.monotonic() >= deadline:
                return None
            if not alive():
                # the process ended; whatever it wrote is still readable
                ready, _, _ = select.select([fd], [], [], 0)
                if not ready:
                    return None
            continue
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_message(fd: int, token: str, deadline: float | None, alive):
    head = read_exact(fd, _HEADER.size, deadline, alive)
    if head is None:
        return None
    n_json, n_blob = _HEADER.unpack(head)
    if n_json > _MAX_JSON or n_blob > _MAX_BLOB:
        raise ValueError("an oversized message")
    body = read_exact(fd, n_json, deadline, alive)
    blob = read_exact(fd, n_blob, deadline, alive) if n_blob else b""
    if body is None or blob is None:
        return None
    return unpack(token, body, blob)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ------------------------------------------------------------------------------------------------------ child
def child_main(argv: list[str]) -> None:
    """The child: argv = [file, function, kind, cpu_limit, request_fd, response_fd]. kind "torch" or "jax" imports
    that library first; "auto" imports neither and reports which one the function's module uses."""
    import resource

    path, name, kind, limit_text, rfd, wfd = argv
    limit, rfd, wfd = float(limit_text), int(rfd), int(wfd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle (it ends this process)
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):
        pass
    token = sys.stdin.readline().strip()  # the parent's token, then stdin is /dev/null
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)

    if kind == "torch":
        import torch  # noqa: F401
    elif kind == "jax":  # before the limit is armed, as torch is: the library's import is not their code's time
        import jax.numpy  # noqa: F401

    def send(head: dict, arrays: list[np.ndarray] | None = None) -> None:
        write_all(wfd, pack(token, head, arrays or []))

    _arm(resource, limit)
    start = time.process_time()
    try:
        fn = _import(path, name)
    except _Unusable as exc:
        send({"status": "unusable", "message": str(exc)})
        os._exit(0)
    except BaseException as exc:  # noqa: BLE001 - their module's code, SystemExit included
        send({"status": "unusable", "message": f"importing {path} raised {_describe(exc)}"})
        os._exit(0)
    send({"status": "ready", "seconds": time.process_time() - start, "name": str(getattr(fn, "__name__", name)),
          "signature": _describe_signature(fn), "backend": kind if kind in BACKENDS else namespace_backend(fn)})
    while True:
        msg = read_message(rfd, token, None, lambda: True)
        if msg is None:
            os._exit(0)  # the parent is done (or gone)
        head, arrays = msg
        args: list = []
        it = iter(arrays)
        for spec in head.get("args", []):
            args.append(next(it) if spec == "array" else float(spec))
        _arm(resource, limit)
        out = run_call(fn, head.get("kind", kind), args, [str(n) for n in head.get("names", [])],
                             bool(head.get("grad")), bool(head.get("first_of_tuple")))
        wire_head, wire_arrays = out.to_wire()
        send({"status": "done", **wire_head}, wire_arrays)


class _Unusable(Exception):
    pass


def _arm(resource, limit: float) -> None:
    """CPU limit: this process's CPU time so far plus `limit` seconds (SIGXCPU when exceeded)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(math.ceil(usage.ru_utime + usage.ru_stime + limit))
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r})"
    if isinstance(exc, SyntaxError):
        return f"SyntaxError at line {exc.lineno}: {exc.msg}"
    return first_line(exc)


def _import(path_text: str, name: str):
    import importlib.util

    path = Path(path_text)
    module_name = f"_fdiv_verify_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise _Unusable(f"{path_text}: cannot be imported")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # as an import would (dataclasses and pickling look it up)
    sys.path.insert(0, str(path.resolve().parent))  # its own sibling modules
    spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if fn is None:
        found = sorted(k for k, v in vars(module).items() if callable(v) and not k.startswith("_")
                       and getattr(v, "__module__", None) == module_name)
        raise _Unusable(f"{path_text} has no function {name!r}" + (f" (it defines: {', '.join(found)})" if found
                                                                   else ""))
    if not callable(fn):
        raise _Unusable(f"{path_text}:{name} is a {type(fn).__name__}, not a function")
    return fn


def _describe_signature(fn):
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [[p.name, int(p.kind), p.default is not inspect.Parameter.empty] for p in sig.parameters.values()]


