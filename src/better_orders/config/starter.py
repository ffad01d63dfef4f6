"""The starter TOML file (``config init``): every setting at its default, commented.

It is written by walking the schema, so a new field appears in it with its description
and bounds, and the file loads back to exactly the defaults.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from better_orders.config.fields import Loc, dotted, entry_model, section_model, without_none
from better_orders.config.settings import BetterOrdersConfig

_STARTER_HEADER = """\
# Better Orders configuration.
#
# Every setting is listed with its default. Precedence: built-in defaults < this file <
# BETTER_ORDERS_* environment variables, e.g. BETTER_ORDERS_MAX_SLIPPAGE_BPS=25 or
# BETTER_ORDERS_LADDER__MAX_REPEGS=3; lists are comma-separated there, e.g.
# BETTER_ORDERS_HIGH_VOLUME_ETFS=SPY,QQQ.
# Budgets and spreads in bps are basis points of the mid; durations are in seconds.
"""


def starter_toml() -> str:
    """A commented TOML file with every field at its default; loads back to the defaults."""
    lines = _STARTER_HEADER.splitlines()
    _starter_section(BetterOrdersConfig(), (), lines)
    return "\n".join(lines).rstrip("\n") + "\n"


def _starter_section(model: BaseModel, loc: Loc, lines: list[str]) -> None:
    fields = type(model).model_fields
    values = [n for n, f in fields.items() if section_model(f.annotation) is None]
    values = [n for n in values if entry_model(fields[n].annotation) is None]
    tables = [n for n in fields if n not in values]
    # TOML: a table's plain keys must come before its sub-tables.
    for name in values:
        value = getattr(model, name)
        lines.append("")
        lines.append(f"# {_comment(fields[name].description, fields[name])}")
        if value is None:
            lines.append(f"# {name} =")
        else:
            lines.extend(_toml_assignment(name, value))
    for name in tables:
        field = fields[name]
        here = (*loc, name)
        entry = entry_model(field.annotation)
        if entry is None:
            lines.append("")
            lines.append("")
            lines.append(f"[{dotted(here)}]")
            doc = (type(getattr(model, name)).__doc__ or field.description or "").strip()
            if doc:
                lines.append(f"# {doc.splitlines()[0]}")
            _starter_section(getattr(model, name), here, lines)
            continue
        lines.append("")
        lines.append("")
        lines.append(f"# {field.description or name}, e.g. [{dotted(here)}.TQQQ], with any of:")
        for key, sub in entry.model_fields.items():
            lines.append(f"#   {key}: {_comment(sub.description, sub)}")
        for key, item in getattr(model, name).items():
            lines.append("")
            lines.append(f"[{dotted(here)}.{json.dumps(key)}]")
            for sub_name in entry.model_fields:
                if sub_name in item.model_fields_set and getattr(item, sub_name) is not None:
                    lines.extend(_toml_assignment(sub_name, getattr(item, sub_name)))


def _comment(description: str | None, field: Any) -> str:
    text = description or "(no description)"
    allowed = _allowed(field)
    return f"{text} [{allowed}]" if allowed else text


def _allowed(field: Any) -> str:
    inner = without_none(field.annotation)[0]
    if get_origin(inner) is Literal:
        return " | ".join(repr(v) for v in get_args(inner))
    if isinstance(inner, type) and issubclass(inner, Enum):
        return " | ".join(repr(m.value) for m in inner)
    bounds = []
    for item in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            bound = getattr(item, attr, None)
            if bound is not None:
                bounds.append(f"{sign} {bound}")
    return ", ".join(bounds)


def _toml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return json.dumps(value.value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{json.dumps(str(k))} = {_toml_scalar(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"no TOML form for {value!r}")


def _toml_assignment(name: str, value: Any, width: int = 96) -> list[str]:
    if not isinstance(value, list | tuple | set | frozenset):
        return [f"{name} = {_toml_scalar(value)}"]
    items = [_toml_scalar(v) for v in value]
    one_line = f"{name} = [{', '.join(items)}]"
    if len(one_line) <= width:
        return [one_line]
    lines, row = [f"{name} = ["], "   "
    for item in items:
        if len(row) + len(item) + 2 > width:
            lines.append(row.rstrip())
            row = "   "
        row += f" {item},"
    lines.append(row.rstrip())
    lines.append("]")
    return lines
