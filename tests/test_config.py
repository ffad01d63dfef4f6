"""Configuration loading: precedence, provenance, errors, the starter file, the journal path."""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path

import pytest

import better_orders.config.paths as paths_module
import better_orders.config.starter as starter_module
from better_orders.config.loader import load_config
from better_orders.config.paths import resolve_db_path
from better_orders.config.settings import BetterOrdersConfig, ExecutionMode
from better_orders.config.starter import starter_toml
from better_orders.core.errors import ConfigError


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No ./better-orders.toml and no user config file unless a test writes one."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    home_config = tmp_path / "user-config"
    monkeypatch.setattr(paths_module, "user_config_dir", lambda app: str(home_config))
    monkeypatch.setattr(paths_module, "user_data_dir", lambda app: str(tmp_path / "user-data"))
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path | None = None, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, env={} if env is None else env)
    message = str(info.value)
    assert "\n" not in message
    assert "Traceback" not in message and "pydantic" not in message
    return message


# -- defaults and precedence -------------------------------------------------------------


def test_no_file_no_env_gives_the_defaults_everywhere() -> None:
    loaded = load_config(env={})
    assert loaded.config == BetterOrdersConfig()
    assert loaded.path is None
    assert loaded.sources["ladder.max_repegs"] == "default"
    assert loaded.sources["spread.tight_cents"] == "default"
    assert loaded.sources["max_slippage_bps"] == "default"
    assert set(loaded.sources.values()) == {"default"}
    # one entry per schema field in every section
    for section in ("spread", "timing", "ladder"):
        names = type(getattr(loaded.config, section)).model_fields
        assert {f"{section}.{n}" for n in names} <= set(loaded.sources)


def test_env_beats_file_beats_default_with_provenance(tmp_path: Path) -> None:
    cfg = write(
        tmp_path / "cfg.toml",
        'max_slippage_bps = 25.5\nmode = "always"\n'
        "[ladder]\nmax_repegs = 3\naggressive_ticks = 2\n",
    )
    env = {"BETTER_ORDERS_LADDER__MAX_REPEGS": "5", "HOME": "/nowhere"}
    loaded = load_config(cfg, env=env)
    config = loaded.config
    assert config.ladder.max_repegs == 5
    assert config.ladder.aggressive_ticks == 2
    assert config.ladder.timeout_seconds == 2.5
    assert config.max_slippage_bps == Decimal("25.5")
    assert isinstance(config.max_slippage_bps, Decimal)
    assert config.mode is ExecutionMode.ALWAYS
    source = f"file:{cfg}"
    assert loaded.sources["ladder.max_repegs"] == "env:BETTER_ORDERS_LADDER__MAX_REPEGS"
    assert loaded.sources["ladder.aggressive_ticks"] == source
    assert loaded.sources["max_slippage_bps"] == source
    assert loaded.sources["mode"] == source
    assert loaded.sources["ladder.timeout_seconds"] == "default"
    assert loaded.path == cfg


def test_per_symbol_overrides_merge_file_and_env(tmp_path: Path) -> None:
    cfg = write(tmp_path / "cfg.toml", "[symbols.tqqq]\nmax_slippage_bps = 30\n")
    env = {"BETTER_ORDERS_SYMBOLS__TQQQ__ROUTE": "standard"}
    loaded = load_config(cfg, env=env)
    assert loaded.config.slippage_budget_bps("TQQQ") == Decimal("30")
    assert loaded.config.routes_better("TQQQ") is False
    assert loaded.sources["symbols.TQQQ.max_slippage_bps"] == f"file:{cfg}"
    assert loaded.sources["symbols.TQQQ.route"] == "env:BETTER_ORDERS_SYMBOLS__TQQQ__ROUTE"
    # fields of an override that nobody set are not reported as values
    assert "symbols.TQQQ.aggressive_ticks" not in loaded.sources


def test_env_names_are_case_insensitive_and_values_typed() -> None:
    env = {
        "better_orders_ladder__max_repegs": "4",
        "Better_Orders_Enabled": "false",
        "BETTER_ORDERS_SPREAD__TIGHT_CENTS": "0.02",
        "BETTER_ORDERS_TIMING__PRE_OPEN": "refuse",
    }
    loaded = load_config(env=env)
    assert loaded.config.ladder.max_repegs == 4
    assert loaded.config.enabled is False
    assert loaded.config.spread.tight_cents == Decimal("0.02")
    assert loaded.config.timing.pre_open == "refuse"
    assert loaded.sources["ladder.max_repegs"] == "env:better_orders_ladder__max_repegs"


