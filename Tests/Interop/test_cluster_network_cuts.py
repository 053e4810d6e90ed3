"""Real network cuts between the nodes of a cluster (issue #10's proof with links cut, not
processes killed): iptables drops the quorum's traffic between one node's address and the
others', which works on one machine because every inter-node connection binds to its node's own
address (127.0.0.1, .2, .3). Clients, which connect to the client listeners, are not cut.

Run with `make chaos` (root and iptables needed; `make test` leaves these out).

What each case gets:
- the active controller cut off from both others: they elect a new leader within seconds and
  fence the cut node's broker; a topic created through the cut node while it is cut is never
  created (its controller cannot commit), one created through the majority is; healed, the cut
  node follows the new leader, its image catches up (nothing it wrote alone survives, nothing
  committed is lost) and it is unfenced again.
- a follower cut off: the quorum keeps its leader and epoch; the follower is fenced, and
  rejoins when healed.
"""
import subprocess
import time

import pytest
from confluent_kafka import KafkaException

import clients as C
from cluster import Cluster
from test_cluster import create, partitions_of, _try_partitions

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(300)]


class Cut:
    """DROP rules for the controller-listener traffic between one node and the others."""

    def __init__(self, cluster, node):
        self.rules = []
        me = cluster.hosts[node]
        for other, host in cluster.hosts.items():
            if other == node:
                continue
            for (src, dst, port) in ((me, host, cluster.controller_ports[other]), (host, me, cluster.controller_ports[node])):
                # Both directions of every connection to that controller port.
                self.rules.append(["OUTPUT", "-p", "tcp", "-s", src, "-d", dst, "--dport", str(port), "-j", "DROP"])
                self.rules.append(["OUTPUT", "-p", "tcp", "-s", dst, "-d", src, "--sport", str(port), "-j", "DROP"])

    def __enter__(self):
        for rule in self.rules:
            subprocess.run(["iptables", "-I"] + rule, check=True)
        return self

    def __exit__(self, *exc):
        for rule in self.rules:
            subprocess.run(["iptables", "-D"] + rule, check=False)


@pytest.fixture
def cluster(sluice_bin, tmp_path):
    c = Cluster(sluice_bin, tmp_path).start()
    try:
        c.wait_live([1, 2, 3], via=1)
        yield c
    finally:
        c.close()


def test_the_active_controller_cut_off_is_replaced_and_rejoins_without_rolling_anything_back(cluster):
    _, leader, epoch, _ = cluster.describe(1)
    others = [n for n in (1, 2, 3) if n != leader]
    kept = C.unique("kept")
    create(cluster.bootstrap(others[0]), kept, 3, 3).result(timeout=40)
    cluster.wait_for("topic on every node", lambda: all(_try_partitions(cluster.bootstrap(n), kept)[1] for n in (1, 2, 3)))
    with Cut(cluster, leader):
        cut_at = time.monotonic()
        d = cluster.wait_for("a new leader among the majority", lambda: (lambda d: d if d and d[1] in others and d[2] > epoch else None)(
            cluster.describe(others[0])), timeout=30)
        print("node %d cut off: node %d leads epoch %d after %.1f s" % (leader, d[1], d[2], time.monotonic() - cut_at))
        cluster.wait_live(others, via=others[1], timeout=30)
        print("node %d fenced %.1f s after the cut" % (leader, time.monotonic() - cut_at))
        # Through the cut node: its controller (or its forwarding) cannot reach a majority.
        lost = C.unique("lost")
        C.forget(cluster.bootstrap(leader))
        with pytest.raises(KafkaException):
            create(cluster.bootstrap(leader), lost, 1, 1).result(timeout=60)
        # Through the majority: created.
        during = C.unique("during")
        C.forget(cluster.bootstrap(others[0]))
        create(cluster.bootstrap(others[0]), during, 2, 2).result(timeout=40)
    healed_at = time.monotonic()
    cluster.wait_live([1, 2, 3], via=leader, timeout=60)
    print("node %d live again %.1f s after the cut healed" % (leader, time.monotonic() - healed_at))
    for n in (1, 2, 3):
        assert cluster.wait_for("node %d sees %s" % (n, during), lambda: _try_partitions(cluster.bootstrap(n), during)[1], timeout=30)
        assert _try_partitions(cluster.bootstrap(n), lost)[1] is None, "a topic created without a majority exists on node %d" % n
        assert partitions_of(cluster.bootstrap(n), kept)[1], "a committed topic went missing on node %d" % n
    live, now_leader, now_epoch, _ = cluster.describe(leader)
    assert now_leader in others and now_epoch >= d[2], (now_leader, now_epoch)


def test_a_follower_cut_off_is_fenced_and_the_quorum_keeps_its_leader(cluster):
    _, leader, epoch, _ = cluster.describe(1)
    follower = next(n for n in (1, 2, 3) if n != leader)
    others = [n for n in (1, 2, 3) if n != follower]
    with Cut(cluster, follower):
        cluster.wait_live(others, via=leader, timeout=30)
        _, now_leader, now_epoch, _ = cluster.describe(leader)
        assert (now_leader, now_epoch) == (leader, epoch), "the quorum changed leader or epoch because a follower was cut"
    cluster.wait_live([1, 2, 3], via=follower, timeout=60)
    _, now_leader, now_epoch, _ = cluster.describe(follower)
    # Healed, the follower may have stood for election while cut (a higher epoch is Raft's due),
    # but the quorum has one leader that every node names.
    assert now_leader in (1, 2, 3) and now_epoch >= epoch
    assert {cluster.describe(n)[1] for n in (1, 2, 3)} == {now_leader}
