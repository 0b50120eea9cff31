"""The control channel: what the cellular network does (pdpdeact, reboot) and injected errors (provokable=False)."""

from __future__ import annotations

import pytest

from conformance.dialects import get
from conformance.sim import SimError


def test_network_deactivates_the_context(online, listener, kit):
    kit.open_tcp(online, listener.port)
    listener.accept()
    online.sim.control("pdpdeact", context=1)
    assert online.read_until(b'"pdpdeact",1\r\n') == b'\r\n+QIURC: "pdpdeact",1\r\n'  # §2.2.5
    assert online.ok("AT+QIACT?") == b"\r\nOK\r\n"
    assert online.cmd("AT+QISEND=0") == b"\r\nERROR\r\n"
    assert online.error_code() == 570
    assert online.cmd('AT+QIOPEN=1,1,"TCP","127.0.0.1",1,0,2') == b"\r\nERROR\r\n"
    assert online.error_code() == 570
    assert online.ok("AT+QIDEACT=1") == b"\r\nOK\r\n"  # the host must deactivate, which resets every connection
    assert online.ok("AT+QISTATE") == b"\r\nOK\r\n"
    assert online.ok("AT+QIACT=1") == b"\r\nOK\r\n"
    with pytest.raises(SimError, match="not activated"):
        online.sim.control("pdpdeact", context=2)


def test_pdpdeact_in_data_mode_drops_the_call(online, listener, kit):
    kit.open_tcp(online, listener.port, access_mode=2)
    listener.accept()
    online.sim.control("pdpdeact", context=1)
    assert online.read_until(b'"pdpdeact",1\r\n') == b'\r\nNO CARRIER\r\n\r\n+QIURC: "pdpdeact",1\r\n'


def test_reboot_drops_all_state_and_says_rdy(online, listener, kit):
    kit.open_tcp(online, listener.port)
    peer = listener.accept()
    online.ok("AT+QISDE=0")
    online.sim.control("reboot")
    assert online.read_until(b"APP RDY\r\n") == (b"\r\nRDY\r\n\r\n+CFUN: 1\r\n\r\n+CPIN: READY\r\n"
                                                 b"\r\n+QIND: SMS DONE\r\n\r\nAPP RDY\r\n")
    peer.wait_closed()  # the module's sockets are gone
    online.write(b"AT\r")
    assert online.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"  # echo is on again
    assert online.ok("AT+QISDE?").endswith(b"+QISDE: 1\r\n\r\nOK\r\n")
    state = kit.state(online)
    assert state["sockets"] == [] and state["contexts"] == [] and state["mode"] == "command"


def test_reboot_in_the_middle_of_a_prompt(online, listener, kit):
    kit.open_tcp(online, listener.port)
    listener.accept()
    online.write(b"AT+QISEND=0\r")
    online.read_until(b"> ")
    online.sim.control("reboot")
    online.read_until(b"APP RDY\r\n")
    online.write(b"AT\r")
    assert online.read_until(b"OK\r\n") == b"AT\r\r\nOK\r\n"


def test_injected_error_takes_the_commands_error_path(online, listener):
    online.sim.control("inject_error", command="+QIOPEN", code=553)
    online.ok(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{listener.port},0,0')
    assert online.read_until(b"+QIOPEN: 0,553\r\n") == b"\r\n+QIOPEN: 0,553\r\n"
    assert online.ok("AT+QIGETERROR") == b"\r\n+QIGETERROR: 553, memory not enough\r\n\r\nOK\r\n"
    online.ok(f'AT+QIOPEN=1,0,"TCP","127.0.0.1",{listener.port},0,0')  # one-shot: the next one works
    online.read_until(b"+QIOPEN: 0,0\r\n")
    online.sim.control("inject_error", command="AT+QIOPEN", code=554)
    assert online.cmd(f'AT+QIOPEN=1,1,"TCP","127.0.0.1",{listener.port},0,2') == b"\r\nERROR\r\n"  # transparent
    assert online.error_code() == 554


@pytest.mark.parametrize("error", [e for e in get("bg96").errors if not e.provokable], ids=lambda e: str(e.code))
def test_every_unprovokable_code_can_be_injected(online, error):
    online.sim.control("inject_error", command="+QIDEACT", code=error.code)
    assert online.cmd("AT+QIDEACT=1") == b"\r\nERROR\r\n"
    assert online.ok("AT+QIGETERROR") == (b"\r\n+QIGETERROR: %d, %s\r\n\r\nOK\r\n"
                                          % (error.code, error.meaning.lower().encode()))


def test_injected_errors_on_asynchronous_commands(online):
    online.sim.control("inject_error", command="+QIDNSGIP", code=550)
    online.ok('AT+QIDNSGIP=1,"host.example"')
    assert online.read_until(b'"dnsgip",550\r\n') == b'\r\n+QIURC: "dnsgip",550\r\n'
    online.sim.control("inject_error", command="+QPING", code=551)
    online.ok('AT+QPING=1,"127.0.0.1"')
    assert online.read_until(b"+QPING: 551\r\n") == b"\r\n+QPING: 551\r\n"
    online.sim.control("inject_error", command="+QNTP", code=559)
    online.ok('AT+QNTP=1,"127.0.0.1"')
    assert online.read_until(b"+QNTP: 559\r\n") == b"\r\n+QNTP: 559\r\n"


def test_control_argument_checks(sim):
    with pytest.raises(SimError, match="error table"):
        sim.control("inject_error", command="+QIOPEN", code=999)
    with pytest.raises(SimError, match="not a TCP/IP command"):
        sim.control("inject_error", command="+CSQ", code=550)
    with pytest.raises(SimError, match="bad arguments"):
        sim.control("dtr")
    with pytest.raises(SimError, match="true or false"):
        sim.control("dtr", level="low")
    sim.control("dtr", level=0)  # transcripts pass numbers and text
    assert sim.control("state")["dtr"] is False
    sim.control("dtr", level="on")
    assert sim.control("state")["dtr"] is True
    config = sim.control("configure", dns_servers="10.0.0.1,10.0.0.2", connect_timeout_s="2.5", trace="false")
    assert config["config"]["dns_servers"] == ["10.0.0.1", "10.0.0.2"]
    assert config["config"]["connect_timeout_s"] == 2.5
    assert sim.control("inject_error", command="qiopen", code=553)["command"] == "+QIOPEN"
    assert sim.control("state")["injected"] == {"+QIOPEN": 553}
