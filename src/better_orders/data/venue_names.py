"""Which single venue a quote file shows, from its name (``taq_XXX_20180102_nyse_bbo``).

A single venue's quotes are filled only by that venue's prints; a consolidated file's
name names no venue. The codes are the exchange codes of TAQ / CTA-UTP trades files.
"""

from __future__ import annotations

import os
from pathlib import Path

#: Venue names in quote file names (``taq_XXX_20180102_nyse_bbo``) and their exchange codes
#: in TAQ / CTA-UTP trades files.
VENUE_CODES = {
    "nyse": ("N",),
    "amex": ("A",),
    "arca": ("P",),
    "nasdaq": ("Q", "T"),
    "bats": ("Z",),
    "byx": ("Y",),
    "edgx": ("K",),
    "edga": ("J",),
    "iex": ("V",),
}


def venue_name(quote_file: str | os.PathLike[str]) -> str | None:
    """The single venue a quote file shows, named by a token of its file name
    (``taq_XXX_20180102_nyse_bbo``); None for consolidated quotes (and any other name)."""
    tokens = Path(quote_file).name.lower().split(".")[0].split("_")
    return next((t for t in tokens if t in VENUE_CODES), None)
