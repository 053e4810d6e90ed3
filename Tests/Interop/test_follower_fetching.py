"""Consumers that name their rack read from a replica in it (KIP-392), on three real brokers in
racks r1, r2 and r3 with replica.selector.class=RackAwareReplicaSelector.

What each case gets:
- a Fetch v11+ naming rack r2 at the leader (in another rack) is answered with no records and
  PreferredReadReplica = the in-sync replica in r2; that follower serves the fetch from its own
  log, never past its high watermark; a fetch without a rack (or below v11) to a follower gets
  NOT_LEADER_OR_FOLLOWER;
- confluent-kafka with client.rack=r2 consumes everything produced;
- the rack's replica out of the ISR (paused): the leader no longer sends consumers to it.
"""
import os
import signal

import pytest

import clients as C
import kspec
from cluster import Cluster
from test_replication import SETTINGS, create_topic, produce_raw, wait_partitions

pytestmark = pytest.mark.timeout(300)

NOT_LEADER_OR_FOLLOWER = 6


@pytest.fixture(scope="module")
def cluster(sluice_bin, tmp_path_factory):
    c = Cluster(sluice_bin, tmp_path_factory.mktemp("racks"),
                extra=dict(SETTINGS, **{"replica.selector.class": "org.apache.kafka.common.replica.RackAwareReplicaSelector"}))
    for n, node in c.nodes.items():
        node.settings["broker.rack"] = "r%d" % n
    c.start()
    try:
        c.wait_live([1, 2, 3], via=1)
        yield c
    finally:
        c.close()


def fetch(cluster, node, topic, version=11, rack="r2", offset=0):
    with kspec.Connection(cluster.bootstrap(node)) as k:
        r = k.call("Fetch", version, {
            "ReplicaId": -1, "MaxWaitMs": 0, "MinBytes": 0, "MaxBytes": 1 << 20, "IsolationLevel": 0, "SessionId": 0,
            "SessionEpoch": -1, "Topics": [{"Topic": topic, "Partitions": [{
                "Partition": 0, "CurrentLeaderEpoch": -1, "FetchOffset": offset, "LogStartOffset": -1,
                "PartitionMaxBytes": 1 << 20}]}], "ForgottenTopicsData": [], "RackId": rack})
    return r["Responses"][0]["Partitions"][0]


def test_a_consumer_in_rack_r2_is_sent_to_the_replica_there_and_reads_from_it(cluster):
    # Led from rack r1, with a replica in r2.
    with kspec.Connection(cluster.bootstrap(1)) as k:
        r = k.call("CreateTopics", 7, {"Topics": [{"Name": "racked", "NumPartitions": -1, "ReplicationFactor": -1,
                                                   "Assignments": [{"PartitionIndex": 0, "BrokerIds": [1, 2, 3]}], "Configs": []}],
                                       "timeoutMs": 30000, "validateOnly": False})
    assert r["Topics"][0]["ErrorCode"] == 0, r
    wait_partitions(cluster, "racked", 1, lambda p: p["LeaderId"] == 1 and len(p["IsrNodes"]) == 3, via=1)
    for i in range(20):
        assert produce_raw(cluster, 1, "racked", -1, 10000, value=b"v%d" % i)["error"] == 0
    at_leader = fetch(cluster, 1, "racked")
    assert at_leader["ErrorCode"] == 0 and at_leader["PreferredReadReplica"] == 2, at_leader
    assert not at_leader["Records"], "no records when sent elsewhere"
    cluster.wait_for("the follower's high watermark caught up", lambda: fetch(cluster, 2, "racked")["HighWatermark"] == 20)
    at_follower = fetch(cluster, 2, "racked")
    assert at_follower["ErrorCode"] == 0 and at_follower["PreferredReadReplica"] == -1, at_follower
    assert at_follower["Records"] and len(at_follower["Records"]) > 0
    # Without a rack, or before v11, a follower serves nobody but the leader's followers.
    assert fetch(cluster, 2, "racked", rack="")["ErrorCode"] == NOT_LEADER_OR_FOLLOWER
    assert fetch(cluster, 2, "racked", version=10, rack=None)["ErrorCode"] == NOT_LEADER_OR_FOLLOWER
    # A consumer with client.rack reads everything.
    got = C.consume_confluent(cluster.bootstrap(2), "racked", **{"client.rack": "r2"})
    assert sorted(m["value"] for m in got) == sorted(b"v%d" % i for i in range(20))


def test_the_racks_replica_out_of_sync_is_not_preferred(cluster):
    with kspec.Connection(cluster.bootstrap(1)) as k:
        r = k.call("CreateTopics", 7, {"Topics": [{"Name": "racked2", "NumPartitions": -1, "ReplicationFactor": -1,
                                                   "Assignments": [{"PartitionIndex": 0, "BrokerIds": [1, 3, 2]}], "Configs": []}],
                                       "timeoutMs": 30000, "validateOnly": False})
    assert r["Topics"][0]["ErrorCode"] == 0, r
    wait_partitions(cluster, "racked2", 1, lambda p: p["LeaderId"] == 1 and len(p["IsrNodes"]) == 3, via=1)
    assert fetch(cluster, 1, "racked2", rack="r3")["PreferredReadReplica"] == 3
    os.kill(cluster.nodes[3].proc.pid, signal.SIGSTOP)
    try:
        wait_partitions(cluster, "racked2", 1, lambda p: 3 not in p["IsrNodes"], via=1, timeout=30.0)
        answer = fetch(cluster, 1, "racked2", rack="r3")
        assert answer["ErrorCode"] == 0 and answer["PreferredReadReplica"] == -1, answer
    finally:
        os.kill(cluster.nodes[3].proc.pid, signal.SIGCONT)
    wait_partitions(cluster, "racked2", 1, lambda p: len(p["IsrNodes"]) == 3, via=1, timeout=60.0)
