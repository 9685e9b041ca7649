"""The enterprise registry: the solvent-using enterprises and construction sites the
staggered-operation advisories are meant for.

An enterprise has a name, an optional unified social credit code (统一社会信用代码, checked
with the GB 32100-2015 check character), its sectors (the campaign's sector keys), its
location (lat/lon and street 街道), a contact, and the area whose advisories it follows.

The area is derived from the location: the configured area (one listing its stations) that
holds the station nearest the enterprise; else the area of every station (the district).

``import_csv`` reads a whole file and stores it in one transaction or not at all: every bad
row is reported by line and field. A row whose credit code (or, without one, whose name
and street) matches a registered enterprise updates it; the others are added.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from stdnum.cn import uscc
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError

from aqcast.features.places import DEFAULT_AREA
from aqcast.service.tables import ApiKey, Enterprise, Station

REQUIRED_COLUMNS: tuple[str, ...] = ("name", "sectors", "lat", "lon", "street", "contact")
OPTIONAL_COLUMNS: tuple[str, ...] = ("credit_code",)
SECTOR_SEPARATOR = ";"
MAX_ERRORS = 50  # reported at most; a file with more is wrong as a whole


class EnterpriseError(ValueError):
    """A request about an enterprise that cannot be honoured (the message says why)."""


class UnknownEnterpriseError(EnterpriseError):
    """No enterprise by that id."""


@dataclass(frozen=True)
class RowError:
    line: int
    field: str
    value: str
    problem: str

    def __str__(self) -> str:
        return f"line {self.line}, field {self.field}: {self.value!r} {self.problem}"


class ImportFileError(EnterpriseError):
    """A file that cannot be imported; ``errors`` names each bad row and field."""

    def __init__(self, path: str, errors: Sequence[RowError], message: str = "") -> None:
        self.path = path
        self.errors = list(errors)
        super().__init__(message or f"{path}: {len(self.errors)} bad value(s); nothing imported")


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    ids: list[int] = field(default_factory=list)


# --- field checks ------------------------------------------------------------------------


def check_credit_code(value: str) -> str:
    """The normalised 18-character code; EnterpriseError saying what is wrong otherwise."""
    try:
        return uscc.validate(value)
    except InvalidLength:
        raise EnterpriseError("must have 18 characters") from None
    except InvalidChecksum:
        raise EnterpriseError("has a wrong check character (GB 32100-2015)") from None
    except (InvalidFormat, ValidationError):
        raise EnterpriseError("is not a unified social credit code") from None


def check_sectors(values: Iterable[str], known: Sequence[str]) -> list[str]:
    out = list(dict.fromkeys(v.strip() for v in values if v.strip()))
    if not out:
        raise EnterpriseError("names no sector")
    unknown = [v for v in out if v not in known]
    if unknown:
        raise EnterpriseError(
            f"has unknown sector(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    return out


def _text(value: str, max_len: int) -> str:
    value = value.strip()
    if not value:
        raise EnterpriseError("is empty")
    if len(value) > max_len:
        raise EnterpriseError(f"is longer than {max_len} characters")
    if any(ord(c) < 32 for c in value):
        raise EnterpriseError("holds control characters")
    return value


def _coordinate(value: str, lo: float, hi: float) -> float:
    try:
        v = float(value)
    except ValueError:
        raise EnterpriseError("is not a number") from None
    if not math.isfinite(v) or not lo <= v <= hi:
        raise EnterpriseError(f"is not within {lo:g}..{hi:g} degrees")
    return v


FIELD_LIMITS = {"name": 200, "street": 64, "contact": 200}


def clean_fields(raw: dict[str, str], known_sectors: Sequence[str]) -> tuple[dict, list[tuple]]:
    """Checked values of one enterprise from text fields; and (field, value, problem) for
    each bad one."""
    out: dict = {}
    problems: list[tuple] = []

    def check(name: str, fn) -> None:  # noqa: ANN001
        value = raw.get(name) or ""
        try:
            out[name] = fn(value)
        except EnterpriseError as exc:
            problems.append((name, value, str(exc)))

    for name, limit in FIELD_LIMITS.items():
        check(name, lambda v, limit=limit: _text(v, limit))
    check("sectors", lambda v: check_sectors(v.split(SECTOR_SEPARATOR), known_sectors))
    check("lat", lambda v: _coordinate(v, -90, 90))
    check("lon", lambda v: _coordinate(v, -180, 180))
    code = (raw.get("credit_code") or "").strip()
    if code:
        check("credit_code", check_credit_code)
    else:
        out["credit_code"] = None
    return out, problems


# --- the area of a location --------------------------------------------------------------


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def area_for_location(
    lat: float,
    lon: float,
    stations: Sequence[tuple[str, float, float]],
    areas: dict[str, list[str] | str],
) -> str:
    """The area whose advisories an enterprise at (lat, lon) follows.

    ``stations``: (code, lat, lon); ``areas``: area -> its station codes, or ``"all"``.
    The first area listing the nearest station wins; else the first ``all`` area; else
    the first area.
    """
    if not areas:
        return DEFAULT_AREA
    if stations:
        nearest = min(stations, key=lambda s: _distance_km(lat, lon, s[1], s[2]))[0]
        for name, spec in areas.items():
            if spec != "all" and nearest in spec:
                return name
    for name, spec in areas.items():
        if spec == "all":
            return name
    return next(iter(areas))


class AreaLocator:
    """``area_for_location`` over the stored stations and the configured areas."""

    def __init__(self, session: Session, areas_file: Path | None = None) -> None:
        from aqcast.configuration import load_areas
        from aqcast.service.configured import configured_areas

        areas = load_areas(areas_file) if areas_file is not None else configured_areas()
        self.areas = {k: v.stations for k, v in areas.areas.items()}
        self.stations = [
            (r.code, r.lat, r.lon)
            for r in session.execute(select(Station.code, Station.lat, Station.lon))
            if r.lat is not None and r.lon is not None
        ]

    def __call__(self, lat: float, lon: float) -> str:
        return area_for_location(lat, lon, self.stations, self.areas)


# --- reading a file ----------------------------------------------------------------------


def decode(data: bytes) -> str:
    """Text of a CSV file: UTF-8 (with or without BOM), else GB18030 (Excel in China)."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("gb18030")


