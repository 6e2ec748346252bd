"""Safe at the edges, part 2: nothing clobbered, constants within float64, signals and interrupted writes,
a full disk on stdout, escaped text from TOML files, bounded history reads. Each test names the finding it
pins (they failed before the change they test)."""
from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fdiv.cli import main

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def one_error(code: int, err: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and sum(line.startswith("error: ") for line in lines) == 1 and "Traceback" not in err, err
    assert all(line.startswith(("error: ", "note: ")) for line in lines), err


# ------------------------------------------------------------------------------------------- clobbering
HAND_WRITTEN = "# my own KL loss, weeks of work\ndef loss(x):\n    return x\n"


def test_gen_does_not_replace_a_hand_written_module(tmp_path, capsys, monkeypatch):
    """`gen kl -o .` replaced a hand-written kl.py."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "kl.py").write_text(HAND_WRITTEN)
    code, out, err = cli(capsys, "gen", "kl", "-o", ".")
    one_error(code, err)
    assert "not a module fdiv generated" in err and "--force" in err
    assert (tmp_path / "kl.py").read_text() == HAND_WRITTEN and sorted(os.listdir(tmp_path)) == ["kl.py"]
    code, out, err = cli(capsys, "gen", "kl", "-o", ".", "--force")
    assert code == 0 and (tmp_path / "kl.py").read_text().startswith('"""fdiv loss module for kl')


def test_gen_replaces_a_module_it_generated(tmp_path, capsys):
    (tmp_path / "kl.py").write_text((ROOT / "fdiv" / "losses" / "jeffrey.py").read_text())
    assert cli(capsys, "gen", "kl", "-o", str(tmp_path))[0] == 0
    assert (tmp_path / "kl.py").read_text() == (ROOT / "fdiv" / "losses" / "kl.py").read_text()
    (tmp_path / "kl_dpo.py").write_text(HAND_WRITTEN)
    code, out, err = cli(capsys, "gen", "kl", "--objective", "dpo", "-o", str(tmp_path))
    one_error(code, err)
    assert (tmp_path / "kl_dpo.py").read_text() == HAND_WRITTEN


@pytest.mark.parametrize("name", ["setup", "conftest", "sitecustomize", "usercustomize", "os", "Setup"])
def test_names_that_python_or_pytest_load_by_themselves_are_refused(name, tmp_path, capsys):
    """`--name setup` replaced setup.py; conftest and sitecustomize were accepted as names."""
    code, out, err = cli(capsys, "gen", "kl", "--name", name, "-o", str(tmp_path))
    one_error(code, err)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------- constants
@pytest.mark.parametrize("f", ["u*log(u)*1e-310", "u*log(u)*exp(-710)", "u*log(u)*1e-200*1e-200",
                               "u*log(u)*" + "*".join(["1e12"] * 26), "u**2*2**-1100", "(u - 1)**2*(1e-160)**2"])
def test_constants_outside_float64_are_refused_at_parse_time(f, tmp_path, capsys):
    """These gave a module with a bare `inf` (NameError on first call) or a loss identically 0."""
    code, out, err = cli(capsys, "gen", "--f", f, "--name", "m", "-o", str(tmp_path))
    one_error(code, err)
    assert ("too small" in err or "too large" in err) and list(tmp_path.iterdir()) == []


def test_every_constant_of_a_generated_module_is_a_normal_float(tmp_path, capsys):
    """The last guard, on the module text: a constant SymPy formed while deriving is checked too."""
    from fdiv.codegen.emit import check_constants
    from fdiv.errors import FdivError

    for path in (ROOT / "fdiv" / "losses").glob("*.py"):
        check_constants(path.read_text())  # the shipped modules pass
    for bad in ("x = inf", "y = 1e-320", "z = 1e+309 * 2", "w = 10 ** 400 + nan"):
        with pytest.raises(FdivError):
            check_constants(bad)
    assert cli(capsys, "gen", "--f", "u*log(u)*1e-300", "--name", "tiny", "-o", str(tmp_path))[0] == 0
    spec = importlib.util.spec_from_file_location("tiny", tmp_path / "tiny.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import torch

    v = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    loss = module.critic_loss(v, v)  # no NameError; not identically 0
    assert torch.isfinite(loss) and loss != 0


# ------------------------------------------------------------------------------------------- terminal text
def test_toml_title_and_published_activation_are_printed_escaped(tmp_path, capsys):
    """Terminal escapes in a TOML title could fake `[ok]` lines: printed escaped. A published activation is an
    expression, so control characters in it are bad input: one error line, itself escaped."""
    spec = tmp_path / "evil.toml"
    spec.write_text('[[divergence]]\nname = "evil"\nf = "(u - 1)**2"\n'
                    'title = "x\\u001b[2K\\r    [ok] all verified\\u009b"\n')
    for fmt in ("text", "json", "markdown"):
        code, out, err = cli(capsys, "derive", str(spec), "--format", fmt)
        assert code == 0, err
        assert not any(ch in out + err for ch in "\x1b\r\x07\x9b\u202e"), (fmt, out)
    assert "\\u001b[2K\\u000d    [ok] all verified" in cli(capsys, "derive", str(spec))[1]
    spec = tmp_path / "evil_activation.toml"
    spec.write_text('[[divergence]]\nname = "evil_activation"\nf = "(u - 1)**2/2"\n'
                    'published = { activation = "v\\u001b]0;pwned\\u0007\\u202e" }\n')
    code, out, err = cli(capsys, "derive", str(spec))
    one_error(code, err)
    assert "control characters" in err and not any(ch in out + err for ch in "\x1b\r\x07\x9b\u202e"), err


def test_a_derivation_from_memory_carries_the_callers_title_and_published_forms(tmp_path, capsys):
    """Two specs with the same f and name but different titles and published activations share one derivation
    in this process; each must still show its own (the second used to come back with the first's)."""
    for i, act in enumerate(("v", "control\\u0007")):
        spec = tmp_path / f"same{i}.toml"
        spec.write_text(f'[[divergence]]\nname = "same"\nf = "(u - 1)**2/3"\ntitle = "title {i}"\n'
                        f'published = {{ activation = "{act}" }}\n')
    code, out, _ = cli(capsys, "derive", str(tmp_path / "same0.toml"))
    assert code == 0 and "title 0" in out
    code, out, err = cli(capsys, "derive", str(tmp_path / "same1.toml"))
    one_error(code, err)
    assert "published activation: control characters" in err


def test_error_lines_are_escaped(tmp_path, capsys):
    code, out, err = cli(capsys, "derive", "--f", "u*log(u) + \x1b[31m")
    one_error(code, err)
    assert "\x1b" not in err


# -------------------------------------------------------------------------------------------- disk full
@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("args", [["list"], ["derive", "kl"], ["gauss", "kl", "--p", "0,1", "--q", "1,2"]])
def test_a_full_disk_on_stdout_is_one_error_line(args):
    """`> /dev/full` was a traceback."""
    with open("/dev/full", "w") as full:
        result = subprocess.run([sys.executable, "-m", "fdiv", *args], stdout=full, stderr=subprocess.PIPE,
                                text=True, env=ENV, timeout=300)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "error: cannot write the output (No space left on device)", result.stderr


# ------------------------------------------------------------------------------------------------- signals
def _children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _default_sigint() -> None:
    """SIGINT at its default in a child, as from a terminal: a test run started in the background (`cmd &` in a
    script) ignores SIGINT, children inherit that, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _start_derive_all(tmp_path: Path) -> tuple[subprocess.Popen, list[int]]:
    """A cold `derive --all` (nothing cached), once its workers are running."""
    env = dict(ENV, FDIV_CACHE_DIR=str(tmp_path / "cache"), FDIV_NO_CACHE="1")
    proc = subprocess.Popen([sys.executable, "-m", "fdiv", "derive", "--all"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        workers = _children(proc.pid)
        if len(workers) >= 2:
            time.sleep(0.5)  # the workers are deriving
            return proc, workers
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"derive --all started no workers: {proc.communicate()}")


def _gone(pids: list[int], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.05)
    return False


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm", "sigkill"])
def test_signals_stop_derive_all_and_its_workers(how, tmp_path):
    """Ctrl-C during a cold `derive --all` printed two worker tracebacks (43 lines); SIGTERM to the parent left
    the workers running (and writing the cache). Now: one line, the workers stop (also when the parent is
    killed outright), and no temporary file is left."""
    proc, workers = _start_derive_all(tmp_path)
    if how == "ctrl-c":
        os.killpg(proc.pid, signal.SIGINT)  # the terminal sends it to the whole process group
    else:
        os.kill(proc.pid, signal.SIGTERM if how == "sigterm" else signal.SIGKILL)
    out, err = proc.communicate(timeout=120)
    try:
        assert _gone(workers), "workers still running"
        if how == "ctrl-c":
            assert proc.returncode == 130 and err == "error: interrupted\n", err
        elif how == "sigterm":
            assert proc.returncode == 143 and err == "error: terminated\n", err
        else:
            assert proc.returncode == -signal.SIGKILL
        assert not list(tmp_path.rglob("*.tmp"))
    finally:
        for pid in workers:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize("sig, code, line", [(signal.SIGINT, 130, "error: interrupted"),
                                             (signal.SIGTERM, 143, "error: terminated")])
def test_a_signal_during_a_module_write_leaves_no_temporary_file(sig, code, line, tmp_path, monkeypatch, capsys):
    """The write is interrupted between the temporary file and the rename: one line, no .tmp, no module."""
    from fdiv.codegen import emit

    def interrupted(*args, **kwargs):
        os.kill(os.getpid(), sig)
        time.sleep(1)  # the handler raises here

    monkeypatch.setattr(emit.os, "replace", interrupted)
    if sig == signal.SIGINT:  # Python's handler, as from a terminal (see _default_sigint)
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        got, out, err = cli(capsys, "gen", "kl", "-o", str(tmp_path))
    finally:
        if sig == signal.SIGINT:
            signal.signal(signal.SIGINT, previous)
    assert got == code and err.strip() == line
    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_history_or_figure_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    from fdiv._util import atomic as _atomic

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_atomic.os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _atomic.write_bytes(tmp_path / "history.json", b"{}")
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------------------------------------- history
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "large"])
def test_plot_history_reads_only_a_bounded_regular_file(kind, tmp_path, capsys, monkeypatch):
    """`plot --history` hung on a FIFO and read /dev/zero until memory ran out."""
    from fdiv import train

    path = tmp_path / "history.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-zero":
        path.symlink_to("/dev/zero")
    else:
        monkeypatch.setattr(train, "MAX_HISTORY_BYTES", 1000)
        path.write_text("[" + "0, " * 1000 + "0]")
    signal.alarm(60)
    try:
        code, out, err = cli(capsys, "plot", "--history", str(path), "-o", str(tmp_path / "h.png"))
    finally:
        signal.alarm(0)
    one_error(code, err)
    assert ("not a regular file" in err or "larger than" in err) and not (tmp_path / "h.png").exists()


def test_plot_history_with_an_integer_too_long_to_read_is_one_error(tmp_path, capsys):
    """A 5000-digit integer in a history file was an 'internal error' (Python's int-string limit, ValueError)."""
    path = tmp_path / "history.json"
    path.write_text('{"step": [1], "bound": [' + "9" * 5000 + "]}")
    code, out, err = cli(capsys, "plot", "--history", str(path), "-o", str(tmp_path / "h.png"))
    one_error(code, err)
    assert "not a history" in err and "internal error" not in err and not (tmp_path / "h.png").exists()
