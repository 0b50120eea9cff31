"""Case format 1.1: blocks, alternatives, optional lines, defaults, placeholders in patterns, line ends - each new
piece of syntax parses to what it means, and each malformed use fails with its file:line and what is wrong."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conformance.errors import CaseFileError
from conformance.transcript import parse_file
from conformance.transcript.model import Alternatives, ExpectLine, ExpectPrompt, SendLine
from conformance.transcript.template import Scope

HEAD = "title: t\nsource: BG96 TCP/IP AT Commands Manual V1.0 §3.2\ndialects: [bg96]\n"

BLOCKS = textwrap.dedent('''\
    context_active:
      params: {context: 1}
      steps: |
        > AT+QIACT={context}
        < OK
    tcp_client_open:
      needs: [peer]
      params: {id: 0}
      steps: |
        > AT+QIOPEN=1,{id},"TCP","{peer.host}",{peer.port},0,0
        < +QIOPEN: {id},<err:int>
    needs_id:
      params: {id: ~}
      steps: |
        > AT+QICLOSE={id}
    ''')


def write(tmp_path: Path, case: str, blocks: str | None = BLOCKS) -> Path:
    folder = tmp_path / "cases" / "bg96"
    folder.mkdir(parents=True, exist_ok=True)
    if blocks is not None:
        (folder / "blocks.yaml").write_text(blocks, encoding="utf-8")
    path = folder / "case.yaml"
    path.write_text(HEAD + case, encoding="utf-8")
    return path


def parsed(tmp_path: Path, transcript: str, extra: str = "", **kw: str) -> list:
    body = extra + "transcript: |\n" + textwrap.indent(textwrap.dedent(transcript), "  ")
    return list(parse_file(write(tmp_path, body, **kw))[0].steps)


# -- what the new syntax means ----------------------------------------------------------------------------------------

def test_one_line_alternatives_are_branches_of_one_line_each(tmp_path: Path) -> None:
    steps = parsed(tmp_path, "> AT+QISEND=0,4\n< > | ERROR | /\\+CME ERROR: \\d+/  [within 2s]\n", "note: why\n")
    alt = steps[1]
    assert isinstance(alt, Alternatives) and alt.timing.within_s == 2
    firsts = [b[0] for b in alt.branches]
    assert isinstance(firsts[0], ExpectPrompt) and isinstance(firsts[1], ExpectLine)
    assert firsts[1].text is not None and firsts[1].text.render_text(Scope()) == "ERROR"
    assert firsts[2].regex is not None and firsts[2].regex.compile(Scope())[0].fullmatch("+CME ERROR: 3")


def test_an_escaped_bar_is_a_literal_one(tmp_path: Path) -> None:
    steps = parsed(tmp_path, "< a \\| b\n< a|b\n")
    assert [s.text.render_text(Scope()) for s in steps] == ["a | b", "a|b"]


def test_block_alternatives_know_only_what_every_branch_captures(tmp_path: Path) -> None:
    steps = parsed(tmp_path, '''\
        > AT+QIACT?
        <|
        < +QIACT: 1,1,1,"<ip:ip>"
        |
        < +QIACT: 1,1,3,"<ip:ip>","<ip6:ip>"
        ! tcp_echo accept
        |>
        > AT+X="{ip}"
        ''', "needs: [tcp_echo]\nnote: dual stack\n")
    alt = steps[1]
    assert isinstance(alt, Alternatives) and [len(b) for b in alt.branches] == [1, 2]
    assert alt.source == '<| +QIACT: 1,1,1,"<ip:ip>" | +QIACT: 1,1,3,"<ip:ip>","<ip6:ip>"'
    with pytest.raises(CaseFileError, match="'ip6' is not"):
        parsed(tmp_path, "<|\n< A <ip:ip> <ip6:ip>\n|\n< B <ip:ip>\n|>\n> {ip6}\n", "note: n\n")


def test_optional_lines_defaults_patterns_len_and_line_ends(tmp_path: Path) -> None:
    steps = parsed(tmp_path, '''\
        > AT+QISEND=0,{len:"a\\"\\}b"}  [end CRLF]
        <? +QIURC: "closed",0
        < /\\+QIACT: 1,1,[13],"{ip}"(,"<ip6:ip>")?/
        > AT+QICSGP=2,1,"{bench.apn|internet}"
        ''', "vars: {ip: 10.0.0.1}\n")
    send, optional, pattern, configure = steps
    assert isinstance(send, SendLine) and send.timing.line_end == b"\r\n"
    assert send.text.render_text(Scope()) == "AT+QISEND=0,4"
    assert isinstance(optional, ExpectLine) and optional.optional and optional.window
    regex, types = pattern.regex.compile(Scope({"ip": "10.0.0.1"}))
    assert regex.fullmatch('+QIACT: 1,1,3,"10.0.0.1","fe80::1"').group("ip6") == "fe80::1" and types == {"ip6": "ip"}
    assert regex.fullmatch('+QIACT: 1,1,1,"10x0x0x1"') is None  # the value is matched literally
    assert configure.text.render_text(Scope({"bench": {}})) == 'AT+QICSGP=2,1,"internet"'
    assert configure.text.render_text(Scope({"bench": {"apn": "UNINET"}})) == 'AT+QICSGP=2,1,"UNINET"'


def test_block_parameters_bind_values_placeholders_and_needs(tmp_path: Path) -> None:
    steps = parsed(tmp_path, '''\
        < +QIOPEN: <first:int>,0
        = needs_id id={first}
        = tcp_client_open peer=tcp_echo id=5
        ''', "needs: [tcp_echo]\n")
    close = steps[2]
    assert isinstance(close, SendLine) and close.text.render_text(Scope({"first": 3})) == "AT+QICLOSE=3"
    opened = steps[4]

    class Peer:
        host, port = "10.0.0.9", 7

    assert opened.text.render_text(Scope({"tcp_echo": Peer()})) == 'AT+QIOPEN=1,5,"TCP","10.0.0.9",7,0,0'


# -- malformed 1.1 syntax: the file and line named, and what is wrong --------------------------------------------------

# (id, blocks file or None for the default, case text after HEAD, the file the error names ("case"/"blocks"), its line,
# a fragment of the message, the case line named as "used at" or None)
MALFORMED = [
    ("unknown block", None, "transcript: |\n  = nosuch\n", "case", 5, "= nosuch: no block of that name", None),
    ("no blocks file", "", "transcript: |\n  = context_active\n", "case", 5, "there is no blocks.yaml", None),
    ("unknown block in setup", None, "setup: [context_active, nosuch]\ntranscript: |\n  > AT\n", "case", 4,
     "no block of that name", None),
    ("unknown parameter", None, "transcript: |\n  = context_active ctx=2\n", "case", 5, "no parameter 'ctx'", None),
    ("parameter without its default", None, "transcript: |\n  = needs_id\n", "case", 5, "give id=...", None),
    ("parameter given twice", None, "transcript: |\n  = needs_id id=1 id=2\n", "case", 5, "id given twice", None),
    ("argument without a name", None, "transcript: |\n  = context_active 2\n", "case", 5,
     "a block's argument is name=value", None),
    ("peer that is not a need", None, "needs: [tcp_sink]\ntranscript: |\n  = tcp_client_open peer=tcp_echo\n",
     "case", 6, "'tcp_echo', which is not a need of this case", None),
    ("peer not given", None, "transcript: |\n  = tcp_client_open\n", "case", 5,
     "(or give peer=<one of its needs>)", None),
    ("placeholder argument unknown", None, "transcript: |\n  = needs_id id={nope}\n", "case", 5,
     "'nope' is not a need", None),
    ("malformed line in a block", BLOCKS + "bad:\n  steps: |\n    > AT\n    OK\n", "transcript: |\n  = bad\n",
     "blocks", 19, "does not start with a marker", 5),
    ("block names a capture of the case", BLOCKS + "bad:\n  steps: |\n    > AT+QICLOSE={id}\n",
     "transcript: |\n  < +QIOPEN: <id:int>,0\n  = bad\n", "blocks", 18, "'id' is not a parameter of block bad", 6),
    ("block acts on an undeclared need", BLOCKS + "bad:\n  steps: |\n    ! sim_control pdpdeact context=1\n",
     "needs: [sim_control]\ntranscript: |\n  = bad\n", "blocks", 18, "does not declare 'sim_control'", 6),
    ("block exports what it does not capture", BLOCKS + "bad:\n  exports: [id]\n  steps: |\n    > AT\n",
     "transcript: |\n  = bad\n", "blocks", 17, "captures no such name", 5),
    ("block schema", BLOCKS + "bad:\n  step: |\n    > AT\n", "transcript: |\n  = bad\n", "blocks", 17,
     "'steps' is a required property", 5),
    ("blocks file not YAML", "a: [unclosed\n", "transcript: |\n  = context_active\n", "blocks", 2, "not valid YAML",
     5),
    ("a block using itself", "loop:\n  steps: |\n    = loop\n", "transcript: |\n  = loop\n", "blocks", 3,
     "more than 4 deep", 5),
    ("alternatives without a note", None, "transcript: |\n  < OK | ERROR\n", "case", 5,
     "this case accepts alternatives: say why in its 'note:'", None),
    ("block alternatives without a note", BLOCKS + "bad:\n  steps: |\n    < OK | ERROR\n",
     "transcript: |\n  = bad\n", "blocks", 18, "a block that accepts alternatives says why in its 'note:'", 5),
    ("alternatives not closed", None, "note: n\ntranscript: |\n  <|\n  < OK\n  |\n  < ERROR\n", "case", 9,
     "end them with a '|>' line", None),
    ("bar outside alternatives", None, "transcript: |\n  |\n", "case", 5, "'|' outside alternatives", None),
    ("empty alternative", None, "note: n\ntranscript: |\n  < OK |  | ERROR\n", "case", 6, "an empty alternative",
     None),
    ("branch starting with a host line", None, "note: n\ntranscript: |\n  <|\n  > AT\n  |\n  < OK\n  |>\n",
     "case", 7, "a branch starts with what the module says", None),
    ("one branch only", None, "note: n\ntranscript: |\n  <|\n  < OK\n  |>\n", "case", 6, "two branches at least",
     None),
    ("alternatives in a window", None, "note: n\ntranscript: |\n  <~ A | B\n", "case", 6,
     "alternatives (' | ') are for '<' lines", None),
    ("poll for alternatives", None, "note: n\ntranscript: |\n  < A | B  [until 1s]\n", "case", 6,
     "[until D] polls for one expected line", None),
    ("text after a branch separator", None, "note: n\ntranscript: |\n  <|\n  < A\n  | or\n  < B\n  |>\n", "case", 8,
     "'|' stands alone on its line", None),
    ("unknown line end", None, "transcript: |\n  > AT  [end CRLFX]\n", "case", 5, "the line end is CR, CRLF or LF",
     None),
    ("line end on a module line", None, "transcript: |\n  < OK  [end CRLF]\n", "case", 5,
     "[end CRLF] does not apply to a '<' line", None),
    ("poll on an optional line", None, "transcript: |\n  <? OK  [until 1s]\n", "case", 5,
     "does not apply to a '<?' line", None),
    ("placeholder in a default", None, "transcript: |\n  > AT{bench.apn|{x}}\n", "case", 5,
     "is not closed", None),
    ("default with a key", None, "transcript: |\n  > AT{bench.apn|<CR>}\n", "case", 5,
     "a default is plain text", None),
    ("quoted len not closed", None, 'transcript: |\n  > AT{len:"abc}\n', "case", 5, "is not closed", None),
    ("unknown capture type in a pattern", None, "transcript: |\n  < /x<a:float>/\n", "case", 5,
     "unknown type 'float'", None),
    ("unknown placeholder in a pattern", None, "transcript: |\n  < /x{nope}/\n", "case", 5, "'nope' is not", None),
    ("pattern that does not compile", None, "transcript: |\n  < /x{bench.a}(/\n", "case", 5,
     "not a regular expression", None),
    ("setup not a list", None, "setup: context_active\ntranscript: |\n  > AT\n", "case", 4, "is not of type 'array'",
     None),
]


@pytest.mark.parametrize(("blocks", "case", "where", "line", "fragment", "used_at"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_1_1_syntax_names_its_line_and_what_is_wrong(tmp_path: Path, blocks: str | None, case: str,
                                                               where: str, line: int, fragment: str,
                                                               used_at: int | None) -> None:
    path = write(tmp_path, case, BLOCKS if blocks is None else blocks or None)
    with pytest.raises(CaseFileError) as err:
        parse_file(path)
    message = str(err.value)
    file = path if where == "case" else path.parent / "blocks.yaml"
    assert message.startswith(f"{file}:{line}"), message
    assert fragment in message, message
    if used_at is not None:
        assert f"used at {path}:{used_at})" in message, message


def test_there_are_at_least_ten_malformed_1_1_examples() -> None:
    assert len(MALFORMED) >= 10
