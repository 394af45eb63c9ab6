"""Streaming a checked answer over Server-Sent Events.

`Runtime.ask_stream` is a blocking iterator (retrieval, then the model): each step runs
on a worker thread so the event loop stays free. When the client goes away, the answer's
cancel event is set (the model stops at its next token, or a request still waiting for
the model gives up its place) and the iterator is closed.
"""
from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable, Iterator

import anyio

_END = object()


async def iterate_in_thread(items: Iterator, cancel: threading.Event) -> AsyncIterator:
    """The items, each fetched on a worker thread; `cancel` is set when the reader leaves."""
    try:
        while True:
            item = await anyio.to_thread.run_sync(next, items, _END, abandon_on_cancel=True)
            if item is _END:
                return
            yield item
    finally:
        cancel.set()  # a no-op after the last item; otherwise the reader is gone
        close = getattr(items, "close", None)
        if close is not None:
            with anyio.CancelScope(shield=True):  # also when the request was cancelled
                await _close(close)


async def _close(close: Callable[[], None]) -> None:
    # An abandoned next() may still be running on its thread: once `cancel` is set it
    # returns within a token, and a generator cannot be closed while it runs.
    for _ in range(200):
        try:
            await anyio.to_thread.run_sync(close)
            return
        except ValueError:  # "generator already executing"
            await anyio.sleep(0.05)
