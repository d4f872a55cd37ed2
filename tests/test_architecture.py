"""The library's shape: no import cycle, no two modules with one file name, imports at the top.

The import graph is read from the source (ast), not by importing, so a cycle that only closes inside a
function still counts. A function may import a module of this library only in `cli.py` (which loads a
command's module when that command runs) or when the module is one of the heavy ones, whose import costs
seconds: the engine (torch, loaded only by the phases that train), the analysis (scipy, statsmodels,
matplotlib) and the phase figures (matplotlib, seaborn); or the miniature world, which only miniature
profiles load: a hub profile (paper, rehearsal) never imports it (tests/test_rehearsal.py).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

LIB = Path(__file__).resolve().parents[1] / "lib"
PACKAGE = LIB / "xstilts"
LAZY_ALLOWED_IN = {"xstilts.cli"}
HEAVY = ("xstilts.engine", "xstilts.analysis", "xstilts.reports.phase_figures", "xstilts.miniworld")


def module_name(path: Path) -> str:
    parts = path.relative_to(LIB).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports(path: Path, known: set[str]):
    """(target module, line, at top level?) for every import of an xstilts module in `path`."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    top = {id(n) for n in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target.startswith("xstilts") and target != name:
                yield target, node.lineno, id(node) in top or _in_type_checking(tree, node)


def _in_type_checking(tree, node) -> bool:
    return False


def graph() -> dict[str, set[str]]:
    mods = modules()
    out: dict[str, set[str]] = defaultdict(set)
    for name, path in mods.items():
        for target, _, _ in imports(path, set(mods)):
            out[name].add(target)
            # importing a submodule runs its package's __init__ too
            parent = target.rpartition(".")[0]
            while parent and parent != "xstilts" and not name.startswith(parent + ".") and name != parent:
                out[name].add(parent)
                parent = parent.rpartition(".")[0]
    return out


def cycles(g: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in list(g):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycle_among_library_modules():
    found = cycles(graph())
    assert not found, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_two_modules_share_a_file_name():
    names = defaultdict(list)
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__init__.py":
            names[path.name].append(str(path.relative_to(LIB)))
    assert not {k: v for k, v in names.items() if len(v) > 1}


def test_library_modules_are_imported_at_the_top_of_modules():
    mods = modules()
    late = []
    for name, path in mods.items():
        if name in LAZY_ALLOWED_IN:
            continue
        for target, line, at_top in imports(path, set(mods)):
            if not at_top and not target.startswith(HEAVY):
                late.append(f"{path.relative_to(LIB)}:{line} imports {target} inside a function")
    assert not late, "\n".join(late)
