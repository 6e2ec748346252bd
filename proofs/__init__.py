"""Machine-checked derivations of the course notes, and a claims checker.

Layout: `engine` (Proof, steps, Condition, Lemma), `algebra` (the zero and sign tests behind each step),
`numeric` (the labelled 30-digit fallback), `lemmas` (named inequalities), `gaussian` (Gaussian integrals from
moments), `derivations` (fdiv's derivations, memoised), one module per topic, `claims` (the claims checker),
`notes` (the notes' claims, verbatim), `report` (Markdown and JSON).

A topic is a module of this package with a `proofs() -> list[Proof]` function and a `TITLE`; adding one is one
line in TOPICS. run_all() checks every derivation and every claim of the notes the checker evaluates
(`coverage` says how much of the notes that is); `python -m proofs` reports them.
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


def all_proofs(topics=None):
    """Every proof (of the named topics, default all), each tagged with its topic's name."""
    out = []
    for name in TOPICS if topics is None else [t for t in TOPICS if t in topics]:
        module = importlib.import_module(f"{__name__}.{name}")
        for proof in module.proofs():
            proof.topic = name
            out.append(proof)
    return out


def run_proofs(topics=None, progress=None):
    """The results of the proofs of the named topics (default all); progress(done, total, title) is called
    after each proof."""
    results = []
    proofs = all_proofs(topics)
    for i, proof in enumerate(proofs):
        result = proof.result()
        result.topic = proof.topic
        results.append(result)
        if progress is not None:
            progress(i + 1, len(proofs), getattr(result, "title", ""))
    return results


def run_all(progress=None):
    """Every proof's result and the notes' verdicts."""
    from .notes import run

    return run_proofs(None, progress), run()
