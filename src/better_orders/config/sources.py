"""The settings sources: a TOML file and ``BETTER_ORDERS_*`` variables, each value traced.

Each source reads its whole layer when it is made and checks the *names* in it against the
schema, so a typo is reported in the source's own spelling (``unknown key 'ladder.max_repeg'``,
``BETTER_ORDERS_LADDER__MAX_REPEG``) with a suggestion. Values are left to pydantic, which
validates the merged layers once (``config.loader``). ``provenance`` records which file or
variable set each value, for ``config show`` and for error messages.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from better_orders.config.fields import (
    Loc,
    dotted,
    entry_model,
    is_number,
    is_sequence,
    section_model,
    without_none,
)
from better_orders.config.paths import CONFIG_ENV_VAR, DB_ENV_VAR
from better_orders.core.errors import ConfigError, InvalidInputError
from better_orders.core.model import normalize_symbol

ENV_PREFIX = "BETTER_ORDERS_"
#: A TOML key that needs no quotes.
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

#: ``BETTER_ORDERS_*`` variables that are read elsewhere and are not configuration fields.
#: Any other ``BETTER_ORDERS_*`` variable must name a field, so a typo cannot go unnoticed.
NON_CONFIG_ENV_VARS = frozenset(
    {
        CONFIG_ENV_VAR,
        DB_ENV_VAR,
        "BETTER_ORDERS_CACHE",
        "BETTER_ORDERS_DATA",
        "BETTER_ORDERS_DATASET",
        "BETTER_ORDERS_KILL_SWITCH",
        "BETTER_ORDERS_LOG_LEVEL",
        # Wall seconds per simulated second: slows the simulator for crash tests.
        "BETTER_ORDERS_SIM_PACE",
    }
)


def show_value(value: Any) -> str:
    """A bad value as the user wrote it: TOML-like, strings quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return repr(value.value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Decimal | int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(show_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {show_value(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _toml_loc(loc: Loc) -> str:
    """``loc`` as a TOML table name: ``symbols.TQQQ``, ``symbols."BRK.B"``."""
    return ".".join(p if _BARE_KEY.fullmatch(p) else json.dumps(p) for p in loc)


def _error(source: str, problem: str) -> ConfigError:
    return ConfigError(f"config error in {source}: {problem}")


def _entry_key(raw: object, source: str, loc: Loc) -> str:
    try:
        return normalize_symbol(str(raw))
    except InvalidInputError:
        raise _error(source, f"{dotted(loc)}: invalid symbol {str(raw)!r}") from None


class _LayerSource:
    """One layer, read whole into ``data``; ``provenance`` names the source of each value."""

    def __init__(self, schema: type[BaseModel]) -> None:
        self.schema = schema
        self.data: dict[str, Any] = {}
        self.provenance: dict[Loc, str] = {}


class TomlFileSource(_LayerSource):
    """A TOML file; numbers with a fraction are read as exact ``Decimal``."""

    def __init__(self, schema: type[BaseModel], path: Path, named_by: str = "") -> None:
        super().__init__(schema)
        self.label = f"file:{path}"
        self.data = self._table(schema, self._read(path, named_by), ())

    def _read(self, path: Path, named_by: str) -> dict[str, Any]:
        where = f" (named by {named_by})" if named_by else ""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise _error(self.label, f"file not found{where}") from None
        except IsADirectoryError:
            raise _error(self.label, "is a directory, not a TOML file") from None
        except OSError as exc:
            raise _error(self.label, f"cannot read it: {exc.strerror}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise _error(self.label, "not UTF-8 text") from None
        try:
            # Decimal keeps money exact: 0.03 stays 0.03, never a binary float.
            return tomllib.loads(text, parse_float=Decimal)
        except tomllib.TOMLDecodeError as exc:
            raise _error(self.label, f"invalid TOML: {exc}") from None

    def _table(self, model: type[BaseModel], table: Mapping[str, Any], loc: Loc) -> dict[str, Any]:
        """``table`` checked against ``model``, with symbol keys normalised."""
        data: dict[str, Any] = {}
        for key, value in table.items():
            here = (*loc, key)
            field = model.model_fields.get(key)
            if field is None:
                hint = difflib.get_close_matches(key, list(model.model_fields), n=1)
                maybe = f" (did you mean '{dotted((*loc, hint[0]))}'?)" if hint else ""
                raise _error(self.label, f"unknown key '{dotted(here)}'{maybe}")
            section = section_model(field.annotation)
            entry = entry_model(field.annotation)
            if section is not None:
                data[key] = self._table(section, self._subtable(value, here), here)
            elif entry is not None:
                entries: dict[str, dict[str, Any]] = {}
                spelled: dict[str, str] = {}
                for raw_key, entry_table in self._subtable(value, here).items():
                    name = _entry_key(raw_key, self.label, (*here, str(raw_key)))
                    if name in spelled:
                        # TOML keeps [symbols.tqqq] and [symbols.TQQQ] apart; merged, one
                        # table's values would override the other's unseen.
                        raise _error(
                            self.label,
                            f"[{_toml_loc((*here, spelled[name]))}] and "
                            f"[{_toml_loc((*here, str(raw_key)))}] are the same symbol, {name} "
                            "(symbols are case-insensitive): give it one table",
                        )
                    spelled[name] = str(raw_key)
                    at = (*here, name)
                    entries[name] = self._table(entry, self._subtable(entry_table, at), at)
                data[key] = entries
            elif isinstance(value, bool) and is_number(field.annotation):
                # pydantic would quietly read true as 1.
                raise _error(
                    self.label,
                    f"{dotted(here)}: Input should be a number, not a boolean "
                    f"(got {show_value(value)})",
                )
            else:
                data[key] = value
                self.provenance[here] = self.label
        return data

    def _subtable(self, value: Any, loc: Loc) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _error(
                self.label,
                f"{dotted(loc)}: must be a table ([{dotted(loc)}]) (got {show_value(value)})",
            )
        return value


class EnvSource(_LayerSource):
    """``BETTER_ORDERS_*`` variables, names matched case-insensitively, ``__`` for nesting.

    Every such variable must name one setting (``NON_CONFIG_ENV_VARS`` aside); lists are
    comma-separated; an empty value clears an optional setting.
    """

    def __init__(self, schema: type[BaseModel], env: Mapping[str, str]) -> None:
        super().__init__(schema)
        for name in sorted(env):
            upper = name.upper()
            if not upper.startswith(ENV_PREFIX) or upper in NON_CONFIG_ENV_VARS:
                continue
            loc, annotation = self._target(name)
            if loc in self.provenance:
                raise _error(f"env:{name}", f"{dotted(loc)} is also set by {self.provenance[loc]}")
            target = self.data
            for key in loc[:-1]:
                target = target.setdefault(key, {})
            target[loc[-1]] = _env_value(env[name], annotation)
            self.provenance[loc] = f"env:{name}"

    def _target(self, name: str) -> tuple[Loc, Any]:
        """The field a variable names, and its type; ``ConfigError`` if none."""
        source = f"env:{name}"
        parts = name[len(ENV_PREFIX) :].split("__")
        model: type[BaseModel] = self.schema
        loc: Loc = ()
        i = 0
        while i < len(parts):
            part = parts[i].lower()
            field = model.model_fields.get(part)
            if field is None:
                hint = difflib.get_close_matches(part, list(model.model_fields), n=1)
                maybe = f" (did you mean {_env_name((*loc, hint[0]))}?)" if hint else ""
                raise _error(source, f"not a configuration setting{maybe}")
            loc = (*loc, part)
            section = section_model(field.annotation)
            entry = entry_model(field.annotation)
            if section is not None:
                model, i = section, i + 1
            elif entry is not None:
                if i + 2 >= len(parts):
                    example = _env_name((*loc, "TQQQ", next(iter(entry.model_fields))))
                    raise _error(source, f"set one field of one symbol, e.g. {example}")
                loc = (*loc, _entry_key(parts[i + 1], source, (*loc, parts[i + 1])))
                model, i = entry, i + 2
            elif i == len(parts) - 1:
                return loc, field.annotation
            else:
                raise _error(source, "not a configuration setting")
        example = _env_name((*loc, next(iter(model.model_fields))))
        raise _error(
            source,
            f"names the section '{dotted(loc)}', not a setting; "
            f"set one of its fields, e.g. {example}",
        )


def _env_name(loc: Loc) -> str:
    return ENV_PREFIX + "__".join(p.upper() for p in loc)


def _env_value(raw: str, annotation: Any) -> Any:
    text = raw.strip()
    if text == "" and without_none(annotation)[1]:
        return None
    if is_sequence(annotation):
        if text.startswith("["):
            # A JSON list ("[5, 60]", '["a", "b"]'), as other tools write lists in the
            # environment; anything else is split at its commas (and fails validation).
            try:
                value = json.loads(text)
            except json.JSONDecodeError:
                value = None
            if isinstance(value, list):
                return value
        return [item.strip() for item in text.split(",") if item.strip()]
    return text
