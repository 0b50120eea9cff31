"""Reading an ``AT+QISEND`` line whose ``<data>`` is free text (BC660K-GL TCP/IP Application Note V1.1 §2.3.4).

V.250's parameter syntax cannot hold what note 3 allows: "Enclose <data> in double quotation marks if special
characters such as JSON are included", so a quoted ``<data>`` may itself hold quotes, commas, semicolons and spaces.
The quoted data runs from its opening quote to the **last** quote of the line (only ``,<rai_mode>`` may follow it);
unquoted data runs to the next comma, spaces included. The other parameters are read as V.250 reads them.
"""

from __future__ import annotations

import re

from ..engine import Call, Param
from ..engine.atparse import AtSyntaxError, split_params

__all__ = ["parse_qisend"]

NAME = "+QISEND"
_HEAD = re.compile(r"[ \t]*AT[ \t]*\+QISEND[ \t]*=(?![ \t]*\?[ \t]*$)", re.IGNORECASE)


def parse_qisend(line: str) -> list[Call] | None:
    """The call of an ``AT+QISEND=...`` write line, its ``<data>`` as typed; None if the line is not one."""
    head = _HEAD.match(line)
    if head is None:
        return None
    return [Call(NAME, "write", _params(line[head.end():]))]


def _params(text: str) -> tuple[Param, ...]:
    params: list[Param] = []
    pos = 0
    data_index: int | None = None
    while True:
        if data_index is not None and len(params) == data_index:
            return (*params, *_data_and_rest(text[pos:]))
        comma = _next_comma(text, pos)
        field = text[pos:] if comma is None else text[pos:comma]
        params.append(split_params(field.strip(" \t"), NAME)[0])
        if len(params) == 2:
            # §2.3.4: after <connectID> a quoted <remote_ip> names the UDP SERVICE forms, whose <data> comes 5th
            data_index = 4 if params[1].quoted else 2
        if comma is None:
            return tuple(params)
        pos = comma + 1


def _next_comma(text: str, pos: int) -> int | None:
    quoted = False
    for i in range(pos, len(text)):
        if text[i] == '"':
            quoted = not quoted
        elif text[i] == "," and not quoted:
            return i
    if quoted:
        raise AtSyntaxError("unterminated string", NAME)
    return None


def _data_and_rest(text: str) -> list[Param]:
    body = text.lstrip(" \t")
    if body.startswith('"'):
        close = body.rfind('"')
        if close == 0:
            raise AtSyntaxError("unterminated <data>", NAME)
        data = Param(body[1:close], quoted=True)
        tail = body[close + 1:].strip(" \t")
        if not tail:
            return [data]
        if not tail.startswith(","):
            raise AtSyntaxError("text after the quoted <data>", NAME)
        return [data, *split_params(tail[1:].strip(" \t"), NAME)]
    comma = body.find(",")
    if comma < 0:
        return [Param(body, quoted=False)]
    return [Param(body[:comma], quoted=False), *split_params(body[comma + 1:].strip(" \t"), NAME)]
