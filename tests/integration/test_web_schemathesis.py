"""Schemathesis explores every API operation; none may reply with a 5xx.

Each operation runs a bounded number of generated examples, as every role
that signs in, against a demo database whose record bundles can be signed.
"""

from __future__ import annotations

from datetime import date

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from starlette.routing import Mount
from web_fixtures import (
    BASE_URL,
    bearer,
    demo_options,
    first_of,
    open_season,
    read_credentials,
    run_demo_quietly,
    signing_key_pem,
)

from coflex.adapters.signing import KEY_ENV
from coflex.entrypoints.web.app import create_app

EXAMPLES = 10
ROLES = (
    "operator",
    "customer",
    "grid_operator",
    "device",
    "regulator",
    "sales_representative",
)


@pytest.fixture(autouse=True)
def signing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, signing_key_pem())


@pytest.fixture(scope="module")
def api_and_tokens(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    folder = tmp_path_factory.mktemp("schemathesis")
    url = f"sqlite:///{folder / 'coflex.sqlite'}"
    run_demo_quietly(demo_options(url, folder / "out", 12))
    open_season(url, date(2030, 10, 31))
    logins = read_credentials(folder / "out" / "credentials.txt")
    app = create_app(url)
    with TestClient(app, base_url=BASE_URL) as client:
        tokens = {role: bearer(client, first_of(logins, role)) for role in ROLES}
    api = next(
        r.app for r in app.routes if isinstance(r, Mount) and r.path == "/api/v1"
    )
    return api, tokens


def test_no_server_errors(api_and_tokens) -> None:  # type: ignore[no-untyped-def]
    api, tokens = api_and_tokens
    schema = schemathesis.openapi.from_asgi("/openapi.json", api)
    failures: list[str] = []
    calls: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = operation.as_strategy()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy)
        def explore(case) -> None:  # type: ignore[no-untyped-def]
            for headers in tokens.values():
                response = case.call(headers=headers)
                calls.append(response.status_code)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path}: {response.status_code}"
                    )

        explore()
    assert failures == []
    assert len(calls) > 100
