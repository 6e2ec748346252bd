"""The fault suite: seeded cases for every class of fault the second safety review found, each run and judged
the same way. Used by tests/test_faults.py (CI: a fixed seed, a few minutes) and benchmarks/faults.py (as many
cases as you like).

Classes (CLASSES): poisoned and odd cache entries; text that would drive a terminal (TOML fields, cache entries,
error lines); gen over existing files and under every kind of name; constants outside float64; Gaussian
numerics against a quadrature-checked reference; signals (Ctrl-C, SIGTERM, SIGKILL) at random moments of real
commands, workers included; failed output (a full disk, an unwritable cache, a file-size limit); history files
that are not histories; code under `fdiv verify` that misbehaves (the oracle's classes).

Every case is judged on the same five counts (Tally):
  tracebacks     a traceback or "internal error" anywhere in the output, an exception escaping, an exit code
                 outside 0/1/2/3/130/143 (or the signal's own), stderr lines that are not error:/note:
  hangs          a command that did not end within its time (subprocesses), or a read that blocked
  wrong results  output that differs from the truth (the true derivation's JSON and module, the reference value
                 outside the stated error bar, a raw control character reaching the terminal, exit 0 from a
                 verification whose report is incomplete)
  clobbered      a file that was not fdiv's to replace, changed
  left behind    a temporary file, a worker process, or a partial output that outlived its command
"""
from __future__ import annotations

import contextlib
import functools
import io
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COUNTS = ("tracebacks", "hangs", "wrong", "clobbered", "left_behind")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


@dataclass
class Tally:
    cases: dict[str, int] = field(default_factory=dict)
    problems: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in COUNTS})

    def case(self, cls: str) -> None:
        self.cases[cls] = self.cases.get(cls, 0) + 1

    def add(self, kind: str, cls: str, text: str) -> None:
        self.problems[kind].append(f"[{cls}] {text}"[:600])

    @property
    def total(self) -> int:
        return sum(self.cases.values())

    def summary(self) -> str:
        parts = [f"{self.total} cases"] + [f"{len(self.problems[k])} {k.replace('_', ' ')}" for k in COUNTS]
        return ", ".join(parts)


# ------------------------------------------------------------------------------------------------- running
class _Hang(BaseException):
    pass


def _alarm(signum, frame):  # noqa: ARG001
    raise _Hang


def run_cli(argv: list[str], seconds: float = 120) -> tuple[int | None, str, str]:
    """main(argv) in this process with stdout/stderr captured; code None when it ran past `seconds` (a hang:
    the wall-clock alarm here is generous, the commands' own limits count CPU time)."""
    from fdiv.cli import main

    out, err = io.StringIO(), io.StringIO()
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(argv)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 2
    except _Hang:
        code = None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return code, out.getvalue(), err.getvalue()


