"""Typed configuration: the schema, how a symbol's settings are resolved, and loading.

Values come from (lowest to highest precedence) the defaults below, a TOML
file, and ``BETTER_ORDERS_*`` environment variables (``__`` separates nesting:
``BETTER_ORDERS_LADDER__MAX_REPEGS=3``). The schema classes are the single
source of truth for names, types, bounds, defaults and descriptions: the
loader, the starter file and ``config show`` all walk them, so a field added
to a section is loadable, documented and shown with no other change.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from platformdirs import user_config_dir, user_data_dir
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from better_orders.core.errors import ConfigError, InvalidInputError
from better_orders.core.model import normalize_symbol


class ExecutionMode(StrEnum):
    """AUTO: better orders for configured symbols; ALWAYS: for all; OFF: standard everywhere."""

    AUTO = "auto"
    ALWAYS = "always"
    OFF = "off"


class SymbolClass(StrEnum):
    LEVERAGED_ETF = "leveraged_etf"
    HIGH_VOLUME_ETF = "high_volume_etf"
    STOCK = "stock"


DEFAULT_LEVERAGED_ETFS = (
    "TQQQ", "SQQQ", "TECL", "TECS", "SPXL", "SPXS", "SOXL", "SOXS", "UPRO", "SPXU",
    "TNA", "TZA", "FAS", "FAZ", "LABU", "LABD", "UDOW", "SDOW", "TMF", "TMV",
    "FNGU", "NAIL", "CURE", "DFEN", "YINN", "QLD", "SSO", "UVXY",
)  # fmt: skip
DEFAULT_HIGH_VOLUME_ETFS = (
    "SPY", "QQQ", "TLT", "XLF", "IWM", "DIA", "EEM", "GLD", "HYG", "XLE",
    "XLK", "EFA", "VOO", "IVV", "VTI", "SMH", "LQD", "IEF", "SHY", "XLV",
)  # fmt: skip


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)


class SpreadSettings(_Section):
    """How spreads are judged: fixed cents (the seed rule) and relative to the symbol's norm."""

    tight_cents: Decimal = Field(Decimal("0.03"), gt=0, description="TIGHT at or below this")
    wide_cents: Decimal = Field(Decimal("0.05"), gt=0, description="WIDE above this")
    rule: Literal["cents", "relative"] = Field(
        "relative",
        description="which class drives waiting: 'cents' (seed) or 'relative' to a typical spread",
    )
    tight_ratio: Decimal = Field(
        Decimal("1.5"), gt=0, description="TIGHT if spread <= ratio x typical"
    )
    wide_ratio: Decimal = Field(
        Decimal("2.5"), gt=0, description="WIDE if spread > ratio x typical"
    )
    tight_bps: Decimal = Field(
        Decimal("5"), gt=0, description="TIGHT (bps of mid) without a baseline"
    )
    wide_bps: Decimal = Field(
        Decimal("15"), gt=0, description="WIDE (bps of mid) without a baseline"
    )
    wait_ratio: Decimal = Field(
        Decimal("0.5"),
        gt=0,
        description=(
            "relative rule, opening windows: wait (bounded) until the spread is at most "
            "ratio x typical; a spread within tight_cents is never waited out"
        ),
    )
    wait_cap_bps: Decimal = Field(
        Decimal("5"),
        gt=0,
        description=(
            "relative rule, opening windows: the wait target is never wider than this "
            "(bps of mid), however wide the spreads seen since the open were"
        ),
    )
    typical_window_seconds: float = Field(
        1800.0, gt=0, description="trailing window for learning a symbol's typical spread"
    )
    absurd_pct_of_mid: Decimal = Field(
        Decimal("10"), gt=0, description="a spread wider than this % of mid is refused"
    )
    max_quote_age_seconds: float = Field(5.0, gt=0, description="older quotes are stale")

    @model_validator(mode="after")
    def _ordered(self) -> SpreadSettings:
        if self.tight_cents > self.wide_cents:
            raise ValueError(
                f"spread.tight_cents {self.tight_cents} > wide_cents {self.wide_cents}"
            )
        if self.tight_ratio > self.wide_ratio:
            raise ValueError(
                f"spread.tight_ratio {self.tight_ratio} > wide_ratio {self.wide_ratio}"
            )
        if self.tight_bps > self.wide_bps:
            raise ValueError(f"spread.tight_bps {self.tight_bps} > wide_bps {self.wide_bps}")
        return self


