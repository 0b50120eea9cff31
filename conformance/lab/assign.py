"""One module per pytest-xdist worker, never two workers on one port: each worker claims a module of the inventory by
an exclusive lock on a file of its own (``filelock``: ``flock(2)``), held for the worker's life.

The kernel drops a ``flock`` when its process ends however it ends, so a worker that crashed (or was killed) leaves
no stale lock behind: its module is free for the next run at once. A module that died during the run stays locked by
its worker (:meth:`Lease.retire`) until that worker ends, so nobody in this run takes it again; the worker claims a
spare module if the inventory has one (:func:`claim_spare`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock, Timeout

from .inventory import Inventory, InventoryModule

__all__ = ["CLAIM_POLL_S", "Lease", "NoModuleFree", "claim_module", "claim_spare", "worker_index"]

# No event says that another process released a lock among several: a worker waiting for any free module tries them
# all this often.
CLAIM_POLL_S = 0.5


class NoModuleFree(RuntimeError):
    """Every module of the inventory is held (by other workers or runs) or retired, and the wait ran out."""


@dataclass
class Lease:
    """A module this process holds; the lock goes with :meth:`release` or with the process."""

    module: InventoryModule
    lock: FileLock
    retired: list[tuple[InventoryModule, FileLock, str]] = field(default_factory=list)

    @property
    def lock_path(self) -> str:
        return self.lock.lock_file

    def release(self) -> None:
        """Give the module back (and the retired ones: the run is over for this worker)."""
        self.lock.release(force=True)
        for _, lock, _ in self.retired:
            lock.release(force=True)
        self.retired.clear()

    def retire(self, why: str) -> None:
        """The module died: keep its lock, so no other worker of this run takes it, and note why."""
        self.retired.append((self.module, self.lock, why))


def worker_index(worker: str | None = None) -> int:
    """pytest-xdist's worker number (``gw3`` -> 3); 0 outside xdist."""
    name = worker or ""
    digits = "".join(ch for ch in name if ch.isdigit())
    return int(digits) if digits else 0


def claim_module(inventory: Inventory, *, worker: str | None = None, timeout_s: float = 0.0,
                 skip: Iterable[str] = ()) -> Lease:
    """Lock one free module, trying first the one whose place in the list is the worker's number (so ``gw0`` gets
    the first module when all are free), then the others in order. Waits up to ``timeout_s`` for one to be freed;
    raises :class:`NoModuleFree` naming who holds what."""
    inventory.lock_dir.mkdir(parents=True, exist_ok=True)
    skipped = set(skip)
    candidates = [m for m in inventory.modules if m.name not in skipped]
    if not candidates:
        raise NoModuleFree(f"{inventory.path}: no module left to claim")
    start = worker_index(worker) % len(candidates)
    order = candidates[start:] + candidates[:start]
    deadline = time.monotonic() + timeout_s
    while True:
        for module in order:
            lock = FileLock(str(inventory.lock_dir / module.lock_name), thread_local=False)
            try:
                lock.acquire(timeout=0)
            except Timeout:
                continue
            _note_holder(inventory.lock_dir / f"{module.name}.holder", worker)
            return Lease(module, lock)
        if time.monotonic() >= deadline:
            holders = ", ".join(f"{m.name} ({_holder(inventory.lock_dir / f'{m.name}.holder')})" for m in order)
            raise NoModuleFree(f"{inventory.path}: every module is held: {holders}; locks in {inventory.lock_dir}")
        time.sleep(CLAIM_POLL_S)


def claim_spare(lease: Lease, inventory: Inventory, why: str, *, worker: str | None = None) -> Lease | None:
    """Retire the leased module (it died: ``why``) and claim another free one at once; None if none is free.

    The returned lease carries the retired modules along, so their locks are held until the worker ends.
    """
    lease.retire(why)
    taken = {m.name for m, _, _ in lease.retired}
    try:
        spare = claim_module(inventory, worker=worker, timeout_s=0.0, skip=taken)
    except NoModuleFree:
        return None
    spare.retired = lease.retired
    lease.retired = []
    return spare


def _note_holder(path: Path, worker: str | None) -> None:
    """Who holds a module, for the message of a worker that finds none free (the lock itself says nothing)."""
    who = f"pid {os.getpid()}" + (f", worker {worker}" if worker else "")
    try:
        path.write_text(who + "\n", encoding="utf-8")
    except OSError:
        pass


def _holder(path: Path) -> str:
    try:
        return "held by " + path.read_text(encoding="utf-8").strip()
    except OSError:
        return "held"
