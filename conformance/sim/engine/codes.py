"""The result codes the engine reports failures with: the Quectel family's shared TCP/IP error table.

BG96 TCP/IP AT Commands Manual V1.0 §4 and BC660K-GL TCP/IP Application Note V1.1 §3 list the same codes with the
same meanings. The engine names a failure by its code; a front-end whose manual has no codes (the GSM M-series, which
says ``CONNECT FAIL`` or ``ERROR``) maps the code to its own wording. The meanings themselves are dialect data
(:class:`conformance.dialects.ErrorCode`).
"""

from __future__ import annotations

__all__ = [
    "BIND_FAILED",
    "CANCEL_SEND",
    "CLOSED",
    "CONNECT_FAILED",
    "CREATE_SOCKET_FAILED",
    "DNS_BUSY",
    "DNS_PARSE_FAILED",
    "ID_IN_USE",
    "INVALID_PARAMETERS",
    "LISTEN_FAILED",
    "NOT_ALLOWED",
    "NOT_SUPPORTED",
    "OPERATION_BUSY",
    "PDP_BROKEN",
    "PDP_OPEN_FAILED",
    "PORT_BUSY",
    "SUCCESS",
    "TIMEOUT",
    "UNKNOWN",
    "WRITE_FAILED",
]

SUCCESS = 0
UNKNOWN = 550  # also: an exception inside a command handler (a bug of the simulator)
INVALID_PARAMETERS = 552
CREATE_SOCKET_FAILED = 554
NOT_SUPPORTED = 555
BIND_FAILED = 556
LISTEN_FAILED = 557
WRITE_FAILED = 558
PDP_OPEN_FAILED = 561
ID_IN_USE = 563
DNS_BUSY = 564
DNS_PARSE_FAILED = 565
CONNECT_FAILED = 566
CLOSED = 567
OPERATION_BUSY = 568
TIMEOUT = 569
PDP_BROKEN = 570
CANCEL_SEND = 571
NOT_ALLOWED = 572
PORT_BUSY = 574