class TimingSettings(_Section):
    """The opening windows and how long a wide spread may delay an order."""

    opening_wait_max_seconds: float = Field(
        90.0, ge=0, description="longest wait for a wide spread to normalise after the open"
    )
    early_wait_max_seconds: float = Field(
        90.0,
        ge=0,
        description="longest such wait begun in 09:32-09:35 (0 = execute and monitor)",
    )
    wait_again: bool = Field(
        True,
        description=(
            "after an attempt times out in the opening windows, wait (same budget) for a "
            "wide spread to come in again instead of re-pegging into it"
        ),
    )
    rest_fraction: Decimal = Field(
        Decimal("0.25"),
        ge=0,
        le=1,
        description=(
            "while waiting out a wide spread, this share of what remains (whole shares) rests "
            "one tick inside the near touch, never past the mid or the slippage budget; when "
            "the wait ends it is cancelled and the rest crosses at once (0 = wait idle)"
        ),
    )
    hold_seconds: float = Field(
        0.02,
        ge=0,
        le=5,
        description=(
            "a spread that comes in during a wait must hold this long before the ladder "
            "acts on it (quotes inside a burst of updates are gone before an order lands)"
        ),
    )
    pre_open: Literal["wait", "refuse"] = Field(
        "wait", description="before the open: wait for it, or refuse the order"
    )
    recommend_wait_wide_seconds: float = Field(
        120.0, ge=0, description="pre-open advice: wait after the open when the spread is wide"
    )
    recommend_wait_normal_seconds: float = Field(
        60.0, ge=0, description="pre-open advice: wait after the open when the spread is normal"
    )
    recommend_wait_tight_seconds: float = Field(
        0.0, ge=0, description="pre-open advice: wait after the open when the spread is tight"
    )


class LadderSettings(_Section):
    """Steps 2-4 of the ladder: aggressive limit, re-pegs, fallback."""

    entry: Literal["aggressive", "passive", "market"] = Field(
        "aggressive",
        description=(
            "first order: far touch +/- ticks (aggressive), the mid walking to the far touch "
            "over the re-pegs (passive), or a market order at once (market)"
        ),
    )
    aggressive_ticks: int = Field(1, ge=0, le=100, description="ticks beyond the far touch")
    timeout_seconds: float = Field(
        2.5, gt=0, description="attempt timeout in normal conditions (09:32-09:35)"
    )
    timeout_wait_for_spreads_seconds: float = Field(
        2.0, gt=0, description="attempt timeout in the opening window (09:30-09:32)"
    )
    timeout_standard_seconds: float = Field(
        3.0, gt=0, description="attempt timeout in regular trading (after 09:35)"
    )
    max_repegs: int = Field(
        2, ge=0, le=20, description="re-prices of the remaining quantity before the fallback"
    )
    repeg_extra_ticks: int = Field(0, ge=0, le=100, description="added per re-peg")
    fallback: Literal["market", "none"] = Field(
        "market", description="after the last re-peg: market order for the rest, or stop"
    )
    protection: Literal["limit_at_bound", "stop"] = Field(
        "limit_at_bound",
        description="when a market order would breach the budget: a limit at the bound, or stop",
    )
    protection_timeout_seconds: float = Field(
        10.0, gt=0, description="how long the protective limit at the bound may rest"
    )
    cancel_timeout_seconds: float = Field(5.0, gt=0, description="ask the broker after this")
    quote_timeout_seconds: float = Field(
        10.0, gt=0, description="give up if no valid quote arrives within this"
    )


class RebalanceSettings(_Section):
    """How target weights become trades."""

    drift_threshold: Decimal = Field(
        Decimal("0.01"), ge=0, le=1, description="trade a symbol only if it drifted this much"
    )
    min_order_value: Decimal = Field(Decimal("1"), ge=0, description="smallest order, dollars")
    cash_buffer: Decimal = Field(
        Decimal("0"), ge=0, lt=1, description="fraction of equity kept as cash"
    )
    whole_shares_for_limit: bool = Field(
        True, description="limit orders in whole shares (brokers refuse fractional limits)"
    )


