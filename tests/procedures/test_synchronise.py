"""Synchronising after a reboot (recommended process §9 note 1) on a scripted module and a fake clock."""

from __future__ import annotations

from scripted import FakeClock, Reply

from conformance.errors import StepFailed
from conformance.procedures import synchronise


class Autobauding:
    """Answers AT only from the ``deaf``-th on (a module finding the host's rate), and AT+IPR=...&W with OK."""

    def __init__(self, clock: FakeClock, deaf: int) -> None:
        self.clock, self.deaf, self.log = clock, deaf, []

    def command(self, text: str, *, timeout: float | None = None) -> Reply:
        self.log.append((round(self.clock.now() - 1000, 3), text, timeout))
        if text == "AT" and len([x for x in self.log if x[1] == "AT"]) <= self.deaf:
            self.clock.t += timeout or 0
            raise StepFailed("AT: no final result")
        self.clock.t += 0.01
        return Reply([], "OK")


def test_fifteen_at_500_ms_apart_then_ipr() -> None:
    clock = FakeClock()
    module = Autobauding(clock, deaf=3)
    result = synchronise(module, clock=clock)
    assert result.answered == [False] * 3 + [True] * 12
    assert result.synchronised and result.ipr == "OK"
    assert [t for t, text, _ in module.log if text == "AT"] == [0.5 * n for n in range(15)]
    assert all(abs(x - 0.5) < 1e-6 for x in result.intervals_s)
    assert module.log[-1][1] == "AT+IPR=115200&W"
    assert "4/15" not in str(result) and "12/15" in str(result)


def test_no_ipr_while_the_last_at_is_unanswered() -> None:
    clock = FakeClock()
    module = Autobauding(clock, deaf=15)
    result = synchronise(module, clock=clock)
    assert not result.synchronised and result.ipr == ""
    assert all(text == "AT" for _, text, _ in module.log)


def test_each_at_waits_for_its_ok_no_longer_than_the_interval() -> None:
    clock = FakeClock()
    module = Autobauding(clock, deaf=0)
    synchronise(module, count=3, interval_s=0.5, baud_rate=None, clock=clock)
    assert all(timeout <= 0.5 for _, _, timeout in module.log)
