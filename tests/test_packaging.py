"""What a built wheel carries besides the code: the licence the metadata names, the py.typed marker (the code is
typed), and a changelog with an entry for the version being built."""
from __future__ import annotations

import email.parser
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built from a copy of the source (building in the checkout would write build/ and *.egg-info there
    while other tests read it), with the environment's setuptools: no download."""
    pytest.importorskip("setuptools", minversion="64", reason="building the wheel needs the build backend")
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, src / name)
    for package in ("fdiv", "proofs", "numerics"):
        shutil.copytree(ROOT / package, src / package, ignore=shutil.ignore_patterns("__pycache__"))
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(dist)], check=True, capture_output=True, timeout=600)
    (path,) = dist.glob("fdiv-*.whl")
    return zipfile.ZipFile(path)


def test_wheel_ships_the_licence_the_metadata_names(wheel: zipfile.ZipFile):
    info = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
    metadata = email.parser.Parser().parsestr(wheel.read(info).decode())
    assert metadata["License"] == PYPROJECT["project"]["license"]["text"] == "MIT"
    licences = [n for n in wheel.namelist() if re.search(r"\.dist-info/(licenses/)?LICENSE$", n)]
    assert licences, wheel.namelist()
    text = wheel.read(licences[0]).decode()
    assert text.startswith("MIT License") and "WITHOUT WARRANTY OF ANY KIND" in text


def test_wheel_marks_the_package_typed(wheel: zipfile.ZipFile):
    assert "fdiv/py.typed" in wheel.namelist()


def test_changelog_has_the_current_version():
    text = (ROOT / "CHANGELOG.md").read_text()
    version = PYPROJECT["project"]["version"]
    assert re.search(rf"^## {re.escape(version)} - \d{{4}}-\d{{2}}-\d{{2}}$", text, re.M), version
    assert "## Unreleased" in text.split(f"## {version}")[0]  # newer changes go above the released version
