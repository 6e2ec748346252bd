"""Atomic file writes and bounded reads.

Writes: the bytes go to a temporary file beside the target, then os.replace moves it in, so a failure (or an
interrupted run) never leaves a half-written file under the target's name, and the temporary file is removed
on every way out (an error, Ctrl-C, SIGTERM turned into an exception by the CLI).

Reads of files fdiv did not just write (cache entries, training histories): only a regular file, at most a given
size. The file is opened without blocking (a FIFO would wait forever for a writer) and checked on the open
descriptor (fstat), so it cannot be swapped between the check and the read; /dev/zero or a FIFO is refused
instead of read.
"""
from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from .errors import FdivError


class ReadError(FdivError):
    """A file that is missing, not a regular file, too large or unreadable; the message says which."""


def write_bytes(path: str | Path, data: bytes) -> Path:
    target = Path(path)
    if not target.parent.is_dir():
        raise FdivError(f"{path}: no such directory {str(target.parent)!r}")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise FdivError(f"{path}: cannot write ({exc.strerror})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        raise FdivError(f"{path}: cannot write ({exc.strerror})") from None
    except BaseException:
        _remove(tmp)
        raise
    return target


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def read_bounded(path: str | Path, limit: int, *, where: str | None = None, follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file at path, at most `limit` of them; ReadError otherwise (never blocks)."""
    where = where or str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise ReadError(f"{where}: cannot read (no such file)") from None
    except OSError as exc:
        if not follow_symlinks and os.path.islink(path):
            raise ReadError(f"{where}: is a symbolic link") from None
        raise ReadError(f"{where}: cannot read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ReadError(f"{where}: not a regular file")
        if info.st_size > limit:
            raise ReadError(f"{where}: larger than {limit} bytes")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # grew after the check
            raise ReadError(f"{where}: larger than {limit} bytes")
        return b"".join(chunks)
    except OSError as exc:
        raise ReadError(f"{where}: cannot read ({exc.strerror})") from None
    finally:
        os.close(fd)


def read_text_bounded(path: str | Path, limit: int, *, where: str | None = None,
                      follow_symlinks: bool = True) -> str:
    """read_bounded, decoded as UTF-8 (ReadError when it is not)."""
    data = read_bounded(path, limit, where=where, follow_symlinks=follow_symlinks)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ReadError(f"{where or path}: not a UTF-8 text file") from None
