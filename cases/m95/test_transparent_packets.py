"""What AT+QITCFG=3,2,512,1 does to the data typed in transparent mode, as the server sees it: application note §4
and recommended process V2.0 §2 ("the module will wait for 200ms after it receives the data inputted from UART (if
the length of all data inputted is less than 512 bytes), then send all the data"; "when the length of the data ...
exceeds 512 bytes, the data will be sent as a 512-byte data immediately until the data length in the buffer is less
than 512 bytes").

The server records when each read returned. What is deterministic is asserted: data shorter than 512 bytes does not
reach the server sooner than 200 ms after the host's last byte, and of a longer write the 512-byte packets arrive
before the short rest. The delays themselves are printed, with the flight log's times, not asserted.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

BLOCKS = Path(__file__).parent / "blocks.yaml"
OPEN = """
  = transparent_configured
  = transparent_open peer=tcp_sink
"""
WAIT_S = 0.2  # AT+QITCFG <wait> 2: 200 ms
CLOCK_S = 0.002  # the host and the server read the same monotonic clock; a read is stamped after it returned


def _time_of_byte(tcp_sink: Any, n: int) -> int:
    """When the server had received ``n`` bytes (monotonic ns)."""
    total = 0
    for arrival in tcp_sink.recorder.arrivals():
        total += len(arrival.data)
        if total >= n:
            return arrival.t_ns
    raise AssertionError(f"the server received {total} bytes, not {n}")


def _show(modem: Any, record_property: Callable[[str, object], None], text: str) -> None:
    modem.link.note(text)
    record_property("timing", text)
    print(text)


@pytest.mark.dialect("m95")
@pytest.mark.source("GSM TCPIP Application Notes V1.1 §4 qitcfg packets",
                    "GSM TCP/IP Recommended Process V2.0 §2 option qitcfg")
def test_less_than_512_bytes_go_200_ms_after_the_last_byte(
        modem: Any, tcp_sink: Any, record_property: Callable[[str, object], None]) -> None:
    peers = {"tcp_sink": tcp_sink}
    modem.run(OPEN, context=peers, blocks=BLOCKS)
    sent_ns = modem.write(bytes(range(48, 148)))
    modem.run("! tcp_sink received_count 100  [within 3s]", context=peers)
    delay = (_time_of_byte(tcp_sink, 1) - sent_ns) / 1e9
    _show(modem, record_property, f"100 bytes: first byte at the server {delay * 1000:.1f} ms after the host's last")
    assert delay >= WAIT_S - CLOCK_S


@pytest.mark.dialect("m95")
@pytest.mark.source("GSM TCPIP Application Notes V1.1 §4 qitcfg packets",
                    "GSM TCP/IP Recommended Process V2.0 §2 option qitcfg")
def test_1100_bytes_go_as_two_512_byte_packets_at_once_and_the_rest_after_the_wait(
        modem: Any, tcp_sink: Any, record_property: Callable[[str, object], None]) -> None:
    peers = {"tcp_sink": tcp_sink}
    modem.run(OPEN, context=peers, blocks=BLOCKS)
    sent_ns = modem.write(bytes(range(256)) * 4 + bytes(76))
    modem.run("! tcp_sink received_count 1100  [within 3s]", context=peers)
    packets = (_time_of_byte(tcp_sink, 1024) - sent_ns) / 1e9
    rest = (_time_of_byte(tcp_sink, 1100) - sent_ns) / 1e9
    _show(modem, record_property, f"1100 bytes: 1024 at the server after {packets * 1000:.1f} ms, "
          f"all 1100 after {rest * 1000:.1f} ms")
    assert rest >= WAIT_S - CLOCK_S, "the 76 bytes left below 512 wait 200 ms"
    assert packets < rest, "the two 512-byte packets went before the rest"
    assert tcp_sink.recorder.data() == bytes(range(256)) * 4 + bytes(76)


@pytest.mark.dialect("m95")
@pytest.mark.source("GSM TCPIP Application Notes V1.1 §4 qitcfg packets",
                    "GSM TCP/IP Recommended Process V2.0 §2 option qitcfg")
def test_exactly_512_bytes_go_without_the_wait(
        modem: Any, tcp_sink: Any, record_property: Callable[[str, object], None]) -> None:
    """A14: the application note sends once the buffer "reaches" 512, V2.0 once it "exceeds" 512; the reading taken
    (docs/dialects/m95.md) is that 512 buffered bytes go as a packet at once. The figure is printed; the assertion is
    only that they did not wait the 200 ms meant for a short rest."""
    peers = {"tcp_sink": tcp_sink}
    modem.run(OPEN, context=peers, blocks=BLOCKS)
    sent_ns = modem.write(bytes(range(256)) * 2)
    modem.run("! tcp_sink received_count 512  [within 3s]", context=peers)
    delay = (_time_of_byte(tcp_sink, 512) - sent_ns) / 1e9
    _show(modem, record_property, f"512 bytes: all at the server after {delay * 1000:.1f} ms")
    assert delay < WAIT_S, "512 buffered bytes are a packet: no wait"
