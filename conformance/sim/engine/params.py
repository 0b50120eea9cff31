"""Reading a command's parameters: the checks every dialect's handlers share.

Each helper raises :class:`CmdError` with the family's "invalid parameters" code (552) when a parameter is missing,
malformed or out of range; a handler that must answer plain ``ERROR`` instead catches it.
"""

from __future__ import annotations

import re

from .atparse import Call, Param
from .codes import INVALID_PARAMETERS
from .interpreter import CmdError

__all__ = ["count", "int_param", "param", "str_param"]

_DIGITS = re.compile(r"[0-9]+")


def param(params: tuple[Param, ...], index: int) -> Param | None:
    """The parameter at ``index``, or None if it is absent or omitted (``AT+X=1,,3``)."""
    if index >= len(params) or params[index].omitted:
        return None
    return params[index]


def int_param(params: tuple[Param, ...], index: int, low: int, high: int, default: int | None = None) -> int:
    """An unquoted decimal integer in ``low..high``; ``default`` when omitted (no default: it is required)."""
    p = param(params, index)
    if p is None:
        if default is None:
            raise CmdError(INVALID_PARAMETERS)
        return default
    if p.quoted or not _DIGITS.fullmatch(p.text) or len(p.text) > 10:
        raise CmdError(INVALID_PARAMETERS)
    value = int(p.text)
    if not low <= value <= high:
        raise CmdError(INVALID_PARAMETERS)
    return value


def str_param(params: tuple[Param, ...], index: int, *, empty: bool = True) -> str:
    """A quoted string (``empty=False``: it must not be ``""``)."""
    if index >= len(params) or not params[index].quoted:
        raise CmdError(INVALID_PARAMETERS)
    text = params[index].text
    if not empty and not text:
        raise CmdError(INVALID_PARAMETERS)
    return text


def count(call: Call, *allowed: int) -> int:
    """The number of parameters, which must be one of ``allowed``."""
    n = len(call.params)
    if n not in allowed:
        raise CmdError(INVALID_PARAMETERS)
    return n
