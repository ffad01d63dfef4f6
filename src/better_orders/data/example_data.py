"""The example quote data shipped inside the package (``examples/``; see its README).

Ten minutes around the 7 October 2013 open of IBM, AIG and BAC, from QuantConnect/
Lean's sample data (Apache-2.0), as gzip CSV files: readable by the base install,
which has no pyarrow.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from better_orders.core.errors import InvalidInputError


def examples_folder() -> Path:
    folder = Path(str(resources.files("better_orders.data") / "examples"))
    if not folder.is_dir():
        raise InvalidInputError(
            f"the example data is missing from this installation ({folder}): reinstall "
            "better-orders"
        )
    return folder


def example_quote_files() -> list[Path]:
    """The example quote files (each with its ``*_trades`` file beside it), by name."""
    return sorted(examples_folder().glob("*_l1.csv.gz"))
