"""Optional parts of the install (extras), and the one-line failure when one is missing.

The base install trades on the simulator. ``--broker alpaca`` and ``doctor`` need
the ``alpaca`` extra, ``serve`` the ``server`` extra, the charts of ``tca
--report/--png`` the ``tca`` extra, and ``data fetch/import/ls`` (and reading a
Parquet dataset) the ``data`` extra, alerts the ``alerts`` extra, and ``tca`` on a
Dask cluster (``--workers N``, ``--scheduler``) the ``dask`` extra (``pyproject.toml``
lists what each brings).
Commands import these libraries inside themselves, so one that does not need an
extra never loads it, and one that needs a missing extra says which to install
instead of showing a traceback.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence

from better_orders.core.errors import BetterOrdersError

#: The modules each extra provides, by import name (as in ``[project.optional-dependencies]``).
EXTRA_MODULES: dict[str, tuple[str, ...]] = {
    "alpaca": ("httpx", "websockets"),
    "server": ("starlette", "uvicorn", "websockets", "msgpack"),
    "tca": ("matplotlib", "pyarrow"),
    "data": ("httpx", "pyarrow"),
    "alerts": ("apprise",),
    "dask": ("dask",),
}


class MissingExtraError(BetterOrdersError):
    """A command needs an optional dependency that is not installed."""

    def __init__(self, extra: str, module: str, what: str | None = None) -> None:
        needs = f"{what} needs" if what else "this needs"
        super().__init__(
            f"{needs} the {extra} extra ({module} is not installed): "
            f"pip install 'better-orders[{extra}]'"
        )
        self.extra = extra
        self.module = module

    @classmethod
    def from_import_error(cls, exc: ModuleNotFoundError) -> MissingExtraError | None:
        """The error to show for ``exc`` if an extra provides the missing module, else None."""
        top = (exc.name or "").partition(".")[0]
        for extra, modules in EXTRA_MODULES.items():
            if top in modules:
                return cls(extra, top)
        return None


def require_extra(extra: str, what: str, modules: Sequence[str] | None = None) -> None:
    """Raise ``MissingExtraError`` unless ``modules`` (default: all of ``extra``'s) import.

    ``what`` names what needs them (``better-orders serve``, ``--broker alpaca``).
    """
    for name in modules or EXTRA_MODULES[extra]:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if (exc.name or "").partition(".")[0] != name:
                raise  # installed, but broken: a traceback is the honest answer
            raise MissingExtraError(extra, name, what) from None
