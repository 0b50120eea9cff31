"""The simulated BG96: a front-end of the simulator engine (BG96 TCP/IP AT Commands Manual V1.0).

| file | holds |
| --- | --- |
| module.py | the module: identity, data, hooks (what a BG96 says when the network does something) |
| contexts.py | AT+QICSGP, AT+QIACT, AT+QIDEACT |
| sockets.py | AT+QIOPEN, AT+QICLOSE, AT+QISTATE, AT+QISWTMD, opening and accepting |
| transfer.py | AT+QISEND, AT+QIRD, AT+QISENDEX |
| services.py | AT+QPING, AT+QNTP, AT+QIDNSCFG, AT+QIDNSGIP, AT+QICFG, AT+QISDE, AT+QIGETERROR |
"""

from __future__ import annotations

from .module import Bg96Module

__all__ = ["Bg96Module"]
