"""Streaming a checked answer over Server-Sent Events.

`Runtime.ask_stream` is a blocking iterator (retrieval, then the model): each step runs
on a worker thread so the event loop stays free. When the client goes away, the iterator
is closed, which stops the model at its next token and frees it for the next request.
"""
from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import anyio

_END = object()


async def iterate_in_thread(items: Iterator) -> AsyncIterator:
    try:
        while True:
            item = await anyio.to_thread.run_sync(next, items, _END)
            if item is _END:
                return
            yield item
    finally:
        close = getattr(items, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):  # also when the request was cancelled
                await anyio.to_thread.run_sync(close)
