"""One direction of dependency: the domain (features/, models/, alerts/) and the shared
configuration loader import nothing from aqcast.service and read no settings."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOMAIN = ("features", "models", "alerts")
SERVICE = "aqcast.service"


def _is_service(module: str | None) -> bool:
    return module is not None and (module == SERVICE or module.startswith(SERVICE + "."))


def violations(root: Path, folders=DOMAIN, extra=("aqcast/configuration.py",)) -> list[str]:
    """Every import of aqcast.service (at module level or inside a function, by statement
    or by a string given to importlib/__import__) and every ``get_settings`` call, as
    ``file:line: what``."""
    files = [f for d in folders for f in sorted((root / d).rglob("*.py"))]
    files += [root / e for e in extra if (root / e).is_file()]
    found = []
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        where = path.relative_to(root)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if _is_service(alias.name):
                        found.append(f"{where}:{node.lineno}: import {alias.name}")
            elif isinstance(node, ast.ImportFrom):
                names = [a.name for a in node.names]
                if _is_service(node.module) or (node.module == "aqcast" and "service" in names):
                    found.append(f"{where}:{node.lineno}: from {node.module} import {names}")
            elif isinstance(node, ast.Call):
                func = node.func
                name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
                if name == "get_settings":
                    found.append(f"{where}:{node.lineno}: get_settings()")
                if name in ("import_module", "__import__") and node.args:
                    arg = node.args[0]
                    if isinstance(arg, ast.Constant) and _is_service(str(arg.value)):
                        found.append(f"{where}:{node.lineno}: {name}({arg.value!r})")
    return found


def test_the_domain_imports_nothing_from_the_service_and_reads_no_settings():
    assert violations(ROOT) == []


@pytest.mark.parametrize(
    "source",
    [
        "from aqcast.service.store import session_scope\n",
        "def f():\n    from aqcast.service.settings import get_settings\n",
        "import aqcast.service.tables as t\n",
        "from aqcast import service\n",
        "import importlib\nimportlib.import_module('aqcast.service.jobs')\n",
        "def f(s):\n    return s.get_settings().timezone\n",
    ],
)
def test_the_check_finds_each_kind_of_backward_dependency(tmp_path, source):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "bad.py").write_text(source, encoding="utf-8")
    assert len(violations(tmp_path)) == 1


def test_the_check_passes_a_domain_module_that_takes_its_inputs_as_arguments(tmp_path):
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "good.py").write_text(
        "from aqcast.configuration import load_yaml_model\n"
        "def f(settings_timezone: str) -> str:\n    return settings_timezone\n",
        encoding="utf-8",
    )
    assert violations(tmp_path) == []
