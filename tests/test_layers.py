"""The pure core imports nothing outside ``better_orders.core``: no I/O libraries, no other layer.

Checked twice: at run time (what a fresh interpreter has loaded after importing the
core) and statically (every import statement under ``src/better_orders/core``), so
an import hidden in a function body or under ``TYPE_CHECKING`` is caught too.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import better_orders

SRC = Path(better_orders.__file__).resolve().parents[1]
CORE = SRC / "better_orders" / "core"

#: Libraries that mean I/O, a network or the settings models.
FORBIDDEN = (
    "asyncio",
    "sqlite3",
    "requests",
    "httpx",
    "urllib3",
    "websockets",
    "aiohttp",
    "pydantic",
)

_LOADED = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def _loaded_after_import(*modules: str) -> list[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), env.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, *modules],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout)
    return loaded


def _outside_core(module: str) -> bool:
    """A ``better_orders`` module of another layer (the top-level package itself is lazy)."""
    if module == "better_orders" or not module.startswith("better_orders."):
        return False
    return not (module == "better_orders.core" or module.startswith("better_orders.core."))


def _core_modules() -> list[str]:
    return sorted(
        ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")
        for path in CORE.rglob("*.py")
    )


@pytest.mark.parametrize(
    "modules",
    [("better_orders.core.ladder",), tuple(_core_modules())],
    ids=["ladder", "every core module"],
)
def test_importing_the_core_loads_no_io_library_and_no_other_layer(
    modules: tuple[str, ...],
) -> None:
    loaded = _loaded_after_import(*modules)
    assert set(modules) <= set(loaded)
    libraries = [
        m for m in loaded if any(m == root or m.startswith(root + ".") for root in FORBIDDEN)
    ]
    assert libraries == []
    assert [m for m in loaded if _outside_core(m)] == []


def _imported(path: Path, src: Path = SRC) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``path``, relative ones resolved."""
    package = ".".join(path.relative_to(src).parent.parts)
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            # ``from better_orders import config`` imports the module ``better_orders.config``.
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"
        elif isinstance(node, ast.Call) and _calls_importer(node) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                yield node.lineno, first.value


def _calls_importer(call: ast.Call) -> bool:
    """``importlib.import_module(...)``, ``import_module(...)`` or ``__import__(...)``."""
    func = call.func
    name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
    return name in ("import_module", "__import__")


def test_no_core_module_imports_another_layer() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 10
    bad = [
        f"{path.relative_to(SRC)}:{line}: {module}"
        for path in files
        for line, module in _imported(path)
        if module == "better_orders" or _outside_core(module)
    ]
    assert bad == []


#: The layers from the top down; a module may import its own layer and those below it.
LAYERS = (
    ("cli", "api"),
    ("engine", "tca", "server"),
    ("store",),
    ("venues",),
    ("data",),
    ("config",),
    ("core",),
)


def _layer_rank(module: str) -> int | None:
    parts = module.split(".")
    if parts[0] != "better_orders" or len(parts) < 2:
        return None
    for rank, names in enumerate(LAYERS):
        if parts[1] in names:
            return rank
    return None


def _upward_imports(src: Path) -> list[str]:
    """Every import in ``src/better_orders`` of a layer above the importing module's."""
    bad = []
    for path in sorted((src / "better_orders").rglob("*.py")):
        own = _layer_rank(".".join(path.relative_to(src).with_suffix("").parts))
        if own is None:
            continue  # the lazy top-level package
        for line, module in _imported(path, src):
            rank = _layer_rank(module)
            if rank is not None and rank < own:
                bad.append(f"{path.relative_to(src)}:{line}: {module}")
    return bad


def test_every_layer_imports_only_the_layers_below_it() -> None:
    assert _upward_imports(SRC) == []


def test_the_layer_check_sees_an_upward_import(tmp_path: Path) -> None:
    store = tmp_path / "better_orders" / "store"
    store.mkdir(parents=True)
    (store / "journal.py").write_text("from better_orders.core import model\n", encoding="utf-8")
    assert _upward_imports(tmp_path) == []
    (store / "rogue.py").write_text("from ..engine import runner\n", encoding="utf-8")
    assert _upward_imports(tmp_path) == [
        "better_orders/store/rogue.py:1: better_orders.engine.runner"
    ]
