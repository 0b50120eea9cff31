"""The simulator engine: what every simulated Quectel module shares, whatever its dialect.

| file | owns |
| --- | --- |
| interpreter.py | line discipline and echo, the CR LF rule, dispatch, result formats, URC holding |
| prompt.py | the ``>`` prompt and its per-dialect editing policy |
| output.py | the ordered output queue (pieces, delays) |
| timing.py | timing profiles: instant and realistic (seeded) |
| config.py | configuration keys |
| params.py | parameter checks |
| codes.py | the family's result codes, by name |
| contexts.py | PDP contexts and the simulated network's answers |
| sockets.py | socket services on kernel sockets, SIOCOUTQ |
| delivery.py | receive-delivery policies: buffered + notification, pushed |
| datamode.py | data mode: escape detector, packetizer, entering and leaving |
| netops.py | DNS, SNTP, ICMP echo on the loop |
| basics.py | V.250 and identification commands |
| cellular.py | 27.007 radio / registration commands every host driver sends |
| module.py | :class:`Module`: all of it together, the control channel, and the hooks a dialect front-end implements |

docs/simulator.md ("How to add a dialect") describes the API a front-end uses.
"""

from __future__ import annotations

from .atparse import Call, Param
from .basics import Identity, local_time, zone
from .cellular import NetworkProfile
from .config import ConfigError, SimConfig, as_bool
from .contexts import Context, Contexts
from .datamode import DataMode, DataModeTexts, EscapeDetector, Packetizer
from .delivery import Buffered, Delivery, Pushed
from .interpreter import PENDING, AtInterpreter, CmdError, Mode, Pending, Reply
from .module import ControlError, Module
from .output import Output, Port
from .prompt import Prompt, PromptPolicy
from .sockets import SendFull, Service, Sockets
from .timing import TimingProfile

__all__ = [
    "PENDING", "AtInterpreter", "Buffered", "Call", "CmdError", "ConfigError", "Context", "Contexts", "ControlError",
    "DataMode", "DataModeTexts", "Delivery", "EscapeDetector", "Identity", "Mode", "Module", "NetworkProfile",
    "Output", "Packetizer", "Param", "Pending", "Port", "Prompt", "PromptPolicy", "Pushed", "Reply", "SendFull",
    "Service", "SimConfig", "Sockets", "TimingProfile", "as_bool", "local_time", "zone",
]
