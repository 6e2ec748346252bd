"""`numerics` and `proofs`, wherever this fdiv keeps them.

In the repository they are top-level folders beside `fdiv/` (that layout is fixed: `python -m proofs` runs
there). An installed fdiv has one import name: the wheel maps those folders into the package as `fdiv.numerics`
and `fdiv.proofs` (setuptools' package-dir, pyproject.toml). fdiv's own modules reach them through `load`, so the
same code runs in both; inside numerics and proofs, imports of each other go through it too."""
from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

SIBLINGS = ("numerics", "proofs")
_FDIV = Path(__file__).resolve().parents[1]  # the fdiv package directory


def in_checkout(package: str) -> bool:
    """Whether `package` is a folder beside this fdiv (a checkout) rather than mapped into it (a wheel)."""
    return (_FDIV.parent / package / "__init__.py").is_file() and not (_FDIV / package).exists()


def load(name: str) -> ModuleType:
    """`load("numerics.gaussian")`: the checkout's numerics.gaussian, or the installed fdiv.numerics.gaussian."""
    head = name.split(".", 1)[0]
    if head not in SIBLINGS:
        raise ValueError(f"{name!r} is not in {' or '.join(SIBLINGS)}")
    if in_checkout(head):
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != head:  # something inside the module is missing: that is the error to show
                raise
            # an editable install run from outside the checkout: its finder maps the folder to fdiv.<head>
    return importlib.import_module(f"fdiv.{name}")
