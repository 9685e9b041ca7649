"""The configuration files the settings name, loaded for the service.

The domain (features/, models/, alerts/) never reads settings: it gets the parsed files
from here (or from aqcast.configuration with an explicit path) as arguments.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from aqcast.alerts.campaign import CampaignFile, load_campaign
from aqcast.configuration import AreasFile, load_areas
from aqcast.service.settings import Settings, get_settings


@lru_cache(maxsize=4)
def _cached(path: str, mtime: float) -> CampaignFile:
    return load_campaign(Path(path))


def current_campaign(settings: Settings | None = None) -> CampaignFile:
    """The configured campaign file (``settings.campaign_file``), reloaded when it
    changes on disk."""
    path = Path((settings or get_settings()).campaign_file)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    return _cached(str(path), mtime)


def configured_areas(settings: Settings | None = None) -> AreasFile:
    """The configured station groups (``settings.areas_file``)."""
    return load_areas((settings or get_settings()).areas_file)
