"""The simulated M95 family: a front-end of the simulator engine (GSM TCP/IP Application Note V1.1, Recommended
Process V2.0 and V1.1; the behaviour spec docs/dialects/m95.md).

| file | holds |
| --- | --- |
| module.py | the module: identity, data, receive framing, hooks (what an M95 says when the network does something) |
| stack.py | one TCP/IP stack per context: settings and the AT+QISTAT state machine, activation |
| contexts.py | AT+QIFGCNT, AT+QICSGP, AT+QIMUX, AT+QIMODE, AT+QIDNSIP, AT+QIREGAPP, AT+QIACT, AT+QILOCIP, AT+QIDEACT |
| connections.py | AT+QIOPEN, AT+QICLOSE, CONNECT OK / FAIL, CLOSED; the keys of the connections |
| server.py | AT+QISERVER, accepting TCP and UDP clients, REMOTE IP |
| transfer.py | AT+QISEND (changeable, fixed, timed), AT+QISACK, AT+QIRD |
| status.py | AT+QISTAT, AT+QISTATE, AT+QISSTAT |
| dns.py | AT+QIDNSCFG, AT+QIDNSGIP |
| settings.py | AT+QINDI, AT+QIHEAD ..., AT+QISRVC, AT+QITCFG, AT+QIAUTOS, AT+QILPORT, AT+QSCLK, AT+IPR, registration |
"""

from __future__ import annotations

from .module import M95Module

__all__ = ["M95Module"]
