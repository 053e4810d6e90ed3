"""Short runs of the fault-injection supervisor (Tools/chaos/run.py, issue #11) for the faults
that need root: `make test` runs the cut where it runs as root (CI does), `make test-long` the
full disk too, and `make chaos` the long matrix. Kill -9 and pauses need no privileges and are covered in test_replication.py and
test_elections.py; these add what only root can do.

Each run is three brokers, RF=3, min.insync.replicas=2, two idempotent acks=all producers, and
one verdict from the history checker over every acknowledgement and a full read back. In its own
network and mount namespaces, so its iptables rules and loop mount never reach the host.

What each case gets:
- cut-leader: the leader of partition 0 cut off from both other brokers (clients still reach
  it): the others elect a new leader; the cut one acknowledges nothing it cannot replicate and
  truncates when healed: 0 lost, 0 duplicated, 0 inconsistent offsets, every ISR whole again.
- full-disk: broker 1's log directory (a loop-mounted ext4) filled to the last 128 KiB: its
  appends fail with KAFKA_STORAGE_ERROR, it asks the controller to fence it, the others lead its
  partitions and the producers carry on; freed, it is unfenced and catches up: 0 lost, every
  ISR whole again.
"""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "Tools" / "chaos" / "run.py"

pytestmark = pytest.mark.timeout(420)


def missing_privileges(scenario):
    """Why this machine cannot run `scenario`, or None."""
    if os.geteuid() != 0:
        return "needs root (iptables, loop mounts, namespaces); run as root or with `make chaos` under sudo"
    tools = {"cut-leader": ["iptables", "unshare"], "full-disk": ["mkfs.ext4", "mount", "fallocate", "unshare"]}[scenario]
    absent = [t for t in tools if shutil.which(t) is None]
    if absent:
        return "needs %s (not installed)" % ", ".join(absent)
    probe = {"cut-leader": "ip link set lo up && iptables -L OUTPUT -n >/dev/null",
             "full-disk": "test -e /dev/loop-control || test -e /dev/loop0"}[scenario]
    if subprocess.run(["unshare", "--net", "--mount", "sh", "-c", probe], capture_output=True).returncode != 0:
        return "this machine refuses new namespaces, iptables or loop devices (a container without the privileges?)"
    return None


# full-disk is `make test-long`'s: make test keeps one root-only fault (the cut) within its time.
@pytest.mark.parametrize("scenario", ["cut-leader", pytest.param("full-disk", marks=pytest.mark.long)])
def test_a_short_fault_run_loses_nothing(sluice_bin, tmp_path, scenario):
    why = missing_privileges(scenario)
    if why:
        pytest.skip("%s %s" % (scenario, why))
    out = tmp_path / scenario
    cmd = [sys.executable, str(RUN), scenario, "--duration", "36", "--interval", "18", "--pause", "8",
           "--rate", "600", "--binary", sluice_bin, "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    print(proc.stdout[-4000:])
    result_path = out / "result.json"
    assert result_path.exists(), "no result.json; the run failed:\n%s\n%s" % (proc.stdout[-3000:], proc.stderr[-3000:])
    result = json.loads(result_path.read_text())
    verdict = result["verdict"]
    assert verdict["lost"] == 0 and verdict["duplicated"] == 0 and verdict["inconsistent"] == 0, result
    assert result["valid"], result
    assert result["faults"] >= 2, "the schedule injected too few faults: %r" % result
    assert result["failover_s"]["count"] >= 1, "no fault moved leadership away from the broker: %r" % result
    assert result["isr_restored_s"] is not None, "an ISR stayed short after the faults healed: %r" % result
    assert proc.returncode == 0, proc.stdout[-3000:]
