"""Run the ``better-orders`` command in-process, as a user would, and capture what it says."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from better_orders.cli.app import main


def run_cli(args: Sequence[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one command."""
    code = 0
    try:
        main(list(args))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capsys.readouterr()
    return code, out, err
