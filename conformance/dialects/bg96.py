"""BG96 (LTE Cat M1 / NB1): BG96 TCP/IP AT Commands Manual V1.0 (2017)."""

from __future__ import annotations

from . import Cleanup, CommandTiming, DataHeader, Dialect, ErrorCode, EscapeRules, register

MANUAL = "BG96 TCP/IP AT Commands Manual V1.0"


def _src(section: str) -> str:
    return f"{MANUAL} §{section}"


# Chapter 4, Table 1. ``trigger`` says how the suite provokes each code; "ASSUMPTION" marks a trigger the manual does
# not spell out (it lists the meaning only), chosen as a module engineer would read the meaning.
ERRORS = (
    ErrorCode(550, "Unknown error", "no documented trigger; a simulated module raises it through its control "
              "channel (sim_control)", _src("4"), provokable=False),
    ErrorCode(551, "Operation blocked", "no documented trigger; simulated through the control channel", _src("4"),
              provokable=False),
    ErrorCode(552, "Invalid parameters", "AT+QIOPEN with <connectID> omitted (the manual's own example)",
              _src("3.9")),
    ErrorCode(553, "Memory not enough", "no documented trigger; simulated through the control channel", _src("4"),
              provokable=False),
    ErrorCode(554, "Create socket failed", "no documented trigger; simulated through the control channel",
              _src("4"), provokable=False),
    ErrorCode(555, "Operation not supported", "ASSUMPTION: AT+QISENDEX on a \"UDP SERVICE\" or \"TCP LISTENER\" "
              "socket, which §2.1.9 says it cannot be applied to", _src("2.1.9")),
    ErrorCode(556, "Socket bind failed", "ASSUMPTION: AT+QIOPEN \"UDP SERVICE\" whose <local_port> the module's "
              "IP stack refuses to bind (held by another process on the module's address)", _src("2.1.4")),
    ErrorCode(557, "Socket listen failed", "no documented trigger; simulated through the control channel",
              _src("4"), provokable=False),
    ErrorCode(558, "Socket write failed", "ASSUMPTION: AT+QISEND on a TCP connection the peer has reset",
              _src("2.1.7")),
    ErrorCode(559, "Socket read failed", "no documented trigger; simulated through the control channel",
              _src("4"), provokable=False),
    ErrorCode(560, "Socket accept failed", "no documented trigger; simulated through the control channel",
              _src("4"), provokable=False),
    ErrorCode(561, "Open PDP context failed", "the network rejects the activation (AT+QIACT); only a cellular "
              "network can, so the control channel stands in", _src("2.1.2"), provokable=False),
    ErrorCode(562, "Close PDP context failed", "the network fails the deactivation (AT+QIDEACT); control channel",
              _src("2.1.3"), provokable=False),
    ErrorCode(563, "Socket identity has been used", "AT+QIOPEN with a <connectID> that is already open",
              _src("2.1.4")),
    ErrorCode(564, "DNS busy", "ASSUMPTION: AT+QIDNSGIP while an earlier query on the context has no answer yet "
              "(the DNS server stays silent)", _src("2.1.14")),
    ErrorCode(565, "DNS parse failed", "AT+QIDNSGIP or AT+QIOPEN with a domain name the DNS server answers "
              "NXDOMAIN for", _src("2.1.14")),
    ErrorCode(566, "Socket connect failed", "AT+QIOPEN \"TCP\" to a port that refuses the connection (RST)",
              _src("2.1.4")),
    ErrorCode(567, "Socket has been closed", "AT+QISEND on a connection the peer has closed (after "
              "+QIURC: \"closed\")", _src("2.2.1")),
    ErrorCode(568, "Operation busy", "ASSUMPTION: AT+QPING while an earlier AT+QPING on the context is still "
              "running", _src("2.1.11")),
    ErrorCode(569, "Operation timeout", "AT+QIOPEN \"TCP\" to a black-holed peer: no answer to the SYN within "
              "the connect timeout", _src("2.1.4")),
    ErrorCode(570, "PDP context broken down", "the network deactivates the context (+QIURC: \"pdpdeact\"), then a "
              "socket operation on it; only a cellular network can, so the control channel stands in",
              _src("2.2.5"), provokable=False),
    ErrorCode(571, "Cancel send", "<ESC> typed after the \">\" prompt of AT+QISEND", _src("2.1.7")),
    ErrorCode(572, "Operation not allowed", "ASSUMPTION: AT+QIOPEN on a context that is not activated",
              _src("2.1.4")),
    ErrorCode(573, "APN not configured", "an empty or never configured APN activates on real networks (the "
              "network supplies its default), so only a network that insists on an APN refuses AT+QIACT with it; the "
              "control channel injects it (sim_control)", _src("2.1.1"), provokable=False),
    ErrorCode(574, "Port busy", "AT+QIOPEN \"TCP LISTENER\" or \"UDP SERVICE\" on a <local_port> another of the "
              "module's sockets already uses", _src("2.1.4")),
)