def test_env_lists_are_comma_separated() -> None:
    env = {
        "BETTER_ORDERS_HIGH_VOLUME_ETFS": " spy, qqq,,IWM ",
        "BETTER_ORDERS_LEVERAGED_ETFS": "TQQQ,SOXL",
    }
    loaded = load_config(env=env)
    assert loaded.config.high_volume_etfs == ("SPY", "QQQ", "IWM")
    assert loaded.config.leveraged_etfs == ("TQQQ", "SOXL")
    assert loaded.config.symbol_class("TLT").value == "stock"
    assert loaded.sources["high_volume_etfs"] == "env:BETTER_ORDERS_HIGH_VOLUME_ETFS"


def test_env_lists_may_be_json_lists() -> None:
    env = {
        "BETTER_ORDERS_TCA__MARKOUT_SECONDS": "[1, 2.5]",
        "BETTER_ORDERS_LEVERAGED_ETFS": '["TQQQ", "soxl"]',
        "BETTER_ORDERS_HIGH_VOLUME_ETFS": "[]",
    }
    loaded = load_config(env=env)
    assert list(loaded.config.tca.markout_seconds) == [1.0, 2.5]
    assert loaded.config.leveraged_etfs == ("TQQQ", "SOXL")
    assert loaded.config.high_volume_etfs == ()
    with pytest.raises(ConfigError, match=r"tca\.markout_seconds"):
        load_config(env={"BETTER_ORDERS_TCA__MARKOUT_SECONDS": "[1, 2"})


def test_empty_env_value_clears_an_optional_override(tmp_path: Path) -> None:
    cfg = write(tmp_path / "cfg.toml", "[symbols.SOXL]\naggressive_ticks = 3\n")
    loaded = load_config(cfg, env={"BETTER_ORDERS_SYMBOLS__SOXL__AGGRESSIVE_TICKS": ""})
    assert loaded.config.symbols["SOXL"].aggressive_ticks is None
    assert loaded.config.aggressive_ticks("SOXL") == loaded.config.ladder.aggressive_ticks


def test_non_configuration_variables_are_ignored() -> None:
    env = {
        "BETTER_ORDERS_DB": "/tmp/x.sqlite3",
        "BETTER_ORDERS_DATA": "/data",
        "BETTER_ORDERS_KILL_SWITCH": "1",
        "better_orders_log_level": "DEBUG",
        "APCA_API_KEY_ID": "not-ours",
    }
    assert load_config(env=env).config == BetterOrdersConfig()


# -- which file ---------------------------------------------------------------------------


def test_file_search_order(tmp_path: Path) -> None:
    user = write(tmp_path / "user-config" / "config.toml", "[ladder]\nmax_repegs = 1\n")
    assert load_config(env={}).path == user
    assert load_config(env={}).config.ladder.max_repegs == 1

    local = write(Path.cwd() / "better-orders.toml", "[ladder]\nmax_repegs = 2\n")
    assert load_config(env={}).path == local
    assert load_config(env={}).config.ladder.max_repegs == 2

    named = write(tmp_path / "named.toml", "[ladder]\nmax_repegs = 3\n")
    loaded = load_config(env={"BETTER_ORDERS_CONFIG": str(named)})
    assert loaded.path == named
    assert loaded.config.ladder.max_repegs == 3

    explicit = write(tmp_path / "explicit.toml", "[ladder]\nmax_repegs = 4\n")
    loaded = load_config(explicit, env={"BETTER_ORDERS_CONFIG": str(named)})
    assert loaded.path == explicit
    assert loaded.config.ladder.max_repegs == 4
    assert loaded.sources["ladder.max_repegs"] == f"file:{explicit}"


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    message = load_error(missing)
    assert message == f"config error in file:{missing}: file not found"

    message = load_error(env={"BETTER_ORDERS_CONFIG": str(missing)})
    assert f"file:{missing}" in message
    assert "file not found (named by BETTER_ORDERS_CONFIG)" in message


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    assert "is a directory" in load_error(tmp_path)


