"""Atomic file writes: the bytes go to a temporary file beside the target, then os.replace moves it in, so
a failure (or an interrupted run) never leaves a half-written file under the target's name."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import FdivError


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
        Path(tmp).unlink(missing_ok=True)
        raise FdivError(f"{path}: cannot write ({exc.strerror})") from None
    return target
