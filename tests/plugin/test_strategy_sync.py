"""Synchronising with a module as Quectel recommends (AT up to 15 times, 500 ms apart), without leaving a late OK
behind for the next command to take."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.modules import ScriptedModule

from conformance import dialects
from conformance.link import FlightRecorder, Link
from conformance.plugin.modem import Modem
from conformance.session import Session
from conformance.strategy import SYNC_ATTEMPTS, drain_until_quiet, synchronise


@pytest.fixture
def module() -> Iterator[ScriptedModule]:
    with ScriptedModule() as m:
        yield m


def open_modem(module: ScriptedModule, tmp_path: Path) -> Modem:
    link = Link.open(module.path, recorder=FlightRecorder(tmp_path / "sync.atlog"))
    dialect = dialects.get("bg96")
    return Modem(module.path, dialect, link, Session(link, dialect))


def test_a_healthy_module_answers_the_first_at(module: ScriptedModule, tmp_path: Path) -> None:
    modem = open_modem(module, tmp_path)
    try:
        result = synchronise(modem)
        assert result.answered and result.attempts == 1
        assert module.commands == [b"AT"]
    finally:
        modem.close()


def test_the_late_answers_to_every_at_sent_are_taken_before_the_next_command(module: ScriptedModule,
                                                                              tmp_path: Path) -> None:
    module.answer_late(rb"AT", 1.2)  # each AT answered 1.2 s late, one after the other, as a busy module does
    modem = open_modem(module, tmp_path)
    try:
        result = synchronise(modem)
        assert result.answered and result.attempts == 3  # sent at 0, 0.5 and 1.0 s; the first OK came at 1.2 s
        assert modem.command("ATI").lines == ["Quectel", "BG96", "Revision: BG96MAR02A07M1G"]  # not a stale OK
    finally:
        modem.close()


def test_a_silent_module_gets_fifteen_at_commands_then_is_declared_not_answering(module: ScriptedModule,
                                                                                 tmp_path: Path) -> None:
    module.behaviour = "silent"
    modem = open_modem(module, tmp_path)
    try:
        result = synchronise(modem)
        assert not result.answered and result.attempts == SYNC_ATTEMPTS == 15
        assert module.commands == [b"AT"] * 15
        assert result.describe() == "no answer to AT (15 tries, 500 ms or more apart)"
    finally:
        modem.close()


def test_what_the_module_still_says_is_dropped_once_it_is_quiet(module: ScriptedModule, tmp_path: Path) -> None:
    modem = open_modem(module, tmp_path)
    try:
        late = b"\r\nRevision: late\r\n\r\n+QIURC: \"closed\",0\r\n"  # a late answer, and a URC
        module.write(late)
        assert modem.link.wait_for_size(len(late), time.monotonic_ns() + 5_000_000_000)
        dropped = drain_until_quiet(modem)
        assert b"Revision: late" in dropped and b"closed" in dropped
        assert modem.command("AT").lines == []
    finally:
        modem.close()
