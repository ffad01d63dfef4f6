"""Where the configuration file and the journal are, unless the user says otherwise."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from platformdirs import user_config_dir, user_data_dir

APP_NAME = "better-orders"
CONFIG_ENV_VAR = "BETTER_ORDERS_CONFIG"
DB_ENV_VAR = "BETTER_ORDERS_DB"
LOCAL_CONFIG_FILE = "better-orders.toml"


def env_lookup(env: Mapping[str, str], wanted: str) -> tuple[str, str]:
    """(name as spelled, value) of a variable matched case-insensitively; ("", "") if unset."""
    for name, value in env.items():
        if name.upper() == wanted:
            return name, value
    return "", ""


def find_config_file(path: str | Path | None, env: Mapping[str, str]) -> tuple[Path | None, str]:
    """The TOML file to read, and the variable that named it ("" if none did).

    ``path``, else ``$BETTER_ORDERS_CONFIG``, else ``./better-orders.toml``, else
    ``config.toml`` in the user config directory; the last two only if present.
    """
    if path is not None and str(path) != "":
        return Path(path).expanduser().absolute(), ""
    name, named = env_lookup(env, CONFIG_ENV_VAR)
    if named:
        return Path(named).expanduser().absolute(), name
    local = Path(LOCAL_CONFIG_FILE).absolute()
    if local.is_file():
        return local, ""
    user = Path(user_config_dir(APP_NAME)) / "config.toml"
    if user.is_file():
        return user.absolute(), ""
    return None, ""


def resolve_db_path(cli_value: str | None, env: Mapping[str, str] | None = None) -> Path:
    """The journal database: ``--db``, else ``$BETTER_ORDERS_DB``, else the user data dir."""
    if cli_value:
        return Path(cli_value).expanduser()
    environ: Mapping[str, str] = os.environ if env is None else env
    _, from_env = env_lookup(environ, DB_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    default = Path(user_data_dir(APP_NAME)) / "journal.sqlite3"
    default.parent.mkdir(parents=True, exist_ok=True)
    return default
