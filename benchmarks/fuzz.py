"""The fuzz suite's long run: the generators of tests/test_fuzz.py for as many cases as you like.

    python benchmarks/fuzz.py --cases 100000 [--seed 1]

Prints the number of cases per target and every failure (a traceback, an exception other than FdivError, an
unclean exit, a file written on failure, or a generated module holding raw input text), then exits 1 if any.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=20000, help="total cases, split over the targets")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    from hypothesis import HealthCheck, given, seed, settings

    from tests import test_fuzz as T
    from tests.fuzzing import argv_lists, expressions, text_fields, toml_documents

    share = {"parse": 0.4, "derive": 0.2, "argv": 0.25, "toml": 0.1, "fields": 0.05}
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        import os

        os.environ.setdefault("FDIV_CACHE_DIR", str(Path(tmp) / "cache"))

        class Factory:  # stands in for pytest's tmp_path_factory
            count = 0

            def mktemp(self, name):
                Factory.count += 1
                path = Path(tmp) / f"{name}{Factory.count}"
                path.mkdir()
                return path

        def quick(fn):
            def wrapped(*a, **k):
                saved = {x: os.environ.get(x) for x in ("FDIV_TIME_LIMIT", "FDIV_NO_CACHE")}
                os.environ.update(FDIV_TIME_LIMIT="0.004", FDIV_NO_CACHE="1")
                try:
                    return fn(*a, **k)
                finally:
                    for x, v in saved.items():
                        os.environ.pop(x, None) if v is None else os.environ.__setitem__(x, v)
            return wrapped

        targets = {
            "parse": (expressions(), lambda text: T.test_parse.hypothesis.inner_test(text)),
            "derive": (expressions(), lambda text: T.test_derive.hypothesis.inner_test(text)),
            "argv": (argv_lists(), quick(lambda argv: T.test_argv.hypothesis.inner_test(argv, None, Factory()))),
            "toml": (toml_documents(), quick(lambda doc: T.test_toml.hypothesis.inner_test(doc, None, Factory()))),
            "fields": (text_fields(), lambda f: T.test_text_fields_never_reach_generated_code.hypothesis.inner_test(
                f, Factory())),
        }
        for name, (strategy, body) in targets.items():
            n = max(1, int(args.cases * share[name]))

            @seed(args.seed)
            @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                      derandomize=False)
            @given(strategy)
            def run(case):
                body(case)

            try:
                run()
                print(f"{name:7} {n:7d} cases: no failure")
            except Exception as exc:  # noqa: BLE001 - report and go on with the next target
                failures += 1
                print(f"{name:7} {n:7d} cases: FAILED: {type(exc).__name__}: {exc}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
