"""Loading the configuration: defaults < a TOML file < ``BETTER_ORDERS_*`` variables.

The sources (``config.sources``) are merged, the environment over the file, table by
table, and the result is validated once against the schema, so the schema's own bounds
and rules decide; a validation error is rewritten to name the file or variable each bad
value came from.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from better_orders.config.fields import Loc, dotted, leaves
from better_orders.config.paths import find_config_file
from better_orders.config.settings import BetterOrdersConfig
from better_orders.config.sources import EnvSource, TomlFileSource, show_value
from better_orders.core.errors import ConfigError

DEFAULT_SOURCE = "default"


@dataclass(frozen=True, slots=True)
class LoadedConfig:
    """The effective configuration and where each value came from.

    ``sources`` maps every dotted field name (``ladder.max_repegs``,
    ``symbols.TQQQ.max_slippage_bps``) to ``default``, ``file:<path>`` or
    ``env:<VARIABLE>``; ``path`` is the file read, if any.
    """

    config: BetterOrdersConfig
    sources: dict[str, str]
    path: Path | None = None

    def rows(self) -> list[tuple[str, Any, str]]:
        """(dotted field, value, source) for every value, in schema order."""
        return [
            (dotted(loc), value, self.sources.get(dotted(loc), DEFAULT_SOURCE))
            for loc, value in leaves(self.config)
        ]


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Defaults < TOML file < ``BETTER_ORDERS_*`` environment, validated; ``ConfigError`` if bad.

    The file is ``path``, else ``$BETTER_ORDERS_CONFIG``, else ``./better-orders.toml``,
    else ``config.toml`` in the user config directory; the last two only if present.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    file_path, named_by = find_config_file(path, environ)
    # The file is read first, so its errors are reported before the environment's.
    layers: list[TomlFileSource | EnvSource] = []
    if file_path is not None:
        layers.append(TomlFileSource(BetterOrdersConfig, file_path, named_by))
    layers.append(EnvSource(BetterOrdersConfig, environ))
    provenance = {loc: src for layer in layers for loc, src in layer.provenance.items()}

    merged: dict[str, Any] = {}
    for layer in layers:
        _merge(merged, layer.data)
    try:
        config = BetterOrdersConfig.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, provenance)) from None

    sources = {dotted(loc): provenance.get(loc, DEFAULT_SOURCE) for loc, _ in leaves(config)}
    return LoadedConfig(config=config, sources=sources, path=file_path)


def _merge(into: dict[str, Any], layer: Mapping[str, Any]) -> None:
    """``layer``'s values over ``into``'s; tables (a section, a symbol) merged key by key."""
    for key, value in layer.items():
        if isinstance(value, Mapping):
            below = into.get(key)
            if not isinstance(below, dict):
                below = into[key] = {}
            _merge(below, value)  # copied, never shared with the layer's own tables
        else:
            into[key] = value


def _source_of(loc: Loc, message: str, provenance: Mapping[Loc, str]) -> str:
    for n in range(len(loc), 0, -1):
        if loc[:n] in provenance:
            return provenance[loc[:n]]
    # A rule over several fields (e.g. two symbol lists that overlap): blame the sources
    # of the fields its message names, else every non-default value in its scope.
    scoped = [(k, s) for k, s in provenance.items() if k[: len(loc)] == loc]
    named = [s for k, s in scoped if re.search(rf"\b{re.escape(k[-1])}\b", message)]
    chosen = list(dict.fromkeys(named or [s for _, s in scoped]))
    return " and ".join(chosen) if chosen else "defaults"


def _describe(exc: ValidationError, provenance: Mapping[Loc, str]) -> str:
    """One line: ``config error in <source>: <field>: <problem> (got <value>)``."""
    by_source: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        loc = tuple(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        field = dotted(loc)
        text = message if not field or message.startswith(field) else f"{field}: {message}"
        value = error.get("input")
        if not (isinstance(value, dict) and error["type"] == "value_error"):
            text += f" (got {show_value(value)})"
        by_source.setdefault(_source_of(loc, message, provenance), []).append(text)
    return "config error in " + "; ".join(
        f"{source}: {'; '.join(texts)}" for source, texts in by_source.items()
    )
