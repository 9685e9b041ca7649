"""Places: how an area or a station is written, in one place.

A forecast is made for an *entity*: a station (its code, e.g. ``"1001A"``) or an area (a
configured group of stations, written ``"area:<name>"`` so that an area and a station can
never share a name). Forecast and verification rows carry two columns instead: ``area``
and ``station``; an area's own row has ``station == ""``. Tables that list areas and
stations in one column (skill by group, hindcast rows) write a station ``"station:<code>"``
and an area by its bare name.

``DEFAULT_AREA`` is the area a request means when it names none (the example configuration's
only area); the configured areas come from config/areas.yaml.
"""

from __future__ import annotations

import pandas as pd

AREA_PREFIX = "area:"
STATION_PREFIX = "station:"
DEFAULT_AREA = "district"


def area_entity(area: str) -> str:
    """The entity of an area: ``"area:<name>"``."""
    return AREA_PREFIX + area


def is_area_entity(entity: str) -> bool:
    return entity.startswith(AREA_PREFIX)


def area_of_entity(entity: str) -> str:
    """The area's name of an area entity (``"area:district"`` -> ``"district"``)."""
    if not is_area_entity(entity):
        raise ValueError(f"not an area entity: {entity!r}")
    return entity[len(AREA_PREFIX) :]


def station_label(station: str) -> str:
    """A station in a column that also lists areas: ``"station:<code>"``."""
    return STATION_PREFIX + station


def is_station_label(label: str) -> bool:
    return label.startswith(STATION_PREFIX)


# --- the same on columns ---------------------------------------------------------------


def area_entities(areas: pd.Series) -> pd.Series:
    """:func:`area_entity` of each name."""
    return AREA_PREFIX + areas.astype(str)


def is_area_entities(entities: pd.Series) -> pd.Series:
    """Which entities are areas (a boolean Series)."""
    return entities.astype(str).str.startswith(AREA_PREFIX)


def areas_of_entities(entities: pd.Series) -> pd.Series:
    """The area name of each area entity (other entries are returned cut the same way:
    select with :func:`is_area_entities` first)."""
    return entities.astype(str).str.slice(len(AREA_PREFIX))


def station_labels(stations: pd.Series) -> pd.Series:
    """:func:`station_label` of each code."""
    return STATION_PREFIX + stations.astype(str)


def is_station_labels(labels: pd.Series) -> pd.Series:
    """Which entries of a mixed area/station column are stations (a boolean Series)."""
    return labels.astype(str).str.startswith(STATION_PREFIX)
