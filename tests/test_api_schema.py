"""Property-based run of the whole OpenAPI schema: no input makes the API answer 5xx,
and every answer conforms to its documented schema (status codes, content types, bodies)."""

from __future__ import annotations

import pytest
import schemathesis
from api_seed import NOW, auth, seed
from hypothesis import HealthCheck, Phase, given, settings

MAX_EXAMPLES = 8  # per operation: the whole run stays well under a minute on 2 busy cores


@pytest.fixture
def api_schema(sqlite_url):
    from aqcast.service.api.app import create_app
    from aqcast.service.settings import Settings

    keys = seed(sqlite_url)
    app = create_app(Settings(database_url=sqlite_url, env="test"), clock=lambda: NOW)
    return schemathesis.openapi.from_asgi("/openapi.json", app), keys


def test_no_server_errors(api_schema):
    schema, keys = api_schema
    headers = auth(keys.admin)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 28
    failures = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.call_and_validate(headers=headers)

        try:
            run()
        except Exception as exc:  # noqa: BLE001 - gather every operation's failure
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
