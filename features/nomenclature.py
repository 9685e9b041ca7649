"""The variable names used everywhere in aqcast, with their units.

docs/nomenclature.md is the human-readable copy of this table. No synonyms: readers map a
source's own names and units to these on the way in.
"""

from __future__ import annotations

# Hourly pollutant concentrations.
POLLUTANTS: dict[str, str] = {
    "pm25": "ug/m3",
    "pm10": "ug/m3",
    "so2": "ug/m3",
    "no2": "ug/m3",
    "co": "mg/m3",
    "o3": "ug/m3",
}

# Hourly weather, observed or forecast.
WEATHER: dict[str, str] = {
    "temp_air": "degC",
    "dewpoint": "degC",
    "relative_humidity": "%",
    "pressure": "hPa",
    "precipitation": "mm",  # accumulated over the hour ending at the time stamp
    "wind_speed": "m/s",
    "wind_direction": "deg",  # from which the wind blows, clockwise from north
    "shortwave_radiation": "W/m2",
    "cloud_cover": "%",
    "boundary_layer_height": "m",
}

# Observed weather variables stored with station observations (PRSA carries these).
OBS_WEATHER = ["temp_air", "dewpoint", "pressure", "precipitation", "wind_speed", "wind_direction"]

# Hourly pollutant concentrations forecast by an air-quality model (CAMS, through the
# Open-Meteo air-quality API), stored beside the weather forecasts. Model values, never
# observations.
AQ_FORECAST: dict[str, str] = {
    "aq_pm25": "ug/m3",
    "aq_pm10": "ug/m3",
    "aq_o3": "ug/m3",
    "aq_no2": "ug/m3",
}

HOURLY: dict[str, str] = {**POLLUTANTS, **WEATHER}
OBS_VARIABLES: list[str] = [*POLLUTANTS, *OBS_WEATHER]
MET_FORECAST_VARIABLES: list[str] = [*WEATHER, *AQ_FORECAST]

# Daily statistics (local day).
DAILY: dict[str, str] = {
    "o3_mda8": "ug/m3",
    "o3_1h_max": "ug/m3",
    "pm25_24h": "ug/m3",
    "pm10_24h": "ug/m3",
    "so2_24h": "ug/m3",
    "no2_24h": "ug/m3",
    "co_24h": "mg/m3",
    "aqi": "-",
}

# Grade II limits (GB 3095-2012) used as forecast thresholds; AQI 200 marks heavy pollution.
THRESHOLDS: dict[str, float] = {
    "o3_mda8": 160.0,
    "o3_1h_max": 200.0,
    "pm25_24h": 75.0,
    "pm10_24h": 150.0,
    "so2_24h": 150.0,
    "no2_24h": 80.0,
    "co_24h": 4.0,
    "aqi": 200.0,
}

# The sixteen compass points of the PRSA wd column, as degrees.
COMPASS_DEG: dict[str, float] = {
    name: i * 22.5
    for i, name in enumerate("N NNE NE ENE E ESE SE SSE S SSW SW WSW W WNW NW NNW".split())
}
