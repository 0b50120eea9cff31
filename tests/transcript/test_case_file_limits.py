"""One broken case file never takes down a run: whatever a file holds (characters YAML cannot hold, nesting without
end, keys that are not names, aliases that expand without end, infinite timeouts, huge generators and durations),
reading it ends in one failing item with ``file:line: what is wrong``; collection and ``conformance check-cases`` go
on with the other files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers.responder import Responder

from conformance.errors import CaseFileError
from conformance.transcript import parse_file
from conformance.transcript.limits import MAX_FILE_BYTES

HEAD = "title: t\nsource: BG96 TCP/IP AT Commands Manual V1.0 §3.1.2\ndialects: [bg96]\n"
GOOD = HEAD + "transcript: |\n  > AT+QIACT=1\n  < OK\n"

_LAUGHS = "".join(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n" for i in range(1, 12))

# file name -> (content, the line its error names, a fragment of the message)
BAD_FILES: dict[str, tuple[bytes, int, str]] = {
    "nul.yaml": ((HEAD + "transcript: |\n  >> a\x00b\n").encode(), 5, "character 0x00 (NUL) at column 7"),
    "ctrl_z.yaml": ((HEAD + "transcript: |\n  >> test1\x1a\n").encode(), 5, "character 0x1A (Ctrl+Z)"),
    "del.yaml": (("title: t\x7f\n" + GOOD[8:]).encode(), 1, "character 0x7F (DEL)"),
    "deep_flow.yaml": ((HEAD + "vars: {a: " + "[" * 5000 + "]" * 5000 + "}\ntranscript: |\n  > AT\n").encode(), 4,
                       "nested more than 16 levels deep"),
    "deep_block.yaml": ((HEAD + "vars:\n" + "".join("  " * i + f"k{i}:\n" for i in range(1, 40)) + "transcript: |\n"
                         "  > AT\n").encode(), 20, "nested more than 16 levels deep"),
    "mixed_keys.yaml": ((HEAD + "1: one\ntranscript: |\n  > AT\n").encode(), 4,
                        "key '1' reads as a number in YAML: keys are names"),
    "laughs.yaml": ((_LAUGHS.replace("*l0, " * 9 + "*l0", '"lol"') + GOOD).encode(), 2,
                    "an alias (*l1) is not allowed in a case file"),
    "inf_timeout.yaml": ((HEAD + "timeout: .inf\ntranscript: |\n  > AT\n").encode(), 4,
                         "timeout: inf is greater than the maximum of 86400"),
    "nan_timeout.yaml": ((HEAD + "timeout: .nan\ntranscript: |\n  > AT\n").encode(), 4,
                         "timeout: nan is not a number of seconds"),
    "huge_pattern.yaml": ((HEAD + "transcript: |\n  >> {pattern:99999999999999}\n").encode(), 5,
                          "more than a generator makes (at most 1048576)"),
    "huge_repeat.yaml": ((HEAD + "transcript: |\n  >> {repeat:2000000:41}\n").encode(), 5,
                         "more than a generator makes"),
    "huge_pause.yaml": ((HEAD + "transcript: |\n  ~ pause 100000000000000000000000s\n").encode(), 5,
                        "longer than any wait a case makes (at most 86400 s)"),
    "huge_rate.yaml": ((HEAD + "transcript: |\n  >> x  [rate 99999999999]\n").encode(), 5,
                       "give the line rate in bit/s, 1 to 10000000"),
    "too_big.yaml": ((GOOD + "# " + "x" * MAX_FILE_BYTES + "\n").encode(), 1, "a case file is at most 1048576 bytes"),
    "not_utf8.yaml": (GOOD.encode() + b"# caf\xe9\n", 7, "byte 0xE9 is not UTF-8"),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_broken_file_is_one_error_with_its_line(tmp_path: Path, name: str) -> None:
    content, line, fragment = BAD_FILES[name]
    path = tmp_path / name
    path.write_bytes(content)
    t0 = time.monotonic()
    with pytest.raises(CaseFileError) as err:
        parse_file(path)
    assert time.monotonic() - t0 < 5  # no expansion, no walk without end
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: "), message
    assert fragment in message, message


def test_a_file_no_rule_foresaw_still_fails_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.transcript import parser

    def broken(*_args: object) -> None:
        raise MemoryError("no room")

    monkeypatch.setattr(parser, "_build_case", broken)
    path = tmp_path / "good.yaml"
    path.write_text(GOOD)
    with pytest.raises(CaseFileError, match=r"good.yaml:1: cannot read this case file \(MemoryError: no room\)"):
        parse_file(path)


def _write_suite(root: Path) -> Path:
    folder = root / "cases" / "bg96"
    folder.mkdir(parents=True)
    for name, (content, _, _) in BAD_FILES.items():
        (folder / name).write_bytes(content)
    (folder / "good.yaml").write_text(GOOD)
    return folder


def test_collection_fails_each_broken_file_alone_and_runs_the_rest(pytester: pytest.Pytester) -> None:
    folder = _write_suite(pytester.path)
    pytester.makeini("[pytest]\ntestpaths = cases\n")
    module = Responder(default=[b"\r\nOK\r\n"])
    module.on(b"ATI", b"\r\nQuectel\r\nBG96\r\nRevision: BG96MAR02A07M1G\r\n\r\nOK\r\n")
    try:
        result = pytester.runpytest_subprocess(f"--modem={module.path}", "--dialect", "bg96", "--results-dir",
                                               str(pytester.path / "out"), "-p", "no:cacheprovider", timeout=240)
    finally:
        module.close()
    out = result.stdout.str()
    assert "INTERNALERROR" not in out and "Traceback" not in out
    result.assert_outcomes(passed=1, failed=len(BAD_FILES))
    for name, (_, line, fragment) in BAD_FILES.items():
        assert f"cases/bg96/{name}:{line}: " in out, name
        assert textwrap.shorten(fragment, 40, placeholder="") in out, name
    assert folder.exists()


def test_check_cases_reports_each_broken_file_and_goes_on(tmp_path: Path) -> None:
    folder = _write_suite(tmp_path)
    done = subprocess.run([sys.executable, "-m", "conformance", "check-cases", str(folder)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stdout + done.stderr
    for name, (_, line, fragment) in BAD_FILES.items():
        assert f"{folder / name}:{line}: " in done.stdout and fragment in done.stdout, name
    assert done.stdout.splitlines()[-1] == f"1 cases in 1 files parsed; {len(BAD_FILES)} malformed files"
