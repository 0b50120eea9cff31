"""Session layer: AT framing over a link (lines, the data prompt, echo, data payloads, data mode).

Knows dialects as data; knows nothing of pytest or case files.
"""

from .session import CTRL_Z, ESC, Session, Token

__all__ = ["CTRL_Z", "ESC", "Session", "Token"]
