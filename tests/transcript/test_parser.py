"""Case files: good ones parse with their source lines; each malformed one fails with file:line: what is wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conformance.errors import CaseFileError
from conformance.transcript import parse_file, parse_text
from conformance.transcript.model import (
    Action,
    Check,
    ExpectData,
    ExpectLine,
    ExpectPrompt,
    LineControl,
    Pause,
    SendData,
    SendLine,
    Silence,
)
from conformance.transcript.template import Scope

GOOD = textwrap.dedent('''\
    title: TCP client in buffer access mode
    source: BG96 TCP/IP AT Commands Manual V1.0 §3.2
    dialects: [bg96]
    needs: [tcp_echo, net_blackhole]
    tags: [example]
    vars: {apn: UNINET}
    transcript: |
      # configure and open
      > AT+QICSGP=1,1,"{apn}","",1
      < OK
      > AT+QIOPEN=1,0,"TCP","{tcp_echo.host}",{tcp_echo.port},0,0
      < OK
      < +QIOPEN: <id:int>,0                   [within 150s]
      > AT+QISEND={id},{len:bytes:0-255}
      < >
      >> {bytes:0-255}
      < SEND OK
      <~ +QIURC: "recv",{id}                  [within 5s, not before 1ms]
      << test<Ctrl+Z>
      < /\\+QISEND: (?P<total>\\d+),\\d+,\\d+/
      ~ pause 1.2s
      ~ silence 500ms
      >> +++                                  [gap 100ms]
      ~ dtr off
      ! tcp_echo received "test\\r\\n" 5 {tcp_echo.port} word  [within 3s]
      ! net blackhole tcp_echo
      ? {total} >= 0
    finally: |
      > AT+QICLOSE={id}
      < OK
    ---
    title: second case in the same file
    name: second
    source: [BG96 TCP/IP AT Commands Manual V1.0 §2.1.17, BG96 TCP/IP AT Commands Manual V1.0 §3.9]
    dialects: [bg96]
    transcript: |
      > AT+QIGETERROR
      < +QIGETERROR: <err:int>,<text:any>
''')


def test_a_good_file_parses_with_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD, encoding="utf-8")
    first, second = parse_file(path)
    assert first.name == "tcp_client_in_buffer_access_mode" and second.name == "second"
    assert first.location.line == 1 and second.location.line == 32
    kinds = [type(s) for s in first.steps]
    assert kinds == [SendLine, ExpectLine, SendLine, ExpectLine, ExpectLine, SendLine, ExpectPrompt, SendData,
                     ExpectLine, ExpectLine, ExpectData, ExpectLine, Pause, Silence, SendData, LineControl, Action,
                     Action, Check]
    lines = [s.location.line for s in first.steps]
    assert lines[0] == 9 and lines[-1] == 27  # the comment on line 8 is skipped, numbering stays true
    assert first.final_steps[0].location.line == 29
    assert second.sources == ("BG96 TCP/IP AT Commands Manual V1.0 §2.1.17", "BG96 TCP/IP AT Commands Manual V1.0 §3.9")


def test_steps_carry_their_meaning(tmp_path: Path) -> None:
    case = parse_text(GOOD, "good.yaml")[0]
    opened = case.steps[4]
    assert isinstance(opened, ExpectLine) and opened.timing.within_s == 150
    window = case.steps[9]
    assert isinstance(window, ExpectLine) and window.window and window.timing.within_s == 5
    assert window.timing.not_before_s == 0.001
    send = case.steps[7]
    assert isinstance(send, SendData) and send.payload.render(Scope()) == bytes(range(256))
    sized = case.steps[5]
    assert isinstance(sized, SendLine) and sized.text.render_text(Scope({"id": 3})) == "AT+QISEND=3,256"
    escape = case.steps[14]
    assert isinstance(escape, SendData) and escape.timing.gap_s == pytest.approx(0.1)
    action = case.steps[16]
    assert isinstance(action, Action) and action.verb == "received" and action.args[1] == 5
    assert action.args[3] == "word"
    data = case.steps[10]
    assert isinstance(data, ExpectData) and data.payload.render(Scope()) == b"test\x1a"


def test_the_repository_case_files_parse() -> None:
    root = Path(__file__).parents[2] / "cases"
    files = sorted(root.rglob("*.yaml"))
    for file in files:
        if file.name != "blocks.yaml":  # shared steps, not a case file
            assert parse_file(file), file


HEAD = "title: t\nsource: BG96 TCP/IP AT Commands Manual V1.0 §3.2\ndialects: [bg96]\n"

# Each malformed file, the line its error must name, and a fragment of the message.
MALFORMED = [
    ("not yaml", "title: [unclosed\n", 2, "not valid YAML"),
    ("no transcript", HEAD, 1, "'transcript' is a required property"),
    ("no source", "title: t\ndialects: [bg96]\ntranscript: |\n  > AT\n", 1, "'source' is a required property"),
    ("unknown key", HEAD + "colour: red\ntranscript: |\n  > AT\n", 4, "unknown key 'colour'"),
    ("unknown dialect", "title: t\nsource: x §1\ndialects: [bg97]\ntranscript: |\n  > AT\n", 3,
     "unknown dialect 'bg97'"),
    ("dialects not a list", "title: t\nsource: x\ndialects: bg96\ntranscript: |\n  > AT\n", 3, "is not of type"),
    ("duplicate key", HEAD + "title: again\ntranscript: |\n  > AT\n", 4, "key 'title' given twice"),
    ("no marker", HEAD + "transcript: |\n  > AT\n  OK\n", 6, "does not start with a marker"),
    ("unknown marker", HEAD + "transcript: |\n  => AT\n", 5, "does not start with a marker"),
    ("empty send", HEAD + "transcript: |\n  >>\n", 5, "'>>' needs something after it"),
    ("untyped capture", HEAD + "transcript: |\n  > AT\n  < +QIOPEN: <connectID>,0\n", 6,
     "<connectID> is neither a key nor a capture"),
    ("unknown capture type", HEAD + "transcript: |\n  < +QIOPEN: <id:float>,0\n", 5, "unknown type 'float'"),
    ("unknown key token", HEAD + "transcript: |\n  >> test<Ctrl-Q><FOO>\n", 5, "<FOO> is neither a key"),
    ("bad hex escape", HEAD + "transcript: |\n  >> \\xZZ\n", 5, "is not a byte"),
    ("unknown escape", HEAD + "transcript: |\n  > AT\\q\n", 5, "unknown escape"),
    ("unclosed brace", HEAD + "transcript: |\n  > AT+QIOPEN={id\n", 5, "is not closed"),
    ("unknown placeholder root", HEAD + "transcript: |\n  > AT+QIOPEN=1,0,\"TCP\",\"{tcp_echo.host}\"\n", 5,
     "'tcp_echo' is not"),
    ("capture used before it is made", HEAD + "transcript: |\n  > AT+QICLOSE={id}\n  < +QIOPEN: <id:int>,0\n", 5,
     "'id' is not"),
    ("bad duration", HEAD + "transcript: |\n  ~ pause soon\n", 5, "is not a duration"),
    ("unknown directive", HEAD + "transcript: |\n  ~ wait 1s\n", 5, "unknown timing directive"),
    ("timing that does not apply", HEAD + "transcript: |\n  > AT  [within 1s]\n", 5,
     "does not apply to a '>' line"),
    ("unknown timing", HEAD + "transcript: |\n  < OK  [soon]\n", 5, "is not a timing"),
    ("bad regex", HEAD + "transcript: |\n  < /+QIOPEN: (\\d+/\n", 5, "not a regular expression"),
    ("action target not needed", HEAD + "transcript: |\n  ! tcp_echo received \"x\"\n", 5,
     "not a need of this case"),
    ("action without verb", HEAD + "needs: [tcp_echo]\ntranscript: |\n  ! tcp_echo\n", 6, "an action is"),
    ("bad check", HEAD + "transcript: |\n  ? 1 about 2\n", 5, "a check is"),
    ("unknown generator", HEAD + "transcript: |\n  >> {zeros:10}\n", 5, "unknown generator 'zeros'"),
    ("bad generator argument", HEAD + "transcript: |\n  >> {bytes:0-300}\n", 5, "give a range of byte values"),
    ("folded transcript", HEAD + "transcript: >\n  > AT\n", 4, "a folded block"),
    ("duplicate case names", HEAD + "transcript: |\n  > AT\n---\n" + HEAD + "transcript: |\n  > AT\n", 7,
     "a second case named 't'"),
    ("bad tag", HEAD + "tags: [Has Space]\ntranscript: |\n  > AT\n", 4, "does not match"),
    ("negative timeout", HEAD + "timeout: -1\ntranscript: |\n  > AT\n", 4, "timeout"),
    ("dtr level", HEAD + "transcript: |\n  ~ dtr low\n", 5, "say 'on' or 'off'"),
    ("empty transcript", HEAD + "transcript: |\n  # nothing\n", 4, "the transcript has no steps"),
    ("not a mapping", "- just\n- a list\n", 1, "a case is a mapping"),
    ("bad rate", HEAD + "transcript: |\n  >> x  [rate fast]\n", 5, "give the line rate"),
    ("every without until", HEAD + "transcript: |\n  > AT\n  < OK  [every 1s]\n", 6, "give 'until D' too"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_a_malformed_file_names_its_line_and_what_is_wrong(tmp_path: Path, text: str, line: int,
                                                          fragment: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CaseFileError) as err:
        parse_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message, message


def test_there_are_at_least_twenty_malformed_examples() -> None:
    assert len(MALFORMED) >= 20
