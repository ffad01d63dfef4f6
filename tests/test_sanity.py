"""Quote sanity: every problem is caught, in the documented order, with a trader's message."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from better_orders.core.errors import InvalidInputError, QuoteError
from better_orders.core.model import Quote
from better_orders.core.sanity import (
    InvalidQuoteError,
    QuoteProblem,
    check_prices,
    check_quote,
    quote_from_raw,
    require_valid_quote,
)

NOW = datetime(2026, 3, 2, 14, 30, tzinfo=UTC)
LIMITS = {"max_age_seconds": 5.0, "absurd_pct_of_mid": Decimal("10")}


def q(bid: str, ask: str, *, symbol: str = "TQQQ", age: float = 0.0, sizes: str = "100") -> Quote:
    return Quote(
        symbol=symbol,
        bid=Decimal(bid),
        ask=Decimal(ask),
        bid_size=Decimal(sizes),
        ask_size=Decimal(sizes),
        ts=NOW - timedelta(seconds=age),
    )


def test_a_normal_quote_is_ok() -> None:
    verdict = check_quote(q("51.00", "51.02"), NOW, **LIMITS)
    assert verdict.ok
    assert verdict.problem is None
    quote = q("51.00", "51.02")
    assert require_valid_quote(quote, NOW, **LIMITS) is quote


@pytest.mark.parametrize(
    ("bid", "ask", "problem", "fragments"),
    [
        ("NaN", "51.00", QuoteProblem.NAN, ["not a number", "bid NaN", "ask 51.00"]),
        ("51.00", "Infinity", QuoteProblem.NAN, ["not a number", "ask Infinity"]),
        ("0", "0", QuoteProblem.ZERO_OR_NEGATIVE, ["zero or negative", "bid 0", "ask 0"]),
        ("-1", "51.00", QuoteProblem.ZERO_OR_NEGATIVE, ["zero or negative", "bid -1", "ask 51.00"]),
        ("51.00", "-0.01", QuoteProblem.ZERO_OR_NEGATIVE, ["bid 51.00", "ask -0.01"]),
        ("0", "51.00", QuoteProblem.ONE_SIDED, ["one-sided (no bid)", "bid 0", "ask 51.00"]),
        ("51.00", "0", QuoteProblem.ONE_SIDED, ["one-sided (no ask)", "bid 51.00", "ask 0"]),
        ("51.02", "51.00", QuoteProblem.CROSSED, ["is crossed: bid 51.02 > ask 51.00"]),
        ("51.01", "51.01", QuoteProblem.LOCKED, ["is locked: bid 51.01 = ask 51.01"]),
        ("40.00", "60.00", QuoteProblem.ABSURD_SPREAD, ["absurd", "40.0% of mid", "limit 10%"]),
    ],
)
def test_price_problems_are_named_with_symbol_bid_and_ask(
    bid: str, ask: str, problem: QuoteProblem, fragments: list[str]
) -> None:
    verdict = check_quote(q(bid, ask), NOW, **LIMITS)
    assert not verdict.ok
    assert verdict.problem is problem
    assert verdict.message.startswith("TQQQ quote")
    assert verdict.message.endswith("no order sent")
    for fragment in fragments:
        assert fragment in verdict.message
    with pytest.raises(InvalidQuoteError) as info:
        require_valid_quote(q(bid, ask), NOW, **LIMITS)
    assert info.value.problem is problem
    assert info.value.symbol == "TQQQ"
    assert str(info.value) == verdict.message
    assert isinstance(info.value, QuoteError)


def test_crossed_message_reads_as_documented() -> None:
    verdict = check_quote(q("51.02", "51.00"), NOW, **LIMITS)
    assert verdict.message == "TQQQ quote is crossed: bid 51.02 > ask 51.00; no order sent"


def test_stale_quote_names_its_age_and_the_limit() -> None:
    verdict = check_quote(q("600.01", "600.02", symbol="SPY", age=7.5), NOW, **LIMITS)
    assert verdict.problem is QuoteProblem.STALE
    assert verdict.message.startswith(
        "SPY quote is stale: 7.5 s old (limit 5.0 s), bid 600.01 ask 600.02"
    )


def test_age_exactly_at_the_limit_is_still_fresh() -> None:
    assert check_quote(q("600.01", "600.02", age=5.0), NOW, **LIMITS).ok
    assert not check_quote(q("600.01", "600.02", age=5.001), NOW, **LIMITS).ok


def test_quote_from_the_future_beyond_tolerance_is_refused() -> None:
    slightly = check_quote(q("51.00", "51.02", age=-0.5), NOW, **LIMITS)
    assert slightly.ok
    verdict = check_quote(q("51.00", "51.02", age=-3.0), NOW, **LIMITS)
    assert verdict.problem is QuoteProblem.FUTURE
    assert "3.0 s after now" in verdict.message
    assert "bid 51.00 ask 51.02" in verdict.message
    tolerant = check_quote(
        q("51.00", "51.02", age=-3.0), NOW, future_tolerance_seconds=5.0, **LIMITS
    )
    assert tolerant.ok


def test_absurd_limit_is_inclusive() -> None:
    # Spread 10 on a mid of 100 is exactly 10 % of mid: allowed; a cent more is not.
    assert check_quote(q("95.00", "105.00"), NOW, **LIMITS).ok
    wider = check_quote(q("94.99", "105.00"), NOW, **LIMITS)
    assert wider.problem is QuoteProblem.ABSURD_SPREAD


@pytest.mark.parametrize(
    ("quote", "expected"),
    [
        # NaN comes before a crossed or stale verdict.
        (q("NaN", "1", age=60), QuoteProblem.NAN),
        # A negative bid under a lower ask: the sign is the problem, not the cross.
        (q("-5", "-6"), QuoteProblem.ZERO_OR_NEGATIVE),
        # Crossed and stale: the price problem wins.
        (q("51.02", "51.00", age=60), QuoteProblem.CROSSED),
        # Locked and stale.
        (q("51.00", "51.00", age=60), QuoteProblem.LOCKED),
        # Absurd and stale.
        (q("10", "20", age=60), QuoteProblem.ABSURD_SPREAD),
    ],
)
def test_first_problem_in_order_wins(quote: Quote, expected: QuoteProblem) -> None:
    assert check_quote(quote, NOW, **LIMITS).problem is expected


def test_negative_or_nan_sizes_are_refused_but_zero_size_is_not() -> None:
    assert check_quote(q("51.00", "51.02", sizes="0"), NOW, **LIMITS).ok
    assert check_quote(q("51.00", "51.02", sizes="-1"), NOW, **LIMITS).problem is (
        QuoteProblem.ZERO_OR_NEGATIVE
    )
    assert check_quote(q("51.00", "51.02", sizes="NaN"), NOW, **LIMITS).problem is QuoteProblem.NAN


def test_check_prices_ignores_time_and_optionally_the_absurd_check() -> None:
    assert check_prices(q("40", "60", age=3600)).ok
    assert check_prices(q("40", "60"), absurd_pct_of_mid=10).problem is QuoteProblem.ABSURD_SPREAD


def test_mixing_naive_and_aware_times_is_an_input_error() -> None:
    naive = Quote("SPY", Decimal(1), Decimal(2), Decimal(0), Decimal(0), datetime(2026, 3, 2))
    with pytest.raises(InvalidInputError, match="SPY"):
        check_quote(naive, NOW, max_age_seconds=5.0, absurd_pct_of_mid=100)


# -- building quotes from raw input -----------------------------------------------------


def test_quote_from_raw_is_exact_for_strings_and_floats() -> None:
    quote = quote_from_raw("tqqq", "51.01", 51.03, 200, "150.5", NOW)
    assert quote.symbol == "TQQQ"
    assert quote.bid == Decimal("51.01")
    assert quote.ask == Decimal("51.03")  # not 51.0300000000000011368...
    assert quote.bid_size == Decimal(200)
    assert quote.ask_size == Decimal("150.5")
    assert quote.ts == NOW


@pytest.mark.parametrize("bad", [float("nan"), "nan", "NaN", "abc", float("inf")])
def test_quote_from_raw_turns_nan_into_a_quote_error_naming_the_symbol(bad: object) -> None:
    with pytest.raises(InvalidQuoteError) as info:
        quote_from_raw("SPY", bad, "600.02", 1, 1, NOW)
    assert info.value.problem is QuoteProblem.NAN
    assert str(info.value).startswith("SPY quote is not a number")
    assert "ask 600.02" in str(info.value)


def test_quote_from_raw_nan_size_names_the_field() -> None:
    with pytest.raises(InvalidQuoteError, match=r"SPY quote is not a number \(bid size"):
        quote_from_raw("SPY", "600.01", "600.02", "nan", 1, NOW)


@pytest.mark.parametrize("missing", [None, "", "  "])
def test_missing_side_is_one_sided_not_a_crash(missing: object) -> None:
    quote = quote_from_raw("SOXL", missing, "30.12", None, 100, NOW)
    assert quote.bid == 0
    verdict = check_quote(quote, NOW, **LIMITS)
    assert verdict.problem is QuoteProblem.ONE_SIDED
    assert "SOXL" in verdict.message
    assert "ask 30.12" in verdict.message
