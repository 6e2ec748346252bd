"""The proofs of the alignment, PPO and state-space topics: every checkable step, changed, fails, and so does
every checked side condition on a changed subject (the suite-wide mutation test in test_proofs.py samples ten
steps of each kind over all topics; here every step of these three is tried). The report lists each family with
its derivations and its exact model."""
from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest

from proofs import TOPICS
from proofs.engine import CHECKABLE, mutate_step

ROOT = Path(__file__).resolve().parents[1]
NEW = ("alignment", "ppo", "ssm")


@pytest.fixture(scope="module", params=NEW)
def topic(request):
    return request.param, importlib.import_module(f"proofs.{request.param}").proofs()


def test_topics_are_registered():
    assert set(NEW) <= set(TOPICS)


def test_every_changed_step_fails(topic):
    name, proofs = topic
    survivors, tried, kinds = [], 0, set()
    for proof in proofs:
        for i, step in enumerate(proof.steps):
            if step.relation not in CHECKABLE:
                continue
            tried += 1
            kinds.add(step.relation)
            if proof.check_step(i, mutate_step(step)).passed:
                survivors.append(f"{proof.title}: step {i} ({step.relation})")
    assert survivors == []
    assert tried >= 10 and {"=", "sign"} <= kinds


def test_every_checked_side_condition_matters(topic):
    """Each checked condition of each lemma step, on a changed subject (negated, shifted, made complex), makes the
    step fail."""
    _, proofs = topic
    survivors = []
    for proof in proofs:
        for i, step in enumerate(proof.steps):
            for j, cond in enumerate(step.lemma.conditions if step.lemma else []):
                if cond.assumption:
                    continue
                conditions = [c if k != j else c.mutated() for k, c in enumerate(step.lemma.conditions)]
                lemma = type(step.lemma)(step.lemma.name, step.lemma.gap, conditions)
                mutated = type(step)(**{**step.__dict__, "lemma": lemma})
                if proof.check_step(i, mutated).passed:
                    survivors.append(f"{proof.title}: step {i}, {cond.text}")
    assert survivors == []


FAMILIES = {
    "alignment": (["pi* = pi_ref exp(r/beta)/Z", "Z cancels", "KKT", "which catalogue f's", "alpha < 1"],
                  "generated kl module vs standard DPO"),
    "ppo": (["score function", "pessimistic bound", "no gradient past the trust region", "KL penalty"],
            "torch autograd"),
    "ssm": (["ZOH", "Bilinear", "Stability", "Recurrence = convolution", "Diagonal A"], "solve_ivp"),
}


@pytest.mark.parametrize("name", NEW)
def test_the_report_has_each_family_with_an_exact_model(name):
    """docs/proofs.json (current: test_proofs checks python -m proofs --check) holds the family's derivations,
    all passing, and a check on an exact model."""
    report = json.loads((ROOT / "docs" / "proofs.json").read_text(encoding="utf-8"))
    proofs = [p for p in report["proofs"] if p["topic"] == name]
    assert proofs and all(p["passed"] for p in proofs)
    titles, model = FAMILIES[name]
    for words in titles:
        assert any(words in p["title"] for p in proofs), words
    assert model in json.dumps(proofs)
    # the notes only name these families: each source says so and where they are named (000 / 002)
    assert all(p["source"].startswith("not in the notes: ") and "(000 lines" in p["source"] for p in proofs)
