"""`fdiv verify` runs the user's file in a child process: every way its code can end (any exception, SystemExit,
os._exit, a CPU hog, a sleep, a complex or meta tensor) is that case's result and the other cases still run;
the CPU limit covers the import; writes to fd 1, a changed working directory or sys.path do not reach the
report; exit 0 only with a complete, agreeing report. The options of the third wave: --rtol, --logits,
--log-ratios, --dims, --verbose, did-you-mean, the JSON outcome. Gaussian functions keep the children cheap (no
torch in them); the torch ones are few."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fdiv.cli import main

ROOT = Path(__file__).resolve().parents[1]

GAUSS = '''
import os, sys, time
import numpy as np


def factor(s):
    w, v = np.linalg.eigh(s)
    keep = w > len(w) * np.finfo(float).eps * max(w.max(), 0.0)
    return v[:, keep] * np.sqrt(w[keep])


def fid(mu1, s1, mu2, s2):
    f1, f2 = factor(s1), factor(s2)
    nuclear = np.linalg.svd(f1.T @ f2, compute_uv=False).sum() if f1.size and f2.size else 0.0
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * nuclear)


def exits_in_1d(*a):
    if len(a[0]) == 1:
        os._exit(0)
    return fid(*a)


def sys_exit_in_1d(*a):
    if len(a[0]) == 1:
        sys.exit(3)
    return fid(*a)


class Stop(BaseException):
    pass


def base_exception_in_1d(*a):
    if len(a[0]) == 1:
        raise Stop("stop")
    return fid(*a)


def spins_at_d2(*a):
    while len(a[0]) == 2:
        pass
    return fid(*a)


def sleeps_at_d2(*a):
    if len(a[0]) == 2:
        time.sleep(3600)
    return fid(*a)


def writes_to_fd1(*a):
    os.write(1, b"not json\\n")
    print("printed")
    return fid(*a)


def moves_around(*a):
    os.chdir("/")
    sys.path.clear()
    return fid(*a)


def always_exits(*a):
    os._exit(0)


def eig_fid(mu1, s1, mu2, s2):
    diff = mu1 - mu2
    tr = np.sum(np.sqrt(np.linalg.eigvals(s1 @ s2).astype(complex)).real)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2 * tr)


def unpacks(mu1, s1, mu2, s2):
    covmean, _ = (np.eye(1),) if len(mu1) == 1 else (None, 0)
    return fid(mu1, s1, mu2, s2)
'''

TORCH = '''
import torch
import torch.nn.functional as F


def complex_when_large(v):
    y = F.logsigmoid(v)
    return y.to(torch.complex64) if bool((v.abs() > 500).any()) else y


def meta_when_large(v):
    return torch.empty(v.shape, device="meta") if bool((v.abs() > 500).any()) else F.logsigmoid(v)


def clamps_in_place(v):
    with torch.no_grad():
        v.clamp_(max=20)
    return torch.exp(v - 1)


def clamped_gan(v_real, v_fake):
    r, f = v_real.clamp(-15, 15), v_fake.clamp(-15, 15)
    return F.softplus(-r).mean() + F.softplus(f).mean()


def dpo(lw, lrw, ll, lrl, beta):
    return -F.logsigmoid(beta * ((lw - lrw) - (ll - lrl)))
'''


@pytest.fixture()
def files(tmp_path):
    (tmp_path / "gauss.py").write_text(GAUSS)
    (tmp_path / "tl.py").write_text(TORCH)
    (tmp_path / "spin.py").write_text("while True:\n    pass\n")
    return tmp_path


def verify(capsys, *args):
    code = main(["verify", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def fid_json(capsys, files, func, *extra):
    code, out, err = verify(capsys, "fid", f"{files / 'gauss.py'}:{func}", "--max-dim", "64", "--format", "json",
                            *extra)
    return code, json.loads(out), err


@pytest.mark.parametrize("func, words", [
    ("exits_in_1d", "ended its process with exit status 0"),
    ("sys_exit_in_1d", "raised SystemExit(3)"),
    ("base_exception_in_1d", "raised Stop: stop"),
])
def test_every_end_of_a_call_is_that_cases_result(capsys, files, func, words):
    code, report, err = fid_json(capsys, files, func)
    assert code == 1 and report["outcome"] == "limited" and "Traceback" not in err
    failed = [p for p in [report["worst"]] if p]
    assert words in failed[0]["expected"]
    assert any(words in x and "'1-D'" in x for x in report["limits"])
    assert report["comparisons"] == 16  # every case has its verdict


def test_a_cpu_hog_and_a_sleep_in_one_case(capsys, files):
    code, report, _ = fid_json(capsys, files, "spins_at_d2", "--time-limit", "1")
    assert code == 1 and any("used more than its CPU limit of 1 s" in x and "'d=2'" in x for x in report["limits"])
    start = time.monotonic()
    code, report, _ = fid_json(capsys, files, "sleeps_at_d2", "--time-limit", "0.5")
    assert code == 1 and any("did not return within 5 s of wall-clock time" in x for x in report["limits"])
    assert time.monotonic() - start < 120


def test_output_and_environment_changes_do_not_reach_the_report(capsys, files):
    code, report, err = fid_json(capsys, files, "writes_to_fd1")
    assert code == 0 and report["outcome"] == "agree" and "not json" in err and "printed" in err
    # replayed under one note line, indented: the code under test cannot print a line that reads as fdiv's own
    lines = [line for line in err.splitlines() if line.strip()]
    assert all(line.startswith(("note: ", "  | ")) for line in lines), err
    assert "  | not json" in lines and sum(line.startswith("note: what") for line in lines) == 1, err
    code, report, _ = fid_json(capsys, files, "moves_around")
    assert code == 0 and report["outcome"] == "agree"


def test_the_cpu_limit_covers_the_import(capsys, files):
    start = time.process_time(), time.monotonic()
    code, out, err = verify(capsys, "fid", f"{files / 'spin.py'}:fid", "--time-limit", "1")
    assert code == 2 and out == "" and err.startswith("error: importing ") and "CPU limit of 1 s" in err
    assert time.monotonic() - start[1] < 60


def test_a_function_that_never_returns_a_value_is_an_error_not_an_agreement(capsys, files):
    code, out, err = verify(capsys, "fid", f"{files / 'gauss.py'}:always_exits", "--max-dim", "8")
    assert code == 2 and out == "" and "no number on any case" in err and "exit status 0" in err


def test_wrong_tensor_kinds_and_in_place_edits(capsys, files):
    code, out, _ = verify(capsys, "loss", f"{files / 'tl.py'}:complex_when_large", "--against", "gan", "--role",
                          "activation", "--dtype", "float32", "--no-gradients", "--format", "json")
    report = json.loads(out)
    assert code == 1 and any("complex tensor" in x for x in report["limits"]), report
    code, out, _ = verify(capsys, "loss", f"{files / 'tl.py'}:clamps_in_place", "--against", "kl", "--role",
                          "conjugate_of_activation", "--dtype", "float64", "--no-gradients")
    assert code == 1 and "changes its argument v in place" in out


def test_logits_restrict_a_clamped_loss_to_its_range(capsys, files):
    target = f"{files / 'tl.py'}:clamped_gan"
    code, out, _ = verify(capsys, "loss", target, "--against", "gan", "--role", "critic_loss", "--dtype", "float32")
    assert code == 1 and out.startswith("NUMERICALLY LIMITED: critic_loss clamped_gan against gan")
    code, out, _ = verify(capsys, "loss", target, "--against", "gan", "--role", "critic_loss", "--dtype", "float32",
                          "--logits", "-15,15")
    assert code == 0 and out.startswith("AGREE: ") and "logits in [-15, 15] only" in out.splitlines()[0]


def test_rtol_dims_and_verbose(capsys, files):
    code, report, _ = fid_json(capsys, files, "eig_fid")
    assert code == 1 and report["outcome"] == "limited" and report["reporting_precision"]["below"]
    code, out, _ = verify(capsys, "fid", f"{files / 'gauss.py'}:eig_fid", "--max-dim", "64", "--rtol", "1e-6")
    assert code == 0 and "rtol loosened to 1e-06" in out.splitlines()[0]
    assert "(the rule in full: verbose)" in out
    code, out, _ = verify(capsys, "fid", f"{files / 'gauss.py'}:unpacks", "--dims", "2,8,32", "--verbose")
    assert code == 0 and "d in {2, 8, 32} only" in out.splitlines()[0]
    assert "tolerance: 1e-9 (|exact| + |dmu|^2 + tr Sp + tr Sq) per case" in out and "verbose)" not in out


def test_dpo_verb(capsys, files):
    target = f"{files / 'tl.py'}:dpo"
    code, out, _ = verify(capsys, "dpo", target, "--against", "kl", "--format", "json")
    assert code == 0 and json.loads(out)["outcome"] == "agree"
    code, out, _ = verify(capsys, "dpo", target, "--against", "reverse-kl", "--log-ratios", "-5,5")
    assert code == 1 and out.startswith("WRONG: dpo dpo against reverse-kl") and "this is the f-DPO loss of kl" in out


@pytest.mark.parametrize("args, words", [
    (["loss", "{t}:clamped_gan", "--against", "kll", "--role", "critic_loss"], "(did you mean 'kl'?)"),
    (["dpo", "{t}:dpo", "--against", "revrse-kl"], "(did you mean 'reverse-kl'?)"),
    (["gaussian-divergence", "{g}:fid", "--against", "bhatacharyya"], "(did you mean 'bhattacharyya'?)"),
    (["loss", "{t}:clamped_gan", "--against", "gan", "--role", "critic_loss", "--logits", "5,-5"], "LO < HI"),
    (["fid", "{g}:fid", "--dims", "2,x"], "--dims"),
    (["fid", "{g}:fid", "--rtol", "-1"], "--rtol"),
    (["dpo", "{t}:dpo", "--against", "pearson"], "no valid f-DPO link"),
])
def test_bad_options_are_one_error_line(capsys, files, args, words):
    code, out, err = verify(capsys, *[a.format(t=files / "tl.py", g=files / "gauss.py") for a in args])
    assert code == 2 and out == "" and err.startswith("error: ") and err.count("\n") == 1 and words in err, err


def test_ctrl_c_during_a_verification_leaves_no_child(files):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    # as from a terminal: SIGINT at its default (a test worker may run with it ignored, which children inherit)
    proc = subprocess.Popen([sys.executable, "-m", "fdiv", "verify", "fid", f"{files / 'gauss.py'}:sleeps_at_d2",
                             "--max-dim", "8"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            start_new_session=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    time.sleep(1.0)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not _children(proc.pid):
        time.sleep(0.2)
    kids = _children(proc.pid)
    os.killpg(proc.pid, 2)  # Ctrl-C reaches the whole foreground group
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and err.decode().strip().splitlines()[-1] == "error: interrupted"
    time.sleep(0.5)
    assert kids and not [k for k in kids if Path(f"/proc/{k}").exists() and _state(k) != "Z"]


def _children(pid: int) -> list[int]:
    try:
        return [int(x) for x in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].split()[0]
    except (OSError, IndexError):
        return ""
