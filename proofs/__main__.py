"""python -m proofs [--write | --check] [--out DIR]: run every derivation and the notes check.

Prints a summary (proofs, steps, numeric steps, steps resting on assumptions; the notes' verdicts); exits 1
when a step fails or a note's verdict is not the one the mathematics dictates. --write writes docs/proofs.md,
docs/proofs.json and docs/notes-check.md; --check exits 1 when they differ from what is checked in.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from . import run_all, topic_modules
from .engine import summary
from .report import notes_markdown, proofs_json, proofs_markdown

_HERE = Path(__file__).resolve().parent
#: The checked-in reports: docs/ in a checkout; an installed fdiv carries read-only copies as package data.
SHIPPED = _HERE / "reports"
DOCS = SHIPPED if SHIPPED.is_dir() else _HERE.parent / "docs"


def main(argv: list[str] | None = None, prog: str = "python -m proofs") -> int:
    parser = argparse.ArgumentParser(prog=prog)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the reports")
    mode.add_argument("--check", action="store_true", help="fail when the checked-in reports differ")
    parser.add_argument("--out", type=Path, default=DOCS, help="report directory (default: docs/)")
    args = parser.parse_args(argv)
    if args.write and args.out == SHIPPED:
        parser.error("--write needs --out DIR here: the reports of an installed fdiv are read-only")
    def progress(done: int, total: int, title: str) -> None:  # on a terminal only: logs stay clean
        sys.stderr.write(f"\rproofs: {done}/{total} {title[:60]:60}")
        if done == total:
            sys.stderr.write("\rproofs: checking the notes' claims" + " " * 60 + "\n")
        sys.stderr.flush()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notes on zero-size layers in the parameter-count checks
        results, rows = run_all(progress if sys.stderr.isatty() else None)
    failed = [r for r in results if not r.passed]
    wrong = [(c, v) for c, v in rows if v.verdict != c.expected]
    n = summary(results)
    print(f"proofs: {n['passed']} of {n['proofs']} proofs pass ({n['steps']} steps, {n['numeric']} numeric, "
          f"{n['assumptions']} assumptions)")
    for r in failed:
        for s in r.steps:
            if not s.passed:
                print(f"  FAILED {r.title} [{r.source}]: {s.lhs} {s.relation} {s.rhs}: {s.detail or s.method}")
    refuted = sum(v.verdict == "refuted" for _, v in rows)
    print(f"notes: {len(rows)} claims, {len(rows) - refuted} verified, {refuted} refuted; "
          f"{len(wrong)} not as expected")
    for c, v in wrong:
        print(f"  UNEXPECTED {c.file} line {c.line}: {c.quote}: {v.verdict} ({v.reason})")
    stale = []
    if not (args.write or args.check):
        return 1 if failed or wrong else 0
    titles = {m.__name__.rsplit(".", 1)[-1]: m.TITLE for m in topic_modules()}
    reports = {"proofs.md": proofs_markdown(results, titles), "notes-check.md": notes_markdown(rows),
               "proofs.json": proofs_json(results, rows)}
    for name, text in reports.items():
        path = args.out / name
        if args.write:
            args.out.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(path.suffix + ".tmp")
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(path)  # atomic: a reader never sees half a report
        elif args.check and (not path.exists() or path.read_text(encoding="utf-8") != text):
            stale.append(name)
    for name in stale:
        print(f"  STALE {args.out / name}: run python -m proofs --write")
    return 1 if failed or wrong or stale else 0


if __name__ == "__main__":
    sys.exit(main())
