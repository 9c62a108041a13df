"""The layering of the package (DESIGN.md "Layout"): every import points DOWN, no import circle,
and the experiment layer and the components never import Ray, MLflow or Optuna."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "synprune"

# top -> bottom; a module may import only from its own package or a LOWER layer
LAYERS: dict[str, int] = {
    "cli": 9,
    "runtime": 8,
    "tracking": 7,
    "config": 6,
    "stats": 5,
    "experiment": 4,
    "models": 3,
    "datasets": 3,
    "references": 3,
    "regularizers": 2,
    "registry": 1,
    "errors": 0,
}
HEAVY = ("ray", "mlflow", "optuna")
LIGHT = (
    *("experiment", "stats", "models", "datasets", "references", "regularizers"),
    *("errors", "registry"),
)


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _imports(path: Path, module: str) -> list[tuple[str, int]]:
    """Every imported module name (top-level and lazy, inside functions) with its line;
    imports only for type checkers are left out."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {  # `if TYPE_CHECKING:` imports never run
        id(n)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for stmt in block.body
        for n in ast.walk(stmt)
    }
    found = []
    pkg = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            found.append((base, node.lineno))
            found += [(f"{base}.{a.name}", node.lineno) for a in node.names]
    return found


def _layer(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if parts[0] == "synprune" and len(parts) > 1 else None


def test_every_import_points_down() -> None:
    bad = []
    mods = _modules()
    for mod, path in mods.items():
        src = _layer(mod)
        if src is None or src not in LAYERS:
            continue
        for name, line in _imports(path, mod):
            dst = _layer(name)
            if dst is None or dst == src or dst not in LAYERS:
                continue
            if LAYERS[dst] >= LAYERS[src]:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} ({src}) imports {name}")
    assert not bad, "imports that do not point down:\n" + "\n".join(bad)


def test_light_layers_never_import_ray_mlflow_or_optuna() -> None:
    bad = []
    for mod, path in _modules().items():
        if _layer(mod) not in LIGHT:
            continue
        for name, line in _imports(path, mod):
            if name.split(".")[0] in HEAVY:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}")
    assert not bad, "\n".join(bad)


def test_no_import_circle_between_modules() -> None:
    mods = _modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        for name, _ in _imports(path, mod):
            while name and name not in mods:
                name = name.rpartition(".")[0]
            if name and name != mod and not mod.startswith(name + "."):
                # importing a package runs its __init__; a module importing its own package's
                # __init__ is the registration pattern, not a circle
                graph[mod].add(name)
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(" -> ".join([*stack[stack.index(n) :], n]))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(mods):
        if m not in state:
            visit(m)
    assert not cycles, "import circles:\n" + "\n".join(cycles)


def test_importing_the_experiment_layer_loads_no_ray_or_mlflow() -> None:
    code = (
        "import sys, synprune.experiment.trial, synprune.stats, synprune.regularizers, "
        "synprune.models, synprune.datasets, synprune.tracking.uri\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ray', 'mlflow', 'optuna')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
