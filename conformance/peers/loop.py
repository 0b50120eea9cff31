"""One asyncio event loop on a daemon thread, where every peer's sockets live.

Cases run on pytest's thread and block on deadlines; peers must keep accepting, reading and echoing meanwhile. The
loop thread does all socket I/O; the case's thread hands it work with :meth:`PeerLoop.run` and waits on the peers'
conditions (see :mod:`.base`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

__all__ = ["PeerLoop", "shared_loop"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class PeerLoop:
    """An event loop running on its own thread until :meth:`stop`."""

    def __init__(self, name: str = "peers") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._main, name=f"{name}-loop", daemon=True)
        self._started = threading.Event()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        try:
            self.loop.run_forever()
        finally:
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            self.loop.close()

    def start(self) -> PeerLoop:
        """Start the thread (once) and return when the loop runs."""
        if not self._thread.is_alive() and not self._started.is_set():
            self._thread.start()
        self._started.wait()
        return self

    @property
    def running(self) -> bool:
        """Whether the loop thread is alive."""
        return self._thread.is_alive()

    def on_loop_thread(self) -> bool:
        """Whether the caller is the loop's own thread (where blocking on the loop would deadlock)."""
        return threading.current_thread() is self._thread

    def run(self, work: Callable[[], Awaitable[T]], timeout: float | None = 30.0) -> T:
        """Run the coroutine ``work()`` on the loop and return its result, from any other thread."""
        if self.on_loop_thread():
            raise RuntimeError("PeerLoop.run called from the loop thread")
        future = asyncio.run_coroutine_threadsafe(_call(work), self.loop)
        return future.result(timeout)

    def call(self, fn: Callable[[], T], timeout: float | None = 30.0) -> T:
        """Run the plain callable ``fn()`` on the loop thread and return its result."""

        async def wrapped() -> T:
            return fn()

        return self.run(wrapped, timeout)

    def stop(self) -> None:
        """Stop the loop and wait for its thread."""
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=10)


async def _call(work: Callable[[], Awaitable[T]]) -> T:
    return await work()


_shared: PeerLoop | None = None
_shared_lock = threading.Lock()


def shared_loop() -> PeerLoop:
    """The process's peer loop, started on first use (a daemon thread: it never keeps the process alive)."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            _shared = PeerLoop().start()
        return _shared
