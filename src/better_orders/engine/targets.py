"""Target weights from a file, or from what a command (the user's strategy) prints.

Both are read the same way: TOML (a ``[targets]`` table, or keys at the top level),
JSON (an object, or one with a ``targets`` object) or CSV (``symbol,weight`` rows).
Either may carry ``as_of``, when its producer computed the weights (a top-level key,
or a CSV row ``as_of,2026-11-27T15:30:00``; New York time unless an offset is given),
which the staleness guard reads.

A command is run without a shell (``shlex`` splits it; use ``sh -c '...'`` for a
pipeline). One that fails, times out or prints no targets is an error that names it,
and nothing is traded.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shlex
import subprocess
import tomllib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from better_orders.core.errors import InvalidInputError
from better_orders.core.market_calendar import NEW_YORK

Format = Literal["toml", "json", "csv"]
#: The key (or CSV row) that says when the targets were computed.
AS_OF = "as_of"


@dataclass(frozen=True, slots=True)
class TargetsDoc:
    """Targets as read: ``(symbol, weight)`` pairs, where from, and when they were written."""

    pairs: list[tuple[str, str]]
    origin: str
    #: When the producer says it computed them (``as_of``), if it says.
    as_of: dt.datetime | None = None
    #: When the file was last modified (files only).
    modified: dt.datetime | None = None


def load_targets_file(path: Path) -> list[tuple[str, str]]:
    """Targets from TOML (a ``[targets]`` table or top level), JSON or CSV (symbol,weight)."""
    return read_targets_file(path).pairs


def read_targets_file(path: Path) -> TargetsDoc:
    """A targets file, with its modification time and any ``as_of``."""
    if not path.is_file():
        raise InvalidInputError(f"targets file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
        modified = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    except UnicodeDecodeError:
        raise InvalidInputError(f"targets file {path} is not UTF-8 text") from None
    except OSError as exc:
        raise InvalidInputError(f"targets file {path} cannot be read: {exc.strerror}") from None
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInputError(f"{path}: targets file must be .toml, .json or .csv")
    pairs, as_of = parse_targets_text(text, fmt, str(path))
    return TargetsDoc(pairs, f"targets file {path}", as_of, modified)


def targets_from_command(command: str, *, timeout_seconds: float = 120.0) -> TargetsDoc:
    """Run ``command`` and read the targets it prints on stdout (format detected)."""
    argv = shlex.split(command)
    if not argv:
        raise InvalidInputError("--targets-cmd is empty: give the command that prints targets")
    what = f"targets command `{command}`"
    try:
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout_seconds, check=False
        )
    except FileNotFoundError:
        raise InvalidInputError(f"{what} failed: {argv[0]} not found; no order sent") from None
    except subprocess.TimeoutExpired:
        raise InvalidInputError(
            f"{what} printed no result within {timeout_seconds:g} s; no order sent"
        ) from None
    except OSError as exc:
        raise InvalidInputError(f"{what} failed to start: {exc.strerror}; no order sent") from None
    if done.returncode != 0:
        last = (done.stderr or "").strip().splitlines()[-1:] or ["no message"]
        raise InvalidInputError(
            f"{what} failed with exit code {done.returncode} ({last[0][:200]}); no order sent"
        )
    text = done.stdout.strip()
    if not text:
        raise InvalidInputError(f"{what} printed nothing on stdout; no order sent")
    pairs, as_of = parse_targets_text(text, detect_format(text), what)
    if not pairs:
        raise InvalidInputError(f"{what} printed no targets; no order sent")
    return TargetsDoc(pairs, what, as_of)


def detect_format(text: str) -> Format:
    """JSON if it starts like an object, TOML if it parses as TOML, else CSV."""
    stripped = text.lstrip()
    if stripped.startswith("{"):
        return "json"
    try:
        tomllib.loads(stripped)
    except tomllib.TOMLDecodeError:
        return "csv"
    return "toml"


def parse_targets_text(
    text: str, fmt: Format, origin: str
) -> tuple[list[tuple[str, str]], dt.datetime | None]:
    """``(pairs, as_of)`` from targets text in ``fmt``; ``origin`` names it in errors."""
    try:
        if fmt == "toml":
            data = tomllib.loads(text)
            as_of = data.pop(AS_OF, None)
            table = data.get("targets", data)
            return [(str(k), str(v)) for k, v in table.items()], _as_of(as_of, origin)
        if fmt == "json":
            obj = json.loads(text, parse_float=Decimal, object_pairs_hook=_Pairs)
            if not isinstance(obj, _Pairs):
                raise InvalidInputError(f"{origin}: expected a JSON object of SYMBOL: weight")
            as_of = obj.get(AS_OF)
            table = obj.get("targets", obj)
            if not isinstance(table, _Pairs):
                raise InvalidInputError(f"{origin}: expected a JSON object of SYMBOL: weight")
            pairs = [(str(k), str(v)) for k, v in table.pairs if k != AS_OF]
            return pairs, _as_of(as_of, origin)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InvalidInputError(f"{origin}: cannot parse targets: {exc}") from None
    return _csv_targets(text, origin)


class _Pairs(dict[str, Any]):
    """A JSON object that keeps every key it was given, in order, repeats included: a
    symbol given twice is refused (``core.plan``), never silently the last one."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        self.pairs = pairs


def _csv_targets(text: str, origin: str) -> tuple[list[tuple[str, str]], dt.datetime | None]:
    rows = [r for r in csv.reader(text.splitlines()) if r and any(c.strip() for c in r)]
    if rows and rows[0][0].strip().lower() == "symbol":
        rows = rows[1:]
    out: list[tuple[str, str]] = []
    as_of: dt.datetime | None = None
    for n, row in enumerate(rows, start=1):
        if len(row) != 2:
            raise InvalidInputError(f"{origin}: row {n} should be symbol,weight: {row}")
        if row[0].strip().lower() == AS_OF:
            as_of = _as_of(row[1].strip(), origin)
            continue
        out.append((row[0], row[1]))
    return out, as_of


def _as_of(value: Any, origin: str) -> dt.datetime | None:
    """``as_of`` as an aware time: ISO-8601 text or a TOML date/time; New York if naive."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, dt.date):
        stamp = dt.datetime.combine(value, dt.time())
    else:
        try:
            stamp = dt.datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInputError(
                f"{origin}: as_of {value!r} is not an ISO-8601 time, e.g. 2026-11-27T15:30:00"
            ) from None
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=NEW_YORK)


_FORMATS: dict[str, Format] = {".toml": "toml", ".json": "json", ".csv": "csv"}