def _default_sigint() -> None:
    """SIGINT at its default in a child, as from a terminal (a run started in the background ignores it, children
    inherit that, and Python then installs no KeyboardInterrupt handler)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_proc(argv: list[str], *, seconds: float = 300, env: dict | None = None, **kw) -> tuple[int | None, str, str]:
    """`python -m fdiv ARGV` in a child; code None when it ran past `seconds` (then it is killed)."""
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    proc = subprocess.Popen([sys.executable, "-m", "fdiv", *argv], stdout=kw.pop("stdout", subprocess.PIPE),
                            stderr=subprocess.PIPE, text=True, env=full_env, start_new_session=True,
                            preexec_fn=kw.pop("preexec_fn", _default_sigint), **kw)
    try:
        out, err = proc.communicate(timeout=seconds)
        return proc.returncode, out or "", err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return None, out or "", err


def judge(tally: Tally, cls: str, label: str, code, out: str, err: str, *, codes=(0, 1, 2, 3)) -> bool:
    """The common judgement of one command; False when it hung."""
    if code is None:
        tally.add("hangs", cls, label)
        return False
    if "Traceback" in err or "internal error" in err or code not in codes:
        tally.add("tracebacks", cls, f"{label}: exit {code}: {err[-300:]}")
    lines = [line for line in err.splitlines() if line.strip()]
    if any(not line.startswith(("error: ", "note: ", "deriving: ", "  | ")) for line in lines):
        tally.add("tracebacks", cls, f"{label}: stray stderr: {err[-300:]}")
    if code == 2 and sum(line.startswith("error: ") for line in lines) != 1:
        tally.add("tracebacks", cls, f"{label}: exit 2 without exactly one error line: {err[-300:]}")
    if _CONTROL.search(out.replace("\n", "")) or _CONTROL.search(err.replace("\n", "")):
        tally.add("wrong", cls, f"{label}: a raw control character reached the terminal")
    return True


def leftovers(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name.endswith(".tmp"))


@contextlib.contextmanager
def environment(**values: str | None):
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# --------------------------------------------------------------------------------------------- the truth
CHEAP = ["kl", "reverse-kl", "gan", "pearson", "total-variation", "squared-hellinger", "jsd", "neyman"]
MATH = ("f", "conjugate", "conjugate_domain", "critic_range", "activation", "optimal_critic", "ratio_from_critic",
        "f_prime_at_one", "f_at_one", "limits", "conjugate_numeric", "activation_rule")


@functools.cache
def truth(name: str) -> tuple[dict, dict, str, str]:
    """(true record, the math of `derive --format json`, the generated module, the cache key) of a catalogue
    name, from the current cache (checked) or derived."""
    from fdiv.derivation import cache
    from fdiv.derivation.engine import derive
    from fdiv.codegen.emit import render_module
    from fdiv._util.timelimit import step_seconds

    d = derive(name)
    spec = d.spec
    _, values = spec.expr({})
    data = d.to_json()
    return (json.loads(json.dumps(cache._to_record(d))), {k: data.get(k) for k in MATH}, render_module(d),
            cache.key(spec, values, step_seconds()))


# -------------------------------------------------------------------------------------------- the classes
EXPRESSIONS = ["exp(t) - 2", "2*exp(t - 1)", "t", "0", "-1", "oo", "log(u)", "1/t", "v**3", "u", "2*v", "-log(-t)",
               "Piecewise((0, t < 0), (t, True))", "exp(t - 1) + 1/10**20", "log(1 + exp(v))", "tanh(v)",
               "(u - 1)**2", "1/2", "-oo", "t**2/4 + t", "u**2", "sqrt(u)", "LambertW(exp(t))"]
HOSTILE = ["\x1b[2K\r    [ok] all checks passed", "\x1b]0;pwned\x07", "\u202eko]", "\x9b31m", "\x00", "\r\n[ok]",
           "\x7f\x08\x08", "\u2066x\u2069", "\ufeff", "é ‖ ok"]


def _mutate(rng: random.Random, record: dict) -> str:
    """One random lie or corruption of a record; returns what it did."""
    choice = rng.randrange(9)
    if choice == 0:
        key = rng.choice(sorted(record["exprs"]))
        record["exprs"][key] = rng.choice(EXPRESSIONS)
        return f"exprs.{key}"
    if choice == 1 and record["branches"]:
        b = rng.choice(record["branches"])
        pos = rng.choice([1, 2, 4])
        b[pos] = rng.choice(EXPRESSIONS)
        return f"branch[{pos}]"
    if choice == 2:  # a digit changed somewhere in a formula
        keys = [k for k, v in record["exprs"].items() if re.search(r"\d", v)]
        if keys:
            key = rng.choice(keys)
            text = record["exprs"][key]
            spots = [m.start() for m in re.finditer(r"\d", text)]
            i = rng.choice(spots)
            record["exprs"][key] = text[:i] + str((int(text[i]) + rng.randrange(1, 9)) % 10) + text[i + 1:]
            return f"digit in exprs.{key}"
    if choice == 3:
        which = rng.choice(["conjugate_domain", "critic_range"])
        pos = rng.randrange(4)
        value = record[which][pos]
        record[which][pos] = (not value) if isinstance(value, bool) else rng.choice(["0", "1", "-1", "oo", "-oo", "1/2"])
        return f"{which}[{pos}]"
    if choice == 4:
        check = rng.choice(record["checks"])
        check[rng.choice([0, 2, 3])] = rng.choice(HOSTILE)
        return "check text"
    if choice == 5:
        record["activation_rule"] = rng.choice(HOSTILE)
        return "activation rule"
    if choice == 6:
        record["symbols"][rng.choice(sorted(record["symbols"]))] = rng.choice([{}, {"real": True}, {"positive": True}])
        return "symbol assumptions"
    if choice == 7:
        del record[rng.choice(sorted(record))]
        return "a key deleted"
    record["branches"] = [] if rng.random() < 0.5 else record["branches"] * 2
    return "branches"


def _odd_entry(rng: random.Random, path: Path, record: dict) -> str:
    kind = rng.choice(["fifo", "dev-zero", "directory", "large", "truncated", "empty", "binary", "nested",
                       "link-to-true"])
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "directory":
        path.mkdir()
    elif kind == "large":
        path.write_bytes(b" " * ((1 << 20) + rng.randrange(1, 1000)))
    elif kind == "truncated":
        text = json.dumps(record)
        path.write_text(text[: rng.randrange(1, len(text))])
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "binary":
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000))))
    elif kind == "nested":
        path.write_text("[" * 100_000 + "]" * 100_000)
    else:
        other = path.with_name("elsewhere.json")
        other.write_text(json.dumps(record))
        path.symlink_to(other)
    return kind


def case_cache(rng: random.Random, tmp: Path, tally: Tally) -> None:
    """A poisoned or odd entry for a catalogue name; derive, gen and check must show the truth."""
    from fdiv.derivation import cache

    cls = "cache"
    name = rng.choice(CHEAP)
    record, math_truth, module, key = truth(name)
    folder = tmp / "cache"
    folder.mkdir()
    path = folder / f"{key}.json"
    if rng.random() < 0.7:
        bad = json.loads(json.dumps(record))
        what = _mutate(rng, bad)
        path.write_text(json.dumps(bad))
    else:
        bad, what = record, _odd_entry(rng, path, record)
    label = f"{name}: {what}"
    command = rng.choice(["derive", "gen", "check"])
    out_dir = tmp / "out"
    out_dir.mkdir()
    seed = {key: record}  # the recovery path reads the true record from the seed (no fresh derivation)
    saved_memory, saved_seed = dict(cache._MEMORY), cache._seed
    cache._MEMORY.clear()
    cache._seed = lambda: seed
    try:
        with environment(FDIV_CACHE_DIR=str(folder), FDIV_NO_CACHE=None):
            if command == "derive":
                code, out, err = run_cli(["derive", name, "--format", "json"], 60)
            elif command == "gen":
                code, out, err = run_cli(["gen", name, "-o", str(out_dir)], 60)
            else:
                claim = rng.choice([math_truth["conjugate"], "exp(t) - 2"]) or "exp(t) - 2"
                code, out, err = run_cli(["check", "conjugate", name, "--claim", claim], 60)
    finally:
        cache._MEMORY.clear()
        cache._MEMORY.update(saved_memory)
        cache._seed = saved_seed
    if not judge(tally, cls, label, code, out, err):
        return
    if command == "derive":
        if code not in (0, 1):
            tally.add("wrong", cls, f"{label}: derive failed: {err[-200:]}")
        else:
            got = json.loads(out)
            diff = [k for k in MATH if got.get(k) != math_truth[k]]
            if diff:
                tally.add("wrong", cls, f"{label}: derive showed other {diff}")
    elif command == "gen":
        target = out_dir / f"{name.replace('-', '_')}.py"
        if code != 0 or not target.exists() or target.read_text() != module:
            tally.add("wrong", cls, f"{label}: gen wrote another module (exit {code}) {err[-200:]}")
    else:
        true_claim = math_truth["conjugate"]
        if (code == 0) != (claim == true_claim):
            tally.add("wrong", cls, f"{label}: check gave exit {code} for the claim {claim!r}")
    if leftovers(tmp):
        tally.add("left_behind", cls, f"{label}: {leftovers(tmp)}")


def case_text(rng: random.Random, tmp: Path, tally: Tally) -> None:
    """Hostile text in a TOML spec's free fields and in error-provoking input; nothing raw reaches the terminal."""
    cls = "text"
    text = "".join(rng.choice(HOSTILE) for _ in range(rng.randrange(1, 4)))
    escaped = text.encode("unicode_escape").decode("ascii").replace('"', '\\"')
    field_name = rng.choice(["title", "reference", "notes", "published.activation", "published.conjugate", "name",
                             "f-comment"])
    lines = ['[[divergence]]']
    name, f = "mine", "(u - 1)**2"
    if field_name == "name":
        name = escaped
    if field_name == "f-comment":
        f = "(u - 1)**2 #" + escaped
    lines += [f'name = "{name}"', f'f = "{f}"']
    if field_name in ("title", "reference", "notes"):
        lines.append(f'{field_name} = "{escaped}"')
    if field_name.startswith("published."):
        lines.append(f'published = {{ {field_name.split(".")[1]} = "{escaped}" }}')
    spec = tmp / "spec.toml"
    spec.write_text("\n".join(lines) + "\n")
    fmt = rng.choice(["text", "json", "markdown", "latex"])
    code, out, err = run_cli(["derive", str(spec), "--format", fmt, "--no-cache"], 120)
    label = f"{field_name} {text!r} {fmt}"
    if judge(tally, cls, label, code, out, err) and code == 0 and fmt == "json":
        try:
            json.loads(out)
        except ValueError:
            tally.add("wrong", cls, f"{label}: JSON output does not parse")


