"""FILE.py:FUNC in a child process: the code under test cannot end, hang or corrupt the verification.

The child (`python -c BOOT`, running child_main) imports numpy (and torch for tensor checks) first, then the
user's file, under a CPU-time limit (RLIMIT_CPU) that covers the import and is renewed for every call; it
answers call requests over a pipe pair of its own (never stdin/stdout). Its stdin is /dev/null; its stdout and
stderr are captured (`output()`), so nothing it prints reaches fdiv's report. Every way a call can end is that
call's result: an exception of any class (SystemExit included, caught in the child), os._exit or a crash (the
child's exit status or signal), a CPU limit exceeded (SIGXCPU), a hang without CPU use (a wall-clock limit of ten
times the CPU limit), a result of the wrong kind. After such an end, the next call starts a fresh child; after
MAX_RESTARTS ends, the remaining calls are reported as not run.

Messages: 8-byte header (JSON length, binary length), a JSON object, then the arrays' bytes. Each message
carries a random token the parent chose; the parent never unpickles anything the child sends.
"""
from __future__ import annotations

import inspect
import json
import math
import os
import secrets
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from fdiv.errors import FdivError

from .calls import Callee, Returned

MAX_RESTARTS = 8
WALL_FACTOR = 10  # wall-clock limit per call: this many times the CPU limit (a hang that uses no CPU)
OUTPUT_KEEP = 16_384  # bytes of the child's output kept from its start and from its end
_HEADER = struct.Struct("<II")
_MAX_JSON = 1 << 20
_MAX_BLOB = 1 << 30

BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); from fdiv.testing.isolate import child_main; "
        "child_main(sys.argv[2:])")


class ChildError(FdivError):
    """The file could not be imported, or has no such function (exit code 2 on the CLI)."""


# ------------------------------------------------------------------------------------------------ wire format
def _pack(token: str, head: dict, arrays: list[np.ndarray]) -> bytes:
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


def _unpack(token: str, body: bytes, blob: bytes) -> tuple[dict, list[np.ndarray]]:
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


def _read_exact(fd: int, n: int, deadline: float | None, alive) -> bytes | None:
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


def _read_message(fd: int, token: str, deadline: float | None, alive):
    head = _read_exact(fd, _HEADER.size, deadline, alive)
    if head is None:
        return None
    n_json, n_blob = _HEADER.unpack(head)
    if n_json > _MAX_JSON or n_blob > _MAX_BLOB:
        raise ValueError("an oversized message")
    body = _read_exact(fd, n_json, deadline, alive)
    blob = _read_exact(fd, n_blob, deadline, alive) if n_blob else b""
    if body is None or blob is None:
        return None
    return _unpack(token, body, blob)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# ------------------------------------------------------------------------------------------------------ child
def child_main(argv: list[str]) -> None:
    """The child: argv = [file, function, kind, cpu_limit, request_fd, response_fd]."""
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
    import fdiv.testing.calls as calls  # noqa: F401 - loaded before their code can change sys.path or cwd

    if kind == "torch":
        import torch  # noqa: F401

    def send(head: dict, arrays: list[np.ndarray] | None = None) -> None:
        _write_all(wfd, _pack(token, head, arrays or []))

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
          "signature": _describe_signature(fn)})
    while True:
        msg = _read_message(rfd, token, None, lambda: True)
        if msg is None:
            os._exit(0)  # the parent is done (or gone)
        head, arrays = msg
        args: list = []
        it = iter(arrays)
        for spec in head.get("args", []):
            args.append(next(it) if spec == "array" else float(spec))
        _arm(resource, limit)
        out = calls.run_call(fn, head.get("kind", kind), args, [str(n) for n in head.get("names", [])],
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
    from .calls import first_line

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
        self.path, self.func, self.kind = path, name, kind
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
        self.name = str(head.get("name", self.func))[:100]
        self.signature = _signature_from(head.get("signature"))

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
        data = _pack(self._token, {"kind": kind, "args": specs, "names": list(names), "grad": grad,
                                   "first_of_tuple": self.first_of_tuple}, arrays)
        try:
            _write_all(self._wfd, data)
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
            msg = _read_message(self._rfd, self._token, deadline, lambda: proc.poll() is None)
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
