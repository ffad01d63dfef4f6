"""``better-orders config``: show the effective configuration, or write a starter file."""

from __future__ import annotations

from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from better_orders.cli.common import console, print_json
from better_orders.cli.help_format import Command, Group
from better_orders.config.loader import DEFAULT_SOURCE, LoadedConfig, load_config
from better_orders.config.starter import starter_toml
from better_orders.core.errors import ConfigError
from better_orders.core.secret_urls import mask_url
from better_orders.engine.risk import KILL_SWITCH_ENV_VAR, KillSwitch

#: Settings whose values hold secrets (alert URLs): shown masked, never as written.
SECRET_URL_FIELDS = frozenset({"alerts.urls"})

config_app = typer.Typer(
    name="config",
    cls=Group,
    help="Show the effective configuration or write a starter file.",
    no_args_is_help=True,
)


def _format(value: Any) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, tuple | list):
        return ", ".join(_format(v) for v in value) if value else "(none)"
    return str(value)


def _table(loaded: LoadedConfig) -> Table:
    """Every setting, its value and where it came from.

    Sources read ``default``, ``file`` (the file in the title) or ``env``; the variables
    are listed under the table, as they are too long for a column at 80 characters.
    """
    origin = f"file {loaded.path}" if loaded.path is not None else "no file"
    table = Table(title=f"Configuration ({escape(origin)})", title_justify="left")
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value")
    table.add_column("source", overflow="fold")
    variables: list[str] = []
    for field, value, source in loaded.rows():
        kind, _, detail = source.partition(":")
        if source == DEFAULT_SOURCE:
            shown = f"[dim]{source}[/]"
        elif kind == "file" and loaded.path is not None and detail == str(loaded.path):
            shown = "file"
        elif kind == "env":
            shown = "env"
            variables.append(detail)
        else:
            shown = escape(source)
        if field in SECRET_URL_FIELDS:
            value = tuple(mask_url(u) for u in value)
        table.add_row(escape(field), escape(_format(value)), shown)
    if variables:
        table.caption = escape(f"env: {', '.join(variables)}")
        table.caption_justify = "left"
    return table


def _kill_switch(loaded: LoadedConfig) -> dict[str, Any]:
    """The kill switch in force, resolved as the trading commands resolve it (the variable
    over ``risk.kill_switch_file``): its file, what named it, and whether it is engaged."""
    switch = KillSwitch.resolve(loaded.config.risk)
    if switch is None:
        return {"path": None, "source": None, "engaged": False}
    if switch.named_by:
        source = f"env:{switch.named_by}"
    else:
        source = loaded.sources.get("risk.kill_switch_file", DEFAULT_SOURCE)
    return {"path": str(switch.path), "source": source, "engaged": switch.on}


def _kill_switch_line(state: dict[str, Any]) -> str:
    if state["path"] is None:
        return f"kill switch: none (set {KILL_SWITCH_ENV_VAR} or risk.kill_switch_file)"
    where = escape(f"{state['path']}, from {state['source']}")
    if state["engaged"]:
        return f"kill switch: {where}: [bold red]ENGAGED[/] (the file exists: no order is sent)"
    return f"kill switch: {where}: off (no file there)"


@config_app.command("show", cls=Command)
def show(
    config_path: Annotated[
        Path | None,
        typer.Option(
            "--config",
            metavar="PATH",
            help="TOML file to read. Default: $BETTER_ORDERS_CONFIG, ./better-orders.toml, "
            "then the user config directory.",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="print one JSON document instead of a table")
    ] = False,
) -> None:
    """Show every setting, its effective value and where it came from, and the kill switch."""
    loaded = load_config(config_path)
    kill_switch = _kill_switch(loaded)
    if as_json:
        data = loaded.config.model_dump()
        data["alerts"]["urls"] = [mask_url(u) for u in loaded.config.alerts.urls]
        print_json({"config": data, "sources": loaded.sources, "kill_switch": kill_switch})
    else:
        console.print(_table(loaded))
        console.print(_kill_switch_line(kill_switch), highlight=False)


@config_app.command("init", cls=Command)
def init(
    path: Annotated[
        Path, typer.Argument(metavar="PATH", help="where to write the starter TOML file")
    ],
    force: Annotated[
        bool, typer.Option("--force", help="overwrite the file if it already exists")
    ] = False,
) -> None:
    """Write a commented starter file listing every setting at its default."""
    target = path.expanduser()
    if target.is_dir():
        raise ConfigError(
            f"{target} is a directory; give a file name, e.g. {target / 'better-orders.toml'}"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        # "x" refuses an existing file atomically, so a concurrent writer is not clobbered.
        with target.open("w" if force else "x", encoding="utf-8") as handle:
            handle.write(starter_toml())
    except FileExistsError:
        raise ConfigError(f"{target} already exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror}") from None
    console.print(f"wrote the starter configuration to {escape(str(target))}")


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
