"""What ``tca tune`` searches: named configuration parameters, their values, and the candidates.

A parameter is a dotted configuration name (``timing.rest_fraction``) with either a
list of values (``0,0.25,0.5``) or, for a number, a range ``low:high`` (drawn
uniformly by a random search) or ``low:high:step`` (also a grid). A *candidate* is
the base policy with one value for every parameter. ``search_space`` checks names,
values and every candidate against the configuration's schema before anything is
replayed; the base policy itself is always a candidate (named ``base``, with its
current values) so a search can conclude that nothing beats it.
"""

from __future__ import annotations

import difflib
import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel

from better_orders.config.settings import BetterOrdersConfig
from better_orders.core.errors import ConfigError, InvalidInputError
from better_orders.tca.policies import Policy, merge_overlays

#: A grid larger than this is refused: use a random search.
MAX_GRID = 10_000
BASE = "base"
_NUMBERS = (int, float, Decimal)


def _fields() -> dict[str, Any]:
    """Every tunable (single-valued) configuration field by dotted name, with its type."""
    out: dict[str, Any] = {}

    def walk(model: type[BaseModel], prefix: str) -> None:
        for name, info in model.model_fields.items():
            kind = info.annotation
            if isinstance(kind, type) and issubclass(kind, BaseModel):
                walk(kind, f"{prefix}{name}.")
            elif get_origin(kind) not in (dict, tuple, list):
                out[prefix + name] = kind

    walk(BetterOrdersConfig, "")
    return out


TUNABLE = _fields()


@dataclass(frozen=True, slots=True)
class Param:
    """One parameter to search: explicit values, or a numeric range (with a step for a grid)."""

    name: str
    kind: Any
    values: tuple[Any, ...] = ()
    low: Decimal | None = None
    high: Decimal | None = None
    step: Decimal | None = None

    @property
    def is_range(self) -> bool:
        return self.low is not None

    def grid(self) -> list[Any]:
        if not self.is_range:
            return list(self.values)
        assert self.low is not None and self.high is not None
        if self.step is None:
            raise InvalidInputError(
                f"--param {self.name}={self.low}:{self.high} is a range: give a step "
                f"({self.low}:{self.high}:STEP) for a grid, or search it with --random N"
            )
        out, value = [], self.low
        while value <= self.high:
            out.append(self._typed(value))
            value += self.step
        return out

    def draw(self, rng: random.Random) -> Any:
        if not self.is_range:
            return rng.choice(self.values)
        assert self.low is not None and self.high is not None
        if self.step is not None:
            return rng.choice(self.grid())
        if self.kind is int:
            return rng.randint(int(self.low), int(self.high))
        places = max(_places(self.low), _places(self.high)) + 2
        drawn = Decimal(repr(rng.uniform(float(self.low), float(self.high))))
        return self._typed(
            min(max(drawn.quantize(Decimal(1).scaleb(-places)), self.low), self.high)
        )

    def _typed(self, value: Decimal) -> Any:
        if self.kind is int:
            return int(value)
        if self.kind is float:
            return float(value)
        return value

    def as_text(self) -> str:
        if self.is_range:
            tail = f":{self.step}" if self.step is not None else ""
            return f"{self.name}={self.low}:{self.high}{tail}"
        return f"{self.name}={','.join(str(v) for v in self.values)}"


