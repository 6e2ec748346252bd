"""`fdiv verify` as a user meets it: exit 0 agree, 1 numerically limited or wrong (worst counterexample in text and
JSON), 2 bad input with one `error:` line and no traceback."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fdiv.cli import main

ROOT = Path(__file__).resolve().parents[1]

USER_CODE = '''
import numpy as np
import torch
import torch.nn.functional as F

print("user module imported")  # must not reach the report on stdout


def d_loss(v_real, v_fake):
    print("called")
    return -F.logsigmoid(v_real).mean() - F.logsigmoid(-v_fake).mean()


def kl_in_float32(v_real, v_fake):
    """KL's critic loss with sigma = v, computed in float32 whatever the input."""
    r, f = v_real.float(), v_fake.float()
    return (-r.mean() + torch.exp(f - 1).mean()).to(v_real.dtype)


def naive(v_real, v_fake):
    return torch.log(1 + torch.exp(-v_real)).mean() + torch.log(1 + torch.exp(v_fake)).mean()


def one_argument(v):
    return v.mean()


def raises(v_real, v_fake):
    raise RuntimeError("boom")


def kl(mean_p, cov_p, mean_q, cov_q):
    inv_q, delta = np.linalg.inv(cov_q), mean_q - mean_p
    return 0.5 * (np.trace(inv_q @ cov_p) + delta @ inv_q @ delta - len(mean_p)
                  + np.linalg.slogdet(cov_q)[1] - np.linalg.slogdet(cov_p)[1])


def kl_wrong_sign(mean_p, cov_p, mean_q, cov_q):
    return kl(mean_p, cov_p, mean_q, cov_q) - np.linalg.slogdet(cov_q)[1] + np.linalg.slogdet(cov_p)[1]


def fid(mean_p, cov_p, mean_q, cov_q):
    import scipy.linalg
    covmean = np.real(scipy.linalg.sqrtm(cov_p @ cov_q))
    diff = mean_p - mean_q
    return float(diff @ diff + np.trace(cov_p) + np.trace(cov_q) - 2 * np.trace(covmean))


def gauss_raises(mean_p, cov_p, mean_q, cov_q):
    raise ValueError("no")


NOT_A_FUNCTION = 3
'''


@pytest.fixture()
def user_file(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(USER_CODE)
    return path


def verify(capsys, *args):
    code = main(["verify", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_agree_is_exit_0_and_their_prints_stay_off_stdout(user_file, capsys):
    code, out, err = verify(capsys, "loss", f"{user_file}:d_loss", "--against", "gan", "--role", "critic_loss",
                            "--format", "json")
    assert code == 0, err
    report = json.loads(out)  # nothing but the report on stdout
    assert report["verdict"] == "agree" and report["failed"] == 0
    assert "user module imported" in err and "called" in err


def test_disagree_is_exit_1_with_the_worst_counterexample(user_file, capsys):
    code, out, err = verify(capsys, "loss", f"{user_file}:kl_in_float32", "--f", "u*log(u)", "--role", "critic_loss",
                            "--format", "json")
    assert code == 1, err
    report = json.loads(out)
    worst = report["worst"]
    assert {p["dtype"] for p in report["nonfinite"]} <= {"float64"} and worst["dtype"] == "float64"
    assert {"v_real", "v_fake"} == set(worst["inputs"]) and isinstance(worst["exact"], float)
    assert worst["theirs"] == "inf" or abs(worst["theirs"] - worst["exact"]) > worst["tolerance"]
    code, out, _ = verify(capsys, "loss", f"{user_file}:naive", "--against", "gan", "--role", "critic_loss")
    assert code == 1 and out.startswith("NUMERICALLY LIMITED: critic_loss naive against gan")
    assert "worst: " in out and "diagnosis: overflow" in out


def test_gaussian_divergence_and_fid(user_file, capsys):
    assert verify(capsys, "gaussian-divergence", f"{user_file}:kl", "--against", "kl", "--max-dim", "32")[0] == 0
    code, out, _ = verify(capsys, "gaussian-divergence", f"{user_file}:kl_wrong_sign", "--against", "kl",
                          "--max-dim", "32")
    assert code == 1 and "log det" in out
    code, out, _ = verify(capsys, "fid", f"{user_file}:fid", "--max-dim", "64", "--format", "json")
    assert code == 1 and "singular" in json.loads(out)["diagnosis"]


BAD = {
    "missing file": ["loss", "{dir}/nope.py:f", "--against", "gan", "--role", "critic_loss"],
    "no such function": ["loss", "{file}:nope", "--against", "gan", "--role", "critic_loss"],
    "not a function": ["loss", "{file}:NOT_A_FUNCTION", "--against", "gan", "--role", "critic_loss"],
    "no FUNC": ["loss", "{file}", "--against", "gan", "--role", "critic_loss"],
    "not a .py file": ["loss", "{dir}/data.txt:f", "--against", "gan", "--role", "critic_loss"],
    "syntax error": ["loss", "{dir}/broken.py:f", "--against", "gan", "--role", "critic_loss"],
    "raises on import": ["loss", "{dir}/exits.py:f", "--against", "gan", "--role", "critic_loss"],
    "wrong signature": ["loss", "{file}:one_argument", "--against", "gan", "--role", "critic_loss"],
    "function that raises": ["loss", "{file}:raises", "--against", "gan", "--role", "critic_loss"],
    "unknown divergence": ["loss", "{file}:d_loss", "--against", "nope", "--role", "critic_loss"],
    "both --against and --f": ["loss", "{file}:d_loss", "--against", "gan", "--f", "u*log(u)", "--role",
                               "critic_loss"],
    "bad --f": ["loss", "{file}:d_loss", "--f", "import os", "--role", "critic_loss"],
    "unknown role": ["loss", "{file}:d_loss", "--against", "gan", "--role", "loss"],
    "invalid activation": ["loss", "{file}:d_loss", "--against", "gan", "--role", "critic_loss",
                           "--activation", "v)"],
    "gaussian function raises": ["gaussian-divergence", "{file}:gauss_raises", "--against", "kl"],
    "renyi without alpha": ["gaussian-divergence", "{file}:kl", "--against", "renyi"],
    "max-dim 0": ["fid", "{file}:fid", "--max-dim", "0"],
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_error_line_exit_2(case, user_file, capsys):
    (user_file.parent / "data.txt").write_text("x")
    (user_file.parent / "broken.py").write_text("def f(:\n")
    (user_file.parent / "exits.py").write_text("import sys\nsys.exit(3)\n")
    args = [a.format(dir=user_file.parent, file=user_file) for a in BAD[case]]
    code, out, err = verify(capsys, *args)
    lines = [x for x in err.strip().splitlines() if x != "user module imported"]
    assert code == 2 and out == ""
    assert len(lines) == 1 and lines[0].startswith("error: "), err


def test_help_says_importing_runs_their_code(capsys):
    for args in (["verify", "--help"], ["verify", "loss", "--help"], ["verify", "fid", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            main(args)
        assert exit_.value.code == 0
        assert "executes its code" in capsys.readouterr().out.replace("\n", " ")


def test_as_a_subprocess_no_traceback(user_file):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    result = subprocess.run([sys.executable, "-m", "fdiv", "verify", "loss", f"{user_file}:one_argument",
                             "--against", "gan", "--role", "critic_loss"], capture_output=True, text=True, env=env,
                            timeout=900)
    assert result.returncode == 2 and result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: wrong signature")
