"""FILE.py:FUNC in a child process: the code under test cannot end, hang or corrupt the verification.

The child (`python -c BOOT`, running fdiv._util.sandbox.child_main) imports numpy (and torch or jax for tensor
checks, when the parent knows which) first, then the user's file, under a CPU-time limit (RLIMIT_CPU) that covers the import and is renewed for every call; it
answers call requests over a pipe pair of its own (never stdin/stdout). Its stdin is /dev/null; its stdout and
stderr are captured (`output()`), so nothing it prints reaches fdiv's report. Every way a call can end is that
call's result: an exception of any class (SystemExit included, caught in the child), os._exit or a crash (the
child's exit status or signal), a CPU limit exceeded (SIGXCPU), a hang without CPU use (a wall-clock limit of ten
times the CPU limit), a result of the wrong kind. After such an end, the next call starts a fresh child; after
MAX_RESTARTS ends, the remaining calls are reported as not run.

Messages: fdiv._util.sandbox's wire format, with a random token per session; the parent never unpickles anything.
"""
from __future__ import annotations

import inspect
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from fdiv._util.sandbox import pack, read_message, write_all
from fdiv.errors import FdivError

from .calls import Callee, Returned

MAX_RESTARTS = 8
WALL_FACTOR = 10  # wall-clock limit per call: this many times the CPU limit (a hang that uses no CPU)
OUTPUT_KEEP = 16_384  # bytes of the child's output kept from its start and from its end

BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); from fdiv._util.sandbox import child_main; "
        "child_main(sys.argv[2:])")


class ChildError(FdivError):
    """The file could not be imported, or has no such function (exit code 2 on the CLI)."""


# ----------------------------------------------------------------------------------------------------- parent
class _Output:
    """The child's stdout and stderr: the first and last OUTPUT_KEEP bytes, read by a thread."""

    def __init__(self, stream):
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream) -> None:
        try:
            while True:
                chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
                if not chunk:
                    return
                with self._lock:
                    self.total += len(chunk)
                    room = OUTPUT_KEEP - len(self.head)
                    if room > 0:
                        self.head += chunk[:room]
                        chunk = chunk[room:]
                    self.tail = (self.tail + chunk)[-OUTPUT_KEEP:]
        except (OSError, ValueError):
            return

    def join(self, timeout: float = 2.0) -> None:
        self._thread.join(timeout)

    def text(self) -> str:
        with self._lock:
            omitted = self.total - len(self.head) - len(self.tail)
            parts = [bytes(self.head)]
            if omitted > 0:
                parts.append(f"\n[... {omitted} bytes of output omitted ...]\n".encode())
            parts.append(bytes(self.tail))
        return b"".join(parts).decode("utf-8", errors="replace")

    def last_line(self) -> str:
        lines = [x for x in self.text().strip().splitlines() if x.strip()]
        return lines[-1].strip()[:200] if lines else ""