def _places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _number(text: str, param: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidInputError(f"--param {param}: {text.strip()!r} is not a number") from None
    if not value.is_finite():
        raise InvalidInputError(f"--param {param}: {text.strip()!r} is not a number")
    return value


def _choices(kind: Any) -> list[str] | None:
    if get_origin(kind) is Literal:
        return [str(a) for a in get_args(kind)]
    if isinstance(kind, type) and issubclass(kind, Enum):
        return [str(m.value) for m in kind]
    if kind is bool:
        return ["true", "false"]
    return None


def parse_param(text: str) -> Param:
    """``NAME=V1,V2,...``, ``NAME=LOW:HIGH`` or ``NAME=LOW:HIGH:STEP``."""
    name, sep, spec = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise InvalidInputError(
            f"--param must be NAME=VALUES, e.g. timing.rest_fraction=0,0.25; got {text!r}"
        )
    kind = TUNABLE.get(name)
    if kind is None:
        close = difflib.get_close_matches(name, list(TUNABLE), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise InvalidInputError(f"unknown parameter {name!r}{hint}; see better-orders config show")
    spec = spec.strip()
    if not spec:
        raise InvalidInputError(f"--param {name} has no values: give {name}=V1,V2 or LOW:HIGH")
    numeric = kind in _NUMBERS
    if ":" in spec:
        if not numeric:
            raise InvalidInputError(
                f"--param {name}: a range needs a number, and {name} is not one"
            )
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            raise InvalidInputError(
                f"--param {name}: a range is LOW:HIGH or LOW:HIGH:STEP, got {spec!r}"
            )
        low, high = _number(parts[0], name), _number(parts[1], name)
        step = _number(parts[2], name) if len(parts) == 3 else None
        if high < low:
            raise InvalidInputError(f"--param {name}: the range {spec!r} ends before it starts")
        if step is not None and step <= 0:
            raise InvalidInputError(f"--param {name}: the step must be positive, got {step}")
        return Param(name, kind, low=low, high=high, step=step)
    texts = [v.strip() for v in spec.split(",")]
    if any(not v for v in texts):
        raise InvalidInputError(f"--param {name}: an empty value in {spec!r}")
    choices = _choices(kind)
    if choices is not None:
        bad = [v for v in texts if v.lower() not in choices]
        if bad:
            raise InvalidInputError(
                f"--param {name}: {', '.join(bad)} not one of {', '.join(choices)}"
            )
        return Param(
            name, kind, values=tuple(v.lower() == "true" if kind is bool else v for v in texts)
        )
    if numeric:
        return Param(name, kind, values=tuple(_number(v, name) for v in texts))
    return Param(name, kind, values=tuple(texts))


def _nested(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` -> ``{"a": {"b": 1}}``: a configuration overlay."""
    out: dict[str, Any] = {}
    for dotted, value in values.items():
        *sections, leaf = dotted.split(".")
        node = out
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
    return out


def _resolved(config: BetterOrdersConfig, name: str) -> Any:
    value: Any = config
    for part in name.split("."):
        value = getattr(value, part)
    return value


@dataclass(frozen=True, slots=True)
class Candidate:
    """The base policy with one value per parameter."""

    name: str
    values: tuple[tuple[str, Any], ...]
    policy: Policy

    def describe(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values)

    def value(self, name: str) -> Any:
        return dict(self.values)[name]


def search_space(
    params: Sequence[Param],
    base: Policy,
    config: BetterOrdersConfig,
    *,
    random_count: int | None = None,
    seed: int = 0,
) -> list[Candidate]:
    """The candidates: ``base``, then the grid (or ``random_count`` draws), each checked.

    Candidates whose values, once validated, equal an earlier one's are dropped, so
    the base is not run twice and ``0.25`` and ``0.250`` are one candidate.
    """
    if not params:
        raise InvalidInputError("no parameter to tune: give --param NAME=VALUES at least once")
    names = [p.name for p in params]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInputError(f"--param {', '.join(twice)} given more than once")
    if random_count is not None:
        if random_count < 1:
            raise InvalidInputError(f"--random must be at least 1, got {random_count}")
        rng = random.Random(seed)
        combos = [tuple(p.draw(rng) for p in params) for _ in range(random_count)]
    else:
        grids = [p.grid() for p in params]
        size = 1
        for g in grids:
            size *= len(g)
        if size > MAX_GRID:
            raise InvalidInputError(
                f"the grid has {size:,} candidates (more than {MAX_GRID:,}): use --random N"
            )
        combos = list(itertools.product(*grids))
    base_config = _checked(base, config)
    current = tuple(_resolved(base_config, n) for n in names)
    seen = {current}
    out = [Candidate(BASE, tuple(zip(names, current, strict=True)), base)]
    width = len(str(len(combos)))
    for combo in combos:
        values = tuple(zip(names, combo, strict=True))
        name = f"c{len(out):0{width}d}"
        policy = Policy(
            name,
            merge_overlays(base.overlay, _nested(dict(values))),
            f"{base.name} with " + ", ".join(f"{k}={v}" for k, v in values),
        )
        key = tuple(_resolved(_checked(policy, config), n) for n in names)
        if key in seen:
            continue
        seen.add(key)
        out.append(Candidate(name, values, policy))
    return out


def _checked(policy: Policy, config: BetterOrdersConfig) -> BetterOrdersConfig:
    try:
        return policy.config(config)
    except ConfigError as exc:
        raise InvalidInputError(str(exc)) from None


def inert_params(
    candidates: Sequence[Candidate], config: BetterOrdersConfig, symbols: Sequence[str]
) -> list[str]:
    """The searched parameters that change nothing a replay of ``symbols`` reads.

    A parameter is inert when every two candidates that differ in it alone replay
    alike (``tca.evaluate.replay_inputs``) on every symbol: a risk limit, a live-only
    setting, another asset class's budget. Where no two candidates differ in it alone
    (a random search), nothing is concluded.
    """
    from better_orders.tca.evaluate import replay_inputs

    if not candidates or not symbols:
        return []
    inputs: dict[str, tuple[object, ...]] = {}

    def of(candidate: Candidate) -> tuple[object, ...]:
        found = inputs.get(candidate.name)
        if found is None:
            cfg = _checked(candidate.policy, config)
            found = inputs[candidate.name] = tuple(replay_inputs(cfg, s) for s in symbols)
        return found

    inert = []
    for index, (name, _) in enumerate(candidates[0].values):
        groups: dict[tuple[Any, ...], list[Candidate]] = {}
        for candidate in candidates:
            others = candidate.values[:index] + candidate.values[index + 1 :]
            groups.setdefault(others, []).append(candidate)
        compared = [g for g in groups.values() if len(g) > 1]
        if compared and all(len({of(c) for c in g}) == 1 for g in compared):
            inert.append(name)
    return inert
