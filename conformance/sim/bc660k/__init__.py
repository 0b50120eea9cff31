"""The simulated BC660K-GL: a front-end of the simulator engine (BC660K-GL TCP/IP Application Note V1.1).

| file | holds |
| --- | --- |
| module.py | the module: identity, data, receive delivery on the recv URC, the default PDN, hooks, control commands |
| sockets.py | AT+QIOPEN, AT+QICLOSE, AT+QISTATE, opening and accepting |
| transfer.py | AT+QISEND in its six forms and its query |
| sendline.py | reading an AT+QISEND line whose data is free text |
| services.py | AT+QPING, AT+QNTP, AT+QIDNSGIP, AT+QIDNSCFG, AT+QICFG |
| power.py | sleep (AT+QSCLK), PSM and DRX: lost wake-up bytes, held and delayed URCs |
| basics.py | commands beyond the note: AT+QSCLK, AT+QRST, AT+QCFG="dsevent", AT+QNBIOTEVENT, identification |
| config.py | the configuration keys of its sleep behaviour |

docs/dialects/bc660k.md is its behaviour spec.
"""

from __future__ import annotations

from .module import Bc660kModule

__all__ = ["Bc660kModule"]
