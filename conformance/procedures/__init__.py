"""The documented host procedures of the M95 family (GSM TCP/IP Recommended Process V2.0 / V1.1, GSM TCPIP
Application Notes V1.1), as a small public API a host team can run against its own module, in a case or outside one.

```python
from conformance.procedures import open_module, heartbeat, detect, send_with_flow_control, synchronise

modem = open_module("/dev/ttyUSB2")            # or rfc2217://bench:4001, or sim:m95
verdict = heartbeat(modem)                      # recommended process §6: every 5 s, 24 times
print(verdict.healthy, verdict)
```

Every number is a parameter whose default is the documents' (docs/procedures.md).
"""

from .flow import FlowResult, send_with_flow_control
from .port import SYSTEM_CLOCK, AckState, AtPort, Clock, ProcedureError, Reply, open_module, query_ack, send
from .qisack import (
    DETECTION,
    FLOW_CONTROL,
    HEARTBEAT,
    HEARTBEAT_V11,
    CheckResult,
    Polling,
    PollResult,
    connection_state,
    detect,
    heartbeat,
    poll_acknowledged,
    reopen,
)
from .sync import SyncResult, synchronise

__all__ = [
    "DETECTION",
    "FLOW_CONTROL",
    "HEARTBEAT",
    "HEARTBEAT_V11",
    "SYSTEM_CLOCK",
    "AckState",
    "AtPort",
    "CheckResult",
    "Clock",
    "FlowResult",
    "PollResult",
    "Polling",
    "ProcedureError",
    "Reply",
    "SyncResult",
    "connection_state",
    "detect",
    "heartbeat",
    "open_module",
    "poll_acknowledged",
    "query_ack",
    "reopen",
    "send",
    "send_with_flow_control",
    "synchronise",
]
