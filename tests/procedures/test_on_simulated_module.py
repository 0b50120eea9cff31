"""The procedures through open_module, outside pytest's fixtures, against the simulated M95 on a real pty: what a host
team does with its own module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from conformance.procedures import ProcedureError, open_module, query_ack, synchronise


@pytest.fixture
def module() -> Iterator[Any]:
    try:
        opened = open_module("sim:m95")
    except Exception as exc:  # no simulator for the dialect in this tree
        pytest.skip(f"sim:m95 cannot start: {exc}")
    try:
        yield opened
    finally:
        opened.close()


def test_synchronise_speaks_to_the_module(module: Any) -> None:
    result = synchronise(module, count=3, baud_rate=None)
    assert result.answered == [True, True, True]
    assert result.sent_at[-1] >= 2 * 0.5 - 0.01  # the third AT no sooner than two intervals after the first


def test_qisack_without_a_connection_is_a_procedure_error(module: Any) -> None:
    with pytest.raises(ProcedureError, match=r"AT\+QISACK"):
        query_ack(module)
