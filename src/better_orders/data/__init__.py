"""Historical market data: quote and trades files, the Parquet dataset, and the fetcher.

A dataset is a folder of symbol-days, ``DIR/symbol=IBM/date=2013-10-07/`` holding
``quotes.parquet`` and ``trades.parquet`` in the shared data schema (``schema``),
written by ``better-orders data fetch`` (Alpaca's Market Data API v2) or ``data
import`` (the shared gzip CSV files). The simulator's replay reads symbol-days from
it as it reads files, so this layer sits below ``venues``. Nothing here imports
pyarrow or httpx at module level: only the commands that need them load them.
"""
