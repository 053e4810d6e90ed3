"""Leader elections (issue #11) on three real broker processes: preferred-leader election by
ElectLeaders and by the controller's own rebalance, and unclean election, on and off.

What each case gets:
- ElectLeaders PREFERRED gives a partition back to its first replica once that replica is in
  the ISR again (ELECTION_NOT_NEEDED when it leads already, UNKNOWN_TOPIC_OR_PARTITION for a
  partition that does not exist);
- auto.leader.rebalance.enable moves leadership back by itself after
  leader.imbalance.check.interval.seconds;
- unclean.leader.election.enable=false (the default): the only in-sync replica dies and a stale
  one comes back: the partition stays offline (nothing it acknowledged is lost, nothing is
  served); the in-sync one returns: it leads again with every acknowledged record;
- unclean.leader.election.enable=true: the stale replica leads; records only the dead one had
  are gone, and the loss is what the history checker reports.
"""
import time

import pytest

import kspec
from cluster import Cluster, ClusterNode, free_port
from test_replication import partitions_of, produce_raw, wait_partitions

pytestmark = pytest.mark.timeout(300)

ELECTION_NOT_NEEDED = 84
UNKNOWN_TOPIC_OR_PARTITION = 3
NOT_LEADER_OR_FOLLOWER = 6


def start(sluice_bin, base, **extra):
    settings = {"replica.lag.time.max.ms": "5000"}
    settings.update(extra)
    c = Cluster(sluice_bin, base, extra=settings).start()
    c.wait_live([1, 2, 3], via=1)
    return c


def create(cluster, name, assignments, configs=None):
    with kspec.Connection(cluster.bootstrap(1)) as k:
        r = k.call("CreateTopics", 7, {"Topics": [{
            "Name": name, "NumPartitions": -1, "ReplicationFactor": -1,
            "Assignments": [{"PartitionIndex": i, "BrokerIds": a} for i, a in enumerate(assignments)],
            "Configs": [{"Name": k, "Value": v} for k, v in (configs or {}).items()]}], "timeoutMs": 30000, "validateOnly": False})
    assert r["Topics"][0]["ErrorCode"] == 0, r
    return wait_partitions(cluster, name, len(assignments), lambda p: len(p["IsrNodes"]) == len(p["ReplicaNodes"]))


def elect(cluster, via, election_type, partitions):
    with kspec.Connection(cluster.bootstrap(via)) as k:
        r = k.call("ElectLeaders", 2, {"ElectionType": election_type, "TimeoutMs": 30000,
                                       "TopicPartitions": [{"Topic": t, "Partitions": p} for t, p in partitions.items()]})
    assert r["ErrorCode"] == 0, r
    return {(t["Topic"], p["PartitionId"]): p["ErrorCode"] for t in r["ReplicaElectionResults"] for p in t["PartitionResult"]}


def fail_over(cluster, topic, victim):
    cluster.nodes[victim].kill9()
    others = [n for n in cluster.nodes if n != victim]
    wait_partitions(cluster, topic, 1, lambda p: p["LeaderId"] in others, via=others[0])
    cluster.nodes[victim].start()
    wait_partitions(cluster, topic, 1, lambda p: sorted(p["IsrNodes"]) == [1, 2, 3], via=others[0], timeout=60.0)


def produce_until_led(cluster, node, topic, timeout=15.0):
    """acks=all to `node`, retried while it answers NOT_LEADER_OR_FOLLOWER (it has not applied
    its leadership yet); the last error code."""
    deadline = time.time() + timeout
    while True:
        code = produce_raw(cluster, node, topic, -1, 10000)["error"]
        if code != NOT_LEADER_OR_FOLLOWER or time.time() > deadline:
            return code
        time.sleep(0.1)


def test_preferred_leader_election_on_request(sluice_bin, tmp_path):
    cluster = start(sluice_bin, tmp_path, **{"auto.leader.rebalance.enable": "false"})
    try:
        create(cluster, "pref", [[2, 3, 1]])
        fail_over(cluster, "pref", 2)
        assert partitions_of(cluster, "pref", 1)[0]["LeaderId"] != 2
        results = elect(cluster, 1, 0, {"pref": [0], "nope": [0]})
        assert results[("pref", 0)] == 0, results
        assert results[("nope", 0)] == UNKNOWN_TOPIC_OR_PARTITION, results
        assert partitions_of(cluster, "pref", 1)[0]["LeaderId"] == 2, "answered once this broker's metadata shows it"
        assert elect(cluster, 3, 0, {"pref": [0]})[("pref", 0)] == ELECTION_NOT_NEEDED
        # Broker 2 learns of its leadership from the metadata log, a moment after the answer
        # (as in Kafka): a client that produced too early gets NOT_LEADER_OR_FOLLOWER and retries.
        wait_partitions(cluster, "pref", 1, lambda p: p["LeaderId"] == 2, via=2)
        assert produce_until_led(cluster, 2, "pref") == 0
    finally:
        cluster.close()


