"""Machine-checked derivations of the course notes, and a claims checker (see engine, claims, notes).

run_all() checks every derivation and every claim of the notes; `python -m proofs` reports them.
"""
from __future__ import annotations

from . import fdivergence, flows_ot_ddpm, gan, mle_vae

TOPICS = (fdivergence, gan, mle_vae, flows_ot_ddpm)


def all_proofs():
    return [p for topic in TOPICS for p in topic.proofs()]


def run_all():
    from .notes import run

    return [p.check() for p in all_proofs()], run()
