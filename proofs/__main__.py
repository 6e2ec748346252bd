"""python -m proofs [TOPIC ...] [--write | --check] [--out DIR]: run the derivations and the notes check.

With no TOPIC every proof runs, then the notes' claims and the coverage of the notes; with TOPICs only those
topics' proofs run ('notes' names the notes check). Prints a summary (proofs, steps, numeric steps,
assumptions and whatever else the engine counts; the notes' verdicts; the coverage) and exits 1 when a step
fails or a note's verdict is not the one the mathematics dictates. --write writes docs/proofs.md,
docs/proofs.json and docs/notes-check.md; --check exits 1 when they differ from what is checked in and prints
a unified diff of each stale report. Ctrl-C stops with one line and exit code 130; a bad TOPIC is one error
line and exit code 2.
"""
from __future__ import annotations

import argparse
import signal
import sys
import warnings
from pathlib import Path

_HERE = Path(__file__).resolve().parent
#: The checked-in reports: docs/ in a checkout; an installed fdiv carries read-only copies as package data.
SHIPPED = _HERE / "reports"
DOCS = SHIPPED if SHIPPED.is_dir() else _HERE.parent / "docs"
NOTES_TOPIC = "notes"


def _parser(topics: tuple[str, ...], prog: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog,
                                     description="Run the machine-checked derivations and the notes check.",
                                     epilog=f"topics: {', '.join(topics)}, {NOTES_TOPIC}")
    parser.add_argument("topics", nargs="*", metavar="TOPIC", help="run only these topics (default: all)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write the reports")
    mode.add_argument("--check", action="store_true", help="fail (and show a diff) when the checked-in reports differ")
    parser.add_argument("--out", type=Path, default=DOCS, help="report directory (default: docs/)")
    return parser


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # atomic: a reader never sees half a report


def _main(argv: list[str] | None, prog: str) -> int:
    from . import TOPICS

    parser = _parser(TOPICS, prog)
    args = parser.parse_args(argv)
    if args.write and args.out == SHIPPED:
        parser.error("--write needs --out DIR here: the reports of an installed fdiv are read-only")
    unknown = [t for t in args.topics if t not in TOPICS and t != NOTES_TOPIC]
    if unknown:
        print(f"error: unknown topic {unknown[0]!r} (topics: {', '.join(TOPICS)}, {NOTES_TOPIC})", file=sys.stderr)
        return 2
    if args.topics and (args.write or args.check):
        print("error: --write and --check cover every topic; run them without TOPIC", file=sys.stderr)
        return 2
    chosen = [t for t in TOPICS if t in args.topics] if args.topics else list(TOPICS)
    run_notes = not args.topics or NOTES_TOPIC in args.topics

    from . import run_proofs, topic_modules
    from .engine import summary
    from .report import summary_line

    tty = sys.stderr.isatty()

    def progress(done: int, total: int, title: str) -> None:
        _stop_if_interrupted()
        if tty:  # on a terminal only: logs stay clean
            sys.stderr.write(f"\rproofs: {done}/{total} {title[:60]:60}")
            if done == total:
                sys.stderr.write("\r" + " " * 80 + "\r")
            sys.stderr.flush()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's notes on zero-size layers in the parameter-count checks
        results = run_proofs(chosen, progress)
        rows = []
        if run_notes:
            if tty:
                sys.stderr.write("proofs: checking the notes' claims\r")
            from .notes import NOTES

            for claim in NOTES:
                _stop_if_interrupted()
                rows.append((claim, claim.run()))
    failed = [r for r in results if not r.passed]
    if results:
        print(f"proofs: {summary_line(summary(results))}")
    for r in failed:
        for s in r.steps:
            if not s.passed:
                print(f"  FAILED {r.title} [{r.source}]: {s.lhs} {s.relation} {s.rhs}: {s.detail or s.method}")
    wrong = [(c, v) for c, v in rows if v.verdict != c.expected]
    if run_notes:
        from .coverage import evaluate, summary_sentence

        refuted = sum(v.verdict == "refuted" for _, v in rows)
        print(f"notes: {len(rows)} claims, {len(rows) - refuted} verified, {refuted} refuted; "
              f"{len(wrong)} not as expected")
        for c, v in wrong:
            print(f"  UNEXPECTED {c.file} line {c.line}: {c.quote}: {v.verdict} ({v.reason})")
        if not args.topics:
            print(f"coverage: {summary_sentence(evaluate(rows, results))}")
    if not (args.write or args.check):
        return 1 if failed or wrong else 0
    from .coverage import evaluate
    from .report import notes_markdown, proofs_json, proofs_markdown, stale_diff

    coverage = evaluate(rows, results)
    titles = {m.__name__.rsplit(".", 1)[-1]: m.TITLE for m in topic_modules()}
    reports = {"proofs.md": proofs_markdown(results, titles), "notes-check.md": notes_markdown(rows, coverage),
               "proofs.json": proofs_json(results, rows, coverage)}
    stale = []
    for name, text in reports.items():
        path = args.out / name
        if args.write:
            _write(path, text)
        elif not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
            old = path.read_text(encoding="utf-8") if path.exists() else ""
            print(f"  STALE {path}: run python -m proofs --write")
            for line in stale_diff(name, old, text):
                print("    " + line)
    return 1 if failed or wrong or stale else 0


_INTERRUPTED = []


def _on_interrupt(signum, frame) -> None:
    """Ctrl-C: remembered (a library's bare `except:` may swallow the KeyboardInterrupt raised here; the run
    then stops at the next proof or claim) and raised."""
    _INTERRUPTED.append(signum)
    raise KeyboardInterrupt


def _stop_if_interrupted() -> None:
    if _INTERRUPTED:
        raise KeyboardInterrupt


def main(argv: list[str] | None = None, prog: str = "python -m proofs") -> int:
    previous = signal.signal(signal.SIGINT, _on_interrupt)
    try:
        return _main(argv, prog)
    except KeyboardInterrupt:
        print("proofs: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGINT, previous)
        _INTERRUPTED.clear()


if __name__ == "__main__":
    sys.exit(main())