class TcaSettings(_Section):
    """Replay evaluation (``better-orders tca``): extra or changed execution policies."""

    policies: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description=(
            "policies as [tca.policies.NAME] tables: a partial configuration overlay, "
            "with optional 'description' and 'extends'; a built-in's name tweaks it"
        ),
    )


class RiskSettings(_Section):
    """Pre-trade risk checks: every child order passes them before it reaches a broker."""

    max_order_notional: Decimal = Field(
        Decimal("250000"),
        gt=0,
        description="largest single order, dollars (limit x qty; a market order at the far touch)",
    )
    max_run_notional: Decimal = Field(
        Decimal("1000000"),
        gt=0,
        description="most one run (an order command or a rebalance) may commit, dollars",
    )
    max_order_qty: Decimal = Field(
        Decimal("100000"), gt=0, description="largest single order, shares"
    )
    price_band_pct: Decimal = Field(
        Decimal("5"),
        gt=0,
        le=100,
        description="a limit price further than this % from the last quote's mid is refused",
    )
    max_orders_per_minute: int = Field(
        120,
        ge=1,
        le=100_000,
        description="new orders in any trailing minute (kept below the broker's request limit)",
    )
    kill_switch_file: str = Field(
        "",
        description=(
            "while this file exists no order is sent and working orders are cancelled; "
            "'' = no kill switch file (BETTER_ORDERS_KILL_SWITCH overrides)"
        ),
    )

    @field_validator("kill_switch_file")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class SymbolOverride(_Section):
    """Settings for one symbol that take precedence over its class's."""

    max_slippage_bps: Decimal | None = Field(
        None, ge=0, description="slippage budget for this symbol (bps of arrival mid)"
    )
    typical_spread_bps: Decimal | None = Field(
        None, gt=0, description="typical spread (bps of mid) when none has been learned yet"
    )
    aggressive_ticks: int | None = Field(
        None, ge=0, le=100, description="ticks beyond the far touch for this symbol"
    )
    route: Literal["better", "standard"] | None = Field(
        None, description="force the ladder ('better') or standard execution for this symbol"
    )


