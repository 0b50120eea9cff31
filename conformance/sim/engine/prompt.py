"""The ``>`` prompt: collecting the data of a send command, after the rules of the dialect.

Every dialect of the family shows ``>`` and then takes either exactly ``<length>`` bytes (fixed length: every byte is
data, 0x00-0xFF) or anything up to a submit byte (variable length). What the special bytes do differs, and is the
dialect's :class:`PromptPolicy`:

- BG96 §2.1.7: Ctrl+Z sends, ESC cancels, backspace is data, more than 1460 bytes is an error.
- GSM TCP/IP Application Note §5.2.2: Ctrl+Z sends, ESC cancels, 0x08 deletes the byte before it, data beyond 1460
  bytes is omitted; timed sending (AT+QIAUTOS) sends what was typed when its timer expires.
- BC660K §2.3.4: Ctrl+Z sends, ESC cancels, reaching 1024 bytes sends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

__all__ = ["BS", "CTRL_Z", "ESC", "Prompt", "PromptPolicy", "consume_prompt"]

BS, CTRL_Z, ESC = 0x08, 0x1A, 0x1B

Outcome = Literal["data", "cancel", "overflow", "timeout"]


@dataclass(frozen=True)
class PromptPolicy:
    """How a dialect's prompt treats special bytes (data unless named here)."""

    submit: int | None = CTRL_Z  # ends variable-length input: send it
    cancel: int | None = ESC  # ends variable-length input: send nothing
    backspace_deletes: bool = False  # 0x08 removes the byte before it (variable length only)
    overflow: Literal["error", "omit", "send"] = "error"  # past the limit: fail at submit / drop the excess / send now
    fixed_cancel: int | None = None  # a byte that cancels a fixed-length input (None: every byte is data)


@dataclass
class Prompt:
    """An open prompt: ``length`` bytes exactly, or (None) anything up to the policy's submit byte.

    ``on_done(data, outcome)`` with outcome ``"data"``, ``"cancel"``, ``"overflow"`` (more than ``limit`` under the
    "error" policy) or ``"timeout"`` (``timeout_s`` passed first; what was typed is the data).
    """

    length: int | None
    limit: int
    echo: bool
    on_done: Callable[[bytes, Outcome], None]
    policy: PromptPolicy = field(default_factory=PromptPolicy)
    text: bytes = b"\r\n> "  # what the module shows
    timeout_s: float | None = None
    data: bytearray = field(default_factory=bytearray)
    overflow: bool = False


def consume_prompt(prompt: Prompt, data: bytes, i: int, emit: Callable[[bytes], None]) -> tuple[int, Outcome | None]:
    """Take ``data[i:]`` into ``prompt``; return where consumption stopped and the outcome if the input is complete.

    Echoed bytes (if the prompt echoes) go to ``emit``; submit and cancel bytes are not echoed.
    """
    policy = prompt.policy
    if prompt.length is not None:
        n = min(len(data) - i, prompt.length - len(prompt.data))
        chunk = data[i:i + n]
        if policy.fixed_cancel is not None and policy.fixed_cancel in chunk:
            cut = chunk.index(policy.fixed_cancel)
            if prompt.echo:
                emit(chunk[:cut])
            return i + cut + 1, "cancel"
        prompt.data += chunk
        if prompt.echo:
            emit(chunk)
        i += n
        return i, "data" if len(prompt.data) >= prompt.length else None
    echo = bytearray()
    outcome: Outcome | None = None
    while i < len(data):
        b = data[i]
        i += 1
        if b == policy.submit:
            outcome = "overflow" if prompt.overflow else "data"
            break
        if b == policy.cancel:
            outcome = "cancel"
            break
        if b == BS and policy.backspace_deletes:
            if prompt.data:
                prompt.data.pop()
            echo.append(b)
            continue
        if len(prompt.data) >= prompt.limit:
            if policy.overflow == "error":
                prompt.overflow = True
            echo.append(b)
            continue
        prompt.data.append(b)
        echo.append(b)
        if policy.overflow == "send" and len(prompt.data) >= prompt.limit:
            outcome = "data"
            break
    if prompt.echo and echo:
        emit(bytes(echo))
    return i, outcome
