"""The `fdiv` command line (also `python -m fdiv`).

Conventions: bad input is one `error:` line on stderr and exit code 2, with nothing written; what a user
should know but is not an error is a `note:` line on stderr; Ctrl-C is one line and exit 130, SIGTERM one line
and exit 143 (both after cleanup: no temporary file stays, pool workers stop); output that cannot be written (a
full disk) is one error line. Everything printed is escaped (fdiv._text), so no text from a file can drive the
terminal. Arguments are
checked before SymPy or torch load, so a typo fails at once. Every value flag takes values that start with '-'
(`--q -0.2,2`). The whole command runs under a CPU-time limit of ten times the per-step limit.
"""
from __future__ import annotations

import argparse
import difflib
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from . import __version__
from ._text import escape, say as _say, silence as _silence
from .commands import COMMANDS, load
from .errors import FdivError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, no usage dump
        raise FdivError(f"{self.prog}: {message}{_did_you_mean(message)}")


_INVALID_CHOICE = re.compile(r"invalid choice: '(?P<given>[^']*)' \(choose from (?P<choices>.*)\)$")


def _did_you_mean(message: str) -> str:
    """' (did you mean 'derive'?)' when argparse refused a near miss of a command or a choice."""
    m = _INVALID_CHOICE.search(message)
    if m is None:
        return ""
    choices = re.findall(r"'([^']*)'", m.group("choices"))
    close = difflib.get_close_matches(m.group("given"), choices, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


class _Help(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples in each subcommand's epilog as written."""


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="fdiv", formatter_class=_Help,
                description="Exact f-divergence derivations for variational divergence minimisation, stable torch "
                            "losses generated from them, and checks.",
                epilog="examples:\n  fdiv list\n  fdiv derive kl\n  fdiv gen gan -o .\n"
                       "  fdiv gauss kl --p 0,1 --q -0.2,2\n  fdiv check conjugate gan --claim \"-log(1 - exp(t))\"\n\n"
                       "'fdiv COMMAND --help' shows each command's options and examples.")
    p.add_argument("--version", action="version", version=f"fdiv {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser, metavar="COMMAND")
    for name in COMMANDS:
        load(name).add_parser(sub, _Help)
    return p


def _value_flags(parser: argparse.ArgumentParser) -> set[str]:
    """Every option that takes a value, in every subcommand (argparse has no public accessor for them)."""
    out: set[str] = set()
    stack = [parser]
    while stack:
        for action in stack.pop()._actions:
            if isinstance(action, argparse._SubParsersAction):
                stack.extend(action.choices.values())
            elif action.option_strings and action.nargs != 0:
                out.update(action.option_strings)
    return out


def _join_values(argv: list[str], flags: set[str]) -> list[str]:
    """--q -0.2,2 -> --q=-0.2,2: argparse would read a value starting with '-' as an option."""
    out, i = [], 0
    while i < len(argv):
        if argv[i] in flags and i + 1 < len(argv) and argv[i + 1].startswith("-") and argv[i + 1] not in flags:
            out.append(f"{argv[i]}={argv[i + 1]}")
            i += 2
        else:
            out.append(argv[i])
            i += 1
    return out


class Terminated(BaseException):
    """SIGTERM, raised where the process is so that it ends like Ctrl-C: cleanup runs (temporary files go, pool
    workers stop) and the command prints one line."""


def _terminate(signum, frame):  # noqa: ARG001
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    previous = _install(signal.SIGTERM, _terminate)
    try:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # SymPy's and numpy's warnings are not the user's business
                return _run(argv)
        except KeyboardInterrupt:
            _say("error: interrupted")
            return 130
        except Terminated:
            _say("error: terminated")
            return 128 + signal.SIGTERM
        except BrokenPipeError:  # `fdiv derive --all | head`
            _silence(1)
            return 0
    finally:
        if previous is not None:
            _install(signal.SIGTERM, previous)


def _install(signum: int, handler):
    """Set a signal handler where Python allows it (the main thread); the previous one, else None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    try:
        return signal.signal(signum, handler)
    except (ValueError, OSError):
        return None


def _run(argv: list[str]) -> int:
    """main() without its outer guards; the options that travel by environment (--time-limit, --no-cache) are
    set for this command only, so main() can be called again in the same process."""
    saved = {k: os.environ.get(k) for k in ("FDIV_TIME_LIMIT", "FDIV_NO_CACHE")}
    try:
        return _command(argv)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _command(argv: list[str]) -> int:
    from .timelimit import parse_seconds, time_limit

    try:
        parser = build_parser()
        args = parser.parse_args(_join_values(argv, _value_flags(parser)))
        if getattr(args, "time_limit", None) is not None:
            os.environ["FDIV_TIME_LIMIT"] = str(parse_seconds(args.time_limit, where="--time-limit"))
        if getattr(args, "no_cache", False):
            os.environ["FDIV_NO_CACHE"] = "1"
        command = load(args.command)
        if hasattr(command, "validate"):
            command.validate(args)  # cheap checks, before anything heavy is imported
        from .timelimit import step_seconds

        with time_limit(f"fdiv {args.command}", 10 * step_seconds()):
            out = command.run(args)
    except FdivError as exc:
        return _fail(str(exc))
    except RecursionError:
        return _fail("expression is too deeply nested")
    except MemoryError:
        return _fail("out of memory")
    except (KeyboardInterrupt, BrokenPipeError, Terminated):
        raise
    except Exception as exc:  # noqa: BLE001 - never a traceback; the type names the internal failure
        return _fail(f"internal error ({type(exc).__name__}: {_one_line(str(exc))[:200]}); "
                     "please report it with the command line")
    finally:
        _notes()
    code = 0
    if isinstance(out, tuple):  # (text, exit code)
        out, code = out
    if out:
        try:
            sys.stdout.write(escape(out if out.endswith("\n") else out + "\n"))
            sys.stdout.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:  # a full disk (`> /dev/full`), a closed descriptor
            _silence(1)
            return _fail(f"cannot write the output ({exc.strerror or exc})")
    return code


def _fail(message: str) -> int:
    _say(f"error: {_one_line(message)}")
    return 2


def _notes() -> None:
    """The notes the derivation cache collected (a damaged entry, a read-only directory)."""
    cache = sys.modules.get("fdiv.cache")
    if cache is not None:
        for line in cache.take_notes():
            _say(f"note: {_one_line(line)}")


def _one_line(text: str) -> str:
    return " ".join(text.split())