def case_gen(rng: random.Random, tmp: Path, tally: Tally) -> None:
    """gen into a directory where the target exists (or not) as every kind of file, under every kind of name."""
    cls = "gen"
    out = tmp / "out"
    out.mkdir()
    outside = tmp / "outside.py"
    outside.write_text("# not yours\n")
    name = rng.choice(["kl", "mine", "setup", "conftest", "sitecustomize", "usercustomize", "os", "torch", "__init__",
                       "json", "numpy", "my_loss"])
    target = out / f"{name}.py"
    kind = rng.choice(["none", "hand-written", "generated", "generated-other", "empty", "binary", "symlink", "fifo",
                       "directory", "header-only-comment"])
    if kind == "hand-written":
        target.write_text("def loss():\n    return 42\n")
    elif kind == "generated":
        target.write_text((ROOT / "fdiv" / "losses" / "kl.py").read_text())
    elif kind == "generated-other":
        target.write_text((ROOT / "fdiv" / "losses" / "jeffrey.py").read_text())
    elif kind == "empty":
        target.write_bytes(b"")
    elif kind == "binary":
        target.write_bytes(bytes(rng.randrange(256) for _ in range(200)))
    elif kind == "symlink":
        target.symlink_to(outside)
    elif kind == "fifo":
        os.mkfifo(target)
    elif kind == "directory":
        target.mkdir()
    elif kind == "header-only-comment":
        target.write_text("# fdiv loss module for kl\n# Generated by fdiv\nprint('hand-written')\n")
    before = target.read_bytes() if kind not in ("none", "fifo", "directory", "symlink") else None
    force = rng.random() < 0.3
    argv = ["gen", "kl", "--name", name, "-o", str(out)] + (["--force"] if force else [])
    code, out_text, err = run_cli(argv, 60)
    label = f"name {name}, existing {kind}, force {force}"
    if not judge(tally, cls, label, code, out_text, err):
        return
    refused_name = name in ("setup", "conftest", "sitecustomize", "usercustomize", "os", "torch", "__init__", "json",
                            "numpy")
    replaceable = kind in ("none", "generated", "generated-other") or (force and kind not in ("symlink", "fifo",
                                                                                              "directory"))
    if outside.read_text() != "# not yours\n":
        tally.add("clobbered", cls, f"{label}: wrote through a symbolic link")
    if refused_name or not replaceable:
        if code != 2:
            tally.add("wrong" if code == 0 else "tracebacks", cls, f"{label}: exit {code}")
        if before is not None and target.read_bytes() != before:
            tally.add("clobbered", cls, f"{label}: replaced a file that was not fdiv's")
    elif code != 0 or not target.read_text().startswith('"""fdiv loss module for kl'):
        tally.add("wrong", cls, f"{label}: not written (exit {code}): {err[-200:]}")
    if leftovers(tmp):
        tally.add("left_behind", cls, f"{label}: {leftovers(tmp)}")