def parse_csv(text: str, known_sectors: Sequence[str], path: str = "<csv>") -> list[dict]:
    """Checked rows (each with its ``line``); ImportFileError naming every bad value."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    extra = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or extra or len(set(header)) != len(header):
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if extra:
            parts.append(f"unknown column(s) {', '.join(extra)}")
        if len(set(header)) != len(header):
            parts.append("a column appears twice")
        raise ImportFileError(
            path,
            [],
            f"{path}, line 1: {'; '.join(parts)} (expected "
            f"{','.join(REQUIRED_COLUMNS)} and optional {','.join(OPTIONAL_COLUMNS)})",
        )
    reader.fieldnames = header
    rows: list[dict] = []
    errors: list[RowError] = []
    seen_codes: dict[str, int] = {}
    seen_names: dict[tuple[str, str], int] = {}
    line = 1
    for raw in reader:
        line = reader.line_num
        if None in raw:  # more values than columns
            errors.append(RowError(line, "(row)", ",".join(raw[None]), "is beyond the last column"))
            continue
        if all(not (v or "").strip() for v in raw.values()):
            continue  # a blank line
        values, problems = clean_fields({k: v or "" for k, v in raw.items()}, known_sectors)
        errors.extend(RowError(line, f, v, p) for f, v, p in problems)
        if problems:
            continue
        code = values["credit_code"]
        if code and code in seen_codes:
            errors.append(
                RowError(line, "credit_code", code, f"is already on line {seen_codes[code]}")
            )
            continue
        name_key = (values["name"], values["street"])
        if not code and name_key in seen_names:
            errors.append(
                RowError(
                    line,
                    "name",
                    values["name"],
                    f"in street {values['street']} is already on line {seen_names[name_key]}",
                )
            )
            continue
        if code:
            seen_codes[code] = line
        seen_names.setdefault(name_key, line)
        rows.append({**values, "line": line})
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise ImportFileError(path, errors[:MAX_ERRORS])
    if not rows:
        raise ImportFileError(path, [], f"{path}: no enterprise rows after the header")
    return rows


def _match(session: Session, values: dict) -> Enterprise | None:
    if values.get("credit_code"):
        row = session.scalar(
            select(Enterprise).where(Enterprise.credit_code == values["credit_code"])
        )
        if row is not None:
            return row
    return session.scalar(
        select(Enterprise).where(
            Enterprise.name == values["name"],
            Enterprise.street == values["street"],
            Enterprise.credit_code.is_(None),
        )
    )


def store_rows(
    session: Session, rows: Sequence[dict], *, locate: AreaLocator, now: datetime
) -> ImportResult:
    """Add or update every row in ``session`` (the caller's transaction)."""
    result = ImportResult()
    for values in rows:
        fields = {k: v for k, v in values.items() if k != "line"}
        row = _match(session, fields)
        if row is None:
            row = Enterprise(**fields, area=locate(fields["lat"], fields["lon"]), created_at=now)
            row.updated_at = now
            session.add(row)
            result.created += 1
        else:
            for k, v in fields.items():
                setattr(row, k, v)
            row.area = locate(fields["lat"], fields["lon"])
            row.updated_at = now
            result.updated += 1
        session.flush()
        result.ids.append(row.id)
    return result


def import_csv(
    session: Session,
    path: Path,
    *,
    known_sectors: Sequence[str],
    now: datetime,
    areas_file: Path | None = None,
) -> ImportResult:
    """Check the whole file, then store it (all rows or, on any error, none)."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ImportFileError(str(path), [], f"{path}: cannot be read ({exc.strerror})") from None
    rows = parse_csv(decode(data), known_sectors, str(path))
    return store_rows(session, rows, locate=AreaLocator(session, areas_file), now=now)


# --- single enterprises --------------------------------------------------------------------


def get_enterprise(session: Session, enterprise_id: int) -> Enterprise:
    row = session.get(Enterprise, enterprise_id)
    if row is None:
        raise UnknownEnterpriseError(f"enterprise {enterprise_id} not found")
    return row


def list_enterprises(
    session: Session,
    *,
    sector: str | None = None,
    area: str | None = None,
    only_id: int | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[Enterprise], int]:
    """Enterprises by id (filtered by area, and by sector in Python: JSON lists differ by
    backend) and their total."""
    stmt = select(Enterprise).order_by(Enterprise.id)
    if area is not None:
        stmt = stmt.where(Enterprise.area == area)
    if only_id is not None:
        stmt = stmt.where(Enterprise.id == only_id)
    rows = list(session.scalars(stmt))
    if sector is not None:
        rows = [r for r in rows if sector in (r.sectors or [])]
    total = len(rows)
    end = None if limit is None else offset + limit
    return rows[offset:end], total


def count_enterprises(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Enterprise)) or 0)


def enterprise_of_key(session: Session, key: ApiKey) -> Enterprise | None:
    """The enterprise a key is bound to (None when unbound)."""
    if key.enterprise_id is None:
        return None
    return session.get(Enterprise, key.enterprise_id)


def enterprise_public(row: Enterprise) -> dict:
    return {
        "id": row.id,
        "name": row.name,
        "credit_code": row.credit_code,
        "sectors": list(row.sectors or []),
        "lat": row.lat,
        "lon": row.lon,
        "street": row.street,
        "contact": row.contact,
        "area": row.area,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
    }
