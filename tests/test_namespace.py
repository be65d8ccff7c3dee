"""One installed namespace, and imports that point one way.

Every import of the project's own code goes through `smartcharge.`: a bare `import api` would
load a second copy of a module under another name (or another distribution's `api`). And the
direction stays `api` → `forecasting`, `optimizer`; `forecasting` → `optimizer` at most;
`optimizer` imports neither.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("optimizer", "forecasting", "api", "smartcharge", "tests", "benchmarks")
PACKAGES = ("optimizer", "forecasting", "api")
# What each package may import of the others (besides itself).
ALLOWED = {"optimizer": set(), "forecasting": {"optimizer"}, "api": {"optimizer", "forecasting"}}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
    return found


def python_files(folder: str) -> list[Path]:
    return sorted(p for p in (ROOT / folder).rglob("*.py") if "__pycache__" not in p.parts)


@pytest.mark.parametrize("folder", FOLDERS)
def test_project_code_is_imported_through_the_smartcharge_namespace(folder: str) -> None:
    bare = [
        f"{path.relative_to(ROOT)}:{line}: {module}"
        for path in python_files(folder)
        for line, module in imported_modules(path)
        if module.split(".")[0] in PACKAGES
    ]
    assert not bare, "imports outside the smartcharge namespace:\n" + "\n".join(bare)


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_point_one_way(package: str) -> None:
    wrong = []
    for path in python_files(package):
        for line, module in imported_modules(path):
            parts = module.split(".")
            if parts[0] != "smartcharge":
                continue
            target = parts[1] if len(parts) > 1 else "smartcharge"
            if target != package and target not in ALLOWED[package]:
                wrong.append(f"{path.relative_to(ROOT)}:{line}: {module}")
    assert not wrong, f"{package} imports what it must not:\n" + "\n".join(wrong)


def test_notebooks_use_the_public_api_only() -> None:
    import json

    inside = []
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        tree = ast.parse("\n".join(line for line in code.splitlines() if not line.startswith("%")))
        for node in ast.walk(tree):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            inside += [
                f"{notebook.name}: {name}"
                for name in names
                if name.split(".")[:2] in (["smartcharge", p] for p in PACKAGES)
            ]
    assert not inside, "notebooks reach below the public API:\n" + "\n".join(inside)
