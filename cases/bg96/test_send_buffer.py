"""§2.1.7 AT+QISEND: "SEND FAIL indicates the sending buffer is full and customers can try to resend the data."

A loop no case file can write: send 1460-byte blocks to a peer that has stopped reading until the module answers
SEND FAIL; then the peer reads again, AT+QISEND=0,0 is polled until nothing is unacknowledged, and the same send
goes through. Every byte the module accepted (SEND OK) reaches the peer, and none of the refused block does.
"""

from __future__ import annotations

from pathlib import Path

import pytest

MAX_BLOCKS = 5000  # 7.3 MB: far past any send buffer a module or a kernel keeps for one socket
BLOCKS = Path(__file__).parent / "blocks.yaml"  # the blocks the BG96 case files share

OPEN = """
  = context_active
  = tcp_client_open peer=tcp_stall
"""

SEND_BLOCK = """
  > AT+QISEND=0,1460
  < >
  >> {pattern:1460}
  < /(?P<result>SEND OK|SEND FAIL)/
"""


@pytest.mark.dialect("bg96")
@pytest.mark.source("BG96 TCP/IP AT Commands Manual V1.0 §2.1.7 AT+QISEND write fixed",
                    "BG96 TCP/IP AT Commands Manual V1.0 §2.1.7 AT+QISEND write query")
def test_send_fail_when_the_send_buffer_is_full_and_send_ok_once_it_drains(modem, tcp_stall) -> None:
    peers = {"tcp_stall": tcp_stall}
    modem.run(OPEN, context=peers, blocks=BLOCKS)
    accepted = 0
    for _ in range(MAX_BLOCKS):
        if modem.run(SEND_BLOCK)["result"] == "SEND FAIL":
            break
        accepted += 1
    else:
        pytest.fail(f"no SEND FAIL after {MAX_BLOCKS} blocks of 1460 bytes to a peer that does not read")
    total = accepted * 1460
    modem.run(f"""
      > AT+QISEND=0,0
      < +QISEND: {total},<acked:int>,<unacked:int>
      < OK
      ? {{unacked}} > 0
      ! tcp_stall resume
      > AT+QISEND=0,0
      < +QISEND: {total},{total},0                [until 60s]
      < OK
      ! tcp_stall received_count {total}          [within 30s]
    """, context=peers)
    modem.run(SEND_BLOCK.replace("/(?P<result>SEND OK|SEND FAIL)/", "SEND OK") + f"""
      ! tcp_stall received_count {total + 1460}     [within 10s]
    """, context=peers)