CONSTANT_FORMS = ["u*log(u)*{c}", "(u - 1)**2*{c}", "{c}*u*log(u) + (u - 1)**2", "u*log(u)*{c}*{c}",
                  "(sqrt(u) - 1)**2*{c}", "-log(u)*{c}"]


def _constant(rng: random.Random) -> str:
    k = rng.choice([1, 10, 100, 150, 200, 290, 300, 305, 307, 308, 309, 310, 320, 400])
    return rng.choice([f"1e-{min(k, 12)}**{rng.randrange(1, 40)}", f"exp(-{k * 2 + rng.randrange(3)})",
                       f"exp({rng.randrange(1, 800)})", f"2**-{k * 3}", f"2**{rng.randrange(1, 64)}",
                       "*".join(["1e12"] * rng.randrange(1, 30)), f"sqrt(1e-{min(k, 12)})", f"1e-{k}"])


def case_constants(rng: random.Random, tmp: Path, tally: Tally) -> None:
    """f's with extreme constants: refused with one line, or a module whose every number is a normal float64
    and whose loss is defined and not identically 0."""
    import importlib.util

    cls = "constants"
    f = rng.choice(CONSTANT_FORMS).format(c=_constant(rng))
    out = tmp / "out"
    out.mkdir()
    code, text, err = run_cli(["gen", "--f", f, "--name", "m", "-o", str(out), "--no-cache", "--time-limit", "10"],
                              300)
    label = f
    if not judge(tally, cls, label, code, text, err) or code != 0:
        return
    from fdiv.codegen.emit import check_constants
    from fdiv.errors import FdivError

    source = (out / "m.py").read_text()
    try:
        check_constants(source)
    except FdivError as exc:
        tally.add("wrong", cls, f"{label}: {exc}")
        return
    import torch

    spec = importlib.util.spec_from_file_location(f"fault_constants_{rng.randrange(10**9)}", out / "m.py")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        v = torch.linspace(-2, 2, 9, dtype=torch.float64)
        values = [module.critic_loss(v, v).item(), module.critic_loss(v, v + 1).item()]
    except NameError as exc:
        tally.add("wrong", cls, f"{label}: the module fails on first call: {exc}")
        return
    if values == [0.0, 0.0]:
        tally.add("wrong", cls, f"{label}: the loss is identically 0")


