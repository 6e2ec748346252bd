"""Build step pyproject.toml cannot express: the wheel carries the proofs' checked-in reports (docs/proofs.md,
docs/proofs.json, docs/notes-check.md) as package data of fdiv.proofs, so `fdiv proofs --check` works from an
installed fdiv. Everything else is declared in pyproject.toml."""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

REPORTS = ("proofs.md", "proofs.json", "notes-check.md")


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads docs/ in the checkout
            return
        target = Path(self.build_lib, "fdiv", "proofs", "reports")
        self.mkpath(str(target))
        for name in REPORTS:
            self.copy_file(str(Path("docs", name)), str(target / name))


setup(cmdclass={"build_py": BuildPy})
