"""Shared fixtures: the real quote files, and an isolated journal for every test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache folder for the whole test session: parsed quote files and the calendar are
    kept between tests, never in the user's own cache."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated_journal(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, _session_cache: Path
) -> Iterator[None]:
    """No test writes to the user's real journal, paper account or cache, nor shares one."""
    db = tmp_path_factory.mktemp("journal") / "journal.sqlite3"
    monkeypatch.setenv("BETTER_ORDERS_DB", str(db))
    monkeypatch.setenv("BETTER_ORDERS_CACHE", str(_session_cache))
    monkeypatch.delenv("BETTER_ORDERS_CONFIG", raising=False)
    monkeypatch.delenv("BETTER_ORDERS_KILL_SWITCH", raising=False)
    # A run waits for the quotes 5 s and 60 s after its last fill: real seconds against the
    # local Alpaca-compatible exchange. Tests of those quotes give their configuration.
    monkeypatch.setenv("BETTER_ORDERS_TCA__MARKOUT_SECONDS", "")
    yield


def data_dir() -> Path | None:
    raw = os.environ.get("BETTER_ORDERS_DATA")
    if not raw:
        return None
    path = Path(raw) / "quotes"
    return path if path.is_dir() else None


@pytest.fixture
def quotes_dir() -> Path:
    """The shared real quote files; skips the test when BETTER_ORDERS_DATA is not set."""
    found = data_dir()
    if found is None:
        pytest.skip("real quote files not available: set BETTER_ORDERS_DATA to shared/data")
    return found
