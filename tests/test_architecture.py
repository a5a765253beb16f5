"""The package's layers point one way: an import may only reach its own layer or one below it.

Every import counts, including those inside functions (a lazy import is still a dependency). The
layers, bottom to top, are README's layer picture; a module in no layer fails the test, so a new
folder has to be placed deliberately.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# installed package name -> source folder (setup.py maps models/ and lmms_tasks/ under vdc_bench)
ROOTS = {"vdc_bench": REPO / "vdc_bench", "vdc_bench.models": REPO / "models",
         "vdc_bench.lmms_tasks": REPO / "lmms_tasks"}
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("base", ("vdc_bench", "vdc_bench.errors", "vdc_bench.atomic_write", "vdc_bench.cache_root",
              "vdc_bench.sample_stats", "vdc_bench.records", "vdc_bench.logs", "vdc_bench.cli_options")),
    ("render", ("vdc_bench.render",)),
    ("dataset", ("vdc_bench.dataset",)),
    ("models", ("vdc_bench.models",)),
    ("scoring", ("vdc_bench.scoring",)),
    ("judge", ("vdc_bench.judge",)),
    ("lmms_tasks", ("vdc_bench.lmms_tasks",)),
    ("runs", ("vdc_bench.runs",)),
    ("leaderboard", ("vdc_bench.leaderboard",)),
    ("reporting", ("vdc_bench.reporting",)),
    ("gpu_bench", ("vdc_bench.gpu_bench",)),
    ("commands", ("vdc_bench.commands", "vdc_bench.cli", "vdc_bench.__main__", "vdc_bench.registration")),
]
# What a layer must never import, whatever the layer order says.
FORBIDDEN = {
    "scoring": ("torch", "transformers", "subprocess", "vdc_bench.judge"),  # no torch, starts no server
    "render": ("vdc_bench.",),
    "models": ("vdc_bench.scoring", "vdc_bench.judge"),
}


def _modules() -> dict[str, Path]:
    found = {}
    for package, folder in ROOTS.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            name = ".".join([package, *parts])
            if name.startswith("vdc_bench.models") and package == "vdc_bench" or \
                    name.startswith("vdc_bench.lmms_tasks") and package == "vdc_bench":
                continue
            found[name] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> set[str]:
    """Every module ``name`` imports (absolute names; ``from pkg import sub`` resolves to ``pkg.sub``)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in MODULES else base)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def layer_of(module: str) -> int | None:
    best, rank = -1, None
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".") and prefix != "vdc_bench") and len(prefix) > best:
                best, rank = len(prefix), index
    return rank


def test_every_module_has_a_layer():
    assert [m for m in MODULES if layer_of(m) is None] == []


def test_imports_only_point_down():
    upward = []
    for module, targets in GRAPH.items():
        for target in targets:
            if target.startswith("vdc_bench") and layer_of(target) > layer_of(module):
                upward.append(f"{module} ({LAYERS[layer_of(module)][0]}) -> {target} ({LAYERS[layer_of(target)][0]})")
    assert upward == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_forbidden_imports(layer):
    rank = [name for name, _ in LAYERS].index(layer)
    bad = [f"{m} -> {t}" for m, targets in GRAPH.items() if layer_of(m) == rank
           for t in targets for f in FORBIDDEN[layer] if t == f.rstrip(".") or t.startswith(f.rstrip(".") + ".")
           or (f.endswith(".") and t.startswith(f))]
    assert bad == []


def test_no_import_cycles():
    """Tarjan's strongly connected components over modules: any component larger than one is a cycle."""
    index, low, stack, on_stack, cycles, counter = {}, {}, [], set(), [], [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH.get(node, ()):
            if target not in MODULES:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(MODULES):
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_check_sees_lazy_imports(tmp_path):
    """Guard against a blind check: a function-level upward import is found."""
    bad = tmp_path / "mod.py"
    bad.write_text("def f():\n    from vdc_bench.reporting.report import write_report\n")
    assert "vdc_bench.reporting.report" in _imports("vdc_bench.scoring.mod", bad)
