"""Results as bytes between a Dask worker and the process that merges them.

A symbol-day's result is a graph of some 200,000 small objects (a record, its
execution report, attempts and fills per decision; Decimals and datetimes in them
all). Plain pickle spends most of its time on the dataclasses: a slotted one is
saved and restored through ``dataclasses``' Python ``__getstate__``/``__setstate__``,
which list the fields again for every object. ``pack`` saves each dataclass as its
class and a tuple of its field values (read by one C ``attrgetter``) and ``unpack``
rebuilds it with its constructor: the same objects, equal field by field, in a
third less space; and the garbage collector, which would walk the growing graph
again and again while it is saved or rebuilt, is paused meanwhile. Together: a
half of pickle's time to save a symbol-day and a quarter to load it.

Only dataclasses that their constructor can rebuild take this path (its arguments
are the fields, in order; no ``__post_init__``, no pickling hooks of their own);
any other object is pickled as usual, so ``unpack(pack(x))`` is ``pickle``'s copy.
"""

from __future__ import annotations

import copyreg
import dataclasses
import gc
import inspect
import io
import pickle
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from operator import attrgetter, methodcaller
from typing import Any

_Reducer = Callable[[Any], Any]
_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD


def _as_fields(cls: type) -> _Reducer | None:
    """``cls`` and its field values, if its constructor rebuilds it exactly; else None."""
    if not dataclasses.is_dataclass(cls) or hasattr(cls, "__post_init__"):
        return None
    if any(getattr(cls, h) is not getattr(object, h) for h in ("__reduce__", "__reduce_ex__")):
        return None
    state = getattr(cls, "__getstate__", object.__getstate__)
    if state is not object.__getstate__ and state.__module__ != "dataclasses":
        return None
    names = [f.name for f in dataclasses.fields(cls)]
    try:
        params = list(inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return None
    if [p.name for p in params] != names or any(p.kind is not _POSITIONAL for p in params):
        return None
    if not names:
        return lambda obj: (cls, ())
    get = attrgetter(*names)
    if len(names) == 1:
        return lambda obj: (cls, (get(obj),))
    return lambda obj: (cls, get(obj))


class _Reducers(dict[type, _Reducer]):
    """``Pickler.dispatch_table``: the fields reducer for a dataclass, the usual one otherwise.

    Filled on first sight of each type, so every later object of it costs one lookup.
    """

    def __missing__(self, cls: type) -> _Reducer:
        if issubclass(cls, type):  # a class (of a metaclass): pickle saves it by name
            raise KeyError(cls)
        reducer = _as_fields(cls) or copyreg.dispatch_table.get(cls) or _usual
        self[cls] = reducer
        return reducer


_REDUCERS = _Reducers()
#: What pickle does by default, as a C callable (a Python one would cost a call per Decimal).
_usual = methodcaller("__reduce_ex__", pickle.HIGHEST_PROTOCOL)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No collection while a graph is saved or rebuilt: it is all live, and each pass would
    walk the part already made again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def pack(obj: object) -> bytes:
    """``obj`` as bytes for ``unpack``, dataclasses saved as their field values."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _REDUCERS
    with _gc_paused():
        pickler.dump(obj)
    return out.getvalue()


def unpack(data: bytes) -> Any:
    """The object ``pack`` made ``data`` of (trusted data only, as with ``pickle``)."""
    with _gc_paused():
        return pickle.loads(data)
