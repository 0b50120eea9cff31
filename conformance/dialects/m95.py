"""M95 family (M95, M66, MC60, M72 ... the legacy GSM/GPRS modules with the QI* TCP/IP stack), from three documents:

- GSM TCPIP Application Notes V1.1 (2011), chapters 2-9: the stack, its modes and commands;
- GSM TCP/IP Recommended Process V2.0 (2018): the process, error analysis, recovery, and its time limits (default);
- GSM TCP/IP Recommended Process V1.1 (2012): the same process with older time limits.

Where they disagree the default is the newest document, and both readings are data here (timings per revision) or
recorded in ``m95_documented.yaml`` (``differs``). ``docs/dialects/m95.md`` is the behaviour spec built on this data;
ASSUMPTION marks what goes beyond the three documents.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import CommandTiming, Completion, DataHeader, Dialect, EscapeRules, register

AN = "GSM TCPIP Application Notes V1.1"
REC_V20 = "GSM TCP/IP Recommended Process V2.0"
REC_V11 = "GSM TCP/IP Recommended Process V1.1"
DOCUMENTS = (AN, REC_V20, REC_V11)


def _an(section: str) -> str:
    return f"{AN} §{section}"


def _v20(section: str) -> str:
    return f"{REC_V20} §{section}"


def _v11(section: str) -> str:
    return f"{REC_V11} §{section}"


# ------------------------------------------------------------------------------------------------- response times

# What a host waits for before it gives up (and, per the process, reboots the module). Both revisions: any other
# command 60 s (§9 note 2). The application note only gives AT+QIDEACT "about 2.5 minutes" (§5.5, §6.3).
REVISIONS: dict[str, tuple[CommandTiming, ...]] = {
    "V2.0": (
        CommandTiming("+QIACT", 150, _v20("9") + " note 3"),
        # §9 note 3; §7 and §8.2 "about 40 seconds"; §3.1 "about 40s to 45s" (its "this command" read as AT+QIDEACT)
        CommandTiming("+QIDEACT", 40, _v20("9") + " note 3"),
        CommandTiming("+QICLOSE", 0.3, _v20("9") + " note 3"),  # "300 ms", through CLOSE OK
    ),
    "V1.1": (
        CommandTiming("+QIACT", 180, _v11("9") + " note 3"),
        CommandTiming("+QIDEACT", 90, _v11("9") + " note 3"),  # §7 and §8.2: "about 2.5 minutes"; §3: 2.5-3.5 min
        CommandTiming("+QICLOSE", 90, _v11("9") + " note 3"),
        CommandTiming("+QIOPEN", 90, _v11("9") + " flow chart"),  # "Fail to get response for AT+QIOPEN in 90s"
    ),
}
DEFAULT_REVISION = "V2.0"

# ------------------------------------------------------------------------------------------------------- states

# §5.6.1: the stack states AT+QISTAT reports ("STATE: <state>"); the figures with the transitions are lost in the text.
STATES = ("IP INITIAL", "IP START", "IP CONFIG", "IP IND", "IP GPRSACT", "IP STATUS", "TCP CONNECTING",
          "UDP CONNECTING", "CONNECT OK", "IP CLOSE", "PDP DEACT", "IP PROCESSING")
# §5.6.1 "9 status for single connection", "7 status for multiple connections": read as these, PDP DEACT (reached from
# any state when the network drops the context) apart, TCP/UDP CONNECTING counted once.
SINGLE_STATES = ("IP INITIAL", "IP START", "IP CONFIG", "IP IND", "IP GPRSACT", "IP STATUS", "TCP CONNECTING",
                 "UDP CONNECTING", "CONNECT OK", "IP CLOSE")
MUX_STATES = ("IP INITIAL", "IP START", "IP CONFIG", "IP IND", "IP GPRSACT", "IP STATUS", "IP PROCESSING")
# Recommended process §3.1 (V2.0) / §3 (V1.1): AT+QIOPEN is allowed in these states only, ERROR in the others.
OPEN_STATES = ("IP INITIAL", "IP STATUS", "IP CLOSE")
# §5.6.2: AT+QISTATE's per-profile state. Only "INITIAL" is documented; the others are ASSUMPTION (family AT manual).
CONNECTION_STATES = ("INITIAL", "CONNECTING", "CONNECTED", "CLOSING", "CLOSED")
# §5.6.2: AT+QISSTAT "S: LISTENNING" (the document's spelling); "INITIAL" with no listener is ASSUMPTION.
SERVER_STATES = ("INITIAL", "LISTENNING")


@dataclass(frozen=True)
class Transition:
    """One move of the stack state machine (single connection; per foreground context, §7.2)."""

    event: str  # the command or network event
    before: tuple[str, ...]
    after: str
    source: str


TRANSITIONS = (
    Transition("AT+QIREGAPP", ("IP INITIAL",), "IP START", _an("5.6.1")),
    Transition("AT+QIACT (passing IP CONFIG, IP IND)", ("IP START",), "IP GPRSACT", _an("5.6.1")),
    Transition("AT+QILOCIP", ("IP GPRSACT",), "IP STATUS", _an("5.6.1")),
    Transition('AT+QIOPEN "TCP" (activating first from IP INITIAL, §3; "UDP": UDP CONNECTING)', OPEN_STATES,
               "TCP CONNECTING", _v20("3.1")),
    Transition("CONNECT OK", ("TCP CONNECTING", "UDP CONNECTING"), "CONNECT OK", _an("5.6.1")),
    # §3.1: after CONNECT FAIL the state is "TCP CONNECTING" (close it) or, if activation failed, another one
    Transition("CONNECT FAIL", ("TCP CONNECTING", "UDP CONNECTING"), "TCP CONNECTING", _v20("3.1")),
    Transition("activation fails (network; ASSUMPTION)", ("IP CONFIG", "IP IND"), "PDP DEACT", _v20("3.1")),
    Transition("AT+QICLOSE / CLOSED", ("TCP CONNECTING", "UDP CONNECTING", "CONNECT OK"), "IP CLOSE", _an("5.6.1")),
    Transition("AT+QIDEACT (ERROR in IP INITIAL: ASSUMPTION)", STATES[1:], "IP INITIAL", _an("5.5")),
    Transition("+PDP DEACT (network)", tuple(s for s in STATES if s not in ("IP INITIAL", "IP START", "PDP DEACT")),
               "PDP DEACT", _an("5.6.1")),
)

# ------------------------------------------------------------------------------------------------ data framing

BACKSPACE, CTRL_Z, ESC = 0x08, 0x1A, 0x1B  # recommended process §4.1: delete last, send, cancel (changeable length)

# §5.3.1 and recommended process §5.1: what precedes received data on the UART. ASSUMPTION: TO: is a line of its own
# after RECV FROM; no line end follows the payload; in MUX (+RECEIVE) AT+QIHEAD and AT+QISHOWPT change nothing.
RECV_FROM = "RECV FROM:{ip}:{port}\r\n"  # AT+QISHOWRA=1
LOCAL_TO = "TO:{ip}\r\n"  # AT+QISHOWLA=1
IPD = "IPD{length}{protocol}:"  # AT+QIHEAD=1; {protocol} "TCP"/"UDP" with AT+QISHOWPT=1 (single connection only)
MUX_RECEIVE = "+RECEIVE: {index}, {length}\r\n"  # AT+QIMUX=1 (§3.3)
QIRDI = "+QIRDI: {context},{role},{index}"  # AT+QINDI=1 (§5.3.2); role 1 client, 2 server
QIRD_HEADER = "+QIRD: {ip}:{port},{protocol},{length}\r\n"  # AT+QIRD (§5.3.2)
QISACK = "+QISACK: {sent}, {acked}, {unacked}"  # §5.2.2 (recommended process V2.0 writes "4,4,0"); UDP: acked 0
# §5.6.2, as printed for an unused profile ("", "", "INITIAL"); a used one fills the same fields (ASSUMPTION)
QISTATE_LINE = '+QISTATE: {index},"{protocol}", "{ip}", "{state}"'


def receive_prefix(*, length: int, protocol: str, remote: tuple[str, int], local: str, mux_index: int | None,
                   qihead: bool, qishowra: bool, qishowla: bool, qishowpt: bool) -> bytes:
    """What the module writes before ``length`` received bytes in non-transparent mode (docs/dialects/m95.md §7)."""
    text = RECV_FROM.format(ip=remote[0], port=remote[1]) if qishowra else ""
    text += LOCAL_TO.format(ip=local) if qishowla else ""
    if mux_index is not None:
        text += MUX_RECEIVE.format(index=mux_index, length=length)
    elif qihead:
        text += IPD.format(length=length, protocol=protocol if qishowpt else "")
    return text.encode("ascii")


# ---------------------------------------------------------------------------------- the documented procedures

@dataclass(frozen=True)
class AckPolling:
    """Polling AT+QISACK until the unacknowledged count (its third value) is low enough, or giving up."""

    first_wait_s: float  # after the send, before the first AT+QISACK
    interval_s: float  # between later polls
    max_polls: int  # then the connection counts as broken: close it and open it again
    below: int  # done when the unacknowledged count is below this (1: all acknowledged)
    source: str


POLLING = {
    # recommended process §4.1 note 1 (both revisions): stop sending at 3000 unacknowledged bytes of the 7300-byte
    # buffer; poll every 5 s; "for example 20 times, which is equivalent to 100 seconds"
    "flow control": AckPolling(5, 5, 20, 3000, _v20("4.1") + " note 1"),
    # recommended process §6 (both revisions): heartbeat acknowledged? every 5 s, "24 times in total" (2 minutes)
    "heartbeat": AckPolling(5, 5, 24, 1, _v20("6")),
    # application note §6.1: 5 s, then every 10 s, "for example, 12 times"; §6.2 gives the 5 s and the 12 only
    "detection": AckPolling(5, 10, 12, 1, _an("6.1")),
    # recommended process V1.1 §9 flow chart: "Get ACK in 90s" (its §6 says 2 minutes); polled at §6's 5 s
    "ack V1.1 flow chart": AckPolling(5, 5, 18, 1, _v11("9")),
}
HEARTBEAT_PERIOD_S = 600  # recommended process §6: "10 minutes" (some operators drop idle TCP after about 1 minute)
SYNC_AT_COUNT, SYNC_AT_INTERVAL_S = 15, 0.5  # recommended process §9 note 1 (both revisions)
# Reboot back-off (§9 note 4): V2.0 after three reboots in a row; V1.1 from the first. Seconds before each reboot.
REBOOT_BACKOFF_S = (0, 600, 1800, 3600)

# --------------------------------------------------------------------------------------------- start state

# Restored after every case, in order: deactivating a context is the only way back to IP INITIAL, and the stack
# settings are refused outside it (ASSUMPTION, family AT manual). Both contexts (§7); settings are per context.
_CONTEXT_DEFAULTS = (
    "AT+QIDEACT",  # DEACT OK, or ERROR when already in IP INITIAL (ASSUMPTION) - either is fine here
    "AT+QIMUX=0",  # §3: 0 disables MUXIP (the state a case starts from)
    "AT+QIMODE=0",  # §3: non-transparent
    "AT+QIDNSIP=0",  # recommended process §2: the default is an IP address
)
RESET_COMMANDS = (
    "ATE1",  # ASSUMPTION: echo on, as modules ship (V.250); §6.3 relies on the echo of "+++"
    "ATV1",
    "AT+QIFGCNT=1", *_CONTEXT_DEFAULTS,
    "AT+QIFGCNT=0", *_CONTEXT_DEFAULTS,
    "AT+QISRVC=1",  # §3.2: the client connection
    "AT+QINDI=0",  # §5.3.2: "not supported by default"
    "AT+QIHEAD=0",  # §5.3.1: "In default setting ... without any information"
    "AT+QISHOWRA=0",
    "AT+QISHOWLA=0",
    "AT+QISHOWPT=0",
    "AT+QIAUTOS=0",  # §5.2.1.3: timed sending off (ASSUMPTION: the one-parameter form turns it off)
    "AT+QITCFG=3,2,512,1",  # §4 / recommended process §2 (ASSUMPTION: the documents' example is the default)
    "AT&D2",  # ASSUMPTION: V.250's default; §4 sets AT&D1 to leave data mode by DTR
    "AT+QSCLK=0",  # §9 enables sleep with 1; the suite talks to an awake module
    "AT+CREG=0",  # recommended process §2 turns the registration URCs on; 27.007's default is off
    "AT+CGREG=0",
)

_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_INDEX = r"(?:\d, )?"  # the MUX index prefix: "0, CONNECT OK" (§3.3), "0, CLOSE OK" (§5.4)

M95 = register(
    Dialect(
        name="m95",
        title="Quectel M95 family (GSM/GPRS: M95, M66, MC60, M72 ...)",
        manuals=DOCUMENTS,
        final_results=(
            r"OK",
            r"ERROR",
            r"\+CME ERROR: .+",  # recommended process §9 note 2
            r"\+CMS ERROR: .+",
            r"SEND OK",  # §3.1
            r"SEND FAIL",  # §5.2.1.3
            _INDEX + r"CLOSE OK",  # §3.1, §5.4
            r"DEACT OK",  # §3.1, §5.5
            _INDEX + r"CONNECT OK",  # §3.1, §3.3 (after OK, see completions)
            _INDEX + r"CONNECT FAIL",  # recommended process §3.1 (MUX form ASSUMPTION)
            _INDEX + r"ALREADY CONNECT",  # recommended process §3.1, instead of OK (MUX form ASSUMPTION)
            r"SERVER OK",  # §3.2, after OK
            r"CONNECT",  # §4.1: transparent data mode
            r"NO CARRIER",  # ASSUMPTION (V.250, family AT manual): ATO with no connection to return to
        ),
        urcs=(
            _INDEX + r"CLOSED",  # §6.3, recommended process §8.2 (MUX form ASSUMPTION)
            r"\+PDP DEACT",  # §6.3
            _INDEX + r"REMOTE IP: ?" + _IPV4,  # §3.2, §3.4, §5.1
            r"\+QIRDI: ?\d+,\d+,\d+",  # §5.3.2 ("+QIRDI:0,1,0"), recommended process V2.0 §5.2 ("+QIRDI: 0,1,0")
            r"\+RECEIVE: \d+, ?\d+",  # §3.3, a data header too
            r"RECV FROM: ?" + _IPV4 + r":\d+",  # §5.3.1
            r"TO: ?" + _IPV4,  # §5.3.1 (ASSUMPTION: a line of its own)
            r"IPD\d+(?:TCP|UDP)?:[\s\S]*",  # §5.3.1, an inline data header (data_headers)
            r"RING",  # §4 note
            r'\+CMTI: .*',  # §4 note
            # start-up (ASSUMPTION, family AT manual; "Call Ready" in the family's recovery): RDY with a fixed baud rate
            r"RDY", r"Call Ready", r"SMS Ready",
            r"(?:UNDER|OVER)-VOLTAGE (?:POWER DOWN|WARNING)", r"NORMAL POWER DOWN",
        ),
        data_headers=(
            DataHeader(r"\+RECEIVE: \d+, ?(?P<len>\d+)", _an("3.3")),
            DataHeader(r"\+QIRD: ?" + _IPV4 + r":\d+,(?:TCP|UDP),(?P<len>\d+)", _an("5.3.2")),
            DataHeader(r"IPD(?P<len>\d+)(?:TCP|UDP)?:", _an("5.3.1"), inline=True, ends_with_line=False),
        ),
        timings=REVISIONS[DEFAULT_REVISION],
        default_response_s=60,
        default_response_source=_v20("9") + " note 2: reboot the module if a command gets no response in 60 s",
        limits={
            "send_length_max": 1460,  # §3.1, §5.2: "The data beyond 1460 will be omitted"
            "send_buffer_bytes": 7300,  # recommended process §4.1 note 1
            "tcp_packet_max": 1448,  # ibid.: "the maximum length of one TCP package"
            "unacked_threshold": 3000,  # ibid.: stop sending at or above it
            "mux_index_min": 0,  # §3.3: "The index of profile is 0~5"
            "mux_index_max": 5,
            "mux_clients_max": 6,  # §2.1, §3.3: six connections as clients
            "server_clients_max": 5,  # §2.1, §3.4
            "mux_clients_with_server_max": 5,  # §3.4: n clients + m server clients <= 5 (read: the listener is the 6th)
            "context_min": 0,  # §7: AT+QIFGCNT 0 or 1, both active at once
            "context_max": 1,
            "qird_length_example": 1500,  # recommended process V2.0 §5.2 (the note's example: 1024)
            "qitcfg_wait_unit_ms": 100,  # §4: <wait> 2 means 200 ms
            "qitcfg_retries_example": 3,  # §4: "an internal process, which doesn't have an obvious influence"
            "qitcfg_wait_example": 2,
            "qitcfg_size_example": 512,
            # ASSUMPTION (family AT manual; the documents give only the example): the ranges of AT+QITCFG
            "qitcfg_retries_min": 3, "qitcfg_retries_max": 8,
            "qitcfg_wait_min": 1, "qitcfg_wait_max": 10,
            "qitcfg_size_min": 256, "qitcfg_size_max": 1024,
            "qiautos_period_example_s": 10,  # §5.2.1.3
            "qilport_tcp_example": 2020,  # §3.2 (ASSUMPTION: the defaults)
            "qilport_udp_example": 3030,
            "dtr_wake_ms": 20,  # §9: the serial port is active 20 ms after DTR goes low
            "ri_pulse_ms": 12,  # §4 note: incoming call or SMS in data mode
            "qideact_typical_max_s": 5,  # §5.5: "normally ... about 2-5 seconds"
            "sync_at_count": SYNC_AT_COUNT,  # recommended process §9 note 1
            "sync_at_interval_ms": 500,
            "heartbeat_period_s": HEARTBEAT_PERIOD_S,
        },
        escape=EscapeRules(
            sequence=b"+++",
            guard_before_s=0.5,  # §4: "MUST NOT be less than 500 ms" before the first '+' ...
            guard_after_s=0.5,  # ... and after the last
            max_sequence_s=0.04,  # two gaps of less than 20 ms each
            source=_an("4"),
            max_gap_s=0.02,  # "the interval time between each '+' MUST be less than 20 ms"
        ),
        # ATI / AT+GMM: "Quectel_M95" (ASSUMPTION, family AT manual), and the family's other models
        identify=(
            r"(?:Quectel[_ ])?(?:M10|M12|M26|M35|M66|M72|M80|M85|M95|MC20|MC25|MC60|MC90)(?:[_ -].*)?",
            r"Revision: (?:M10|M12|M26|M35|M66|M72|M80|M85|M95|MC20|MC25|MC60|MC90).*",
        ),
        data_mode_results=(r"CONNECT",),  # §4.1, §4.2, §5.1; ATO (§4)
        secrets=(
            r'AT\+QICSGP=\d+,"[^"]*","[^"]*","(?P<secret>[^"]+)"',  # <mode>,<apn>,<user>,<password> (§3: mode, APN)
            r'AT\+QIREGAPP="[^"]*","[^"]*","(?P<secret>[^"]+)"',  # ASSUMPTION, family AT manual: <apn>,<user>,<pwd>
            r'\+QIREGAPP: "?[^",]*"?,"?[^",]*"?,"?(?P<secret>[^",\r\n]+)',  # its read response
            r'AT\+CPIN="?(?P<secret>[0-9]+)',  # a SIM PIN
            r'AT\+CPIN="?[0-9]+"?,"?(?P<secret>[0-9]+)',  # a new PIN after a PUK
        ),
        reset_commands=RESET_COMMANDS,
        # ASSUMPTION (family AT manual; "Call Ready" in the family's recovery): what a module with a fixed baud rate
        # (AT+IPR=<rate>&W, recommended process §2) says when it has started; with autobauding it says nothing
        startup_lines=("RDY", "+CFUN: 1", "+CPIN: READY", "Call Ready", "SMS Ready"),
        urc_prefixes=(
            # The family's other subsystems (ASSUMPTION, family AT manual): SIM, registration (recommended process
            # §2: +CREG: 1, +CGREG: 5 ...), SMS, calls, USSD, time zone, start-up and power.
            "+CPIN", "+CFUN", "+QSIMSTAT", "+CREG", "+CGREG", "+CMTI", "+CMT", "+CDS", "+CDSI", "+CBM", "RING",
            "+CRING", "+CLIP", "+CCWA", "+COLP", "+CSSI", "+CSSU", "+CUSD", "+QNITZ", "+CTZV", "+QCGTIND",
            "RDY", "Call Ready", "SMS Ready", "UNDER-VOLTAGE POWER DOWN", "UNDER-VOLTAGE WARNING",
            "OVER-VOLTAGE POWER DOWN", "OVER-VOLTAGE WARNING", "NORMAL POWER DOWN",
        ),
        completions=(
            # §3.1, §3.3, §4.1: OK, then the connection's result; ALREADY CONNECT stands instead of OK (process §3.1)
            Completion(r"AT\+QIOPEN=(?!\?).+", (_INDEX + r"CONNECT (?:OK|FAIL)", r"CONNECT",
                                                _INDEX + r"ALREADY CONNECT"), _an("3.1")),
            Completion(r"AT\+QISERVER(?:=(?!\?).*)?", (r"SERVER OK",), _an("3.2")),
            Completion(r"AT\+QISTAT", (r"STATE: .+",), _an("5.6.2")),  # AT+QIMUX=0
            Completion(r"AT\+QISTATE", (r"\+QISTATE: 5,.*",), _an("5.6.2")),  # AT+QIMUX=1: STATE:, profiles 0-5
            Completion(r"AT\+QISSTAT", (r"S: .+",), _an("5.6.2")),
            # §8.2: OK, then one address per line and no result code; the first ends it, the rest follow at once
            Completion(r"AT\+QIDNSGIP=.+", (_IPV4,), _an("8.2")),
        ),
        bare_results=(Completion(r"AT\+QILOCIP", (_IPV4,), _an("3")),),  # the address alone, no OK
        revision=DEFAULT_REVISION,
        revisions=REVISIONS,
    )
)