class BetterOrdersConfig(_Section):
    """Effective configuration. Defaults are the seed design's."""

    enabled: bool = Field(True, description="false sends every order the standard way")
    mode: ExecutionMode = Field(
        ExecutionMode.AUTO,
        description="auto: ladder for configured symbols; always: for all; off: for none",
    )
    max_slippage_bps: Decimal = Field(
        Decimal("20"), ge=0, description="ceiling on every class budget (bps of arrival mid)"
    )
    leveraged_etfs: tuple[str, ...] = Field(
        DEFAULT_LEVERAGED_ETFS, description="symbols handled as leveraged ETFs"
    )
    leveraged_etf_bps: Decimal = Field(
        Decimal("20"), ge=0, description="slippage budget for leveraged ETFs (bps of arrival mid)"
    )
    high_volume_etfs: tuple[str, ...] = Field(
        DEFAULT_HIGH_VOLUME_ETFS, description="symbols handled as high-volume ETFs"
    )
    high_volume_etf_bps: Decimal = Field(
        Decimal("10"), ge=0, description="slippage budget for high-volume ETFs (bps of arrival mid)"
    )
    other_stock_bps: Decimal = Field(
        Decimal("15"), ge=0, description="slippage budget for other stocks (bps of arrival mid)"
    )
    requests_per_minute: int = Field(
        180, ge=1, le=100_000, description="broker requests per minute (Alpaca allows 200)"
    )
    symbols: dict[str, SymbolOverride] = Field(
        default_factory=dict, description="per-symbol overrides, one table per symbol"
    )
    spread: SpreadSettings = SpreadSettings()
    timing: TimingSettings = TimingSettings()
    ladder: LadderSettings = LadderSettings()
    tca: TcaSettings = TcaSettings()
    rebalance: RebalanceSettings = RebalanceSettings()
    risk: RiskSettings = RiskSettings()

    @field_validator("leveraged_etfs", "high_volume_etfs", mode="before")
    @classmethod
    def _symbols(cls, value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [v for v in value.replace(",", " ").split() if v]
        if not isinstance(value, list | tuple):
            raise ValueError("must be a list of symbols")
        return tuple(normalize_symbol(str(v)) for v in value)

    @field_validator("symbols", mode="before")
    @classmethod
    def _override_keys(cls, value: object) -> object:
        if isinstance(value, dict):
            return {normalize_symbol(str(k)): v for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _disjoint(self) -> BetterOrdersConfig:
        both = sorted(set(self.leveraged_etfs) & set(self.high_volume_etfs))
        if both:
            raise ValueError(
                f"symbol in two classes (leveraged_etfs and high_volume_etfs): {', '.join(both)}"
            )
        return self

    # -- pure look-ups -------------------------------------------------------------------

    def symbol_class(self, symbol: str) -> SymbolClass:
        if symbol in self.leveraged_etfs:
            return SymbolClass.LEVERAGED_ETF
        if symbol in self.high_volume_etfs:
            return SymbolClass.HIGH_VOLUME_ETF
        return SymbolClass.STOCK

    def slippage_budget_bps(self, symbol: str) -> Decimal:
        """A per-symbol override as given, else the class budget capped at ``max_slippage_bps``."""
        override = self.symbols.get(symbol)
        if override is not None and override.max_slippage_bps is not None:
            return override.max_slippage_bps
        cls = self.symbol_class(symbol)
        if cls is SymbolClass.LEVERAGED_ETF:
            budget = self.leveraged_etf_bps
        elif cls is SymbolClass.HIGH_VOLUME_ETF:
            budget = self.high_volume_etf_bps
        else:
            budget = self.other_stock_bps
        return min(budget, self.max_slippage_bps)

    def routes_better(self, symbol: str) -> bool:
        """True when ``symbol`` goes through the ladder, False for standard execution."""
        if not self.enabled or self.mode is ExecutionMode.OFF:
            return False
        override = self.symbols.get(symbol)
        if override is not None and override.route is not None:
            return override.route == "better"
        if self.mode is ExecutionMode.ALWAYS:
            return True
        return self.symbol_class(symbol) is not SymbolClass.STOCK or symbol in self.symbols

    def typical_spread_bps(self, symbol: str) -> Decimal | None:
        override = self.symbols.get(symbol)
        return override.typical_spread_bps if override is not None else None

    def aggressive_ticks(self, symbol: str) -> int:
        override = self.symbols.get(symbol)
        if override is not None and override.aggressive_ticks is not None:
            return override.aggressive_ticks
        return self.ladder.aggressive_ticks


# -- loading -----------------------------------------------------------------------------
#
# The loader walks the schema rather than listing fields: a field whose type is a
# model is a section (a TOML table, ``__`` in an environment name), a ``dict`` of a
# model is a table of per-symbol entries keyed by symbol, and anything else is a
# value. Values are merged as plain data layer by layer (file, then environment),
# each remembering its source, and the whole is validated once by pydantic, so the
# schema's own bounds and rules decide and every error can name where the bad value
# came from.

APP_NAME = "better-orders"
ENV_PREFIX = "BETTER_ORDERS_"
CONFIG_ENV_VAR = "BETTER_ORDERS_CONFIG"
DB_ENV_VAR = "BETTER_ORDERS_DB"
LOCAL_CONFIG_FILE = "better-orders.toml"
DEFAULT_SOURCE = "default"

#: ``BETTER_ORDERS_*`` variables that are read elsewhere and are not configuration fields.
#: Any other ``BETTER_ORDERS_*`` variable must name a field, so a typo cannot go unnoticed.
NON_CONFIG_ENV_VARS = frozenset(
    {
        CONFIG_ENV_VAR,
        DB_ENV_VAR,
        "BETTER_ORDERS_DATA",
        "BETTER_ORDERS_KILL_SWITCH",
        "BETTER_ORDERS_LOG_LEVEL",
        # Wall seconds per simulated second: slows the simulator for crash tests.
        "BETTER_ORDERS_SIM_PACE",
    }
)

_Loc = tuple[str, ...]


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
            (_dotted(loc), value, self.sources.get(_dotted(loc), DEFAULT_SOURCE))
            for loc, value in _leaves(self.config, ())
        ]


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> LoadedConfig:
    """Defaults < TOML file < ``BETTER_ORDERS_*`` environment, validated; ``ConfigError`` if bad.

    The file is ``path``, else ``$BETTER_ORDERS_CONFIG``, else ``./better-orders.toml``,
    else ``config.toml`` in the user config directory; the last two only if present.
    """
    environ: Mapping[str, str] = os.environ if env is None else env
    data: dict[str, Any] = {}
    provenance: dict[_Loc, str] = {}

    file_path = _find_file(path, environ)
    if file_path is not None:
        env_name, env_value = _env_lookup(environ, CONFIG_ENV_VAR)
        named_by = env_name if path is None and env_value else ""
        source = f"file:{file_path}"
        table = _read_toml(file_path, source, named_by)
        _merge_table(BetterOrdersConfig, table, (), data, provenance, source)

    _merge_env(environ, data, provenance)

    try:
        config = BetterOrdersConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, provenance)) from None

    sources = {_dotted(loc): provenance.get(loc, DEFAULT_SOURCE) for loc, _ in _leaves(config, ())}
    return LoadedConfig(config=config, sources=sources, path=file_path)


