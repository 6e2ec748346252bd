"""Smoke test of an installed fdiv (run by .ci/wheel_smoke in a fresh venv, outside the checkout).

Each check states what would make it fail: one import name (the distribution installs only `fdiv`; numerics and
proofs live inside it), and the CLI verbs on a right and a wrong input each."""
from __future__ import annotations

import importlib.metadata as md
import importlib.util
import json
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.argv[1])
FAILED: list[str] = []


def check(what: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail and not ok else ""))
    if not ok:
        FAILED.append(what)


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "fdiv"), *args], capture_output=True, text=True, cwd=cwd, timeout=900)


# one import name: every file of the distribution is under fdiv/ (or its metadata, or the fdiv script)
tops = {f.parts[0] for f in md.files("fdiv") if f.parts[0] not in (".", "..") and not f.parts[0].endswith(".dist-info")}
check("the distribution installs one import name, fdiv", tops == {"fdiv"}, str(tops))
check("numerics and proofs are inside fdiv", importlib.util.find_spec("fdiv.numerics") is not None
      and importlib.util.find_spec("fdiv.proofs") is not None)
check("no top-level numerics or proofs", importlib.util.find_spec("numerics") is None
      and importlib.util.find_spec("proofs") is None)
import fdiv  # noqa: E402

check("fdiv is the installed copy", "site-packages" in fdiv.__file__, fdiv.__file__)

out = cli("derive", "kl", "--format", "json")
check("fdiv derive kl", out.returncode == 0 and json.loads(out.stdout)["conjugate"] == "exp(t - 1)", out.stderr)
out = cli("derive", "no-such-divergence")
check("fdiv derive refuses an unknown name", out.returncode == 2 and out.stderr.startswith("error:"), out.stderr)

with tempfile.TemporaryDirectory() as tmp:
    out = cli("gen", "kl", "-o", tmp)
    module = Path(tmp) / "kl.py"
    check("fdiv gen kl -o DIR", out.returncode == 0 and module.is_file(), out.stderr)
    out = cli("verify", "loss", f"{module}:critic_loss", "--against", "kl", "--role", "critic_loss")
    check("fdiv verify agrees with a generated loss", out.returncode == 0, out.stdout[-500:] + out.stderr)
    wrong = Path(tmp) / "wrong.py"
    wrong.write_text("import torch\n\ndef critic_loss(v_real, v_fake):\n"
                     "    return -(v_real.mean() - torch.exp(v_fake).mean())\n")  # f*(t) = e^t: KL's is e^(t-1)
    out = cli("verify", "loss", f"{wrong}:critic_loss", "--against", "kl", "--role", "critic_loss")
    check("fdiv verify rejects a wrong loss", out.returncode == 1, out.stdout[-500:] + out.stderr)

out = cli("gauss", "kl", "--p", "0,1", "--q", "1,2")
value = float(out.stdout.split()[0]) if out.returncode == 0 else float("nan")
check("fdiv gauss kl", abs(value - 0.34657359027997264) < 1e-12, out.stdout + out.stderr)  # log(2)/2: closed form
out = cli("check", "conjugate", "kl", "--claim", "exp(t - 1)")
check("fdiv check verifies a right conjugate", out.returncode == 0 and out.stdout.startswith("verified"), out.stdout)
out = cli("check", "conjugate", "kl", "--claim", "exp(t)")
check("fdiv check refutes a wrong one", out.returncode == 1, out.stdout + out.stderr)

out = cli("proofs", "--check")
check("fdiv proofs --check", out.returncode == 0 and "0 not as expected" in out.stdout, out.stdout[-800:] + out.stderr)
out = cli("proofs", "--write")
check("fdiv proofs --write refuses the installed reports", out.returncode == 2 and out.stderr.startswith("error:"),
      out.stderr)

print(f"wheel smoke test: {len(FAILED)} failed" + (f" ({', '.join(FAILED)})" if FAILED else ""))
sys.exit(1 if FAILED else 0)
