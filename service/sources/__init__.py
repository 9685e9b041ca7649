"""Outside data, one module per source.

Each file reader is ``read_<source>(path) -> ObsFrame`` and each network client is
``fetch_<what>(client, ...)``: they map the source's names and units to the nomenclature
(features/nomenclature.py) on the way in. The canonical hourly frame has columns
``station`` (code), ``time`` (tz-aware UTC, start of the hour) and one float column per
variable; missing values are NaN.

Errors: every reader raises :class:`aqcast.service.sources.errors.InputError` naming the
file, line and field; network clients raise ``FeedError`` for a failing outside service.
"""
