"""The coverage of the notes and the reports: the coverage table is computed from the verdicts and the proofs
(a proof that fails or disappears changes it), points only at proofs that exist, holds every claim the
checker evaluates, and is what the proofs page (docs/proofs-guide.md) states; docs/notes-check.md has one section per claim;
docs/proofs.md renders sigma^2 and tildes, folds long steps and says where the notes hold no derivation;
python -m proofs runs chosen topics, shows a diff when a report is stale and stops on Ctrl-C with one line."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sympy as sp

from proofs import coverage
from proofs.claims import REFUTED, Verdict
from proofs.coverage import ITEMS, STATUSES, evaluate
from proofs.engine import ProofResult, StepResult
from proofs.notes import NOT_EXPRESSIBLE, NOTES

ROOT = Path(__file__).resolve().parents[1]
REPORT = json.loads((ROOT / "docs" / "proofs.json").read_text(encoding="utf-8"))
NOTES_MD = (ROOT / "docs" / "notes-check.md").read_text(encoding="utf-8")
PROOFS_MD = (ROOT / "docs" / "proofs.md").read_text(encoding="utf-8")


# ------------------------------------------------------------------------------------------------- coverage
def test_every_item_names_proofs_that_exist_and_every_claim_has_an_item():
    titles = {p["title"] for p in REPORT["proofs"]}
    dangling = [(i.file, i.lines, t) for i in ITEMS for t in i.proofs if t not in titles]
    assert dangling == []
    for c in NOTES:
        owners = [i for i in ITEMS if i.file == c.file and c.line in i.lines and (not i.kinds or c.kind in i.kinds)]
        assert len(owners) == 1, (c.file, c.line, c.kind, len(owners))
    keys = [(i.file, i.lines, i.kinds) for i in ITEMS]
    assert len(keys) == len(set(keys))
    assert all(i.missing for i in ITEMS if not i.proofs and not any(
        c.file == i.file and c.line in i.lines for c in NOTES) and not i.slip)


def _result(title: str, passed: bool) -> ProofResult:
    return ProofResult(title, "test", "", [StepResult("=", sp.S.Zero, sp.S.Zero, "", "symbolic", passed)])


def _rows():
    return [(c, Verdict(c.expected, "", "")) for c in NOTES]


def test_status_is_computed_from_the_proofs_and_the_verdicts():
    """An item checked by a proof is 'checked' while the proof passes, and no longer when it fails or is gone; an
    item whose claim flips to refuted is 'refuted'."""
    titles = {p["title"] for p in REPORT["proofs"]}
    results = [_result(t, True) for t in titles]
    rows = _rows()
    base = {(r.item.file, r.item.lines, r.item.kinds): r.status for r in evaluate(rows, results)}
    item = next(i for i in ITEMS if i.proofs == ("KL is not symmetric",) and i.file == "000")
    key = (item.file, item.lines, item.kinds)
    assert base[key] == "checked"
    failing = [_result(t, t != "KL is not symmetric") for t in titles]
    assert {(r.item.file, r.item.lines, r.item.kinds): r.status for r in evaluate(rows, failing)}[key] == "not covered"
    claim_item = next(i for i in ITEMS if i.file == "000" and i.lines == (141, 143, 145))
    flipped = [(c, Verdict(REFUTED if (c.file, c.line) == ("000", 141) else c.expected, "", "")) for c in NOTES]
    after = {(r.item.file, r.item.lines): r.status for r in evaluate(flipped, results)}
    assert base[(claim_item.file, claim_item.lines, ())] == "checked" and after[(claim_item.file, claim_item.lines)] \
        == "refuted"


def test_the_table_the_json_and_the_readme_say_the_same():
    counts = REPORT["coverage"]["counts"]
    for note, n in counts.items():
        name = "all notes" if note == "all" else note
        row = f"| {name} | {sum(n.values())} | " + " | ".join(str(n[s]) for s in STATUSES) + " |"
        assert row in NOTES_MD
    total = counts["all"]
    assert sum(total.values()) == len(ITEMS) >= 190
    sentence = (f"{sum(total.values())} checkable claims in the five notes: {total['checked']} checked, "
                f"{total['refuted']} refuted, {total['partly']} partly covered, {total['not covered']} not covered")
    readme = re.sub(r"<!-- /?fact(:[a-z0-9-]+)? -->", "", (ROOT / "docs" / "proofs-guide.md").read_text(encoding="utf-8"))
    assert sentence in " ".join(readme.split()), sentence
    assert "checks every derivation and every claim" not in readme
    refuted = sum(e["verdict"] == REFUTED for e in REPORT["notes"])
    assert (f"It currently holds {len(REPORT['notes'])} claims, {refuted} of them refuted, and "
            f"{len(REPORT['not_expressible'])} slips") in " ".join(readme.split())
    summary = REPORT["summary"]
    line = " ".join(f"{summary[k]} {k}" for k in ("steps", "numeric", "assumptions") if k in summary)
    assert all(f"{summary[k]} {k}" in " ".join(readme.split()) for k in summary if k not in ("proofs", "passed")), line


@pytest.mark.skipif(not os.environ.get("FDIV_NOTES_DIR"), reason="FDIV_NOTES_DIR (the course notes) not set")
def test_inventory_lines_hold_text_in_the_notes():
    folder = Path(os.environ["FDIV_NOTES_DIR"])
    lines = {p.name[:3]: p.read_text(encoding="utf-8").split("\n") for p in folder.glob("00*.txt")}
    for item in ITEMS:
        for n in item.lines:
            assert 0 < n <= len(lines[item.file]) and lines[item.file][n - 1].strip(), (item.file, n)


# --------------------------------------------------------------------------------------------- notes-check.md
def test_one_section_per_claim_with_quote_parsed_formula_verdict_and_correction():
    sections = re.findall(r"^### Line (\d+): .* — \*\*(verified|refuted|undecided)\*\*$", NOTES_MD, re.M)
    assert len(sections) == len(NOTES)
    assert "| file | line | section | the note says" not in NOTES_MD  # the old 10-column table is gone
    for c, entry in zip(NOTES, REPORT["notes"]):
        assert entry["verdict"] == c.expected
    refuted = [e for e in REPORT["notes"] if e["verdict"] == REFUTED]
    assert NOTES_MD.count("- Counterexample: ") >= len(refuted)
    assert NOTES_MD.count("- Correction: ") == len(refuted)
    assert NOTES_MD.count("- Corrected formula: ") == sum(c.fix is not None for c in NOTES)
    assert all(f"Line {line} ({section})" in NOTES_MD for _, section, line, _, _ in NOT_EXPRESSIBLE)


# -------------------------------------------------------------------------------------------------- proofs.md
def test_latex_names_sigma_squared_and_tildes():
    from proofs.report import latex

    assert latex(sp.Symbol("sigma2")) == r"\sigma^{2}"
    assert latex(sp.Symbol("beta~")) == r"\tilde{\beta}"
    assert latex(sp.MatrixSymbol("mu~", 3, 1)) == r"\tilde{\mu}"
    assert latex(sp.Symbol("sigma_2")) == r"\sigma_{2}"  # a real subscript stays one
    assert r"\sigma_{2}" not in PROOFS_MD and "beta~" not in PROOFS_MD and "mu~" not in PROOFS_MD
    assert r"\tilde{\beta}" in PROOFS_MD and r"\sigma^{2}" in PROOFS_MD


def test_long_steps_are_folded():
    from proofs.report import FOLD

    for line in PROOFS_MD.split("\n"):
        if re.match(r"^\d+\. \$", line):
            assert len(line.split(" — ")[0]) <= FOLD + 8, line[:120]
    assert PROOFS_MD.count("<details>") == PROOFS_MD.count("</details>") > 0


def test_sources_point_at_the_notes_or_say_not_in_the_notes():
    by_topic: dict[str, set] = {}
    for p in REPORT["proofs"]:
        by_topic.setdefault(p["topic"], set()).add(p["source"].startswith("not in the notes"))
    for topic in ("ssm", "alignment", "ppo", "diffusion"):
        assert by_topic[topic] == {True}, topic
    assert by_topic["gan"] == {False} and by_topic["mle_vae"] == {False}
    assert PROOFS_MD.count("*Not in the notes:*") == sum(p["source"].startswith("not in the notes")
                                                        for p in REPORT["proofs"])


def test_summary_line_prints_every_count_the_engine_gives():
    from proofs.report import summary_line

    line = summary_line({"proofs": 3, "passed": 2, "steps": 9, "numeric": 1, "assumptions": 4, "axioms": 2,
                         "rewrites": 5, "tolerances": 1})
    assert line == "2 of 3 proofs pass (9 steps, 1 numeric, 4 assumptions, 2 axioms, 5 rewrites, 1 tolerances)"


def test_a_failing_numeric_step_names_its_point():
    from proofs.numeric import numeric_zero

    x = sp.Symbol("x", real=True)
    _, ok, detail = numeric_zero(sp.polylog(2, sp.Rational(1, 3)) - sp.Rational(1, 3))
    assert not ok and not detail.rstrip().endswith("at") and "no free symbols" in detail
    _, ok, detail = numeric_zero(sp.polylog(2, x) + 1 - sp.polylog(2, x) * (1 + 10**-20) + x**2)
    assert not ok and re.search(r"at x = -?[\d.e+-]+", detail), detail


# -------------------------------------------------------------------------------------------- python -m proofs
def _proofs(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "proofs", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def test_chosen_topics_run_alone():
    run = _proofs("ppo")
    assert run.returncode == 0, run.stdout + run.stderr
    n = sum(p["topic"] == "ppo" for p in REPORT["proofs"])
    assert f"proofs: {n} of {n} proofs pass" in run.stdout and "notes:" not in run.stdout
    bad = _proofs("ppo", "nosuch")
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown topic 'nosuch'") and \
        bad.stderr.count("\n") == 1
    assert _proofs("ppo", "--check").returncode == 2


def test_check_prints_a_unified_diff_of_a_stale_report(tmp_path, monkeypatch, capsys):
    """--check against a report directory whose notes-check.md has one line changed: exit 1, and the diff shows
    that line (the proofs and the notes are replaced by small stand-ins: the comparison is what is tested)."""
    import proofs
    import proofs.__main__ as main_module
    import proofs.notes as notes_module

    results = [_result("KL is not symmetric", True)]
    results[0].topic = "fdivergence"
    monkeypatch.setattr(proofs, "run_proofs", lambda topics, progress=None: results)
    monkeypatch.setattr(notes_module, "NOTES", NOTES[:2])
    assert main_module.main(["--write", "--out", str(tmp_path)]) == 0
    path = tmp_path / "notes-check.md"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("claims evaluated", "claims looked at", 1), encoding="utf-8")
    capsys.readouterr()
    assert main_module.main(["--check", "--out", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "STALE" in out and "--- notes-check.md (checked in)" in out
    assert re.search(r"^\s+-.*claims looked at", out, re.M) and re.search(r"^\s+\+.*claims evaluated", out, re.M)


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to see the run under way")
def test_ctrl_c_is_one_line_and_exit_130():
    """Ctrl-C once the run is under way (1 CPU second in: past the interpreter's start on a busy machine)."""
    # SIGINT at its default, as from a terminal (a run started in the background ignores it, and children inherit it)
    proc = subprocess.Popen([sys.executable, "-m", "proofs"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 300
    while _cpu_seconds(proc.pid) < 1.0 and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert err == "proofs: interrupted\n"


def test_counts_by_note_adds_up():
    rows = evaluate(_rows(), [_result(t, True) for t in {p["title"] for p in REPORT["proofs"]}])
    counts = coverage.counts_by_note(rows)
    assert counts["all"] == {s: sum(n[s] for k, n in counts.items() if k != "all") for s in STATUSES}
    assert set(counts) == {"000", "001", "002", "003", "004", "all"}


def test_each_source_points_at_the_claim_its_proof_checks():
    """A proof whose derivation the notes hold cites a line within a few lines of a claim the coverage table
    lists that proof for; the others say 'not in the notes' (and where the notes only name the topic)."""
    for p in REPORT["proofs"]:
        if p["source"].startswith("not in the notes"):
            assert len(p["source"]) > len("not in the notes: ") + 20, p["title"]
            continue
        m = re.match(r"(\d{3}) .*\(line (\d+)\)$", p["source"])
        assert m, p["source"]
        file, line = m.group(1), int(m.group(2))
        items = [i for i in ITEMS if p["title"] in i.proofs and i.file == file]
        assert any(min(i.lines) - 8 <= line <= max(i.lines) + 8 for i in items), (p["title"], p["source"])
