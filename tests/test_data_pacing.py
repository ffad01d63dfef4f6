"""The request pacer and the historical client's answers to 429s, 5xx and refusals.

The pacer runs on a fake clock and the client on httpx's mock transport, so the
waits are checked exactly and take no time.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from better_orders.data.alpaca_client import HistoricalClient, MarketDataError
from better_orders.data.pacing import RequestPacer, retry_delay
from better_orders.venues.alpaca.credentials import Secret

SECRET = "do-not-print-me"


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def pacer(per_minute: float, fake: FakeTime) -> RequestPacer:
    return RequestPacer(per_minute, clock=fake.clock, wall=fake.wall, sleep=fake.sleep)


def test_requests_are_spaced_evenly_at_the_rate() -> None:
    fake = FakeTime()
    p = RequestPacer(120, burst=0, clock=fake.clock, wall=fake.wall, sleep=fake.sleep)
    sent = []
    for _ in range(5):
        p.wait_turn()
        sent.append(fake.now)
        fake.now += 0.1  # the request itself takes 0.1 s
    assert [round(t - sent[0], 6) for t in sent] == [0.0, 0.5, 1.0, 1.5, 2.0]


def test_a_slow_answer_is_made_up_by_a_few_quicker_requests() -> None:
    fake = FakeTime()
    p = RequestPacer(60, burst=2, clock=fake.clock, wall=fake.wall, sleep=fake.sleep)
    sent = []
    for took in (0.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0, 0.0):
        p.wait_turn()
        sent.append(round(fake.now - 1000.0, 6))
        fake.now += took
    # Two slots of burst with the first, then one a second; after a 4 s answer the two
    # slots it missed go at once with the next, and the spacing resumes.
    assert sent == [0.0, 0.0, 0.0, 1.0, 5.0, 5.0, 5.0, 6.0]


def test_a_429_holds_the_next_request_as_long_as_it_says() -> None:
    fake = FakeTime()
    p = pacer(6000, fake)
    p.wait_turn()
    assert p.rate_limited({"Retry-After": "3"}) == 3.0
    p.wait_turn()
    assert fake.slept == [3.0]
    reset = str(fake.wall() + 7)  # no Retry-After: X-RateLimit-Reset, epoch seconds
    assert p.rate_limited({"X-RateLimit-Reset": reset}) == pytest.approx(7.0)
    assert p.rate_limited({}) == 1.0  # nothing said: a second


def test_nothing_left_before_the_reset_means_waiting_for_it() -> None:
    fake = FakeTime()
    p = pacer(6000, fake)
    p.wait_turn()
    p.observe({"X-RateLimit-Remaining": "5", "X-RateLimit-Reset": str(fake.wall() + 30)})
    p.wait_turn()
    assert fake.slept == []  # the burst: no wait
    p.observe({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(fake.wall() + 30)})
    p.wait_turn()
    assert fake.slept[-1] == pytest.approx(30.0)


def test_retry_delay_reads_seconds_or_the_reset_time() -> None:
    assert retry_delay({"Retry-After": "2.5"}, now=0) == 2.5
    assert retry_delay({"X-RateLimit-Reset": "110"}, now=100) == 10
    assert retry_delay({"X-RateLimit-Reset": "90"}, now=100) == 0
    assert retry_delay({"Retry-After": "soon"}, now=0) is None


def client(handler: Callable[[httpx.Request], httpx.Response], fake: FakeTime) -> HistoricalClient:
    return HistoricalClient(
        data_url="https://data.example",
        trading_url="https://paper.example",
        key_id="PKTEST",
        secret=Secret(SECRET),
        pacer=pacer(6000, fake),
        transport=httpx.MockTransport(handler),
        sleep=fake.sleep,
    )


def page(rows: list[dict[str, Any]], token: str | None) -> httpx.Response:
    return httpx.Response(200, json={"quotes": rows, "symbol": "IBM", "next_page_token": token})


def test_pages_follow_the_token_and_a_429_resends_the_same_page() -> None:
    fake = FakeTime()
    seen: list[str | None] = []
    answers = [
        page([{"t": "a"}], "t1"),
        httpx.Response(429, headers={"Retry-After": "2"}, json={"message": "too many"}),
        page([{"t": "b"}], None),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.params.get("page_token"))
        assert request.headers["APCA-API-SECRET-KEY"] == SECRET
        return answers.pop(0)

    with client(handler, fake) as c:
        pages = list(c.pages("quotes", "IBM", start="s", end="e", feed="sip"))
    assert [p.rows for p in pages] == [[{"t": "a"}], [{"t": "b"}]]
    assert seen == [None, "t1", "t1"]
    assert c.stats.requests == 3 and c.stats.rate_limited == 1
    assert 2.0 in fake.slept


def test_server_errors_are_retried_with_backoff_then_reported() -> None:
    fake = FakeTime()
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        return httpx.Response(503, json={"message": "busy"})

    with client(handler, fake) as c, pytest.raises(MarketDataError, match="HTTP 503: busy"):
        list(c.pages("trades", "IBM", start="s", end="e", feed="sip"))
    assert len(calls) == 6  # the first try and five retries
    assert [s for s in fake.slept if s >= 1] == [1.0, 2.0, 4.0, 8.0, 16.0]


def test_refused_keys_are_one_line_that_never_shows_the_secret() -> None:
    fake = FakeTime()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"code": 40110000, "message": "request is not authorized"})

    with client(handler, fake) as c, pytest.raises(MarketDataError) as failure:
        c.asset("IBM")
    text = str(failure.value)
    assert "APCA_API_KEY_ID" in text and SECRET not in text and "\n" not in text


def test_a_missing_sip_subscription_suggests_iex() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            403, json={"message": "subscription does not permit querying recent SIP data"}
        )

    with client(handler, FakeTime()) as c, pytest.raises(MarketDataError, match="--feed iex"):
        list(c.pages("quotes", "IBM", start="s", end="e", feed="sip"))


def test_an_unknown_asset_is_none() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/v2/assets/NOPE"
        return httpx.Response(404, json={"code": 40410000, "message": "asset not found"})

    with client(handler, FakeTime()) as c:
        assert c.asset("NOPE") is None
