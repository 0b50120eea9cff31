"""BC660K-GL (NB-IoT): BC660K-GL TCP/IP Application Note V1.1 (2021-07-22).

Direct push mode only (§1.2): no transparent mode, no escape sequence, no AT+QIRD. Data goes out inline in AT+QISEND
or after its ``>`` prompt, and comes in on the ``+QIURC: "recv"`` line itself, as text or hex (AT+QICFG="dataformat").
What the note leaves open is decided in docs/dialects/bc660k.md; each such fact here says ASSUMPTION.
"""

from __future__ import annotations

from . import Cleanup, CommandTiming, Completion, DataHeader, Dialect, ErrorCode, register

MANUAL = "BC660K-GL TCP/IP Application Note V1.1"
# The module's AT manual, for conventions the note relies on without stating them (every use is an ASSUMPTION)
AT_MANUAL = "BC660K-GL AT Commands Manual"


def _src(section: str) -> str:
    return f"{MANUAL} §{section}"


_CONTROL = "no documented trigger; a simulated module raises it through its control channel (sim_control)"

# Chapter 3, Table 2, in the note's wording. Where the result is seen: a command refused before its OK answers ERROR
# (+CME ERROR: <err> after AT+CMEE=1, ASSUMPTION); an operation that fails after OK reports the code in its result
# URC (+QIOPEN: <id>,<err>, +QPING: <err>, +QNTP: <err>, +QIDNSGIP: <err>,...). "ASSUMPTION" marks a trigger the note
# does not give (it lists meanings only), chosen as a module engineer would read the meaning.
ERRORS = (
    ErrorCode(550, "Unknown error", _CONTROL, _src("3"), provokable=False),
    ErrorCode(551, "Operation blocked", _CONTROL, _src("3"), provokable=False),
    ErrorCode(552, "Parameters invalid", "ASSUMPTION: AT+QIOPEN with <connectID> 5, past the range 0-4 of §2.3.1: "
              "ERROR", _src("2.3.1")),
    ErrorCode(553, "Memory not enough", _CONTROL, _src("3"), provokable=False),
    ErrorCode(554, "Create socket failed", "the module's IP stack cannot create a socket (a simulated module: the "
              "kernel refuses one); no bench can cause it, so the control channel stands in", _src("3"),
              provokable=False),
    ErrorCode(555, "Operation not supported", "ASSUMPTION: AT+QIOPEN with <contextID> 1-10, in range but not "
              "supported (§2.3.1 note 1: only 0 is): ERROR", _src("2.3.1")),
    ErrorCode(556, "Socket bind failed", "ASSUMPTION: AT+QIOPEN whose <local_port> the module's IP stack refuses to "
              "bind (held by another process on the module's address): OK, then +QIOPEN: <id>,556", _src("2.3.1")),
    ErrorCode(557, "Socket listen failed", _CONTROL, _src("3"), provokable=False),
    ErrorCode(558, "Socket write failed", "ASSUMPTION: AT+QISEND on a TCP connection the peer has reset, before "
              "+QIURC: \"closed\" is reported: ERROR", _src("2.3.4")),
    ErrorCode(559, "Socket read failed", _CONTROL, _src("3"), provokable=False),
    ErrorCode(560, "Socket accept failed", _CONTROL, _src("3"), provokable=False),
    ErrorCode(561, "Open PDP context failed", "the network rejects the PDN connection; only a cellular network can, "
              "so the control channel stands in", _src("3"), provokable=False),
    ErrorCode(562, "Close PDP context failed", "the network fails the PDN release; control channel", _src("3"),
              provokable=False),
    ErrorCode(563, "Socket identity has been used", "AT+QIOPEN with a <connectID> that is already open: ERROR "
              "(ASSUMPTION: refused before OK)", _src("2.3.1")),
    ErrorCode(564, "DNS busy", "ASSUMPTION: AT+QIDNSGIP while an earlier lookup has no answer yet (the DNS server "
              "stays silent): ERROR", _src("2.3.7")),
    ErrorCode(565, "DNS parse failed", "AT+QIDNSGIP (or AT+QIOPEN, AT+QPING, AT+QNTP) with a domain name the DNS "
              "server answers NXDOMAIN for: OK, then the result URC with 565", _src("2.3.7")),
    ErrorCode(566, "Socket connection failed", "AT+QIOPEN \"TCP\" to a port that refuses the connection (RST): OK, "
              "then +QIOPEN: <id>,566", _src("2.3.1")),
    ErrorCode(567, "Socket closed", "AT+QISEND on a connection the peer has closed (after +QIURC: \"closed\"): "
              "ERROR", _src("2.4.1")),
    ErrorCode(568, "Operation busy", "ASSUMPTION: AT+QPING while an earlier AT+QPING is still running (likewise "
              "AT+QNTP): ERROR", _src("2.3.5")),
    ErrorCode(569, "Operation timeout", "AT+QIOPEN \"TCP\" to a black-holed peer: OK, then +QIOPEN: <id>,569 when "
              "the connect attempt gives up (within the 60 s of §2.3.1 note 2); also +QPING: 569 per unanswered "
              "request", _src("2.3.1")),
    ErrorCode(570, "PDP context broke down", "the network releases the PDN connection; only a cellular network can, "
              "so the control channel stands in", _src("3"), provokable=False),
    ErrorCode(571, "Send Canceled", "ASSUMPTION: <ESC> typed after the \">\" of AT+QISEND in data mode (§2.3.4: "
              "\"the sending will be canceled\"): ERROR", _src("2.3.4")),
    ErrorCode(572, "Operation not allowed", "ASSUMPTION: AT+QISEND on a \"TCP LISTENER\" socket, which §2.3.4's "
              "forms do not include: ERROR", _src("2.3.4")),
    ErrorCode(573, "APN not configured", "the network's default bearer has no APN; only a cellular network can, so "
              "the control channel stands in", _src("3"), provokable=False),
    ErrorCode(574, "Port busy", "ASSUMPTION: AT+QIOPEN \"TCP LISTENER\" or \"UDP SERVICE\" on a <local_port> another "
              "of the module's sockets already uses: OK, then +QIOPEN: <id>,574", _src("2.3.1")),
)

