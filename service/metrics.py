"""Prometheus metrics of the service, in one registry served at ``/metrics``.

Other parts of aqcast import these objects and update them; the names below are part of
the operators' dashboards and alert rules, so they do not change:

``aqcast_http_request_duration_seconds`` (histogram; labels ``method``, ``route``, ``status``)
    Latency of each HTTP request, by route template (``/v1/forecasts``), never by raw path.
``aqcast_job_runs_total`` (counter; label ``job``)
    Scheduled job runs started. Use :func:`record_job_run`.
``aqcast_job_failures_total`` (counter; label ``job``)
    Scheduled job runs that ended in an error.
``aqcast_data_age_seconds`` (gauge; label ``feed``)
    Age of the newest data of a feed (observations, weather forecasts) at the last update.
    Use :func:`set_data_age`; the ``/metrics`` endpoint also refreshes it from the
    ``feed_status`` table and the newest stored observation.
``aqcast_alert_deliveries_total`` (counter; label ``outcome``)
    Webhook delivery attempts by outcome (``ok``, ``http_error``, ``timeout``,
    ``connect_error``, ``refused``, ``dead``). Use :func:`record_delivery`.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUEST_SECONDS = Histogram(
    "aqcast_http_request_duration_seconds",
    "HTTP request latency by route template. [s]",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
JOB_RUNS = Counter(
    "aqcast_job_runs_total", "Scheduled job runs started.", ["job"], registry=REGISTRY
)
JOB_FAILURES = Counter(
    "aqcast_job_failures_total", "Scheduled job runs that failed.", ["job"], registry=REGISTRY
)
DATA_AGE_SECONDS = Gauge(
    "aqcast_data_age_seconds",
    "Age of the newest data of a feed at the last update. [s]",
    ["feed"],
    registry=REGISTRY,
)
ALERT_DELIVERIES = Counter(
    "aqcast_alert_deliveries_total",
    "Webhook delivery attempts by outcome.",
    ["outcome"],
    registry=REGISTRY,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def record_job_run(job: str, *, failed: bool = False) -> None:
    """Count one run of ``job`` (and a failure when ``failed``)."""
    JOB_RUNS.labels(job=job).inc()
    if failed:
        JOB_FAILURES.labels(job=job).inc()


def record_delivery(outcome: str) -> None:
    """Count one webhook delivery attempt with its ``outcome``."""
    ALERT_DELIVERIES.labels(outcome=outcome).inc()


def set_data_age(feed: str, latest_data_time: datetime | None, now: datetime) -> None:
    """Set the data age of ``feed`` from its newest data time; both naive UTC.

    A feed that has never delivered is reported as ``+Inf`` so that an alert rule on the
    age fires for it too.
    """
    if latest_data_time is None:
        DATA_AGE_SECONDS.labels(feed=feed).set(float("inf"))
    else:
        DATA_AGE_SECONDS.labels(feed=feed).set((now - latest_data_time).total_seconds())


def exposition() -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(REGISTRY)
