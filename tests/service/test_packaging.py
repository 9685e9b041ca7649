"""Packaging: every folder of the runtime packages that holds files is declared to
setuptools (no "Package would be ignored"), and every runtime import comes from
[project.dependencies] (a plain `pip install .` must run the service)."""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

ROOT = REPO_ROOT
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]


def _package_folders() -> dict[str, Path]:
    """Dotted name -> folder of every folder below the mapped package roots."""
    out = {}
    for dotted, folder in SETUPTOOLS["package-dir"].items():
        base = ROOT / folder
        for path in [base, *base.rglob("*")]:
            if path.is_dir() and "__pycache__" not in path.parts and any(path.iterdir()):
                rel = path.relative_to(base).parts
                out[".".join((dotted, *rel))] = path
    return out


def test_every_folder_with_files_is_a_declared_package():
    declared = set(SETUPTOOLS["packages"])
    missing = sorted(set(_package_folders()) - declared)
    assert not missing, f"declare these in [tool.setuptools] packages: {missing}"


def test_every_data_file_is_covered_by_package_data():
    from fnmatch import fnmatch

    data = SETUPTOOLS["package-data"]
    uncovered = []
    for dotted, folder in _package_folders().items():
        for f in folder.iterdir():
            if f.is_file() and f.suffix not in (".py", ".pyc"):
                if not any(fnmatch(f.name, pat) for pat in data.get(dotted, [])):
                    uncovered.append(f"{dotted}: {f.name}")
    assert not uncovered, uncovered


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _requirement(spec: str) -> tuple[str, set[str]]:
    name = _norm(re.split(r"[\s<>=!~;\[(]", spec, maxsplit=1)[0])
    extras = re.search(r"\[([^\]]+)\]", spec.split(";")[0])
    return name, {e.strip() for e in extras.group(1).split(",")} if extras else set()


def _runtime_closure() -> set[str]:
    """Distributions a plain `pip install .` brings: [project.dependencies] and theirs."""
    todo = [_requirement(d) for d in PYPROJECT["project"]["dependencies"]]
    seen: set[str] = set()
    while todo:
        name, extras = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            reqs = md.requires(name) or []
        except md.PackageNotFoundError:
            continue
        for r in reqs:
            marker = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", r)
            if marker and marker.group(1) not in extras:
                continue
            todo.append(_requirement(r))
    return seen


@pytest.mark.slow
def test_runtime_imports_are_runtime_dependencies():
    """lxml (alerts/cap.py) and every other third-party import of the runtime packages
    comes with [project.dependencies], not only with an extra."""
    closure = _runtime_closure()
    providers = md.packages_distributions()
    missing = []
    for folder in ("service", "features", "models", "alerts", "aqcast"):
        for f in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for n in names:
                    top = n.split(".")[0]
                    if top in sys.stdlib_module_names or top in ("aqcast", "__future__"):
                        continue
                    if not {_norm(d) for d in providers.get(top, [])} & closure:
                        missing.append(f"{f.relative_to(ROOT)} imports {top}")
    assert not missing, missing
