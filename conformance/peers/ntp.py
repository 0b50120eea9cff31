"""``ntp``: an NTP server (UDP, RFC 5905 server mode) answering a time the case sets, or nothing, for AT+QNTP.

By default it answers the host's clock. ``time <ISO UTC>`` makes it answer that time, running on from the moment
it was set (as a real clock does between two queries); ``silent`` makes it answer nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import struct
import time
from collections.abc import Mapping

from conformance.errors import ActionFailed

from .base import Args, verb
from .udp import _UdpBase

__all__ = ["NTP_EPOCH_OFFSET", "NtpServer", "parse_utc"]

log = logging.getLogger(__name__)

NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP era 0) to 1970-01-01
_PACKET = struct.Struct("!BBbbII4sQQQQ")  # RFC 5905 §7.3 header without extensions: 48 bytes
_REFERENCE_ID = b"LOCL"  # stratum 1 "uncalibrated local clock"


def parse_utc(text: str) -> float:
    """Seconds since the Unix epoch for an ISO 8601 UTC time such as ``2013-08-19T11:10:10Z``."""
    stamp = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=dt.UTC)
    return stamp.timestamp()


def _ntp_timestamp(unix_seconds: float) -> int:
    seconds = unix_seconds + NTP_EPOCH_OFFSET
    return (int(seconds) << 32) | int((seconds % 1) * (1 << 32))


class NtpServer(_UdpBase):
    """An NTP server on UDP (port 123 where it may bind it)."""

    count_unit = "queries"

    def __init__(self, capability: str = "ntp", **kwargs: object) -> None:
        super().__init__(capability, **kwargs)
        self._set_at: tuple[float, float] | None = None  # (unix time set, monotonic when set); None: host clock
        self._silent = False

    def _reset_case(self) -> None:
        super()._reset_case()
        self._set_at = None
        self._silent = False

    def now(self) -> float:
        """The time the server answers now, as Unix seconds."""
        with self.cond:
            if self._set_at is None:
                return time.time()
            base, since = self._set_at
            return base + (time.monotonic() - since)

    def _on_datagram(self, data: bytes, sender: tuple[str, int]) -> None:
        received = self.now()
        super()._on_datagram(data, sender)
        if self._silent or len(data) < _PACKET.size:
            return
        first, _stratum, poll, *_, client_transmit = _PACKET.unpack_from(data)
        version = (first >> 3) & 0x7 or 4
        stamp_rx = _ntp_timestamp(received)
        # mode 4 (server), stratum 1, the client's poll, precision 2^-20 s, origin = the client's transmit time
        reply = _PACKET.pack((version << 3) | 4, 1, poll, -20, 0, 0, _REFERENCE_ID,
                             stamp_rx, client_transmit, stamp_rx, _ntp_timestamp(self.now()))
        if self._proto is not None and self._proto.transport is not None:
            self._proto.transport.sendto(reply, sender)

    @verb("time", "<ISO 8601 UTC, e.g. 2013-08-19T11:10:10Z>")
    def _time(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Answer this UTC time (running on from now) and answer again if silent."""
        text = args.word("time")
        args.end()
        try:
            unix = parse_utc(text)
        except ValueError:
            raise ActionFailed(f"{args.where}: {text!r} is not an ISO 8601 time; usage: {args.where} {args.usage}") \
                from None
        with self.cond:
            self._set_at = (unix, time.monotonic())
            self._silent = False
        return f"answering {dt.datetime.fromtimestamp(unix, dt.UTC).isoformat()}"

    @verb("silent", "")
    def _silent_verb(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """Answer no query (until ``time`` or the end of the case)."""
        args.end()
        with self.cond:
            self._silent = True
        return "silent"

    @verb("queried", "[<count>]")
    def _queried(self, args: Args, deadline: float, context: Mapping[str, object]) -> str | None:
        """At least count queries (default 1) arrived in this case."""
        count = args.integer("count", 1)
        args.end()
        if not self.wait_for(lambda: self.recorder.count >= count, deadline):
            raise ActionFailed(f"{args.where}: expected {count} query(ies), got {self.recorder.count} by the deadline")
        return f"{self.recorder.count} query(ies)"
