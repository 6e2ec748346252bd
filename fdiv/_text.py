"""Text on its way to a terminal: every character that is not printable (escape sequences, carriage returns,
bidirectional overrides, C1 controls) is shown as a \\uXXXX escape, so text from files (TOML titles, cache
entries, user code) cannot move the cursor, recolour or overwrite a line, or fake an `[ok]`. The escape is also
valid inside a JSON string, so JSON output stays JSON."""
from __future__ import annotations

import os
import sys


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON writes it
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def escape(text: str) -> str:
    """text with every non-printable character but newline escaped."""
    if text.isprintable():
        return text
    return "".join(ch if ch == "\n" or ch.isprintable() else _escape_char(ch) for ch in text)


def one_line(text: str) -> str:
    """text on one line (runs of whitespace become one space), escaped."""
    return escape(" ".join(str(text).split()))


def say(line: str) -> None:
    """One line on stderr, escaped; a stderr that cannot be written (closed, a full disk) is silenced."""
    try:
        sys.stderr.write(escape(line) + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        silence(2)


def silence(fd: int) -> None:
    """Point a standard stream that failed at /dev/null, so the interpreter's final flush cannot fail again
    (and print a traceback as it exits)."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except OSError:
        pass
