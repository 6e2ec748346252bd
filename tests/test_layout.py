"""The tree is the pipeline: every import goes to the importer's own stage or one before it, and no module-level
import cycle exists. Read from the source with `ast` (nothing is imported); docs/architecture.md states the rule."""
from __future__ import annotations

import ast
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("fdiv", "numerics", "proofs")  # numerics and proofs install as fdiv.numerics and fdiv.proofs

#: The stages, lowest first: a module may import from its own stage and from the stages before it. A module
#: belongs to the stage of the longest prefix that names it.
STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("plumbing", ("fdiv.errors", "fdiv._util")),
    ("spec", ("fdiv.spec",)),
    ("derivation", ("fdiv.derivation",)),
    ("codegen", ("fdiv.codegen", "fdiv.losses", "fdiv.losses_jax")),
    ("numerics", ("numerics",)),
    ("proofs", ("proofs",)),
    ("applications", ("fdiv",)),  # cli and commands, testing, train, estimate, plot, docs, experiments
)
#: The package's own __init__ (fdiv.derive, fdiv.Derivation, fdiv.Spec, fdiv.FdivError) re-exports the derivation
#: stage and the ones below it, so `import fdiv` is a derivation-stage import; its own imports are held to that.
EXACT = {"fdiv": "derivation"}


def stage_of(module: str) -> int:
    if module in EXACT:
        return [name for name, _ in STAGES].index(EXACT[module])
    best, rank = -1, -1
    for i, (_, prefixes) in enumerate(STAGES):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, rank = len(p), i
    if rank < 0:
        raise AssertionError(f"{module} is in no stage")
    return rank


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    module_level: bool  # False: inside a function (runs when called)


def modules(root: Path) -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _canonical(name: str) -> str:
    """An installed fdiv's fdiv.numerics / fdiv.proofs are the checkout's numerics / proofs."""
    for sibling in ("numerics", "proofs"):
        if name == f"fdiv.{sibling}" or name.startswith(f"fdiv.{sibling}."):
            return name[len("fdiv."):]
    return name


def _known(name: str, known: dict[str, Path]) -> str | None:
    name = _canonical(name)
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def edges(root: Path) -> list[Edge]:
    """Every import of a project module by a project module (also `siblings.load("numerics.x")`, the way fdiv
    reaches numerics and proofs); `from pkg import name` counts as pkg.name when that is a module."""
    known = modules(root)
    out: list[Edge] = []
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]

        def visit(node: ast.AST, module_level: bool) -> None:
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - (node.level - 1)]
                    origin = ".".join(base + ([node.module] if node.module else []))
                else:
                    origin = node.module or ""
                for a in node.names:
                    sub = _canonical(f"{origin}.{a.name}")
                    targets.append(sub if sub in known else origin)
            elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
                  and isinstance(node.args[0].value, str) and getattr(node.func, "id", getattr(node.func, "attr", ""))
                  == "load" and node.args[0].value.split(".")[0] in ("numerics", "proofs")):
                targets = [node.args[0].value]
            for t in targets:
                k = _known(t, known) if t.split(".")[0] in PACKAGES else None
                if k is not None and k != name:
                    out.append(Edge(name, k, node.lineno, module_level))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                module_level = False
            if isinstance(node, ast.If) and _is_type_checking(node):
                module_level = False  # seen by type checkers only
            for child in ast.iter_child_nodes(node):
                visit(child, module_level)

        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), True)
    return out


def upward(root: Path) -> list[str]:
    """Imports from a lower stage into a higher one (module level or inside a function alike)."""
    return [f"{e.source} (line {e.line}, {STAGES[stage_of(e.source)][0]}) imports {e.target} "
            f"({STAGES[stage_of(e.target)][0]})"
            for e in edges(root) if stage_of(_canonical(e.target)) > stage_of(e.source)]


