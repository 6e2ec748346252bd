"""The documentation site builds in strict mode (mkdocs, the `docs` extra): a broken link between pages, a page
left out of the navigation or an API reference to a name that does not exist fails the build."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("mkdocs", reason="the docs extra (make setup installs it)")
pytest.importorskip("mkdocstrings_handlers.python", reason="the docs extra (make setup installs it)")


def build(root: Path, out: Path) -> subprocess.CompletedProcess:
    # never with -q: mkdocs then logs errors only, and strict mode counts no warnings at all
    return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(root / "mkdocs.yml"),
                           "-d", str(out)], capture_output=True, text=True, timeout=600, cwd=root)


@pytest.fixture(scope="module")
def copy(tmp_path_factory) -> Path:
    """The site's sources (mkdocs.yml, docs/, and the packages the API reference reads) in a scratch folder."""
    root = tmp_path_factory.mktemp("site")
    shutil.copy(ROOT / "mkdocs.yml", root)
    shutil.copytree(ROOT / "docs", root / "docs")
    for package in ("fdiv", "numerics", "proofs"):
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "losses"))
    return root


def test_the_site_builds_strict(copy, tmp_path):
    result = build(copy, tmp_path / "site")
    assert result.returncode == 0, result.stderr
    api = (tmp_path / "site" / "api.html").read_text(encoding="utf-8")
    assert 'id="fdiv.derivation.engine.derive"' in api and 'id="fdiv.testing.dpo.check_dpo"' in api  # the reference is there


@pytest.mark.parametrize("plant", ["link", "reference"])
def test_a_broken_page_fails_the_build(copy, tmp_path, plant):
    page = copy / "docs" / ("derivation.md" if plant == "link" else "api.md")
    original = page.read_text(encoding="utf-8")
    extra = "\n[see there](no-such-page.md)\n" if plant == "link" else "\n::: fdiv.no_such_module\n"
    page.write_text(original + extra, encoding="utf-8")
    try:
        result = build(copy, tmp_path / "site")
    finally:
        page.write_text(original, encoding="utf-8")
    assert result.returncode != 0
    assert ("no-such-page.md" if plant == "link" else "no_such_module") in result.stderr
