"""Peak memory of one loss call (forward and backward), counted exactly: every tensor storage an ATen op allocates,
from the op that returns it until the storage is freed. `fdiv gen` counts it to decide a critic loss's backward
pass (codegen.emit); benchmarks/memory.py measures with it.

Why not torch's profiler (profile_memory=True, per-event self memory replayed in start order, as fdiv's benchmarks
did before): it credits a free to the *start* of the enclosing scope (a Python autograd.Function, the backward
pass), so an allocation freed inside a custom Function is cancelled before it happens. It reported the Jeffrey
loss's peak as two tensors of the batch where the process's resident set grows by seven (1e7 float32 logits, 40
MB each), and it missed the gradient AccumulateGrad copies for an input while another is still being computed.

Here a TorchDispatchMode sees every op (inside custom Functions and the backward pass too); an output storage that
is none of the op's inputs' storages is new, and a finalizer on it (storages keep their Python object while the
C++ storage lives) subtracts it when it is freed. Inputs created before the call are not counted; the gradients
written are. At 1e7 logits the count is the resident set's growth for the catalogue's losses to within a quarter
of a tensor of the batch (a bool mask, one byte per logit, comes from the heap rather than a fresh mapping).
"""
from __future__ import annotations

import weakref
from collections.abc import Callable

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


class LiveBytes(TorchDispatchMode):
    """Bytes of the storages allocated under the mode and still alive (`live`), and their maximum (`peak`)."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0
        self._counted: set[int] = set()

    def _freed(self, key: int, size: int) -> None:
        self._counted.discard(key)
        self.live -= size

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key, size = storage.data_ptr(), storage.nbytes()
            if size == 0 or key in inputs or key in self._counted:  # a view, an in-place result, or seen already
                continue
            self._counted.add(key)
            self.live += size
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._freed, key, size)
        return out


def peak_bytes(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], v_real: torch.Tensor,
               v_fake: torch.Tensor) -> int:
    """Peak bytes alive during fn(v_real, v_fake).backward(), the inputs excluded and the gradients included
    (eager mode: a compiled fn would be traced through the mode). Deterministic for given inputs: no timing."""
    v_real.grad = v_fake.grad = None
    mode = LiveBytes()
    with mode:
        fn(v_real, v_fake).backward()
    v_real.grad = v_fake.grad = None
    return mode.peak