def resolve_db_path(cli_value: str | None, env: Mapping[str, str] | None = None) -> Path:
    """The journal database: ``--db``, else ``$BETTER_ORDERS_DB``, else the user data dir."""
    if cli_value:
        return Path(cli_value).expanduser()
    environ: Mapping[str, str] = os.environ if env is None else env
    _, from_env = _env_lookup(environ, DB_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    default = Path(user_data_dir(APP_NAME)) / "journal.sqlite3"
    default.parent.mkdir(parents=True, exist_ok=True)
    return default


# -- schema walking ----------------------------------------------------------------------


def _section_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _entry_model(annotation: Any) -> type[BaseModel] | None:
    """The entry model of a ``dict[str, Model]`` field (per-symbol tables)."""
    if get_origin(annotation) is dict:
        args = get_args(annotation)
        if len(args) == 2:
            return _section_model(args[1])
    return None


def _without_none(annotation: Any) -> tuple[Any, bool]:
    """(the type with ``None`` removed, whether ``None`` was allowed)."""
    args = get_args(annotation)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else annotation), True
    return annotation, False


def _is_sequence(annotation: Any) -> bool:
    return get_origin(_without_none(annotation)[0]) in (tuple, list, set, frozenset)


def _is_number(annotation: Any) -> bool:
    inner = _without_none(annotation)[0]
    return (
        isinstance(inner, type)
        and issubclass(inner, int | float | Decimal)
        and not issubclass(inner, bool)
    )


def _leaves(model: BaseModel, loc: _Loc) -> Iterator[tuple[_Loc, Any]]:
    """Every value in ``model`` in schema order; per-symbol entries show only what was set."""
    for name, field in type(model).model_fields.items():
        value = getattr(model, name)
        if _section_model(field.annotation) is not None:
            yield from _leaves(value, (*loc, name))
        elif _entry_model(field.annotation) is not None:
            for key, entry in value.items():
                for entry_loc, entry_value in _leaves(entry, (*loc, name, key)):
                    if entry_loc[-1] in entry.model_fields_set:
                        yield entry_loc, entry_value
        else:
            yield (*loc, name), value


def _dotted(loc: _Loc) -> str:
    return ".".join(loc)


def _entry_key(raw: object, source: str, loc: _Loc) -> str:
    try:
        return normalize_symbol(str(raw))
    except InvalidInputError:
        raise ConfigError(
            f"config error in {source}: {_dotted(loc)}: invalid symbol {str(raw)!r}"
        ) from None


def _set_default(data: dict[str, Any], key: str) -> dict[str, Any]:
    child = data.setdefault(key, {})
    assert isinstance(child, dict)  # only the loader writes tables here
    return child


# -- the TOML layer ----------------------------------------------------------------------


def _find_file(path: str | Path | None, env: Mapping[str, str]) -> Path | None:
    if path is not None and str(path) != "":
        return Path(path).expanduser().absolute()
    _, named = _env_lookup(env, CONFIG_ENV_VAR)
    if named:
        return Path(named).expanduser().absolute()
    local = Path(LOCAL_CONFIG_FILE).absolute()
    if local.is_file():
        return local
    user = Path(user_config_dir(APP_NAME)) / "config.toml"
    if user.is_file():
        return user.absolute()
    return None