def case_numerics(rng: random.Random, tmp: Path, tally: Tally) -> None:  # noqa: ARG001
    """A Gaussian pair (near-equal or far apart) and a closed form or quadrature: within the stated error of the
    reference, or one refusal."""
    import mpmath
    import sympy as sp

    from numerics import gaussian_mp as ref
    from numerics.closed_forms import CLOSED_FORMS, divergence
    from numerics.errors import NumericsError

    cls = "numerics"
    name = rng.choice(sorted(set(CLOSED_FORMS) - {"kl-normalised", "reverse-kl-normalised"}))
    m2, v2 = rng.gauss(0, 3), 10 ** rng.uniform(-3, 3)
    if rng.random() < 0.3:
        v1, m1 = v2 * (1 + rng.choice([-1, 1]) * 10 ** rng.uniform(-14, -1)), m2 + 10 ** rng.uniform(-12, -1)
    else:
        v1, m1 = v2 * 10 ** rng.uniform(-4, 4), rng.gauss(0, 3)
    alpha = None
    if name == "alpha":
        alpha = rng.choice([10 ** rng.uniform(-307.6, -1), 1 - 10 ** rng.uniform(-15, -1), 1 + 10 ** rng.uniform(-15, 0),
                            rng.uniform(-3, 4), -(10 ** rng.uniform(-300, -1))])
        alpha = 0.5 if alpha in (0.0, 1.0) else alpha
    method = rng.choice(["auto"] * 6 + ["quadrature", "mpmath"])
    label = f"{name} p=({m1!r}, {v1!r}) q=({m2!r}, {v2!r}) alpha={alpha!r} {method}"
    params = {"alpha": repr(alpha)} if alpha is not None else {}
    try:
        est = divergence(name, (m1, v1), (m2, v2), method=method, **params)
    except NumericsError:
        return  # a refusal, one line on the CLI
    except Exception as exc:  # noqa: BLE001
        tally.add("tracebacks", cls, f"{label}: {type(exc).__name__}: {exc}")
        return
    exact_params = {"alpha": sp.Rational(repr(alpha))} if alpha is not None else {}
    settled = ref.settled(lambda: ref.FORMS[name](m1, v1, m2, v2, exact_params), m1, v1, m2, v2,
                          *([alpha] if alpha is not None else []))
    exact = settled[0]
    if mpmath.isinf(exact) or abs(exact) > 1.7e308:
        if est.value != float("inf"):
            tally.add("wrong", cls, f"{label}: {est} for an infinite or beyond-float value")
        return
    if not abs(est.value - exact) <= est.abs_error:
        tally.add("wrong", cls, f"{label}: {est.value!r} +- {est.abs_error:.3g}, exact {mpmath.nstr(exact, 17)}")


