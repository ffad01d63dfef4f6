"""The quote book: one quote source per symbol, merged by time for the exchange.

Sources are either fixed (replayed files) or made on demand (synthetic quotes for
the listed symbols: the asset master's, never an invented one); either way each
keeps the start rule of ``source``.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

from better_orders.core.errors import InvalidInputError
from better_orders.core.model import Quote, normalize_symbol
from better_orders.venues.sim.replay import ReplayQuotes
from better_orders.venues.sim.source import Execution, MarketEvent, QuoteSource, require_aware
from better_orders.venues.sim.synthetic import SymbolProfile, SyntheticQuotes

SourceFactory = Callable[[str], QuoteSource]


class QuoteBook:
    """One source per symbol, merged by time (a heap with one entry per source).

    Sources are either fixed (replay) or created on demand by ``factory``
    (synthetic: a symbol of ``listed``, or with ``listed`` None any well-formed
    symbol, unless it is in ``unknown_symbols``).
    """

    def __init__(
        self,
        sources: Mapping[str, QuoteSource] | None = None,
        *,
        factory: SourceFactory | None = None,
        unknown_symbols: Iterable[str] = (),
        listed: Iterable[str] | None = None,
    ) -> None:
        self._factory = factory
        self._unknown = frozenset(normalize_symbol(s) for s in unknown_symbols)
        self._listed = None if listed is None else frozenset(normalize_symbol(s) for s in listed)
        self._sources: dict[str, QuoteSource] = {}
        self._rank: dict[str, int] = {}
        self._heap: list[tuple[datetime, int, str]] = []
        for symbol, source in (sources or {}).items():
            self._add(normalize_symbol(symbol), source)
        #: The one source of a book that can never have another (a replay of one file):
        #: read directly, without the heap.
        self._only: QuoteSource | None = None
        if factory is None and len(self._sources) == 1:
            self._only = next(iter(self._sources.values()))

    @classmethod
    def synthetic(
        cls,
        start: datetime,
        session_open: datetime,
        seed: int,
        *,
        end: datetime | None = None,
        profiles: Mapping[str, SymbolProfile] | None = None,
        unknown_symbols: Iterable[str] = (),
        listed: Iterable[str] | None = None,
    ) -> QuoteBook:
        """Synthetic quotes for the ``listed`` symbols (None: any), all generated from ``start``."""
        start = require_aware(start, "start")
        chosen = {normalize_symbol(k): v for k, v in (profiles or {}).items()}

        def make(symbol: str) -> QuoteSource:
            return SyntheticQuotes(
                symbol,
                start=start,
                session_open=session_open,
                seed=seed,
                profile=chosen.get(symbol),
                end=end,
            )

        return cls(factory=make, unknown_symbols=unknown_symbols, listed=listed)

    @classmethod
    def replay(cls, sources: Mapping[str, ReplayQuotes]) -> QuoteBook:
        """Replayed files, keyed by the symbol to trade them under."""
        relabeled: dict[str, QuoteSource] = {}
        for symbol, source in sources.items():
            name = normalize_symbol(symbol)
            relabeled[name] = source if source.symbol == name else source.with_symbol(name)
        return cls(relabeled)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(self._sources)

    def knows(self, symbol: str) -> bool:
        if symbol in self._sources:
            return True
        if self._factory is None or symbol in self._unknown:
            return False
        if self._listed is not None:
            return symbol in self._listed
        try:
            return normalize_symbol(symbol) == symbol
        except InvalidInputError:
            return False

    def source(self, symbol: str, now: datetime | None = None) -> QuoteSource:
        """The source for ``symbol``, created on demand (then skipped to ``now``).

        Raises ``InvalidInputError`` for a symbol the book cannot quote.
        """
        found = self._sources.get(symbol)
        if found is not None:
            return found
        if not self.knows(symbol) or self._factory is None:
            listed = ", ".join(self._sources) or "none"
            raise InvalidInputError(f"no quotes for {symbol} (quoted symbols: {listed})")
        created = self._factory(symbol)
        if now is not None:
            created.skip_to(now)
        self._add(symbol, created)
        return created

    def _add(self, symbol: str, source: QuoteSource) -> None:
        self._sources[symbol] = source
        self._rank[symbol] = len(self._rank)
        when = source.peek_time()
        if when is not None:
            heapq.heappush(self._heap, (when, self._rank[symbol], symbol))

    def _head(self) -> tuple[datetime, int, str] | None:
        """The heap's first entry, re-read from its source if the source was moved since.

        A source may be skipped forward (``skip_to``) while it sits in the book; its
        entry then holds an old time, which is corrected here before anyone sees it.
        """
        heap = self._heap
        while heap:
            when, rank, symbol = heap[0]
            actual = self._sources[symbol].peek_time()
            if actual == when:
                return heap[0]
            heapq.heappop(heap)
            if actual is not None:
                heapq.heappush(heap, (actual, rank, symbol))
        return None

    def peeker(self) -> Callable[[], datetime | None]:
        """``peek_time`` of every source, as the cheapest call that answers it (for a loop
        that asks after every row)."""
        return self._only.peek_time if self._only is not None else self.peek_time

    def popper(self) -> Callable[[], tuple[Quote, Execution | None]]:
        """``pop`` (once ``peek_time`` has said there is a row), as the cheapest call that
        does it: the row's quote and execution."""
        only = self._only
        if only is None:
            return self.pop

        def pop_only() -> tuple[Quote, Execution | None]:
            # Called only once ``peek_time`` gave the row's time: there is a row.
            quote = only.pop()
            return quote, only.last_execution

        return pop_only

    def peek_time(self, symbol: str | None = None) -> datetime | None:
        """Time of the next row of any source (or of ``symbol``'s)."""
        if symbol is not None:
            source = self._sources.get(symbol)
            return source.peek_time() if source is not None else None
        if self._only is not None:
            return self._only.peek_time()
        head = self._head()
        return head[0] if head is not None else None

    def pop(self) -> MarketEvent:
        """The earliest row across sources (ties: the symbol added first)."""
        only = self._only
        if only is not None:
            if only.peek_time() is None:
                raise IndexError("the quote book has no rows left")
            quote = only.pop()
            return MarketEvent(quote, only.last_execution)
        head = self._head()
        if head is None:
            raise IndexError("the quote book has no rows left")
        heapq.heappop(self._heap)
        _when, rank, symbol = head
        source = self._sources[symbol]
        quote = source.pop()
        execution = source.last_execution
        when = source.peek_time()
        if when is not None:
            heapq.heappush(self._heap, (when, rank, symbol))
        return MarketEvent(quote, execution)