# -- errors name the field, the bad value and the source ---------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[ladder]\nmax_repegs = -1\n",
            "ladder.max_repegs: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            "[ladder]\nmax_repegs = 21\n",
            "ladder.max_repegs: Input should be less than or equal to 20 (got 21)",
        ),
        (
            'mode = "sometimes"\n',
            "mode: Input should be 'auto', 'always' or 'off' (got 'sometimes')",
        ),
        (
            "[ladder]\nmax_repeg = 3\n",
            "unknown key 'ladder.max_repeg' (did you mean 'ladder.max_repegs'?)",
        ),
        ("max_slipage_bps = 3\n", "unknown key 'max_slipage_bps'"),
        (
            'high_volume_etfs = ["SPY", "TQQQ"]\n',
            "symbol in two classes (leveraged_etfs and high_volume_etfs): TQQQ",
        ),
        (
            "max_slippage_bps = -5\n",
            "max_slippage_bps: Input should be greater than or equal to 0 (got -5)",
        ),
        (
            "[symbols.TQQQ]\nmax_slippage_bps = -0.5\n",
            "symbols.TQQQ.max_slippage_bps: Input should be greater than or equal to 0 (got -0.5)",
        ),
        ("[symbols.TQQQ]\nmax_slipage_bps = 1\n", "unknown key 'symbols.TQQQ.max_slipage_bps'"),
        ('[symbols."T Q"]\nroute = "standard"\n', "symbols.T Q: invalid symbol 'T Q'"),
        (
            '[ladder]\nmax_repegs = "many"\n',
            "ladder.max_repegs: Input should be a valid integer",
        ),
        ("[ladder]\nmax_repegs = 2.5\n", "ladder.max_repegs: Input should be a valid integer"),
        (
            "[ladder]\ntimeout_seconds = true\n",
            "ladder.timeout_seconds: Input should be a number, not a boolean (got true)",
        ),
        ('enabled = "maybe"\n', "enabled: Input should be a valid boolean"),
        ("ladder = 5\n", "ladder: must be a table ([ladder]) (got 5)"),
        ("[spread]\ntight_cents = 0.09\n", "spread.tight_cents 0.09 > wide_cents 0.05"),
        ("[ladder]\nmax_repegs = \n", "invalid TOML: Invalid value (at line 2"),
        ("enabled = true\n[ladder\n", "invalid TOML"),
    ],
)
def test_file_errors_name_field_value_and_file(tmp_path: Path, text: str, expected: str) -> None:
    cfg = write(tmp_path / "cfg.toml", text)
    message = load_error(cfg)
    assert message.startswith(f"config error in file:{cfg}: ")
    assert expected in message


@pytest.mark.parametrize(
    ("first", "second"),
    [("tqqq", "TQQQ"), ('"BRK.B"', '" brk.b"')],
)
def test_one_symbol_in_two_spellings_is_refused_naming_both(
    tmp_path: Path, first: str, second: str
) -> None:
    # Symbols are case-insensitive: TOML keeps both tables, so one would win silently.
    cfg = write(
        tmp_path / "cfg.toml",
        f'[symbols.{first}]\nmax_slippage_bps = 30\n\n[symbols.{second}]\nroute = "standard"\n',
    )
    symbol = first.strip('"').upper()
    assert load_error(cfg) == (
        f"config error in file:{cfg}: [symbols.{first}] and [symbols.{second}] are the same "
        f"symbol, {symbol} (symbols are case-insensitive): give it one table"
    )


def test_toml_syntax_error_reports_the_line(tmp_path: Path) -> None:
    cfg = write(tmp_path / "cfg.toml", 'mode = "auto"\n\n[ladder]\nmax_repegs 3\n')
    assert "line 4" in load_error(cfg)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("BETTER_ORDERS_MODE", "sometimes", "mode: Input should be 'auto', 'always' or 'off'"),
        (
            "BETTER_ORDERS_LADDER__MAX_REPEGS",
            "-1",
            "ladder.max_repegs: Input should be greater than or equal to 0 (got '-1')",
        ),
        ("BETTER_ORDERS_LADDER__MAX_REPEGS", "two", "(got 'two')"),
        ("BETTER_ORDERS_OTHER_STOCK_BPS", "-3", "other_stock_bps"),
        ("BETTER_ORDERS_LEVERAGED_ETF_BPS", "1e400", "must be at most 1,000,000 bps"),
        ("BETTER_ORDERS_SPREAD__MAX_QUOTE_AGE_SECONDS", "nan", "(got 'nan')"),
        (
            "BETTER_ORDERS_HIGH_VOLUME_ETFS",
            "SPY,SOXL",
            "symbol in two classes (leveraged_etfs and high_volume_etfs): SOXL",
        ),
    ],
)
def test_env_errors_name_the_variable(name: str, value: str, expected: str) -> None:
    message = load_error(env={name: value})
    assert message.startswith(f"config error in env:{name}: ")
    assert expected in message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("BETTER_ORDERS_LADDER__MAX_REPEG", "did you mean BETTER_ORDERS_LADDER__MAX_REPEGS?"),
        ("BETTER_ORDERS_MAX_SLIPAGE_BPS", "did you mean BETTER_ORDERS_MAX_SLIPPAGE_BPS?"),
        ("BETTER_ORDERS_LOGLEVEL", "not a configuration setting"),
        ("BETTER_ORDERS_LADDER", "names the section 'ladder'"),
        ("BETTER_ORDERS_LADDER__MAX_REPEGS__X", "not a configuration setting"),
        ("BETTER_ORDERS_SYMBOLS__TQQQ", "e.g. BETTER_ORDERS_SYMBOLS__TQQQ__MAX_SLIPPAGE_BPS"),
    ],
)
def test_unknown_env_variable_is_rejected_by_name(name: str, expected: str) -> None:
    message = load_error(env={name: "3"})
    assert message.startswith(f"config error in env:{name}: ")
    assert expected in message


