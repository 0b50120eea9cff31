"""Shared fixtures for the project's own tests: a real pty pair with a scripted responder at the far end."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]  # the plugin's own tests run pytest in pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/helpers importable as `helpers`

from helpers.responder import Responder  # noqa: E402

from conformance import dialects  # noqa: E402
from conformance.link import FlightRecorder, Link  # noqa: E402
from conformance.session import Session  # noqa: E402


@pytest.fixture
def responder() -> Iterator[Responder]:
    r = Responder()
    yield r
    r.close()


@pytest.fixture
def atlog(tmp_path: Path) -> Path:
    return tmp_path / "test.atlog"


@pytest.fixture
def link(responder: Responder, atlog: Path) -> Iterator[Link]:
    with Link.open(responder.path, recorder=FlightRecorder(atlog)) as the_link:
        yield the_link


@pytest.fixture
def session(link: Link) -> Session:
    return Session(link, dialects.get("bg96"))
