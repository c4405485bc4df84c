"""Bad input gets a clear 4xx, never a 500: schemathesis against /openapi.json, and signed garbage
sent to the hand-checked routes (RELIABILITY.md #14). The OpenAPI document matches the parsers."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from api import schemas
from api.errors import ErrorCode, reject_code
from api.orders import AMEND_FIELDS, PLACE_FIELDS
from bluebook.server import ApiServer
from matcher.rejects import Reject
from tests.api_support import SYMBOL, funded_client, start_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    server = start_server(Path(tmp_path_factory.mktemp("api-schema")))
    yield server
    server.stop()


def test_no_generated_request_makes_a_server_error(server: ApiServer) -> None:
    """Each operation of the document gets a few generated requests (bounded: ``make test`` stays
    quick); schemathesis's pytest plugin is not used, as it does not run under pytest 9."""
    document = schemathesis.openapi.from_url(server.url + "/openapi.json")
    operations = [result.ok() for result in document.get_all_operations()]
    calls = []

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=server.url)
            calls.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        check()
    assert len(operations) >= 20 and all(status < 500 for status in calls)
    print(f"\nschemathesis: {len(operations)} operations, {len(calls)} requests, 0 server errors")


def test_signed_garbage_is_always_a_4xx(server: ApiServer) -> None:
    client = funded_client(server, "0x00000000000000000000000000000000000000e5")
    rng = random.Random(14)
    values = [
        None,
        True,
        0,
        -1,
        2**70,
        1.5,
        "",
        "x" * 500,
        "1e999999",
        "0.001",
        "250",
        [],
        {},
        "buy",
        "GTD",
        "NaN",
    ]
    bodies: list[bytes] = [b"", b"{", b"[]", b"null", b'"text"', b"\xff\xfe", b'{"actions": 5}']
    for _ in range(150):
        fields = {name: rng.choice(values) for name in rng.sample(sorted(PLACE_FIELDS), rng.randint(0, 6))}
        bodies.append(json.dumps({"symbol": rng.choice([SYMBOL, "X", 3]), **fields}).encode())
    statuses = {}
    for target, method in (("/v1/orders", "POST"), ("/v1/order", "PATCH"), ("/v1/batch", "POST"),
                           ("/v1/withdrawals", "POST")):  # fmt: skip
        for body in bodies:
            response = client.request(method, target, raw=body)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            assert response.status_code < 500, (target, body, response.text)
            assert response.status_code == 200 or set(response.json()) == {"code", "msg"}
    total = sum(statuses.values())
    print(f"\nsigned garbage: {total} requests, statuses {sorted(statuses.items())}, 0 server errors")


def test_the_openapi_document_matches_the_hand_checked_bodies(server: ApiServer) -> None:
    document = httpx.get(server.url + "/openapi.json").json()
    place = document["paths"]["/v1/orders"]["post"]
    assert set(place["requestBody"]["content"]["application/json"]["schema"]["properties"]) == PLACE_FIELDS
    assert set(schemas.AMEND_ORDER["properties"]) == AMEND_FIELDS
    assert "422" not in str(document) and "HTTPValidationError" not in str(document)
    assert {"BB-KEY", "BB-SIGNATURE"} <= {p["name"] for p in place["parameters"]}
    assert not [path for path in document["paths"] if path.startswith("/v1/admin")]


def test_every_engine_reject_has_an_api_code_of_the_same_name() -> None:
    for reject in Reject:
        assert reject_code(reject).name == reject.name and int(reject_code(reject)) == 6000 + reject.value
    assert ErrorCode.UNKNOWN_ORDER.status == 404