SIGNAL_COMMANDS = [
    ["derive", "--all", "--no-cache"],
    ["derive", "--f", "(u - 1)**4 + u*log(u)", "--no-cache"],
    ["gen", "kl", "-o", "{out}"],
    ["gen", "--f", "(sqrt(u) - 1)**4", "--name", "quartic", "-o", "{out}", "--no-cache"],
    ["gauss", "jsd", "--p", "0,1", "--q", "1,2", "--method", "mpmath"],
    ["check", "conjugate", "gan", "--claim", "-log(1 - exp(t))", "--no-cache"],
    ["derive", "alpha", "--param", "alpha=(1, oo)", "--no-cache"],
    ["plot", "kl", "--compare", "gan", "-o", "{out}/figure.png"],
    ["list"],
]


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = [int(x) for x in Path(f"/proc/{p}/task/{p}/children").read_text().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def case_signals(rng: random.Random, tmp: Path, tally: Tally) -> None:
    """A real command, a signal at a random moment (Ctrl-C to the group, SIGTERM or SIGKILL to the parent): one
    line, the right exit code, no worker left, no temporary file or partial module."""
    cls = "signals"
    out = tmp / "out"
    out.mkdir()
    argv = [a.format(out=out) for a in rng.choice(SIGNAL_COMMANDS)]
    how = rng.choice(["ctrl-c", "ctrl-c", "sigterm", "sigterm", "sigkill"])
    delay = rng.uniform(0.3, 4.0)
    env = dict(os.environ, PYTHONPATH=str(ROOT), FDIV_CACHE_DIR=str(tmp / "cache"))
    proc = subprocess.Popen([sys.executable, "-m", "fdiv", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True, preexec_fn=_default_sigint)
    seen: set[int] = set()
    end = time.monotonic() + delay
    while time.monotonic() < end and proc.poll() is None:
        seen.update(_descendants(proc.pid))
        time.sleep(0.02)
    seen.update(_descendants(proc.pid))
    label = f"{' '.join(argv[:3])} {how} after {delay:.2f} s"
    if proc.poll() is None:
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            os.kill(proc.pid, signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    try:
        stdout, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, err = proc.communicate()
        tally.add("hangs", cls, label)
        return
    expected = {"ctrl-c": (130, "error: interrupted"), "sigterm": (143, "error: terminated"),
                "sigkill": (-signal.SIGKILL, None)}[how]
    # a signal that lands before fdiv installs its handler (interpreter start-up) or after CPython restored the
    # default one (its shutdown, once the command's work is done) ends the process by the default action: -N
    # is then the true exit status; what is left behind and what was printed are still judged below
    codes = (0, 1, 2, expected[0]) + ((-signal.SIGINT,) if how == "ctrl-c" else (-signal.SIGTERM,) if how == "sigterm" else ())
    judge(tally, cls, label, proc.returncode, stdout, err if how != "sigkill" else "", codes=codes)
    if proc.returncode == expected[0] and expected[1] is not None:
        last = [line for line in err.splitlines() if line.strip()]
        if not last or last[-1] != expected[1] or sum(line.startswith("error:") for line in last) != 1:
            tally.add("tracebacks", cls, f"{label}: stderr {err[-300:]!r}")
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(p) for p in seen):
        time.sleep(0.05)
    alive = [p for p in seen if _alive(p)]
    if alive:
        tally.add("left_behind", cls, f"{label}: processes {alive} still running")
        for p in alive:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
    if how != "sigkill" and leftovers(tmp):
        tally.add("left_behind", cls, f"{label}: {leftovers(tmp)}")
    for module in out.glob("*.py"):
        try:
            compile(module.read_text(), str(module), "exec")
        except SyntaxError:
            tally.add("left_behind", cls, f"{label}: a partial module {module.name}")


def case_io(rng: random.Random, tmp: Path, tally: Tally) -> None:
    """Output that cannot be written: a full disk on stdout, an unwritable cache, a file-size limit."""
    import resource

    cls = "io"
    kind = rng.choice(["dev-full", "cache-under-a-file", "file-size"])
    argv = rng.choice([["list"], ["derive", "kl"], ["gauss", "kl", "--p", "0,1", "--q", "1,2"],
                       ["derive", "--f", "u*log(u) + (u - 1)**2"]])
    env = {"FDIV_CACHE_DIR": str(tmp / "cache")}
    label = f"{kind} {' '.join(argv)}"
    if kind == "dev-full":
        if not os.path.exists("/dev/full"):
            return
        with open("/dev/full", "w") as full:
            code, _, err = run_proc(argv, env=env, stdout=full)
        if judge(tally, cls, label, code, "", err) and (code != 2 or "cannot write the output" not in err):
            tally.add("wrong", cls, f"{label}: exit {code}: {err[-200:]}")
        return
    if kind == "cache-under-a-file":
        (tmp / "file").write_text("x")
        env["FDIV_CACHE_DIR"] = str(tmp / "file" / "cache")
        code, out, err = run_proc(argv, env=env)
        if judge(tally, cls, label, code, out, err) and code != 0:
            tally.add("wrong", cls, f"{label}: exit {code}: {err[-200:]}")
        if err.count("note: the derivation cache") > 1:
            tally.add("wrong", cls, f"{label}: more than one note: {err}")
        return
    out_dir = tmp / "out"
    out_dir.mkdir()
    (out_dir / "kl.py").write_text((ROOT / "fdiv" / "losses" / "kl.py").read_text())
    before = (out_dir / "kl.py").read_bytes()
    limit = rng.choice([512, 2048, 8192])

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    code, out, err = run_proc(["gen", "jeffrey", "--name", "kl", "-o", str(out_dir)], env=env, preexec_fn=small_files)
    if judge(tally, cls, label, code, out, err):
        if code == 0:
            compile((out_dir / "kl.py").read_text(), "kl.py", "exec")
        elif (out_dir / "kl.py").read_bytes() != before:
            tally.add("clobbered", cls, f"{label}: a failed write changed the old module")
    if leftovers(tmp):
        tally.add("left_behind", cls, f"{label}: {leftovers(tmp)}")


def case_history(rng: random.Random, tmp: Path, tally: Tally) -> None:
    """`plot --history` on files that are not histories."""
    cls = "history"
    path = tmp / "history.json"
    kind = rng.choice(["fifo", "dev-zero", "binary", "nested", "wrong-shape", "huge-numbers", "directory"])
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    elif kind == "binary":
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 3000))))
    elif kind == "nested":
        path.write_text("[" * 50_000 + "]" * 50_000)
    elif kind == "wrong-shape":
        path.write_text(json.dumps(rng.choice([[], {}, {"step": "x"}, {"step": [1], "bound": [1, 2]}, 3, None])))
    elif kind == "huge-numbers":
        path.write_text('{"step": [1e999], "bound": [' + "9" * 5000 + "]}")
    else:
        path.mkdir()
    code, out, err = run_cli(["plot", "--history", str(path), "-o", str(tmp / "h.png")], 60)
    label = kind
    if judge(tally, cls, label, code, out, err) and code == 0:
        tally.add("wrong", cls, f"{label}: drew a figure from it")


