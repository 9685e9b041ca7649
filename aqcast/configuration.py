"""Loading YAML configuration files against a schema, with errors that name the problem.

Each file's schema is a pydantic model; `aqcast config-schema` can print it as JSON Schema.
This is the one module that reads configuration files (outside service/, so the domain
can use it): callers pass the path; the service takes it from its settings
(service/configured.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

M = TypeVar("M", bound=BaseModel)

PACKAGE_CONFIG_DIR = Path(__file__).resolve().parent / "config"


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or breaks its schema."""


def load_yaml_model(path: Path, model: type[M]) -> M:
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown place"
        raise ConfigError(f"{path}: not valid YAML at {where}: {exc}") from exc
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            f" (got {err.get('input')!r})"
            for err in exc.errors()
        )
        raise ConfigError(f"{path}: {problems}") from exc


class Area(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    name_zh: str = ""
    stations: list[str] | str = "all"  # list of station codes, or "all"


class AreasFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    areas: dict[str, Area] = Field(min_length=1)


def load_areas(path: Path) -> AreasFile:
    """The station groups of an areas file (the service's is ``settings.areas_file``)."""
    return load_yaml_model(path, AreasFile)


def area_stations(area: str, all_codes: list[str], areas: AreasFile) -> list[str]:
    """Station codes of ``area``; raises KeyError naming the area when it is unknown."""
    if area not in areas.areas:
        raise KeyError(f"unknown area {area!r}; configured: {sorted(areas.areas)}")
    spec = areas.areas[area].stations
    return list(all_codes) if spec == "all" else [c for c in spec if c in set(all_codes)]
