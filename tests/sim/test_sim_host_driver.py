"""A host driver written by others, from PyPI, runs against the simulated BG96 unchanged.

ATtila (``attila`` on PyPI) is an AT scripting library: a script of commands, each with the response it expects,
sent with its default CR LF line end. It activates a context, opens a TCP connection to a real echo server, sends,
reads the echo back byte-exact, and closes. Two of its habits are a real driver's, and each catches a simulator that
is too ideal: it ends every command with CR LF, and it stops reading a response after about a millisecond of
silence and flushes its input before each command (so it polls AT+QISTATE / AT+QIRD instead of waiting for URCs).
The second habit fails on slow answers by design, so the simulator runs with the instant profile here.
"""

from __future__ import annotations

import pytest

attila = pytest.importorskip("attila", reason="the dev extra installs attila (pip install -e '.[dev]')")

from attila.atcommand import ATCommand  # noqa: E402
from attila.atre import ATRuntimeEnvironment  # noqa: E402

PAYLOAD = "Hello from ATtila 0123456789 !#$%&()*-./:;<=>?@[]^_{|}~"


def command(text: str, expect: str, *, retries: int = 0, delay_ms: int = 0) -> ATCommand:
    """One script step; ``retries``: run it again (after ``delay_ms``) while the response does not match."""
    fallback = command(text, expect, retries=retries - 1, delay_ms=delay_ms) if retries else None
    return ATCommand(text, expect, 5, delay_ms, None, fallback)


def test_attila_drives_a_tcp_echo_session(sim, tcp_echo):
    atre = ATRuntimeEnvironment(abort_on_failure=True)
    atre.configure_communicator(sim.pty, 115200, 5, "\r\n", rtscts=False, dsrdtr=False)
    script = [
        command("AT", "OK"),
        command("ATE0", "OK"),
        command("AT+CFUN=1", "OK"),
        command("AT+CPIN?", "READY"),
        command("AT+CEREG?", r"\+CEREG: 0,1"),
        command("AT+QIACT=1", "OK"),
        command(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{tcp_echo},0,0', "OK"),
        command("AT+QISTATE=1,0", r',2,1,0,0,"usbmodem"', retries=20, delay_ms=100),  # connected (§2.1.6)
        command("AT+QISEND=0", ">"),
        command(PAYLOAD + "\x1a", "SEND OK"),  # its CR LF follows the Ctrl+Z: an empty line, no answer
        command("AT+QIRD=0,1500", rf"\+QIRD: {len(PAYLOAD)}$", retries=20, delay_ms=100),
        command("AT+QICLOSE=0", "OK"),
        command("AT+QIDEACT=1", "OK"),
    ]
    atre.init_session(script)
    responses = atre.run()  # a step that never gets its expected response raises ATRuntimeError
    matched = {r.command.command: r for r in responses if r.response is not None}
    assert [step.command for step in script if step.command not in matched] == []
    read = matched["AT+QIRD=0,1500"].full_response
    assert read[read.index(f"+QIRD: {len(PAYLOAD)}") + 1] == PAYLOAD  # the echo, byte-exact
    assert sim.control("state")["sockets"] == []
