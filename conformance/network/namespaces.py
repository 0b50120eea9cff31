"""Network namespaces the suite owns: names, creation helpers, entering one from a thread, and leftover cleanup.

Everything the suite creates carries the fixed prefix :data:`PREFIX` and the PID of the process that owns it, so a
later run can tell the leftovers of a killed run (owner PID dead) from the live namespaces of a parallel run.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import socket
import subprocess
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

__all__ = [
    "PREFIX",
    "NetnsError",
    "cleanup_leftovers",
    "in_netns",
    "list_netns",
    "netns_name",
    "owner_pid",
    "pid_alive",
    "remove_netns_etc",
    "run",
    "socket_in",
    "veth_name",
    "write_netns_resolv_conf",
]

log = logging.getLogger(__name__)

PREFIX = "cfn"  # every namespace, veth and nft table the suite creates starts with this
NETNS_DIR = Path("/run/netns")  # where `ip netns` bind-mounts named namespaces
NETNS_ETC = Path("/etc/netns")  # per-namespace files `ip netns exec` mounts over /etc (resolv.conf)
CLONE_NEWNET = 0x40000000  # <sched.h>: setns() nstype for network namespaces

_NETNS_RE = re.compile(rf"^{PREFIX}-(?P<pid>\d+)-(?P<serial>\d+)-(?P<role>[a-z]+)$")


class NetnsError(RuntimeError):
    """An `ip`/`nft` command or a namespace operation failed; the message carries the command's stderr."""


def netns_name(pid: int, serial: int, role: str) -> str:
    """The name of a namespace owned by ``pid``: ``cfn-<pid>-<serial>-<role>``."""
    return f"{PREFIX}-{pid}-{serial}-{role}"


def veth_name(pid: int, serial: int, side: str) -> str:
    """The name of one end of a veth pair; at most 15 characters (IFNAMSIZ - 1) for any PID and serial < 1000."""
    name = f"{PREFIX}{pid}-{serial}{side}"
    if len(name) > 15:
        raise NetnsError(f"interface name {name!r} is longer than 15 characters")
    return name


def owner_pid(name: str) -> int | None:
    """The owning PID encoded in a namespace name made by :func:`netns_name`, or None for anybody else's name."""
    match = _NETNS_RE.match(name)
    return int(match["pid"]) if match else None


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (a PID we may not signal still exists)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run(argv: Sequence[str], *, stdin: str | None = None, netns: str | None = None, timeout: float = 15.0) -> str:
    """Run ``ip``/``nft`` (inside ``netns`` if given) and return stdout; raise :class:`NetnsError` on failure."""
    full = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    log.debug("run: %s", " ".join(full))
    try:
        done = subprocess.run(full, input=stdin, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise NetnsError(f"{' '.join(full)}: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise NetnsError(f"{' '.join(full)}: {detail}")
    return done.stdout


def list_netns() -> list[str]:
    """The names of all named network namespaces (``ip netns list``)."""
    out = run(["ip", "netns", "list"])
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def delete_netns(name: str) -> None:
    """Remove a named namespace; a namespace already gone is not an error (a parallel cleanup may have won)."""
    try:
        run(["ip", "netns", "delete", name])
    except NetnsError as exc:
        if (NETNS_DIR / name).exists():
            raise
        log.debug("namespace %s already gone: %s", name, exc)


def write_netns_resolv_conf(name: str, nameservers: Sequence[str]) -> Path:
    """Give namespace ``name`` its own resolv.conf (mounted by ``ip netns exec``) naming ``nameservers``."""
    folder = NETNS_ETC / name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "resolv.conf"
    path.write_text("".join(f"nameserver {ns}\n" for ns in nameservers), encoding="ascii")
    return path


def remove_netns_etc(name: str) -> None:
    """Remove what :func:`write_netns_resolv_conf` wrote for ``name`` (nothing else in that folder)."""
    folder = NETNS_ETC / name
    try:
        (folder / "resolv.conf").unlink(missing_ok=True)
        folder.rmdir()
    except OSError as exc:
        if folder.exists():
            log.warning("cannot remove %s: %s", folder, exc)


def cleanup_leftovers(*, alive: Callable[[int], bool] = pid_alive) -> list[str]:
    """Delete the suite's namespaces whose owner process is dead; return their names.

    Rules and veth pairs live inside those namespaces, so they go with them. A process still running inside a
    leftover namespace keeps it alive (unnamed) until it exits; such PIDs are logged, not killed.
    """
    try:
        names = list_netns()
    except NetnsError as exc:
        log.debug("no leftover cleanup: %s", exc)
        return []
    try:
        etc_only = [p.name for p in NETNS_ETC.iterdir() if p.name not in names]
    except OSError:
        etc_only = []
    for name in etc_only:  # resolv.conf of a namespace already gone
        pid = owner_pid(name)
        if pid is not None and pid != os.getpid() and not alive(pid):
            remove_netns_etc(name)
    removed = []
    for name in names:
        pid = owner_pid(name)
        if pid is None or pid == os.getpid() or alive(pid):
            continue
        try:
            stray = run(["ip", "netns", "pids", name]).split()
        except NetnsError:
            stray = []
        if stray:
            log.warning("leftover namespace %s still has processes %s; they keep it alive after removal", name,
                        " ".join(stray))
        try:
            delete_netns(name)
        except NetnsError as exc:
            log.warning("cannot remove leftover namespace %s: %s", name, exc)
            continue
        remove_netns_etc(name)
        log.info("removed leftover namespace %s of dead process %d", name, pid)
        removed.append(name)
    return removed


_libc: ctypes.CDLL | None = None


def _setns(fd: int) -> None:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


@contextmanager
def in_netns(name: str) -> Iterator[None]:
    """Run the block with the calling thread (only it) in the named namespace; sockets made inside stay there.

    Python 3.11 has no ``os.setns``, so this calls libc's ``setns`` through ctypes, and always switches back.
    """
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        target = os.open(NETNS_DIR / name, os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def socket_in(netns: str | None, family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM,
              proto: int = 0) -> socket.socket:
    """A new socket in ``netns`` (or in the caller's namespace when None)."""
    if netns is None:
        return socket.socket(family, kind, proto)
    with in_netns(netns):
        return socket.socket(family, kind, proto)
