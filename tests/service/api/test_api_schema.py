"""Property-based run of the whole OpenAPI schema: no input makes the API answer 5xx, and
every answer of this part's routers conforms to its documented schema (status codes,
content types, bodies, valid input accepted). Routers other parts register in the app
are held to "no 5xx" here; their own tests hold them to their schemas."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from tests.support.api_seed import NOW, auth, seed

# A subscription URL is checked beyond what a schema can say (it must resolve, and not to a
# private address), so schema-valid URLs are refused with 422 there by design.
# Enterprises are checked against the campaign's sector keys and the credit code's check
# character, and an acknowledgement against the advisory's sector: 422/409 by design too.
OTHER_PARTS = (
    "/v1/subscriptions",
    "/v1/deliveries",
    "/v1/enterprises",
    "/v1/advisories/{event_id}/ack",
)
MAX_EXAMPLES = 6  # per operation: the whole run stays well under a minute on 2 busy cores


@pytest.fixture
def api_schema(sqlite_url):
    from aqcast.service.api.app import create_app
    from aqcast.service.settings import Settings

    keys = seed(sqlite_url)
    app = create_app(Settings(database_url=sqlite_url, env="test"), clock=lambda: NOW)
    return schemathesis.openapi.from_asgi("/openapi.json", app), keys


def property_test(operation, headers: dict, checks: list | None):
    """A hypothesis test calling ``operation`` with generated input and validating it."""

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
        case.call_and_validate(headers=headers, checks=checks)

    return run


@pytest.mark.slow
def test_no_server_errors(api_schema):
    schema, keys = api_schema
    headers = auth(keys.admin)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 28
    failures = []
    for operation in operations:
        checks = [not_a_server_error] if operation.path.startswith(OTHER_PARTS) else None
        try:
            property_test(operation, headers, checks)()
        except Exception as exc:  # noqa: BLE001 - gather every operation's failure
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
