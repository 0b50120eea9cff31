"""One module per worker: claims under real file locks, from real processes (one of them killed), never two on one
module, and a dead module traded for a spare."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("filelock", reason="filelock is not installed (pip install -e '.[lab]')")

from conformance.lab.assign import NoModuleFree, claim_module, claim_spare, worker_index
from conformance.lab.inventory import Inventory, load_inventory

CLAIMER = r"""
import json, sys, time
from conformance.lab.assign import claim_module
from conformance.lab.inventory import load_inventory
lease = claim_module(load_inventory(sys.argv[1]), worker=sys.argv[2], timeout_s=float(sys.argv[3]))
print(json.dumps({"worker": sys.argv[2], "module": lease.module.name}), flush=True)
sys.stdin.read()  # hold the module until told to go (or killed)
"""


@pytest.fixture
def inventory(tmp_path: Path) -> Inventory:
    path = tmp_path / "lab.yaml"
    path.write_text("locks: locks\nmodules:\n" + "".join(f"  - {{name: m{i}, url: 'socket://127.0.0.1:{4000 + i}'}}\n"
                                                          for i in range(3)))
    return load_inventory(path)


def claimer(inventory: Inventory, worker: str, timeout_s: float = 5.0) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", CLAIMER, str(inventory.path), worker, str(timeout_s)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def claimed(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else "no output"
    return json.loads(line)["module"]


def test_worker_numbers() -> None:
    assert worker_index("gw0") == 0 and worker_index("gw7") == 7 and worker_index("") == 0


def test_workers_of_one_run_get_one_module_each(inventory: Inventory) -> None:
    procs = [claimer(inventory, f"gw{i}") for i in range(3)]
    try:
        got = [claimed(p) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    assert sorted(got) == ["m0", "m1", "m2"]
    assert got[0] == "m0"  # worker gw0 starts with the first module when all are free


def test_a_fourth_worker_finds_none_free_and_says_who_holds_them(inventory: Inventory) -> None:
    procs = [claimer(inventory, f"gw{i}") for i in range(3)]
    try:
        [claimed(p) for p in procs]
        with pytest.raises(NoModuleFree) as err:
            claim_module(inventory, worker="gw3", timeout_s=0.0)
        assert "every module is held" in str(err.value)
        assert all(f"pid {p.pid}" in str(err.value) for p in procs)
    finally:
        for p in procs:
            p.kill()
            p.wait()


def test_a_crashed_worker_leaves_no_stale_lock(inventory: Inventory) -> None:
    held = [claimer(inventory, f"gw{i}") for i in range(3)]
    try:
        taken = {claimed(p): p for p in held}
        victim = taken["m1"]
        os.kill(victim.pid, signal.SIGKILL)  # no release, no atexit: only the kernel lets go
        victim.wait()
        lease = claim_module(inventory, worker="gw9", timeout_s=5.0)
        assert lease.module.name == "m1"
        lease.release()
    finally:
        for p in held:
            p.kill()
            p.wait()


def test_a_waiting_worker_gets_the_module_another_run_releases(inventory: Inventory) -> None:
    held = [claimer(inventory, f"gw{i}") for i in range(3)]
    waiting = None
    try:
        [claimed(p) for p in held]
        waiting = claimer(inventory, "gw5", timeout_s=20.0)
        assert held[2].stdin is not None
        held[2].stdin.close()  # the other run's worker ends normally
        assert claimed(waiting) == "m2"
    finally:
        for p in [*held, *([waiting] if waiting else [])]:
            p.kill()
            p.wait()


def test_a_dead_module_is_traded_for_a_spare_and_stays_out_of_the_run(inventory: Inventory) -> None:
    lease = claim_module(inventory, worker="gw0")
    assert lease.module.name == "m0"
    spare = claim_spare(lease, inventory, "no answer to AT", worker="gw0")
    assert spare is not None and spare.module.name == "m1"
    assert [(m.name, why) for m, _, why in spare.retired] == [("m0", "no answer to AT")]
    other = claim_module(inventory, worker="gw1", timeout_s=0.0)  # the dead one is still held: the free one comes
    assert other.module.name == "m2"
    assert claim_spare(other, inventory, "the port closed") is None  # nothing left
    other.release()
    spare.release()
    again = claim_module(inventory, worker="gw0", timeout_s=0.0)  # all released with the worker's end
    assert again.module.name == "m0"
    again.release()
