"""Peak memory of one loss call, counted exactly: fdiv.codegen.memory (every storage an op allocates, from its op to
its free, inside custom autograd Functions and the backward pass), the counter `fdiv gen` uses too."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fdiv.codegen.memory import LiveBytes, peak_bytes  # noqa: E402

__all__ = ["LiveBytes", "peak_bytes"]
