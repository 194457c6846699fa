"""The house rule of docs/architecture.md: a package imports only packages of its own layer or below, never upward."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "scaling"

# Keep in step with docs/architecture.md ("Layers"); a new package gets its layer here and there.
LAYERS = {
    "scaling": 0, "errors": 0, "atomic": 0, "system": 0, "reference": 0, "outputs": 0, "console": 0,  # the package root and its helpers
    "data": 1, "analysis": 1,
    "models": 2, "plot": 2,
    "train": 3,
    "evaluate": 4, "calculator": 4,
    "sweep": 5,
    "commands": 6, "cli": 6,
}


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "scaling"


def upward_imports(src: Path = SRC) -> list[str]:
    """'module -> imported (layer a < layer b)' for every import, at the top or inside a function, that runs upward."""
    found = []
    for path in sorted(src.rglob("*.py")):
        module = ".".join(("scaling", *path.relative_to(src).with_suffix("").parts)).removesuffix(".__init__")
        source = _package(module)
        assert source in LAYERS, f"{path}: package {source!r} has no layer (add it to LAYERS and docs/architecture.md)"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target == "scaling" or target.startswith("scaling."):
                    imported = _package(target)
                    assert imported in LAYERS, f"{path}: imports {target}, whose package has no layer"
                    if LAYERS[imported] > LAYERS[source]:
                        found.append(f"{module} -> {target} ({LAYERS[source]} < {LAYERS[imported]})")
    return found


def test_imports_never_run_upward():
    assert upward_imports() == []


def test_the_check_sees_an_upward_import(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "bad.py").write_text("def f():\n    from scaling.train.loop import run_training\n")
    assert upward_imports(tmp_path) == ["scaling.data.bad -> scaling.train.loop (1 < 3)"]
