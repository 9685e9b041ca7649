"""aqcast: daily ozone and PM2.5 forecasts for a district, turned into action.

Layout (each folder is a subpackage of ``aqcast``):

- ``aqcast.features``: pure domain math (QC, MDA8, AQI, the ozone critical value,
  feature tables). No I/O.
- ``aqcast.models``: training, prediction, baselines, registry, hindcast, skill.
- ``aqcast.alerts``: rules that turn a forecast into prompts, advisories, warnings, CAP.
- ``aqcast.service``: everything that touches the outside world: settings, store,
  data sources, jobs, HTTP API, CLI.
"""

__version__ = "0.1.0"
