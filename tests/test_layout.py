"""The shape of the code: imports point handlers → bot → storage, no cycles among bot/'s
modules, and no source file grows past about 500 lines without a reason."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 500
# Files allowed to be longer, and why.
LONG_FILES: dict[str, str] = {}


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    out: set[str] = set()
    package = _module(path).rsplit(".", 1)[0] if path.name != "__init__.py" else _module(path)
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return out


def _sources(*folders: str) -> list[Path]:
    return sorted(p for f in folders for p in (ROOT / f).rglob("*.py"))


def test_the_core_never_imports_a_channel() -> None:
    bad = {str(p.relative_to(ROOT)): sorted(i for i in _imports(p) if i.split(".")[0] in (
        "telegram", "aiohttp", "handlers")) for p in _sources("bot", "storage")}
    assert {k: v for k, v in bad.items() if v} == {}


def test_storage_never_imports_bot() -> None:
    bad = {str(p.relative_to(ROOT)) for p in _sources("storage")
           if any(i.split(".")[0] == "bot" for i in _imports(p))}
    assert bad == set()


def test_no_import_cycles_in_bot() -> None:
    modules = {_module(p): p for p in _sources("bot")}
    graph = {m: {i for i in _imports(p) if i in modules and i != m}
             for m, p in modules.items()}
    # A package's __init__ importing its own modules is how a package is built, not a cycle.
    for m in graph:
        graph[m] -= {m.rsplit(".", 1)[0]} if m.count(".") else set()
    cycles = _cycles(graph)
    assert cycles == [], f"import cycles: {cycles}"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
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
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_source_file_is_too_long() -> None:
    long = {str(p.relative_to(ROOT)): n for p in _sources("bot", "storage", "handlers")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert {k: v for k, v in long.items() if k not in LONG_FILES} == {}
