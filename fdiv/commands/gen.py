"""fdiv gen: write a torch (or JAX) loss module for a divergence."""
from __future__ import annotations

import sys
from pathlib import Path

from ..errors import FdivError
from ..spec.names import module_name
from . import common

EPILOG = """examples:
  fdiv gen gan -o .                                  writes ./gan.py
  fdiv gen --f "Abs(u - 1)**3" --name cubic -o losses
  fdiv gen --f "(sqrt(u) - 1)**4" --name quartic -o .  a numeric conjugate: a root solve with exact gradients
  fdiv gen kl --objective dpo -o .                   writes ./kl_dpo.py: DPO (f-DPO for other f's)
  fdiv gen gan --backend jax -o .                    the same functions for JAX (jax.jit, jax.grad, jax.vmap)

The module imports torch only (--backend jax: jax and jax.numpy only; writing it does not need jax). It is written atomically and never through a symbolic link, and it replaces an
existing file only if fdiv generated that file (its header says so) unless --force. --name must be a plain
module name that shadows no importable module and no start-up hook (sitecustomize, usercustomize, conftest,
setup)."""


def add_parser(sub, formatter) -> None:
    p = sub.add_parser("gen", help="write a torch loss module for a divergence", formatter_class=formatter,
                       epilog=EPILOG, description="Generate a readable, deterministic torch module with the "
                       "activation, conjugate, critic and generator losses, divergence estimate and density ratio.")
    common.add_target(p)
    p.add_argument("--objective", choices=("fgan", "dpo"), default="fgan",
                   help="fgan: the f-GAN losses (default); dpo: the f-DPO preference loss")
    p.add_argument("--backend", default="torch", metavar="{torch,jax}",
                   help="torch (default) or jax: the same functions, names and docstrings for JAX")
    p.add_argument("--name", dest="module", metavar="MODULE", help="module name (default: the divergence's name)")
    p.add_argument("-o", dest="out", required=True, metavar="DIR", help="an existing directory")
    p.add_argument("--force", action="store_true",
                   help="replace DIR/MODULE.py even if it is not a module fdiv generated")
    common.add_limits(p)


def validate(args) -> None:
    common.check_target(args, "gen")
    if not args.out:
        raise FdivError("-o: give an existing directory")
    if not Path(args.out).is_dir():
        raise FdivError(f"-o {ascii(args.out)}: {'not a directory' if Path(args.out).exists() else 'no such directory'}")
    if args.backend not in ("torch", "jax"):
        raise FdivError(f"--backend {ascii(args.backend)}: expected torch or jax")
    if args.module is not None:
        module_name(args.module)


def run(args) -> str:
    from ..codegen.emit import write_module

    if args.objective == "dpo":  # f* and f(1) play no part in the preference loss: no notes about them
        from ..codegen.objectives.dpo import write_module
    d = common.derivation(args)
    if args.objective == "dpo":
        return f"wrote {write_module(d, args.out, args.module, force=args.force, backend=args.backend)}"
    notes: list[str] = []
    path = write_module(d, args.out, args.module, notes, force=args.force, backend=args.backend)
    common.notes(d)
    for line in notes + _fallback_notes(path):
        print(f"note: {line}", file=sys.stderr)
    return f"wrote {path}"


def _fallback_notes(path: Path) -> list[str]:
    """Where a numeric branch keeps the 64-step bracketed Newton iteration (no table converged: f' growing like
    e^(e^y)), its cost, measured here: critic_loss + backward at 1e5 float32 logits against the catalogue's
    Jeffrey loss, in this process (CPU time, median of 5). Timing only goes into the note, never into the module."""
    text = path.read_text(encoding="utf-8")
    if "_bracketed_newton(" not in text or "import torch" not in text:
        return []
    import importlib.util
    import time

    import torch

    from ..losses import jeffrey

    spec = importlib.util.spec_from_file_location(f"_fdiv_measured_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    logits = torch.randn(2, 100_000, generator=torch.Generator().manual_seed(0)) * 3

    def cost(loss) -> float:
        # per call, over at least 50 ms of CPU per round: the process clock may tick as coarsely as 4 ms, and one
        # Jeffrey call at 1e5 logits takes about 2 ms (a single call timed 0 and gave a ratio of 5e8)
        times = []
        for _ in range(4):
            calls, start = 0, time.process_time()
            while True:
                v_real, v_fake = (x.clone().requires_grad_() for x in logits)
                loss(v_real, v_fake).backward()
                calls += 1
                elapsed = time.process_time() - start
                if elapsed >= 0.05:
                    break
            times.append(elapsed / calls)
        return sorted(times[1:])[1]  # the median of three, after a first round that warms up

    ratio = cost(module.critic_loss) / max(cost(jeffrey.critic_loss), 1e-9)
    return [f"no table of the inverse of f' reaches float64 resolution within 4 Newton steps for a branch of f* (f' "
            f"growing like e^(e^y) in y = log u, say), so the module solves it by a 64-step bracketed Newton iteration "
            f"in float64: critic_loss + backward costs {ratio:.0f}x the catalogue's Jeffrey loss (1e5 float32 logits, "
            "measured now)"]
