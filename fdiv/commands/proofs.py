"""fdiv proofs: the machine-checked derivations of the course notes and the notes' claims (`python -m proofs` in a
checkout; the same program, from the installed package, everywhere)."""
from __future__ import annotations

import contextlib
import io
from pathlib import Path

from .._util.siblings import in_checkout, load
from ..errors import FdivError

#: the whole run's CPU budget, in step limits: every proof and every claim runs under its own step limit
STEPS = 60


def add_parser(sub, formatter) -> None:
    p = sub.add_parser("proofs", help="run the derivations of the notes and check the notes' claims",
                       formatter_class=formatter,
                       description="Run every machine-checked derivation and the notes' claims; print the summary "
                                   "(proofs, steps, numeric steps, assumptions, the notes' verdicts). Exit 1 when a "
                                   "step fails, a verdict is not the expected one, or (--check) a report is stale.",
                       epilog="examples:\n  fdiv proofs\n  fdiv proofs --check\n  fdiv proofs --write --out reports")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write proofs.md, proofs.json and notes-check.md")
    mode.add_argument("--check", action="store_true", help="exit 1 when the checked-in reports differ")
    p.add_argument("--out", type=Path, default=None,
                   help="report directory (default: docs/ in a checkout, the shipped reports when installed)")


def validate(args) -> None:
    if args.write and args.out is None and not in_checkout("proofs"):
        raise FdivError("--write needs --out DIR: the reports of an installed fdiv are read-only")


def run(args) -> tuple[str, int]:
    main = load("proofs.__main__").main
    argv = ["--write"] if args.write else ["--check"] if args.check else []
    if args.out is not None:
        argv += ["--out", str(args.out)]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            code = main(argv, prog="fdiv proofs")
        except SystemExit as exc:  # argparse's own refusal (--write into the installed reports)
            code = exc.code if isinstance(exc.code, int) else 2
    return out.getvalue(), code