_IP = r'"?[0-9A-Fa-f.:]+"?'  # a dotted IPv4 or an IPv6 address, quoted or not

BC660K = register(
    Dialect(
        name="bc660k",
        title="Quectel BC660K-GL (NB-IoT)",
        manuals=(MANUAL,),
        final_results=(
            r"OK",
            r"ERROR",
            r"\+CME ERROR: .+",  # ASSUMPTION: after AT+CMEE=1/2 (AT manual conventions)
            r"\+CMS ERROR: .+",
            r"SEND OK",  # §2.3.4, after OK (see completions)
            r"SEND FAIL",  # §2.3.4, after OK
            r"CLOSE OK",  # §2.3.2, after OK
        ),
        urcs=(
            r'\+QIURC: [\s\S]*',  # §2.4: "closed", "incoming", and "recv" whose inline data may hold CR and LF
            r"\+QIOPEN: \d+,\d+",  # §2.3.1, the result after OK
            r"\+QPING: \d+(?:,.*)?",  # §2.3.5, per request and final, after OK (the test response starts with "(")
            r"\+QNTP: \d+(?:,.*)?",  # §2.3.6, after OK
            r"\+QIDNSGIP: \d+,\d+,\d+",  # §2.3.7, the result after OK
            r"\+QIDNSGIP: " + _IP,  # §2.3.7, the (first) address
            r"RDY",  # start-up (ASSUMPTION, AT manual: after a reset)
            r"\+IP: .+",  # §2.3.1 note 4, §2.3.8 note 4: the module has its IP address
        ),
        data_headers=(
            # §2.4.2 row 2: UDP SERVICE, or showRA=1; <current_recv_length> is in brackets there, so it may be absent
            # (the examples always give it). Listed first: an address-shaped text payload must not be taken for it.
            DataHeader(r'\+QIURC: "recv",\d+,(?:(?P<len>\d+),)? ?"[^"\r\n]*",\d+,(?P<quote>"?)', _src("2.4.2"),
                       inline=True, wire_factors=(1, 2)),
            # §2.4.2 row 1: TCP, UDP (and TCP INCOMING, §4.3.3): +QIURC: "recv",<id>,<len>,<data>, text or hex
            DataHeader(r'\+QIURC: "recv",\d+,(?P<len>\d+),(?P<quote>"?)', _src("2.4.2"), inline=True,
                       wire_factors=(1, 2)),
        ),
        timings=(  # every command of the note: "Maximum Response Time 5 s"; result URCs have their own waits
            CommandTiming("+QIOPEN", 5, _src("2.3.1"), result_s=60),  # §2.3.1 note 2: wait 60 s for +QIOPEN
            CommandTiming("+QICLOSE", 5, _src("2.3.2")),  # through CLOSE OK
            CommandTiming("+QISTATE", 5, _src("2.3.3")),
            CommandTiming("+QISEND", 5, _src("2.3.4")),  # through SEND OK / SEND FAIL
            CommandTiming("+QPING", 5, _src("2.3.5")),
            CommandTiming("+QNTP", 5, _src("2.3.6"), result_s=60),  # ASSUMPTION: no time given; as +QIOPEN
            CommandTiming("+QIDNSGIP", 5, _src("2.3.7"), result_s=60),  # ASSUMPTION: as +QIOPEN
            CommandTiming("+QIDNSCFG", 5, _src("2.3.8")),
            CommandTiming("+QICFG", 5, _src("2.3.9")),
            CommandTiming("+CFUN", 25, f"ASSUMPTION: {AT_MANUAL}, AT+CFUN: 25 s, determined by the network"),
        ),
        default_response_s=5,
        default_response_source=f"ASSUMPTION: the note gives 5 s for every command it documents, and the {AT_MANUAL} "
                                "5 s for nearly all others",
        limits={
            "connect_id_min": 0,  # §2.3.1
            "connect_id_max": 4,
            "context_id_min": 0,  # §2.3.1: range 0-10 ...
            "context_id_max": 10,
            "context_id_supported": 0,  # ... note 1: only 0 is supported
            "host_max": 150,  # §2.3.1 <host>, §2.3.5 <host>, §2.3.6 <server>, §2.3.7 <hostname>
            "remote_port_min": 1,  # §2.3.1
            "remote_port_max": 65535,
            "local_port_min": 0,  # §2.3.1; 1-65535 for "TCP LISTENER" and "UDP SERVICE", where it is required
            "local_port_max": 65535,
            "local_port_reuse_wait_s": 120,  # §2.3.1 note 6: recommended wait before reopening a given local port
            "send_length_max": 1024,  # §2.3.4: text mode ...
            "send_length_hex_max": 512,  # ... and hex mode (bytes, written as twice as many hex digits)
            "data_mode_input_max": 1024,  # §2.3.4: variable length in data mode is sent when the input reaches it
            "rai_mode_min": 0,  # §2.3.4
            "rai_mode_max": 2,
            "recv_chunk_max": 1024,  # §2.4 note 5: longer downlink data comes in several URCs
            "recv_chunk_hex_max": 512,  # ASSUMPTION: a hex chunk of 1024 bytes would break the 1400-byte URC limit
            "urc_length_max": 1400,  # §2.4 note 4
            "qping_timeout_min_s": 1,  # §2.3.5
            "qping_timeout_max_s": 255,
            "qping_timeout_default_s": 4,
            "qping_count_min": 1,
            "qping_count_max": 10,
            "qping_count_default": 4,
            "qping_size_min": 32,
            "qping_size_max": 1500,
            "qping_size_default": 32,
            "qping_rai_max": 1,
            "qntp_port_default": 123,  # §2.3.6
            "dns_address_max": 64,  # §2.3.8
            "prompt_to_data_mode_ms": 500,  # ASSUMPTION, AT manual §1.4: data mode begins 500 ms after ">"
            "sleep_countdown_s": 10,  # ASSUMPTION, AT manual AT+QCFG="slplocktimes" default: idle time before sleep
        },
        errors=ERRORS,
        # §2.3.3 <socket_state>; "TCP LISTENER" and "UDP SERVICE" show 2 once open (§4.2.1, §4.3.1)
        socket_states={0: "Initial", 1: "Connecting", 2: "Connected", 3: "Closing", 4: "Remote Closing"},
        identify=(
            r"(?:Quectel_)?BC660K(?:-GL)?",  # ATI's second line, AT+CGMM (AT manual §2.1, §2.3)
            r"Revision: BC660K.*",  # ATI's revision line, e.g. BC660KGLAAR01A05
            # ASSUMPTION: BC950K-GL shares the AT manual and this very TCP/IP note (AT manual V1.2, Table 7)
            r"(?:Quectel_)?BC950K(?:-GL)?",
            r"Revision: BC950K.*",
        ),
        secrets=(  # beyond the note, which has no credentials: the AT manual's PIN, APN and MQTT passwords
            r'AT\+CPIN="?(?P<secret>[0-9]+)',  # a SIM PIN
            r'AT\+CPIN="?[0-9]+"?,"?(?P<secret>[0-9]+)',  # a new PIN after a PUK
            r'(?:AT\+CGAUTH=|\+CGAUTH: )\d+,\d+,"[^"]*","(?P<secret>[^"]+)"',  # APN password
            r'AT\+QCGDEFCONT="[^"]*","[^"]*","[^"]*","(?P<secret>[^"]+)"',  # default PDN password
            r'AT\+CPWD="[^"]*","(?P<secret>[^"]+)"',  # old facility password
            r'AT\+CPWD="[^"]*","[^"]*","(?P<secret>[^"]+)"',  # new facility password
            r'AT\+CLCK="[^"]*",\d+,"(?P<secret>[^"]+)"',  # facility lock password
            r'AT\+QMTCONN=\d+,"[^"]*","[^"]*","(?P<secret>[^"]+)"',  # MQTT password
        ),
        cleanup=(
            # §2.3.3: one line per existing connection (incoming ones too); §2.3.2 closes each (OK, then CLOSE OK)
            Cleanup("AT+QISTATE?", r"\+QISTATE: (?P<id>\d+),.*", "AT+QICLOSE={id}", _src("2.3.3")),
        ),
        reset_commands=(  # the start state of every case; most of these are saved to NVRAM, so a module keeps them
            "ATE1",  # ASSUMPTION: echo on, as modules ship (AT manual ATE)
            "AT+CMEE=0",  # plain ERROR, as every table of the note shows it (ASSUMPTION: modules may ship with 1)
            'AT+QICFG="dataformat",0,0',  # §2.3.9; ASSUMPTION: text both ways is the default (§4.1.2 sets it)
            'AT+QICFG="showRA",0',  # §2.3.9; ASSUMPTION: no address by default
            "AT+QSCLK=0",  # ASSUMPTION, AT manual AT+QSCLK note 3: no sleep while the suite talks (not the default, 1)
        ),
        urc_prefixes=(
            # The module's other subsystems (AT manual; ASSUMPTION as to the note): start-up, SIM, registration,
            # signalling connection, PSM and deep sleep events, eDRX, time zone, SMS, non-IP data, statistics, MQTT,
            # SSL and DFOTA.
            "RDY", "+CFUN", "+CPIN", "+IP", "+CEREG", "+CREG", "+CSCON", "+CGEV", "+QNBIOTEVENT",
            "ENTER DEEPSLEEP", "EXIT DEEPSLEEP", "+CEDRXP", "+CTZV", "+CTZE", "+CTZEU", "+CMT", "+RECVNONIP",
            "+CRTDCP", "+STATISR", "+QOOSAIND", "+QMTSTAT", "+QMTRECV", "+QMTOPEN", "+QMTCLOSE", "+QMTCONN",
            "+QMTDISC", "+QMTSUB", "+QMTUNS", "+QMTPUB", "+QMTPING", "+QSSLURC", "+QSSLOPEN", "+QSSLSEND",
            "+QFOTADL", "+QIND",
            # the NB-IoT family's sleep indications (BC95 / BC66 firmware); harmless if a BC660K never sends them
            "+QATSLEEP", "+QATWAKEUP",
        ),
        completions=(
            Completion(r"AT\+QICLOSE=.*", (r"CLOSE OK",), _src("2.3.2")),
            # every AT+QISEND form but the test form and the query <connectID>,0: after OK comes SEND OK / SEND FAIL;
            # the data mode forms answer ">" first, and the data then gets OK, SEND OK (§4.1.2)
            Completion(r"AT\+QISEND=(?!\?)(?!\s*\d+\s*,\s*0\s*$).+", (r"SEND OK", r"SEND FAIL"), _src("2.3.4")),
        ),
    )
)