def _read_toml(path: Path, source: str, named_by: str) -> dict[str, Any]:
    where = f" (named by {named_by})" if named_by else ""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"config error in {source}: file not found{where}") from None
    except IsADirectoryError:
        raise ConfigError(f"config error in {source}: is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(f"config error in {source}: cannot read it: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"config error in {source}: not UTF-8 text") from None
    try:
        # Decimal keeps money exact: 0.03 stays 0.03, never a binary float.
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config error in {source}: invalid TOML: {exc}") from None


def _merge_table(
    model: type[BaseModel],
    table: Mapping[str, Any],
    loc: _Loc,
    data: dict[str, Any],
    provenance: dict[_Loc, str],
    source: str,
) -> None:
    for key, value in table.items():
        here = (*loc, key)
        field = model.model_fields.get(key)
        if field is None:
            hint = difflib.get_close_matches(key, list(model.model_fields), n=1)
            maybe = f" (did you mean '{_dotted((*loc, hint[0]))}'?)" if hint else ""
            raise ConfigError(f"config error in {source}: unknown key '{_dotted(here)}'{maybe}")
        section = _section_model(field.annotation)
        entry = _entry_model(field.annotation)
        if section is not None or entry is not None:
            if not isinstance(value, dict):
                raise ConfigError(
                    f"config error in {source}: {_dotted(here)}: must be a table "
                    f"([{_dotted(here)}]) (got {_show(value)})"
                )
            if section is not None:
                _merge_table(section, value, here, _set_default(data, key), provenance, source)
                continue
            assert entry is not None
            entries = _set_default(data, key)
            for raw_key, entry_table in value.items():
                name = _entry_key(raw_key, source, (*here, str(raw_key)))
                if not isinstance(entry_table, dict):
                    raise ConfigError(
                        f"config error in {source}: {_dotted((*here, name))}: must be a table "
                        f"([{_dotted((*here, name))}]) (got {_show(entry_table)})"
                    )
                target = _set_default(entries, name)
                _merge_table(entry, entry_table, (*here, name), target, provenance, source)
            continue
        if isinstance(value, bool) and _is_number(field.annotation):
            # pydantic would quietly read true as 1.
            raise ConfigError(
                f"config error in {source}: {_dotted(here)}: Input should be a number, "
                f"not a boolean (got {_show(value)})"
            )
        data[key] = value
        provenance[here] = source


# -- the environment layer ---------------------------------------------------------------


def _env_lookup(env: Mapping[str, str], wanted: str) -> tuple[str, str]:
    """(name as spelled, value) of a variable matched case-insensitively; ("", "") if unset."""
    for name, value in env.items():
        if name.upper() == wanted:
            return name, value
    return "", ""


def _env_name(parts: _Loc) -> str:
    return ENV_PREFIX + "__".join(p.upper() for p in parts)


def _env_target(name: str) -> tuple[_Loc, Any]:
    """The field a ``BETTER_ORDERS_*`` variable names, and its type; ``ConfigError`` if none."""
    source = f"env:{name}"
    parts = name[len(ENV_PREFIX) :].split("__")
    model: type[BaseModel] = BetterOrdersConfig
    loc: _Loc = ()
    i = 0
    while i < len(parts):
        part = parts[i].lower()
        field = model.model_fields.get(part)
        if field is None:
            hint = difflib.get_close_matches(part, list(model.model_fields), n=1)
            maybe = f" (did you mean {_env_name((*loc, hint[0]))}?)" if hint else ""
            raise ConfigError(f"config error in {source}: not a configuration setting{maybe}")
        loc = (*loc, part)
        section = _section_model(field.annotation)
        entry = _entry_model(field.annotation)
        if section is not None:
            model, i = section, i + 1
        elif entry is not None:
            if i + 2 >= len(parts):
                example = _env_name((*loc, "TQQQ", next(iter(entry.model_fields))))
                raise ConfigError(
                    f"config error in {source}: set one field of one symbol, e.g. {example}"
                )
            loc = (*loc, _entry_key(parts[i + 1], source, (*loc, parts[i + 1])))
            model, i = entry, i + 2
        elif i == len(parts) - 1:
            return loc, field.annotation
        else:
            raise ConfigError(f"config error in {source}: not a configuration setting")
    example = _env_name((*loc, next(iter(model.model_fields))))
    raise ConfigError(
        f"config error in {source}: names the section '{_dotted(loc)}', not a setting; "
        f"set one of its fields, e.g. {example}"
    )


