"""Machine-checked derivations of the course notes, and a claims checker.

Layout: `engine` (Proof, steps, Condition, Lemma), `algebra` (the zero and sign tests behind each step),
`numeric` (the labelled 30-digit fallback), `lemmas` (named inequalities), `gaussian` (Gaussian integrals from
moments), `derivations` (fdiv's derivations, memoised), one module per topic, `claims` (the claims checker),
`notes` (the notes' claims, verbatim), `report` (Markdown and JSON).

A topic is a module of this package with a `proofs() -> list[Proof]` function and a `TITLE`; adding one is one
line in TOPICS. run_all() checks every derivation and every claim of the notes; `python -m proofs` reports them.
"""
from __future__ import annotations

import importlib
from types import ModuleType

TOPICS = (
    "foundations",
    "fdivergence",
    "gan",
    "adversarial",
    "wasserstein",
    "autoregressive",
    "mle_vae",
    "flows",
    "diffusion",
    "ssm",
    "alignment",
    "ppo",
)


def topic_modules() -> list[ModuleType]:
    return [importlib.import_module(f"{__name__}.{name}") for name in TOPICS]


def all_proofs():
    """Every proof, each tagged with its topic's name."""
    out = []
    for module in topic_modules():
        for proof in module.proofs():
            proof.topic = module.__name__.rsplit(".", 1)[-1]
            out.append(proof)
    return out


def run_all(progress=None):
    """Every proof's result and the notes' verdicts; progress(done, total, title) is called after each proof."""
    from .notes import run

    results = []
    proofs = all_proofs()
    for i, proof in enumerate(proofs):
        result = proof.result()
        result.topic = proof.topic
        results.append(result)
        if progress is not None:
            progress(i + 1, len(proofs), getattr(result, "title", ""))
    return results, run()
