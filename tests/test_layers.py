"""The rooms and who may enter them, checked on every import in the package (type-only and function-level
imports included), and the package list in pyproject against the folders on disk.

    ui       -> serving, and graphs' public API (the `routeweave.graphs` package itself)
    serving  -> graphs, policies, agents
    graphs   -> policies, agents
    policies -> nothing of the others (what they need is handed to them)
    agents   -> nothing of the others
    evals, training -> anything but ui
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("agents", "policies", "graphs", "serving", "ui", "evals", "training")
ALLOWED = {
    "agents": set(),
    "policies": set(),
    "graphs": {"policies", "agents"},
    "serving": {"graphs", "policies", "agents"},
    "ui": {"serving", "graphs"},
    "evals": {"agents", "policies", "graphs", "serving", "evals", "training"},
    "training": {"agents", "policies", "graphs", "serving", "evals", "training"},
}
MODULE_NAME = re.compile(rf"routeweave\.({'|'.join(LAYERS)})(\.\w+)*")
PUBLIC_ONLY = {("ui", "graphs")}  # ui may import `routeweave.graphs` itself, not its modules


def imports(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in a file; relative imports resolved against `package`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            found.append((node.lineno, module))
            if node.module is None or module.count(".") == 1:  # `from .. import graphs` names a module
                found += [(node.lineno, f"{module}.{a.name}") for a in node.names if f"{module}.{a.name}".count(".") == 1]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and MODULE_NAME.fullmatch(node.value):
            found.append((node.lineno, node.value))  # a module named in a string (`python -m`, importlib) is an import too
    return found


def modules(layer: str):
    folder = ROOT / layer
    for path in sorted(folder.rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        package = "routeweave." + ".".join(parts if path.name == "__init__.py" else parts[:-1])
        yield path, package.removesuffix(".__init__")


def violations(layer: str) -> list[str]:
    bad = []
    for path, package in modules(layer):
        for line, module in imports(path, package):
            parts = module.split(".")
            if parts[0] != "routeweave" or len(parts) < 2 or parts[1] == layer:
                continue
            target = parts[1]
            where = f"{path.relative_to(ROOT)}:{line} imports {module}"
            if target not in ALLOWED[layer]:
                bad.append(f"{where} ({layer} may not import {target})")
            elif (layer, target) in PUBLIC_ONLY and len(parts) > 2:
                bad.append(f"{where} ({layer} may use only the public `routeweave.{target}` API)")
    return bad


@pytest.mark.parametrize("layer", [la for la in LAYERS if (ROOT / la).is_dir()])
def test_imports_respect_the_layers(layer):
    assert violations(layer) == []


def test_the_checker_sees_relative_type_only_and_nested_imports(tmp_path, monkeypatch):
    """The rule above can fail: a policies module importing agents three ways is caught three times."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "bad.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..agents.pool import Pool\n"
        "def f():\n    import routeweave.graphs.state\n    from .. import serving\n"
        "CMD = ['python', '-m', 'routeweave.ui.cli']\n")
    monkeypatch.setattr(__import__(__name__), "ROOT", tmp_path)
    found = violations("policies")
    assert len(found) == 4 and all("policies may not import" in v for v in found), found


def test_pyproject_lists_every_package_folder():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = set()
    for layer, folder in config["package-dir"].items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder)
            on_disk.add(".".join([layer, *rel.parts]))
    def data_folder(name: str) -> bool:  # a folder of package data (no code), listed so setuptools ships it unwarned
        layer, *rest = name.split(".")[:2], *name.split(".")[2:]
        folder = ROOT / config["package-dir"][".".join(layer)] / Path(*rest) if rest else None
        return folder is not None and folder.is_dir() and not list(folder.glob("*.py"))

    absent = sorted(n for n in listed - on_disk if not data_folder(n))
    assert on_disk <= listed and not absent, f"missing from pyproject: {sorted(on_disk - listed)}; listed but absent: {absent}"

