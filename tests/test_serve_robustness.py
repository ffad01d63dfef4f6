"""``serve`` never answers bad input with a 500: every refusal is a JSON body in Alpaca's shape.

Unknown routes and wrong methods answer JSON too, and the test-only routes want the key.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from alpaca_server import LocalAlpaca, run_local_alpaca

ORDER = {"symbol": "SPY", "qty": "1", "side": "buy", "type": "market", "time_in_force": "day"}


@pytest.fixture(scope="module")
def local() -> Iterator[LocalAlpaca]:
    with run_local_alpaca() as exchange:
        yield exchange


def assert_alpaca_refusal(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text[:200])
    body: dict[str, Any] = response.json()
    assert isinstance(body["code"], int) and isinstance(body["message"], str)
    return body


def post(local: LocalAlpaca, data: bytes | str) -> requests.Response:
    return requests.post(
        local.base_url + "/v2/orders", data=data, headers=local.headers, timeout=10
    )


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"qty": "1e30"}, "out of range"),
        ({"qty": 1e30}, "out of range"),
        ({"qty": 10**400}, "out of range"),
        ({"qty": "NaN"}, "invalid qty"),
        ({"qty": "Infinity"}, "invalid qty"),
        ({"qty": "1e-30"}, "out of range"),
        ({"qty": -1}, "qty must be > 0"),
        ({"qty": [1]}, "invalid qty"),
        ({"qty": {"a": 1}}, "invalid qty"),
        ({"qty": True}, "invalid qty"),
        ({"symbol": 5}, "symbol is required"),
        ({"symbol": "not a symbol!"}, "not found"),
        ({"side": 1}, "invalid side"),
        ({"type": None}, "invalid order type"),
        ({"time_in_force": ["day"]}, "invalid time_in_force"),
        ({"client_order_id": 5}, "client_order_id must be a string"),
        ({"client_order_id": "x" * 129}, "at most 128"),
        ({"type": "limit", "limit_price": "abc"}, "invalid limit_price"),
        ({"type": "limit", "limit_price": "1e20"}, "out of range"),
        ({"extended_hours": "false"}, "extended_hours must be a JSON boolean"),
        ({"order_class": 3}, "invalid order_class"),
        ({"order_class": "bracket", "take_profit": "x"}, "take_profit must be an object"),
        ({"notional": "1e-20", "qty": None}, "out of range"),
        ({"qty": None}, "qty or notional is required"),
        ({"position_intent": "buy_to_close"}, "does not match"),
        ({"position_intent": "sideways"}, "invalid position_intent"),
    ],
)
def test_wrong_values_and_types_are_refused_with_422(
    local: LocalAlpaca, change: dict[str, Any], fragment: str
) -> None:
    response = requests.post(
        local.base_url + "/v2/orders", json={**ORDER, **change}, headers=local.headers, timeout=10
    )
    body = assert_alpaca_refusal(response, 422)
    assert fragment in body["message"]


def test_qty_and_notional_together_is_a_bad_request(local: LocalAlpaca) -> None:
    response = requests.post(
        local.base_url + "/v2/orders",
        json={**ORDER, "notional": "100"},
        headers=local.headers,
        timeout=10,
    )
    assert_alpaca_refusal(response, 400)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        ("not json", 400),
        ("[]", 400),
        ('"a string"', 400),
        ("[" * 100_000 + "]" * 100_000, 413),
        ("[" * 20_000 + "]" * 20_000, 400),  # nested deeper than the parser goes
        ('{"symbol": "SPY", "pad": "' + "x" * 1_000_000 + '"}', 413),
        (b"\xff\xfe not utf-8", 400),
    ],
    ids=["text", "array", "string", "deep-and-large", "deep", "one-megabyte", "bytes"],
)
def test_malformed_bodies_are_refused_in_json(
    local: LocalAlpaca, data: bytes | str, status: int
) -> None:
    assert_alpaca_refusal(post(local, data), status)


def test_bad_replace_bodies_and_query_parameters_are_refused(local: LocalAlpaca) -> None:
    headers = local.headers
    base = local.base_url
    resting = requests.post(
        base + "/v2/orders",
        json={**ORDER, "type": "limit", "limit_price": "100"},
        headers=headers,
        timeout=10,
    ).json()
    order_url = f"{base}/v2/orders/{resting['id']}"
    answers = [
        (requests.patch(order_url, data="[", headers=headers, timeout=10), 400),
        (requests.patch(order_url, json={"qty": "1e40"}, headers=headers, timeout=10), 422),
        (requests.patch(order_url, json={"qty": "2.5"}, headers=headers, timeout=10), 422),
        (requests.patch(order_url, json={"stop_price": "1"}, headers=headers, timeout=10), 422),
        (requests.patch(order_url, json={"time_in_force": 7}, headers=headers, timeout=10), 422),
        (requests.get(base + "/v2/orders?limit=abc", headers=headers, timeout=10), 400),
        (requests.get(base + "/v2/orders?status=nope", headers=headers, timeout=10), 400),
        (requests.get(base + "/v2/orders?after=2026-01-01", headers=headers, timeout=10), 422),
        (requests.get(base + "/v2/orders/not-an-id", headers=headers, timeout=10), 404),
        (requests.delete(base + "/v2/positions/SPY?qty=abc", headers=headers, timeout=10), 404),
        (requests.get(base + "/v2/assets/%00%01", headers=headers, timeout=10), 404),
    ]
    for response, status in answers:
        assert_alpaca_refusal(response, status)


def test_unknown_routes_and_methods_answer_json(local: LocalAlpaca) -> None:
    missing = requests.get(local.base_url + "/v2/nothing/here", headers=local.headers, timeout=10)
    wrong = requests.put(local.base_url + "/v2/account", headers=local.headers, timeout=10)
    assert assert_alpaca_refusal(missing, 404)["code"] == 40410000
    assert assert_alpaca_refusal(wrong, 405)["code"] == 40510000


def test_the_test_routes_want_the_key(local: LocalAlpaca) -> None:
    for method, path in (("GET", "/_stats"), ("GET", "/_faults"), ("POST", "/_faults"),
                         ("POST", "/_clock")):  # fmt: skip
        refused = requests.request(method, local.base_url + path, json={}, timeout=10)
        assert_alpaca_refusal(refused, 401)
    assert requests.get(local.base_url + "/_stats", headers=local.headers, timeout=10).ok
