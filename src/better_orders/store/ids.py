"""Identifiers the journal hands out: client order ids, run ids and recovered fills' ids.

A client order id is deterministic, ``bo-{run_id}-{leg}-{attempt}``, so the same attempt
always has the same id: the journal refuses to record it twice, and after a crash the
broker can be asked about it by name.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from better_orders.core.errors import InvalidInputError

#: Longest client order id this product generates (Alpaca accepts 128).
MAX_CLIENT_ORDER_ID = 48

#: Execution ids of fills recovered from a broker's cumulative quantity start with this.
RECOVERED_PREFIX = "recovered-"

_COID_PREFIX = "bo-"
_RUN_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_COID_RE = re.compile(r"bo-(?P<run>[A-Za-z0-9][A-Za-z0-9._-]*)-(?P<leg>\d+)-(?P<attempt>\d+)")
_TOKEN_RE = re.compile(r"[0-9a-z]{1,8}")


def client_order_id(run_id: str, leg: int, attempt: int) -> str:
    """The deterministic client order id of one attempt: ``bo-{run_id}-{leg}-{attempt}``."""
    if not _RUN_ID_RE.fullmatch(run_id):
        raise InvalidInputError(
            f"run id {run_id!r} must be letters, digits, '.', '_' or '-' (starting with one of "
            "the first two)"
        )
    for what, value in (("leg", leg), ("attempt", attempt)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidInputError(f"{what} must be a non-negative integer, got {value!r}")
    coid = f"{_COID_PREFIX}{run_id}-{leg}-{attempt}"
    if len(coid) > MAX_CLIENT_ORDER_ID:
        raise InvalidInputError(
            f"client order id {coid!r} is longer than {MAX_CLIENT_ORDER_ID} characters: "
            f"use a shorter run id than {run_id!r}"
        )
    return coid


def parse_client_order_id(coid: str) -> tuple[str, int, int] | None:
    """``(run_id, leg, attempt)`` of an id made by ``client_order_id``; None for any other id."""
    match = _COID_RE.fullmatch(coid)
    if match is None:
        return None
    run_id, leg, attempt = match["run"], int(match["leg"]), int(match["attempt"])
    try:
        canonical = client_order_id(run_id, leg, attempt)
    except InvalidInputError:
        return None
    # "bo-x-01-1" is not an id this module makes: leading zeros would break the round trip.
    return (run_id, leg, attempt) if canonical == coid else None


def new_run_id(now: datetime, rng_token: str | None = None) -> str:
    """A short id that sorts by start time, e.g. ``20261127T093000-3f9a``.

    The time is written in ``now``'s own zone (pass New York time and ids read as market
    time); ``rng_token`` (1-8 lower-case letters or digits) defaults to 4 random hex digits.
    """
    token = secrets.token_hex(2) if rng_token is None else rng_token
    if not _TOKEN_RE.fullmatch(token):
        raise InvalidInputError(
            f"run id token {token!r} must be 1 to 8 lower-case letters or digits"
        )
    return f"{now:%Y%m%dT%H%M%S}-{token}"