ORACLE_FUNCS = {
    # name: (body, whether it is a correct FID that behaves)
    "good": ("return fid(*a)", True),
    "exits": ("os._exit(0)", False),
    "exits_in_1d": ("if len(a[0]) == 1:\n        os._exit(0)\n    return fid(*a)", False),
    "sys_exit": ("sys.exit(3)", False),
    "base_exception": ("raise Stop('stop')", False),
    "writes_fd1": ("os.write(1, b'not json\\n'); print('x'); return fid(*a)", True),
    "moves_around": ("os.chdir('/'); sys.path.clear(); return fid(*a)", True),
    "edits_inputs": ("r = fid(*a); a[1][...] = 0; return r", False),  # documented: an in-place edit fails
    "zeroes_then_answers": ("a[0][...] = 0; a[2][...] = 0; return fid(*a)", False),
    "complex": ("return complex(fid(*a), 1.0)", False),
    "nan": ("return float('nan')", False),
    "wrong": ("return 1.01 * fid(*a) + 1e-3", False),
    "spins": ("while True:\n        pass", False),
    "kills_parent": ("os.kill(os.getppid(), 0); return fid(*a)", True),
}
ORACLE_PRELUDE = '''import os, sys
import numpy as np


class Stop(BaseException):
    pass


def factor(s):
    w, v = np.linalg.eigh(s)
    keep = w > len(w) * np.finfo(float).eps * max(w.max(), 0.0)
    return v[:, keep] * np.sqrt(w[keep])


def fid(mu1, s1, mu2, s2):
    f1, f2 = factor(s1), factor(s2)
    nuclear = np.linalg.svd(f1.T @ f2, compute_uv=False).sum() if f1.size and f2.size else 0.0
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * nuclear)
'''


