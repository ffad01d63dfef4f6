"""Parsed quote files kept between runs (``data.quote_cache``): same arrays, re-read when stale."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from better_orders.config.loader import load_config
from better_orders.config.settings import BetterOrdersConfig
from better_orders.data import quote_cache
from better_orders.data.user_cache import CACHE_ENV_VAR
from better_orders.venues.sim.files import read_quote_file

HEADER = "ts_utc_ns,symbol,bid_px,ask_px,bid_sz,ask_sz\n"
ROWS = [
    "1340285400000000000,XXX,10.00,10.02,100,200\n",
    "1340285401000000000,XXX,10.01,10.02,300,200\n",
]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    folder = tmp_path / "cache"
    monkeypatch.setenv(CACHE_ENV_VAR, str(folder))
    quote_cache.enable()
    yield folder
    quote_cache.enable(False)


def _write(path: Path, rows: list[str]) -> Path:
    with gzip.open(path, "wt") as out:
        out.write(HEADER + "".join(rows))
    return path


def _same(a: dict[str, object], b: dict[str, object]) -> None:
    assert a.keys() == b.keys()
    for name, value in a.items():
        if isinstance(value, np.ndarray):
            other = b[name]
            assert isinstance(other, np.ndarray)
            assert value.dtype == other.dtype and np.array_equal(value, other), name
        else:
            assert value == b[name], name


def test_kept_reading_is_the_reading(cache: Path, tmp_path: Path) -> None:
    file = _write(tmp_path / "q.csv.gz", ROWS)
    first = read_quote_file(file, symbol=None)
    assert len(list((cache / "quotes").glob("*.npz"))) == 1
    second = read_quote_file(file, symbol=None)
    _same(first, second)
    quote_cache.enable(False)
    _same(first, read_quote_file(file, symbol=None))


def test_kept_under_the_symbol_read(cache: Path, tmp_path: Path) -> None:
    file = _write(tmp_path / "q.csv.gz", ROWS)
    assert read_quote_file(file, symbol=None)["symbol"] == "XXX"
    assert read_quote_file(file, symbol="AAPL")["symbol"] == "AAPL"
    assert read_quote_file(file, symbol=None)["symbol"] == "XXX"


def test_a_changed_file_is_read_again(cache: Path, tmp_path: Path) -> None:
    file = _write(tmp_path / "q.csv.gz", ROWS)
    assert len(read_quote_file(file, symbol=None)["ts_ns"]) == 2
    stat = file.stat()
    _write(file, ROWS[:1])
    os.utime(file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert len(read_quote_file(file, symbol=None)["ts_ns"]) == 1


def test_a_damaged_entry_is_read_again(cache: Path, tmp_path: Path) -> None:
    file = _write(tmp_path / "q.csv.gz", ROWS)
    first = read_quote_file(file, symbol=None)
    found = quote_cache.entry(file, None)
    assert found is not None
    found[0].write_bytes(b"not a zip file")
    _same(first, read_quote_file(file, symbol=None))
    _same(first, read_quote_file(file, symbol=None))


def test_off_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV_VAR, "off")
    quote_cache.enable()
    try:
        file = _write(tmp_path / "q.csv.gz", ROWS)
        assert quote_cache.entry(file, None) is None
        assert read_quote_file(file, symbol=None)["symbol"] == "XXX"
    finally:
        quote_cache.enable(False)


def test_at_most_max_entries(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(quote_cache, "MAX_ENTRIES", 2)
    for n in range(4):
        read_quote_file(_write(tmp_path / f"q{n}.csv.gz", ROWS), symbol=None)
    assert len(list((cache / "quotes").glob("*.npz"))) == 2


def test_the_cache_and_dataset_variables_are_not_settings() -> None:
    """``BETTER_ORDERS_CACHE`` and ``BETTER_ORDERS_DATASET`` are read where they are used:
    the configuration does not refuse them as unknown settings."""
    env = {CACHE_ENV_VAR: "off", "BETTER_ORDERS_DATASET": "/tmp/dataset"}
    assert load_config(env=env).config == BetterOrdersConfig()


def test_at_most_max_bytes(cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = _write(tmp_path / "q0.csv.gz", ROWS)
    read_quote_file(file, symbol=None)
    found = quote_cache.entry(file, None)
    assert found is not None
    monkeypatch.setattr(quote_cache, "MAX_BYTES", found[0].stat().st_size)  # room for one
    for n in range(1, 3):
        read_quote_file(_write(tmp_path / f"q{n}.csv.gz", ROWS), symbol=None)
    assert len(list((cache / "quotes").glob("*.npz"))) == 1