def test_the_controller_rebalances_leaders_by_itself(sluice_bin, tmp_path):
    cluster = start(sluice_bin, tmp_path, **{"leader.imbalance.check.interval.seconds": "3"})
    try:
        create(cluster, "auto", [[3, 1, 2]])
        fail_over(cluster, "auto", 3)
        wait_partitions(cluster, "auto", 1, lambda p: p["LeaderId"] == 3, via=1, timeout=30.0)
    finally:
        cluster.close()


def add_broker(cluster, sluice_bin, base, n):
    """A broker-only node (not a voter), so replicas can die without the metadata quorum."""
    host = "127.0.0.%d" % n
    cluster.hosts[n] = host
    cluster.client_ports[n] = free_port(host)
    settings = {"cluster.id": cluster.cluster_id, "node.id": str(n), "process.roles": "broker",
                "listeners": "PLAINTEXT://%s:%d" % (host, cluster.client_ports[n]), "controller.listener.names": "CONTROLLER",
                "controller.quorum.voters": cluster.voters, "broker.session.timeout.ms": "3000",
                "broker.heartbeat.interval.ms": "500", "replica.lag.time.max.ms": "5000"}
    cluster.nodes[n] = ClusterNode(sluice_bin, base / ("node%d" % n), base / ("node%d.log" % n), settings=settings, host=host).start()


@pytest.mark.parametrize("unclean", [False, True])
def test_the_last_in_sync_replica_dies_and_a_stale_one_returns(sluice_bin, tmp_path, unclean):
    # Replicas on broker 4 (not a voter) and 2: the voters 1 and 3 keep the quorum's majority.
    cluster = start(sluice_bin, tmp_path)
    try:
        add_broker(cluster, sluice_bin, tmp_path, 4)
        cluster.wait_live([1, 2, 3, 4], via=1)
        configs = {"min.insync.replicas": "1", "unclean.leader.election.enable": "true" if unclean else "false"}
        create(cluster, "last", [[4, 2]], configs)
        wait_partitions(cluster, "last", 1, lambda p: p["LeaderId"] == 4, via=4)
        assert produce_raw(cluster, 4, "last", -1, 10000)["error"] == 0
        cluster.nodes[2].kill9()
        wait_partitions(cluster, "last", 1, lambda p: p["IsrNodes"] == [4], via=4, timeout=30.0)
        for _ in range(5):
            # On broker 4 alone; it may answer NOT_LEADER_OR_FOLLOWER while it applies the
            # partition's change after the fencing, which a client retries.
            assert produce_until_led(cluster, 4, "last") == 0
        cluster.nodes[4].kill9()
        wait_partitions(cluster, "last", 1, lambda p: p["LeaderId"] == -1, via=3, timeout=30.0)
        cluster.nodes[2].start()
        cluster.wait_live([1, 2, 3], via=3, timeout=60.0)
        if unclean:
            parts = wait_partitions(cluster, "last", 1, lambda p: p["LeaderId"] == 2, via=3, timeout=30.0)
            assert parts[0]["IsrNodes"] == [2]
            assert high_watermark_of(cluster, 2, "last") == 1, "the five records only broker 4 had are lost"
        else:
            time.sleep(5)
            assert partitions_of(cluster, "last", 3)[0]["LeaderId"] == -1, "offline rather than lose acknowledged records"
            cluster.nodes[4].start()
            wait_partitions(cluster, "last", 1, lambda p: p["LeaderId"] == 4, via=3, timeout=60.0)
            wait_partitions(cluster, "last", 1, lambda p: sorted(p["IsrNodes"]) == [2, 4], via=3, timeout=60.0)
            assert high_watermark_of(cluster, 4, "last") == 6, "every acknowledged record is there"
    finally:
        cluster.close()


def high_watermark_of(cluster, node, topic):
    from test_replication import high_watermark
    deadline = time.monotonic() + 30
    while True:
        try:
            return high_watermark(cluster, node, topic)
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