def case_oracle(rng: random.Random, tmp: Path, tally: Tally) -> None:
    """Code under `fdiv verify fid` that misbehaves: exit 0 only with a complete, agreeing report of a correct
    function; every other end is a verdict or one error line; JSON stays JSON."""
    cls = "oracle"
    func = rng.choice(sorted(ORACLE_FUNCS))
    body, good = ORACLE_FUNCS[func]
    import_time = rng.random() < 0.15
    source = ORACLE_PRELUDE + ("\nwhile True:\n    pass\n" if import_time else "")
    source += f"\n\ndef {func}(*a):\n    {body}\n"
    (tmp / "user.py").write_text(source)
    fmt = rng.choice(["json", "text"])
    argv = ["verify", "fid", f"{tmp / 'user.py'}:{func}", "--max-dim", "8", "--format", fmt, "--time-limit", "2"]
    code, out, err = run_proc(argv, seconds=300)
    label = f"{func}{' (import loops)' if import_time else ''} {fmt}"
    if not judge(tally, cls, label, code, out, err):
        return
    if code == 0 and (import_time or not good):
        tally.add("wrong", cls, f"{label}: exit 0 for a function that is wrong or never ran")
    if code != 0 and good and not import_time:
        tally.add("wrong", cls, f"{label}: exit {code} for a correct function: {err[-200:]} {out[-300:]}")
    if fmt == "json" and code in (0, 1):
        try:
            report = json.loads(out)
            if code == 0 and report.get("outcome") != "agree":
                tally.add("wrong", cls, f"{label}: exit 0 with outcome {report.get('outcome')}")
        except ValueError:
            tally.add("wrong", cls, f"{label}: the JSON report does not parse: {out[:200]!r}")


CLASSES: dict[str, Callable[[random.Random, Path, Tally], None]] = {
    "cache": case_cache, "text": case_text, "gen": case_gen, "constants": case_constants, "numerics": case_numerics,
    "signals": case_signals, "io": case_io, "history": case_history, "oracle": case_oracle,
}


def run(counts: dict[str, int], seed: int, root: Path, *, progress: Callable[[str], None] | None = None) -> Tally:
    """counts[class] cases of each class, drawn from `seed`, each in its own folder under root."""
    tally = Tally()
    for cls, n in counts.items():
        rng = random.Random(f"{seed}:{cls}")
        for i in range(n):
            tmp = root / f"{cls}-{i}"
            tmp.mkdir(parents=True)
            tally.case(cls)
            try:
                CLASSES[cls](rng, tmp, tally)
            except Exception as exc:  # noqa: BLE001 - the harness reports, it does not stop
                import traceback

                tally.add("tracebacks", cls, f"case {i}: escaped: {type(exc).__name__}: {exc} "
                                             f"{traceback.format_exc()[-400:]}")
            if progress:
                progress(f"{cls} {i + 1}/{n}: {tally.summary()}")
    return tally
