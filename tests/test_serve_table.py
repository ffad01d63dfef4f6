"""The README's table of what ``serve`` models: every row names tests that exist.

A test is written ``test_file::test_name``; ``test_name...`` stands for every test
of the file whose name starts so, ``..._fragment_...`` (after a full name in the
same cell) for one whose name contains the fragment, ``test_file::*`` for the file.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADING = "#### What `serve` models, refuses and leaves out"


def table_rows() -> list[list[str]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index(HEADING) :]
    rows = []
    for line in section.splitlines()[1:]:
        if line.startswith("#"):
            break
        if line.startswith("| ") and not line.startswith("|---"):
            rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows[1:]  # the header


def defined_tests(file: str) -> set[str]:
    path = ROOT / "tests" / f"{file}.py"
    if not path.is_file():
        return set()
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def missing_in(cell: str) -> list[str]:
    missing = []
    file = ""
    for token in re.findall(r"`([^`]+)`", cell):
        if "::" in token:
            file, name = token.split("::", 1)
        elif token.startswith("...") and file:
            name = token
        else:
            missing.append(token)
            continue
        names = defined_tests(file)
        fragment = name.strip(".").strip("_")
        if name == "*":
            found = bool(names)
        elif name.startswith("..."):
            found = any(fragment in n for n in names)
        elif name.endswith("..."):
            found = any(n.startswith(name[:-3]) for n in names)
        else:
            found = name in names
        if not found:
            missing.append(f"{file}::{name}")
    return missing


def test_every_row_of_the_serve_table_names_tests_that_exist() -> None:
    rows = table_rows()
    assert len(rows) > 40
    for endpoint, status, _how, tests in rows:
        assert status in ("modelled", "refused", "refused when wrong"), endpoint
        assert tests, f"{endpoint}: no test named"
        assert missing_in(tests) == [], endpoint
