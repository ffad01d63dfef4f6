"""The shape of the schema: which fields are sections, per-symbol tables or values.

The sources, the starter file and ``config show`` walk the schema with these rather than
listing fields: a field whose type is a model is a section (a TOML table, ``__`` in an
environment name), a ``dict`` of a model is a table of per-symbol entries keyed by symbol,
and anything else is a value.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any, get_args, get_origin

from pydantic import BaseModel

#: Where a value sits: ``("ladder", "max_repegs")``, ``("symbols", "TQQQ", "route")``.
Loc = tuple[str, ...]


def dotted(loc: Loc) -> str:
    return ".".join(loc)


def section_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def entry_model(annotation: Any) -> type[BaseModel] | None:
    """The entry model of a ``dict[str, Model]`` field (per-symbol tables)."""
    if get_origin(annotation) is dict:
        args = get_args(annotation)
        if len(args) == 2:
            return section_model(args[1])
    return None


def without_none(annotation: Any) -> tuple[Any, bool]:
    """(the type with ``None`` removed, whether ``None`` was allowed)."""
    args = get_args(annotation)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else annotation), True
    return annotation, False


def is_sequence(annotation: Any) -> bool:
    return get_origin(without_none(annotation)[0]) in (tuple, list, set, frozenset)


def is_number(annotation: Any) -> bool:
    inner = without_none(annotation)[0]
    return (
        isinstance(inner, type)
        and issubclass(inner, int | float | Decimal)
        and not issubclass(inner, bool)
    )


def leaves(model: BaseModel, loc: Loc = ()) -> Iterator[tuple[Loc, Any]]:
    """Every value in ``model`` in schema order; per-symbol entries show only what was set."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if section_model(field.annotation) is not None:
            yield from leaves(value, (*loc, name))
        elif entry_model(field.annotation) is not None:
            for key, entry in value.items():
                for entry_loc, entry_value in leaves(entry, (*loc, name, key)):
                    if entry_loc[-1] in entry.model_fields_set:
                        yield entry_loc, entry_value
        else:
            yield (*loc, name), value
