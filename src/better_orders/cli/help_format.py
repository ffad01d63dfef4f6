"""How ``--help`` shows parameters: declared metavars (``--at ISO``), nothing for flags.

typer prints a type label beside each parameter (``<str>``, ``<bool>``, even for
``--help``). Options here declare a metavar saying what to give (``PATH``, ``N``,
``sim|alpaca``); these command classes blank the label of flags, whose presence
is the value, and of arguments, whose name already says what they are. Every
command is made with ``cls=Command`` and every group with ``cls=Group``.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: Any) -> str | None:
        return None


def _without_type_labels(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
        elif type(param) is TyperArgument:
            # typer builds its own TyperArgument; only the label it shows is changed.
            param.__class__ = _Argument
    return params


class Command(TyperCommand):
    """A command whose help shows metavars, not type labels."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_type_labels(super().get_params(ctx))


class Group(TyperGroup):
    """A group (the root, ``account``, ``config``) whose help shows metavars, not type labels."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _without_type_labels(super().get_params(ctx))