def test_a_rule_over_two_fields_blames_only_their_sources(tmp_path: Path) -> None:
    cfg = write(tmp_path / "cfg.toml", 'mode = "off"\n')
    message = load_error(cfg, env={"BETTER_ORDERS_HIGH_VOLUME_ETFS": "SPY,TQQQ"})
    assert message == (
        "config error in env:BETTER_ORDERS_HIGH_VOLUME_ETFS: "
        "symbol in two classes (leveraged_etfs and high_volume_etfs): TQQQ"
    )


def test_errors_from_two_sources_stay_on_one_line(tmp_path: Path) -> None:
    cfg = write(tmp_path / "cfg.toml", "[ladder]\nmax_repegs = -1\n")
    message = load_error(cfg, env={"BETTER_ORDERS_MODE": "sometimes"})
    assert f"file:{cfg}: ladder.max_repegs" in message
    assert "env:BETTER_ORDERS_MODE: mode" in message


# -- the starter file ---------------------------------------------------------------------


def test_starter_file_reads_back_to_exactly_the_defaults(tmp_path: Path) -> None:
    cfg = write(tmp_path / "starter.toml", starter_toml())
    loaded = load_config(cfg, env={})
    assert loaded.config == BetterOrdersConfig()
    # every value is written out, so every value comes from the file
    defaults = load_config(env={})
    assert set(loaded.sources) == set(defaults.sources)
    assert set(loaded.sources.values()) == {f"file:{cfg}"}
    # exact decimals, not binary floats
    assert loaded.config.spread.tight_cents == Decimal("0.03")
    assert isinstance(loaded.config.spread.tight_cents, Decimal)


def test_starter_file_comments_every_value() -> None:
    text = starter_toml()
    lines = text.splitlines()
    parsed = tomllib.loads(text)
    assignments = [i for i, line in enumerate(lines) if " = " in line and line[0].isalpha()]
    assert len(assignments) >= len(load_config(env={}).sources)
    for i in assignments:
        assert lines[i - 1].startswith("# "), lines[i]
    assert parsed["ladder"]["max_repegs"] == BetterOrdersConfig().ladder.max_repegs
    # the per-symbol keys are documented even though no symbol is overridden by default
    for key in ("max_slippage_bps", "typical_spread_bps", "aggressive_ticks", "route"):
        assert f"#   {key}: " in text


def test_starter_file_keeps_per_symbol_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """A default with symbol entries would be written out as tables and read back."""
    with_symbols = BetterOrdersConfig.model_validate(
        {"symbols": {"SOXL": {"aggressive_ticks": 2, "route": "better"}}}
    )
    monkeypatch.setattr(starter_module, "BetterOrdersConfig", lambda: with_symbols)
    text = starter_toml()
    assert tomllib.loads(text)["symbols"]["SOXL"] == {"aggressive_ticks": 2, "route": "better"}


# -- the journal path ---------------------------------------------------------------------


def test_db_path_precedence(tmp_path: Path) -> None:
    env = {"BETTER_ORDERS_DB": str(tmp_path / "env.sqlite3")}
    assert resolve_db_path("cli.sqlite3", env) == Path("cli.sqlite3")
    assert resolve_db_path(None, env) == tmp_path / "env.sqlite3"
    default = resolve_db_path(None, {})
    assert default == tmp_path / "user-data" / "journal.sqlite3"
    assert default.parent.is_dir()
    assert not default.exists()
