"""The house without cycles: the engine never imports the widgets, and the import cycles issue 14
named (diagnostics <-> sync, cli <-> commands.batch) stay gone. Read from the source (every
import statement, also those inside functions), so a lazy import cannot hide a cycle."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / "heygem_kernel"


def import_graph() -> dict[str, set[str]]:
    """module -> engine modules it imports (edges to the package root itself are left out: a
    submodule always has its package imported first, that is not a cycle)."""
    mods = {}
    for f in ENGINE.rglob("*.py"):
        name = ".".join(f.relative_to(ROOT).with_suffix("").parts)
        mods[name.removesuffix(".__init__")] = f
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        pkg = m if f.name == "__init__.py" else m.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                base = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in mods]
                targets = subs or [target]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[m].update(t for t in targets if t != m and (t in mods and t != "heygem_kernel"
                                                                or t.startswith("heygem_widgets")))
    return graph


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in graph:
                continue
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(comp)

    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def test_the_engine_never_imports_the_widgets():
    graph = import_graph()
    assert {m: sorted(t for t in ts if t.startswith("heygem_widgets")) for m, ts in graph.items()
            if any(t.startswith("heygem_widgets") for t in ts)} == {}
    code = ("import sys, heygem_kernel.serve, heygem_kernel.jobs, heygem_kernel.cli; heygem_kernel.cli.build_parser(); "
            "print(sorted(m for m in sys.modules if m.startswith('heygem_widgets') or m == 'ipywidgets'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_no_cycle_through_diagnostics_sync_cli_or_commands():
    named = {"heygem_kernel.diagnostics", "heygem_kernel.sync", "heygem_kernel.cli", "heygem_kernel.jobs",
             "heygem_kernel.batch", "heygem_kernel.serve", "heygem_kernel.workspace"}
    bad = [sorted(c) for c in cycles(import_graph())
           if c & named or any(m.startswith("heygem_kernel.commands") for m in c)]
    assert bad == []


def test_the_package_shows_its_public_api_only():
    """dir() listed Callable, Path, TYPE_CHECKING and annotations (this file's own imports); the import
    stays lazy (no numpy, no pipeline) and the names in __all__ all resolve."""
    code = ("import sys, heygem_kernel as k; print(dir(k)); print(sorted(k.__all__)); "
            "ns = {}; exec('from heygem_kernel import *', ns); print(sorted(n for n in ns if n != '__builtins__')); "
            "print(sorted(m for m in ('numpy', 'heygem_kernel.pipeline', 'torch') if m in sys.modules)); "
            "print(all(getattr(k, n) is not None for n in k.__all__))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    shown, public, star, heavy, resolve = out.stdout.splitlines()
    assert shown == public == star
    assert eval(shown) == ["BackendError", "Cancelled", "CheckpointError", "HeyGemError", "InputError", "MediaError",
                           "NoFaceError", "RunOptions", "__version__", "run"]
    assert heavy == "[]" and resolve == "True"


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [{"a", "b", "c"}]
    assert cycles({"a": {"b"}, "b": set()}) == []
