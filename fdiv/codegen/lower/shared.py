"""Shared subexpressions of a printed expression, bound once.

The printer writes each branch of a Piecewise out in full, so a term that a branch uses five times
(tanh(v_4) in a conjugate composed with tanh) is five kernels, forward and backward. This pass works on the printed
text: it parses it (printer output, never user text) with Python's ast, binds every call or operation that occurs
more than once to a local name, innermost first, and prints the rest with those names. The values are the same
tensors computed by the same kernels in the same order of operands, so the module's numbers do not change by a bit;
only repeated work goes. The printed text has no conditional evaluation (torch.where/jnp.where evaluate both
branches anyway), so a hoisted term is evaluated exactly where it was before."""
from __future__ import annotations

import ast

_BINDABLE = (ast.Call, ast.BinOp, ast.UnaryOp, ast.Compare)
_LAZY = (ast.IfExp, ast.BoolOp, ast.Lambda, ast.ListComp, ast.GeneratorExp, ast.DictComp, ast.SetComp)


def _keys(tree: ast.AST) -> dict[str, int]:
    """ast.dump of each bindable node that reads a variable -> how often it occurs."""
    counts: dict[str, int] = {}
    for node in ast.walk(tree):
        if isinstance(node, _BINDABLE) and any(isinstance(n, ast.Name) for n in ast.walk(node)):
            key = ast.dump(node)
            counts[key] = counts.get(key, 0) + 1
    return counts


class _Replace(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]):
        self.names = names

    def generic_visit(self, node):
        if isinstance(node, ast.expr) and ast.dump(node) in self.names:
            return ast.Name(id=self.names[ast.dump(node)], ctx=ast.Load())
        return super().generic_visit(node)


def _reads(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def bind_shared(text: str, prefix: str = "c") -> tuple[list[str], str]:
    """(assignments, expression): `text` with every repeated call or operation bound once, as `c0 = ...` lines, the
    largest repeated terms first (a term repeated only inside one of them is not bound apart), then what repeats
    across those; lines in an order where each name is bound before use. ([], text) itself when nothing repeats,
    or when the text evaluates anything lazily (a conditional expression, a lambda), where hoisting could change
    what runs."""
    tree = ast.parse(text, mode="eval")
    if any(isinstance(n, _LAZY) for n in ast.walk(tree)):
        return [], text
    used = _reads(tree)
    trees: list[ast.AST] = [tree]  # the expression, then each bound definition
    names: list[str] = []
    while True:
        counts: dict[str, int] = {}
        for t in trees:
            for k, c in _keys(t).items():
                counts[k] = counts.get(k, 0) + c
        repeated = {k for k, c in counts.items() if c > 1}
        if not repeated:
            break
        # outermost: walk from the top and stop descending at a repeated node
        chosen: dict[str, str] = {}
        new: list[ast.AST] = []
        for t in trees:
            stack = [t.body if isinstance(t, ast.Expression) else t]
            while stack:
                node = stack.pop(0)
                key = ast.dump(node) if isinstance(node, _BINDABLE) else None
                if key in repeated and node is not t:
                    if key not in chosen:
                        name = f"{prefix}{len(names)}"
                        while name in used:
                            name += "_"
                        used.add(name)
                        names.append(name)
                        chosen[key] = name
                        new.append(node)
                    continue
                stack.extend(ast.iter_child_nodes(node))
        trees = [_replace_inside(t, chosen) for t in trees + new]
        tree = trees[0]
    if not names:
        return [], text
    defs = dict(zip(names, trees[1:]))
    order: list[str] = []
    while len(order) < len(names):  # each name after the names it reads (first-occurrence order otherwise)
        order.append(next(n for n in names if n not in order and not (_reads(defs[n]) & (set(names) - set(order)))))
    renamed = {old: new for old, new in zip(order, names)}  # numbered in the order the lines run
    rename = _Rename(renamed)
    lines = [f"{renamed[n]} = {ast.unparse(rename.visit(defs[n]))}" for n in order]
    return lines, ast.unparse(rename.visit(tree))


class _Rename(ast.NodeTransformer):
    def __init__(self, names: dict[str, str]):
        self.names = names

    def visit_Name(self, node):
        return ast.Name(id=self.names.get(node.id, node.id), ctx=node.ctx)


def _replace_inside(node: ast.AST, names: dict[str, str]) -> ast.AST:
    """node with the bound terms inside it replaced (not node itself: it is the definition of its own name)."""
    for field, value in ast.iter_fields(node):
        if isinstance(value, list):
            setattr(node, field, [_Replace(names).visit(v) if isinstance(v, ast.AST) else v for v in value])
        elif isinstance(value, ast.AST):
            setattr(node, field, _Replace(names).visit(value))
    return ast.fix_missing_locations(node)
