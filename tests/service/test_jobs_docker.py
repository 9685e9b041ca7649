"""The Dockerfile (no Docker engine here): its layers in the right order, a non-root user,
the health check, and an entrypoint that migrates before it serves."""

from __future__ import annotations

import fnmatch
import os
import stat
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

ROOT = REPO_ROOT


def instructions() -> list[tuple[str, str]]:
    """``(INSTRUCTION, arguments)`` in order, continuation lines joined, comments dropped."""
    out: list[tuple[str, str]] = []
    buf = ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not buf and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        word, _, rest = buf.partition(" ")
        out.append((word.upper(), rest.strip()))
        buf = ""
    return out


def index(ins: list[tuple[str, str]], word: str, contains: str = "") -> int:
    for i, (w, rest) in enumerate(ins):
        if w == word and contains in rest:
            return i
    raise AssertionError(f"no {word} {contains!r} in the Dockerfile")


def test_dependencies_are_installed_in_a_layer_before_the_code_is_copied() -> None:
    ins = instructions()
    assert ins[0] == ("FROM", "python:3.11-slim")
    copy_pyproject = index(ins, "COPY", "pyproject.toml")
    install_deps = index(ins, "RUN", "['project']['dependencies']")
    first_code = min(
        index(ins, "COPY", f"./{pkg}")
        for pkg in ("aqcast", "service", "features", "models", "alerts")
    )
    install_code = index(ins, "RUN", "pip install --no-deps .")
    assert copy_pyproject < install_deps < first_code < install_code
    # nothing but pyproject.toml is copied before the dependencies are installed
    assert [r for w, r in ins[:install_deps] if w == "COPY"] == ["pyproject.toml ./"]


def test_every_package_of_pyproject_is_copied_into_the_image() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dirs = set(cfg["tool"]["setuptools"]["package-dir"].values())
    copied = {r.split()[0] for w, r in instructions() if w == "COPY"}
    assert dirs <= copied, f"not copied: {dirs - copied}"
    for src in copied:
        assert (ROOT / src).exists(), src
    ignored = [
        p.strip()
        for p in (ROOT / ".dockerignore").read_text().splitlines()
        if p.strip() and not p.startswith("#")
    ]
    for src in copied:  # nothing the image needs is left out of the build context
        assert not any(fnmatch.fnmatch(src, pat) for pat in ignored), src
    assert {".git", ".venv", "var", "tests"} <= set(ignored)


def test_the_service_runs_as_a_non_root_user_with_a_health_check_on_healthz() -> None:
    ins = instructions()
    user = index(ins, "USER")
    assert ins[user][1] not in {"root", "0"}
    assert user < index(ins, "ENTRYPOINT") and user < index(ins, "CMD")
    assert ins[index(ins, "EXPOSE")][1] == "8000"
    assert "/healthz" in ins[index(ins, "HEALTHCHECK")][1]
    assert ins[index(ins, "ENTRYPOINT")][1] == '["/usr/local/bin/docker-entrypoint.sh"]'
    assert ins[index(ins, "CMD")][1] == '["serve"]'


def fake_aqcast(tmp_path: Path, fail_migrations: int = 0) -> tuple[dict[str, str], Path]:
    """An ``aqcast`` on PATH that logs its arguments (and fails ``migrate`` N times)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    counter = tmp_path / "migrate_failures"
    counter.write_text(str(fail_migrations))
    script = bin_dir / "aqcast"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {log}\n'
        f'if [ "$1" = migrate ] && [ "$(cat {counter})" -gt 0 ]; then\n'
        f"  echo $(( $(cat {counter}) - 1 )) > {counter}; exit 1\n"
        "fi\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "AQCAST_MIGRATE_TRIES": "3"}
    return env, log


def test_the_entrypoint_migrates_before_it_serves(tmp_path: Path) -> None:
    entry = ROOT / "scripts" / "docker-entrypoint.sh"
    assert os.access(entry, os.X_OK)
    env, log = fake_aqcast(tmp_path)
    subprocess.run([str(entry)], env=env, check=True, timeout=30)
    assert log.read_text().splitlines() == ["migrate", "serve"]
    log.unlink()
    subprocess.run([str(entry), "serve", "--no-scheduler"], env=env, check=True, timeout=30)
    assert log.read_text().splitlines() == ["migrate", "serve --no-scheduler"]


@pytest.mark.slow
def test_the_entrypoint_does_not_serve_on_a_database_it_could_not_migrate(tmp_path: Path) -> None:
    entry = ROOT / "scripts" / "docker-entrypoint.sh"
    env, log = fake_aqcast(tmp_path, fail_migrations=99)
    env["AQCAST_MIGRATE_TRIES"] = "2"
    done = subprocess.run([str(entry)], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "giving up" in done.stderr
    assert log.read_text().splitlines() == ["migrate", "migrate"]  # and never serve
