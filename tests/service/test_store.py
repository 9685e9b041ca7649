from sqlalchemy import inspect

from aqcast.service.store import engine_for


def test_migrations_create_every_table(db_url):
    names = set(inspect(engine_for(db_url)).get_table_names())
    assert {
        "stations",
        "observations",
        "met_forecasts",
        "daily_stats",
        "forecast_runs",
        "alert_events",
        "deliveries",
        "job_runs",
    } <= names
