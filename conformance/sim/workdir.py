"""The temporary folder of a simulator (its control socket and log), and cleaning up after runs that were killed.

Each folder records who made it (``owner.json``: the launcher's pid and start time, then the simulator's). A run ended
by SIGTERM leaves nothing: the simulator notices its launcher is gone (its stdin ends without a stop request) and
removes its own folder. A run where both were killed (SIGKILL) leaves its folder, and the next launch removes every
folder whose launcher and simulator are both dead.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["OWNER_FILE", "PREFIX", "create", "record_simulator", "sweep"]

PREFIX = "conformance-sim-"
OWNER_FILE = "owner.json"
OWNERLESS_AGE_S = 3600  # a folder without an owner file (made by an older version) is removed after this long


def create() -> str:
    """A new folder for one simulator, owned by this process."""
    workdir = tempfile.mkdtemp(prefix=PREFIX)
    _write(workdir, {"launcher": _identity(os.getpid())})
    return workdir


def record_simulator(workdir: str, pid: int) -> None:
    """Note the simulator's pid in its folder."""
    owner = _read(workdir) or {}
    owner["simulator"] = _identity(pid)
    _write(workdir, owner)


def sweep(tempdir: str | None = None) -> list[str]:
    """Remove leftover folders whose launcher and simulator are both dead; return the ones removed."""
    removed: list[str] = []
    for path in Path(tempdir or tempfile.gettempdir()).glob(PREFIX + "*"):
        if not path.is_dir():
            continue
        owner = _read(str(path))
        if owner is None:
            try:
                stale = time.time() - path.stat().st_mtime > OWNERLESS_AGE_S
            except OSError:
                continue
            if not stale:
                continue  # perhaps being created right now
        elif any(_alive(owner.get(role)) for role in ("launcher", "simulator")):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(str(path))
    return removed


def _identity(pid: int) -> dict[str, int | None]:
    return {"pid": pid, "start": _start_time(pid)}


def _alive(who: object) -> bool:
    if not isinstance(who, dict) or not isinstance(who.get("pid"), int):
        return False
    pid = who["pid"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    start = _start_time(pid)
    if start is None:
        return not Path("/proc").is_dir()  # without /proc the pid is all there is to go by
    # a pid taken again by another process, or a zombie, is not the owner any more
    return start == who.get("start") and not _zombie(pid)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()  # after "pid (comm) ": state is field 3 of the whole line


def _start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None  # field 22: starttime


def _zombie(pid: int) -> bool:
    fields = _stat_fields(pid)
    return bool(fields) and fields[0] in ("Z", "X")


def _read(workdir: str) -> dict | None:
    try:
        data = json.loads(Path(workdir, OWNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write(workdir: str, owner: dict) -> None:
    tmp = Path(workdir, OWNER_FILE + ".tmp")
    tmp.write_text(json.dumps(owner))
    tmp.replace(Path(workdir, OWNER_FILE))