BG96 = register(
    Dialect(
        name="bg96",
        title="Quectel BG96 (LTE)",
        manuals=(MANUAL,),
        final_results=(
            r"OK",
            r"ERROR",
            r"\+CME ERROR: .+",
            r"\+CMS ERROR: .+",
            r"SEND OK",  # §2.1.7
            r"SEND FAIL",  # §2.1.7
            r"CONNECT(?: \d+)?",  # §2.1.4, transparent access mode
            r"NO CARRIER",  # §1.2 note 2, ATO without a connection
        ),
        urcs=(
            r"\+QIURC: .*",  # §2.2
            r"\+QIOPEN: \d+,\d+",  # §2.1.4, result after OK
            r"\+QPING: .*",  # §2.1.11, results after OK
            r"\+QNTP: \d+(?:,.*)?",  # §2.1.12, result after OK
        ),
        data_headers=(
            DataHeader(r"\+QIRD: (?P<len>\d+)(?:,\"[^\"]*\",\d+)?", _src("2.1.8")),
            DataHeader(r"\+QIURC: \"recv\",\d+,(?P<len>\d+)(?:,\"[^\"]*\",\d+)?", _src("2.2.2")),
        ),
        timings=(
            CommandTiming("+QIACT", 150, _src("2.1.2")),
            CommandTiming("+QIDEACT", 40, _src("2.1.3")),
            CommandTiming("+QIOPEN", 150, _src("2.1.4")),
            CommandTiming("+QICLOSE", 10, _src("2.1.5"), seconds_param=1),  # <timeout>, default 10 s
            CommandTiming("+QNTP", 125, _src("2.1.12")),
            CommandTiming("+QIDNSGIP", 60, _src("2.1.14")),
        ),
        default_response_s=60,
        default_response_source=_src("1.1 note 1") + ": reboot the module if a command gets no response in 60 s",
        limits={
            "connect_id_min": 0,  # §2.1.4
            "connect_id_max": 11,
            "context_id_min": 1,  # §2.1.1
            "context_id_max": 16,
            "active_contexts_max": 3,  # §2.1.2: "only supports three PDP contexts activated simultaneously"
            "send_length_max": 1460,  # §2.1.7
            "read_length_max": 1500,  # §2.1.8
            "hex_string_max": 512,  # §2.1.9
            "transpktsize_min": 1,  # §2.1.15
            "transpktsize_max": 1460,
            "transpktsize_default": 1024,
            "transwaittm_max": 20,  # §2.1.15, unit 100 ms
            "transwaittm_default": 2,
            "qiclose_timeout_default_s": 10,  # §2.1.5
            "qping_timeout_default_s": 4,  # §2.1.11
            "qping_count_default": 4,
        },
        errors=ERRORS,
        escape=EscapeRules(
            sequence=b"+++",
            guard_before_s=1.0,  # §1.2 item 4: no input within 1 s before "+++"
            guard_after_s=1.0,  # no input within 1 s after
            max_sequence_s=1.0,  # "+++" input within 1 s
            source=_src("1.2"),
        ),
        # ATI's model line (or AT+GMM's answer). ASSUMPTION: the BG96 family's other modules (BG95, BG77, BG600L,
        # EC21/EC25, EG21/EG25, EC200x, UC200T, RM5xx) speak the same TCP/IP AT commands (their TCP/IP application
        # notes share this manual's command set); they are held to this manual, with a warning (manual_models).
        identify=(r"BG96.*", r"BG95.*", r"BG77.*", r"BG600L.*", r"E[CG]2[015].*", r"EC200[A-Z].*", r"UC200T.*",
                  r"RM5\d\d[A-Z]?.*"),
        manual_models=(r"BG96.*",),
        # ASSUMPTION, BG96 AT Commands Manual (not the TCP/IP one): RDY when the UART is ready, then the SIM and SMS
        # indications, and APP RDY when the application takes commands.
        startup_lines=("RDY", "APP RDY"),
        data_mode_results=(r"CONNECT(?: \d+)?",),  # §2.1.4, §2.1.10, §1.2 item 5
        secrets=(
            # §2.1.1: the password of AT+QICSGP=<id>,<type>,"<apn>","<user>","<password>" and of its query response
            # (up to its closing quote, or the line end of a report column that cut it short)
            r'(?:AT\+QICSGP=\d+,\d+|\+QICSGP: \d+),"[^"]*","[^"]*","(?P<secret>[^"\r\n]+)',
            r'AT\+CPIN="?(?P<secret>[0-9]+)',  # a SIM PIN
            r'AT\+CPIN="?[0-9]+"?,"?(?P<secret>[0-9]+)',  # a new PIN after a PUK
        ),
        cleanup=(
            Cleanup("AT+QISTATE?", r"\+QISTATE: (?P<id>\d+),.*", "AT+QICLOSE={id}", _src("2.1.6")),
            Cleanup("AT+QIACT?", r"\+QIACT: (?P<id>\d+),1,.*", "AT+QIDEACT={id}", _src("2.1.2")),
        ),
        reset_commands=(  # defaults from the sections cited; restored after each case so cases run in any order
            "ATE1",  # echo on, as modules ship (V.250 default)
            "ATV1",
            "AT+QISDE=1",  # §2.1.16 default 1
            'AT+QICFG="transpktsize",1024',  # §2.1.15 defaults
            'AT+QICFG="transwaittm",2',
            'AT+QICFG="dataformat",0,0',
            'AT+QICFG="viewmode",0',
        ),
        # The BG96 family's other subsystems (Quectel's AT manuals for them): SIM, network, SMS, calls, GNSS, MQTT,
        # HTTP, SSL, file system, time zone. Lines that name no command of the TCP/IP manual, seen at any time.
        urc_prefixes=(
            "+QUSIM", "+QIND", "+CPIN", "+CFUN", "RDY", "APP RDY", "POWERED DOWN", "+CREG", "+CGREG", "+CEREG",
            "+CMTI", "+CMT", "+CDS", "+CBM", "RING", "+CRING", "+CLIP", "+QGPSURC", "+QGPS",
            "+QMTSTAT", "+QMTRECV", "+QMTPING", "+QMTOPEN", "+QMTCONN", "+QHTTPGET", "+QHTTPPOST", "+QHTTPREAD",
            "+QSSLURC", "+QSSLOPEN", "+QFOTADL", "+QNITZ", "+CTZV", "+CTZE", "+QCSQ", "+QPSMTIMER", "PSM POWER DOWN",
            "+QSTK", "+QLWURC", "+CGEV",
        ),
        socket_states={0: "Initial", 1: "Opening", 2: "Connected", 3: "Listening", 4: "Closing"},  # §2.1.6
    )
)