def _env_value(raw: str, annotation: Any) -> Any:
    text = raw.strip()
    if text == "" and _without_none(annotation)[1]:
        return None
    if _is_sequence(annotation):
        return [item.strip() for item in text.split(",") if item.strip()]
    return text


def _merge_env(env: Mapping[str, str], data: dict[str, Any], provenance: dict[_Loc, str]) -> None:
    seen: dict[_Loc, str] = {}
    for name in sorted(env):
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in NON_CONFIG_ENV_VARS:
            continue
        loc, annotation = _env_target(name)
        if loc in seen:
            raise ConfigError(
                f"config error in env:{name}: {_dotted(loc)} is also set by env:{seen[loc]}"
            )
        seen[loc] = name
        target = data
        for key in loc[:-1]:
            target = _set_default(target, key)
        target[loc[-1]] = _env_value(env[name], annotation)
        provenance[loc] = f"env:{name}"


# -- error messages ----------------------------------------------------------------------


def _show(value: Any) -> str:
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
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_show(v)}" for k, v in value.items()) + "}"
    return repr(value)


def _source_of(loc: _Loc, message: str, provenance: Mapping[_Loc, str]) -> str:
    for n in range(len(loc), 0, -1):
        if loc[:n] in provenance:
            return provenance[loc[:n]]
    # A rule over several fields (e.g. two symbol lists that overlap): blame the sources
    # of the fields its message names, else every non-default value in its scope.
    scoped = [(k, s) for k, s in provenance.items() if k[: len(loc)] == loc]
    named = [s for k, s in scoped if re.search(rf"\b{re.escape(k[-1])}\b", message)]
    chosen = list(dict.fromkeys(named or [s for _, s in scoped]))
    return " and ".join(chosen) if chosen else "defaults"


def _describe(exc: ValidationError, provenance: Mapping[_Loc, str]) -> str:
    """One line: ``config error in <source>: <field>: <problem> (got <value>)``."""
    by_source: dict[str, list[str]] = {}
    for error in exc.errors(include_url=False):
        loc = tuple(str(part) for part in error["loc"])
        message = str(error["msg"]).removeprefix("Value error, ")
        field = _dotted(loc)
        text = message if not field or message.startswith(field) else f"{field}: {message}"
        value = error.get("input")
        if not (isinstance(value, dict) and error["type"] == "value_error"):
            text += f" (got {_show(value)})"
        by_source.setdefault(_source_of(loc, message, provenance), []).append(text)
    return "config error in " + "; ".join(
        f"{source}: {'; '.join(texts)}" for source, texts in by_source.items()
    )


# -- the starter file --------------------------------------------------------------------

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


def _starter_section(model: BaseModel, loc: _Loc, lines: list[str]) -> None:
    fields = type(model).model_fields
    values = [n for n, f in fields.items() if _section_model(f.annotation) is None]
    values = [n for n in values if _entry_model(fields[n].annotation) is None]
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
        entry = _entry_model(field.annotation)
        if entry is None:
            lines.append("")
            lines.append("")
            lines.append(f"[{_dotted(here)}]")
            doc = (type(getattr(model, name)).__doc__ or field.description or "").strip()
            if doc:
                lines.append(f"# {doc.splitlines()[0]}")
            _starter_section(getattr(model, name), here, lines)
            continue
        lines.append("")
        lines.append("")
        lines.append(f"# {field.description or name}, e.g. [{_dotted(here)}.TQQQ], with any of:")
        for key, sub in entry.model_fields.items():
            lines.append(f"#   {key}: {_comment(sub.description, sub)}")
        for key, item in getattr(model, name).items():
            lines.append("")
            lines.append(f"[{_dotted(here)}.{json.dumps(key)}]")
            for sub_name in entry.model_fields:
                if sub_name in item.model_fields_set and getattr(item, sub_name) is not None:
                    lines.extend(_toml_assignment(sub_name, getattr(item, sub_name)))


def _comment(description: str | None, field: Any) -> str:
    text = description or "(no description)"
    allowed = _allowed(field)
    return f"{text} [{allowed}]" if allowed else text


def _allowed(field: Any) -> str:
    inner = _without_none(field.annotation)[0]
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