class ChildFunction(Callee):
    """FILE.py:FUNC run in child processes; see the module notes. `start()` imports it (ChildError when the
    import fails or FUNC is missing); `close()` ends the child."""

    def __init__(self, path: str, name: str, *, kind: str = "torch", cpu_limit: float = 60.0,
                 env: dict[str, str | None] | None = None):
        super().__init__(name=name)
        self.path, self.func, self.kind = path, name, kind  # "torch", "jax", "auto" (array calls) or "numpy"
        if kind in ("torch", "jax"):
            self.backend = kind
        self.cpu_limit = float(cpu_limit)
        self.env_overrides = dict(env or {})  # variables the child gets as given (None: unset)
        self.ends = 0  # calls that ended their child
        self.import_seconds = 0.0
        self._proc: subprocess.Popen | None = None
        self._outputs: list[_Output] = []
        self._token = ""
        self._rfd = self._wfd = -1

    # -- lifecycle
    def start(self) -> None:
        if self._proc is not None:
            return
        self._token = secrets.token_hex(16)
        req_r, req_w = os.pipe()
        resp_r, resp_w = os.pipe()
        root = str(Path(__file__).resolve().parents[2])
        cmd = [sys.executable, "-c", BOOT, root, self.path, self.func, self.kind, repr(self.cpu_limit),
               str(req_r), str(resp_w)]
        env = dict(os.environ)
        for k, v in self.env_overrides.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        try:
            self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, pass_fds=(req_r, resp_w), close_fds=True,
                                          env=env)
        finally:
            os.close(req_r)
            os.close(resp_w)
        self._wfd, self._rfd = req_w, resp_r
        self._outputs.append(_Output(self._proc.stdout))
        try:
            self._proc.stdin.write((self._token + "\n").encode())
            self._proc.stdin.close()
        except OSError:
            pass
        reply = self._receive(self.cpu_limit * WALL_FACTOR)
        if isinstance(reply, str):
            self._stop()
            raise ChildError(f"importing {self.path} {reply}")
        head, _ = reply
        if head.get("status") != "ready":
            self._stop()
            raise ChildError(str(head.get("message", "the child process failed"))[:400])
        self.import_seconds += float(head.get("seconds", 0.0))
        self.seconds += float(head.get("seconds", 0.0))
        self.name = self.func  # as the user named it (a lambda calls itself <lambda>)
        self.signature = _signature_from(head.get("signature"))
        if not self.backend and head.get("backend") in ("torch", "jax"):
            self.backend = str(head["backend"])  # read off the module that FUNC comes from

    def close(self) -> None:
        self._stop()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def output(self) -> str:
        """Everything the child processes printed (bounded), in order."""
        for o in self._outputs:
            o.join(0.5)
        return "".join(o.text() for o in self._outputs)

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        for fd in (self._wfd, self._rfd):
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._wfd = self._rfd = -1
        if proc is None:
            return
        if proc.poll() is None:
            try:
                proc.wait(timeout=0.5)  # it exits on EOF of its request pipe
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._outputs:
            self._outputs[-1].join(1.0)

    # -- calls
    def _call(self, kind, args, names, grad) -> Returned:
        if self.ends >= MAX_RESTARTS:
            return Returned(failure=f"not run: {self.name} ended its process {self.ends} times; the remaining "
                                    f"calls were skipped")
        if self._proc is None:
            try:
                self.start()
            except ChildError as exc:
                self.ends += 1
                return Returned(failure=f"its process could not be restarted: {exc}")
        specs, arrays = [], []
        for a in args:
            if isinstance(a, np.ndarray):
                specs.append("array")
                arrays.append(a)
            else:
                specs.append(repr(float(a)))
        data = pack(self._token, {"kind": kind, "args": specs, "names": list(names), "grad": grad,
                                   "first_of_tuple": self.first_of_tuple}, arrays)
        try:
            write_all(self._wfd, data)
        except OSError:
            return self._ended()
        reply = self._receive(self.cpu_limit * WALL_FACTOR)
        if isinstance(reply, str):
            return self._ended(reply)
        head, out_arrays = reply
        if head.get("status") != "done":
            return self._ended("sent an unexpected message")
        return Returned.from_wire(head, out_arrays)

    def _receive(self, wall: float):
        """(head, arrays), or a sentence saying how the child ended (it is then stopped)."""
        proc = self._proc
        assert proc is not None
        deadline = time.monotonic() + wall
        try:
            msg = read_message(self._rfd, self._token, deadline, lambda: proc.poll() is None)
        except (ValueError, UnicodeDecodeError, KeyError, TypeError) as exc:
            self._kill()
            return f"sent a message fdiv cannot read ({exc})"
        if msg is not None:
            return msg
        if proc.poll() is None and time.monotonic() >= deadline:
            self._kill()
            return (f"did not return within {wall:.0f} s of wall-clock time (a hang: sleeping, or waiting on "
                    f"something?)")
        try:
            proc.wait(timeout=2.0)  # its pipe closed: it is exiting
        except subprocess.TimeoutExpired:
            pass
        how = self._how_it_ended(proc)
        self._kill()
        return how

    def _how_it_ended(self, proc: subprocess.Popen) -> str:
        code = proc.returncode
        if self._outputs:
            self._outputs[-1].join(0.5)
        last = self._outputs[-1].last_line() if self._outputs else ""
        said = f"; its last output: {last!r}" if last else ""
        if code is None:
            return "stopped answering" + said
        if code < 0:
            sig = -code
            if sig == signal.SIGXCPU:
                return f"used more than its CPU limit of {self.cpu_limit:g} s (--time-limit) and was stopped"
            try:
                signame = signal.Signals(sig).name
            except ValueError:
                signame = f"signal {sig}"
            return f"was killed by {signame}{said}"
        return f"ended its process with exit status {code} (os._exit or a crash){said}"

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._stop()

    def _ended(self, how: str = "") -> Returned:
        proc = self._proc
        if not how:
            how = self._how_it_ended(proc) if proc is not None and proc.poll() is not None else "stopped answering"
        self._kill()
        self.ends += 1
        return Returned(failure=f"{how}")


def _signature_from(spec) -> inspect.Signature | None:
    if not isinstance(spec, list):
        return None
    params = []
    try:
        for name, kind, has_default in spec:
            params.append(inspect.Parameter(str(name), inspect._ParameterKind(int(kind)),
                                            default=None if has_default else inspect.Parameter.empty))
        return inspect.Signature(params)
    except (ValueError, TypeError):
        return None