def cycles(root: Path) -> list[list[str]]:
    """The module-level import cycles: strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {m: set() for m in modules(root)}
    for e in edges(root):
        if e.module_level:
            graph[e.source].add(e.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return found


def test_no_import_runs_up_the_pipeline():
    assert upward(ROOT) == []


def test_no_module_level_import_cycle():
    assert cycles(ROOT) == []


def test_the_walk_sees_the_imports_it_judges():
    """A vacuous walk would pass the two tests above: it must see the derivation engine's imports of the spec
    stage, a function-level import and fdiv's way into numerics."""
    seen = {(e.source, e.target, e.module_level) for e in edges(ROOT)}
    assert ("fdiv.derivation.engine", "fdiv.spec.catalogue", True) in seen
    assert ("fdiv.commands.gauss", "numerics.closed_forms", False) in seen
    assert len(seen) > 300


def _plant(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for package in PACKAGES:
        (root / package).mkdir(exist_ok=True)
        (root / package / "__init__.py").touch()
    return root


CLEAN = {
    "fdiv/_util/__init__.py": "",
    "fdiv/_util/timelimit.py": "from ..errors import FdivError\n",
    "fdiv/errors.py": "",
    "fdiv/spec/__init__.py": "",
    "fdiv/spec/parse.py": "from .._util import timelimit\n",
    "fdiv/derivation/__init__.py": "",
    "fdiv/derivation/engine.py": "from ..spec import parse\n\ndef f():\n    from . import cache\n",
    "fdiv/derivation/cache.py": "from .engine import f\n",  # a function-level import back: not a cycle
    "fdiv/cli.py": "from fdiv.derivation.engine import f\nfrom fdiv._util.siblings import load\n",
    "numerics/gaussian.py": "from fdiv.spec import parse\n",
}


def test_a_clean_synthetic_tree_passes(tmp_path):
    root = _plant(tmp_path, CLEAN)
    assert upward(root) == [] and cycles(root) == []


@pytest.mark.parametrize("rel, text, stages", [
    ("fdiv/spec/parse.py", "from ..derivation import engine\n", ("spec", "derivation")),  # module level
    ("fdiv/_util/timelimit.py", "def f():\n    from fdiv.spec.parse import x\n", ("plumbing", "spec")),  # in a function
    ("fdiv/derivation/engine.py", "def f():\n    from fdiv import cli\n", ("derivation", "applications")),
    ("numerics/gaussian.py", "from fdiv.derivation.engine import f\nimport proofs\n", ("numerics", "proofs")),
    ("fdiv/spec/parse.py", "from fdiv._util.siblings import load\nx = load('numerics.gaussian')\n",
     ("spec", "numerics")),
])
def test_a_planted_upward_import_is_caught(tmp_path, rel, text, stages):
    root = _plant(tmp_path, {**CLEAN, rel: text})
    found = upward(root)
    assert len(found) == 1 and f", {stages[0]}) imports" in found[0] and found[0].endswith(f"({stages[1]})"), found


def test_a_planted_cycle_is_caught(tmp_path):
    cyclic = {**CLEAN, "fdiv/derivation/cache.py": "from . import engine\n",
              "fdiv/derivation/engine.py": "from ..spec import parse\nfrom .cache import x\n"}
    assert cycles(_plant(tmp_path, cyclic)) == [["fdiv.derivation.cache", "fdiv.derivation.engine"]]
    # through a package __init__ that re-exports, and only at module level
    through_init = {**CLEAN, "fdiv/spec/__init__.py": "from .parse import p\n",
                    "fdiv/spec/parse.py": "from fdiv.spec import q\n"}
    assert cycles(_plant(tmp_path / "b", through_init)) == [["fdiv.spec", "fdiv.spec.parse"]]


def test_the_wheel_lists_every_package_folder():
    """pyproject.toml names the packages (the package-dir mapping needs an explicit list): a new folder that is
    missing from it would be absent from the wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    folders = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "fdiv").rglob("__init__.py")}
    folders |= {"fdiv.numerics", "fdiv.proofs"}
    assert set(config["packages"]) == folders
    assert config["package-dir"] == {"fdiv.numerics": "numerics", "fdiv.proofs": "proofs"}
