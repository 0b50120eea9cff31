"""Link layer: opening any pyserial URL, time-stamped bytes both ways, paced writes, the flight recorder.

Knows nothing of AT syntax, dialects or pytest.
"""

from .link import BITS_PER_BYTE, Link, hold_silence
from .logview import escape_bytes, format_log
from .ports import OpenedPort, open_port, register_scheme
from .recorder import Event, FlightRecorder, LogError, read_log

__all__ = [
    "BITS_PER_BYTE",
    "Event",
    "FlightRecorder",
    "Link",
    "LogError",
    "OpenedPort",
    "escape_bytes",
    "format_log",
    "hold_silence",
    "open_port",
    "read_log",
    "register_scheme",
]
