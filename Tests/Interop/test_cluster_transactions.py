"""Transactions on a cluster (issue #13): the coordinator of a transactional id is the leader
of its __transaction_state partition, a replicated compacted topic; markers go to each
partition's leader (WriteTxnMarkers when that is another broker); transactional offsets go to
the group's __consumer_offsets partition. Three real brokers, librdkafka's transactional
producer and read_committed consumers, and the Swift client's.

What each gets: commit, abort, commit seen all-or-nothing; an exactly-once copy whose group
offsets live on another broker; kill -9 of the transaction coordinator with a transaction open
(a new coordinator loads the partition, the next producer of the id aborts what was open, the
committed transactions stay); kill -9 of a partition's leader before the commit (the markers
reach the new leader and the transaction is wholly visible).
"""
import subprocess
import time

import pytest
from confluent_kafka import Consumer, KafkaException, TopicPartition

import clients as C
import kspec
from test_replication import SETTINGS, create_topic
from test_transactions import read, transaction, txn_producer, values

pytestmark = pytest.mark.timeout(400)


@pytest.fixture
def cluster(sluice_bin, tmp_path):
    from cluster import Cluster
    c = Cluster(sluice_bin, tmp_path, extra=dict(SETTINGS, **{"offsets.topic.num.partitions": "6",
                                                                "transaction.state.log.num.partitions": "6"})).start()
    try:
        c.wait_live([1, 2, 3], via=1)
        yield c
    finally:
        c.close()


def transaction_coordinator(cluster, via, transactional_id):
    def ask():
        with kspec.Connection(cluster.bootstrap(via)) as k:
            r = k.call("FindCoordinator", 4, {"KeyType": 1, "CoordinatorKeys": [transactional_id]})["Coordinators"][0]
        return r["NodeId"] if r["ErrorCode"] == 0 else None
    return cluster.wait_for("a transaction coordinator for %s named by node %d" % (transactional_id, via), ask, timeout=60)


def leaders(cluster, via, topic):
    with kspec.Connection(cluster.bootstrap(via)) as k:
        r = k.call("Metadata", 12, {"Topics": [{"TopicId": b"\0" * 16, "Name": topic}], "AllowAutoTopicCreation": False,
                                    "IncludeTopicAuthorizedOperations": False})
    return {p["PartitionIndex"]: p["LeaderId"] for p in r["Topics"][0]["Partitions"]}


def test_commit_abort_commit_on_three_brokers(cluster, sluice_bin):
    create_topic(cluster, "txn-orders", 3)
    p = txn_producer(cluster.all_bootstraps, "cluster-tx")
    transaction(p, "txn-orders", values("c1", 60), partitions=3)
    transaction(p, "txn-orders", values("a", 60), partitions=3, commit=False)
    transaction(p, "txn-orders", values("c2", 60), partitions=3)
    assert read(cluster.all_bootstraps, "txn-orders", "read_committed", partitions=3) == sorted(values("c1", 60) + values("c2", 60))
    assert len(read(cluster.all_bootstraps, "txn-orders", "read_uncommitted", partitions=3)) == 180
    # The Swift client's transactional producer on the same cluster.
    lines = "".join("s%d\n" % i for i in range(300)).encode()
    r = subprocess.run([sluice_bin, "produce", "--bootstrap", cluster.all_bootstraps, "--topic", "txn-orders",
                        "--transactional-id", "cluster-swift-tx", "--transaction-records", "100"], input=lines, capture_output=True,
                       timeout=180)
    assert r.returncode == 0, r.stderr.decode()
    seen = read(cluster.all_bootstraps, "txn-orders", "read_committed", partitions=3)
    assert sorted(seen) == sorted(values("c1", 60) + values("c2", 60) + [b"s%d" % i for i in range(300)])


def test_an_exactly_once_copy_with_offsets_on_the_group_coordinator(cluster):
    create_topic(cluster, "eos-in", 3)
    create_topic(cluster, "eos-out", 3)
    C.produce_confluent(cluster.all_bootstraps, "eos-in", [{"value": b"%d" % i} for i in range(900)], acks="all")
    consumer = Consumer({"bootstrap.servers": cluster.all_bootstraps, "group.id": "copier", "enable.auto.commit": False,
                         "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    consumer.subscribe(["eos-in"])
    p = txn_producer(cluster.all_bootstraps, "copier-tx")
    copied, rounds = 0, 0
    deadline = time.time() + 180
    try:
        while copied < 900 and time.time() < deadline:
            batch = [m for m in consumer.consume(100, timeout=1.0) if not m.error()]
            if not batch:
                continue
            rounds += 1
            p.begin_transaction()
            for m in batch:
                p.produce("eos-out", value=b"copy-" + m.value(), partition=m.partition())
            positions = {}
            for m in batch:
                positions[(m.topic(), m.partition())] = m.offset() + 1
            p.send_offsets_to_transaction([TopicPartition(t, part, o) for (t, part), o in positions.items()],
                                          consumer.consumer_group_metadata(), 30)
            if rounds % 4 == 0:
                p.flush(30)
                p.abort_transaction(30)
                # Back to what the group has committed, as an application does after an abort.
                committed = consumer.committed([TopicPartition(t, part) for (t, part) in positions], timeout=30)
                for tp in committed:
                    consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else 0))
            else:
                p.commit_transaction(30)
                copied += len(batch)
    finally:
        consumer.close()
    assert copied == 900
    out = read(cluster.all_bootstraps, "eos-out", "read_committed", partitions=3)
    assert out == sorted(b"copy-%d" % i for i in range(900)), "every record copied exactly once"
    check = Consumer({"bootstrap.servers": cluster.all_bootstraps, "group.id": "copier"})
    try:
        offsets = check.committed([TopicPartition("eos-in", i) for i in range(3)], timeout=30)
    finally:
        check.close()
    # The producer's sticky partitioner may have left a partition of eos-in empty: nothing to
    # commit there (-1001, no offset).
    assert sum(max(tp.offset, 0) for tp in offsets) == 900, offsets


def test_kill_9_of_the_transaction_coordinator_with_a_transaction_open(cluster):
    create_topic(cluster, "txn-kill", 3)
    tid = "coordinator-killed"
    p = txn_producer(cluster.all_bootstraps, tid)
    transaction(p, "txn-kill", values("before", 30), partitions=3)
    p.begin_transaction()
    for i, value in enumerate(values("open", 30)):
        p.produce("txn-kill", value=value, partition=i % 3)
    p.flush(30)
    coordinator = transaction_coordinator(cluster, 1, tid)
    survivor = next(n for n in cluster.nodes if n != coordinator)
    cluster.nodes[coordinator].kill9()
    killed_at = time.monotonic()
    moved_to = cluster.wait_for("another transaction coordinator", lambda: (lambda n: n if n != coordinator else None)(
        transaction_coordinator(cluster, survivor, tid)), timeout=60)
    # The next producer of the id finds the new coordinator, which aborts the open transaction.
    q = txn_producer(cluster.all_bootstraps, tid, **{"transaction.timeout.ms": 60000})
    print("coordinator %d killed; %d coordinates; next producer ready after %.1f s" % (coordinator, moved_to, time.monotonic() - killed_at))
    transaction(q, "txn-kill", values("after", 30), partitions=3)
    with pytest.raises(KafkaException):
        p.commit_transaction(30)  # the old producer is fenced
    assert read(cluster.all_bootstraps, "txn-kill", "read_committed", partitions=3) == sorted(values("before", 30) + values("after", 30))
    cluster.nodes[coordinator].start()


def test_kill_9_of_a_partition_leader_before_the_commit(cluster):
    create_topic(cluster, "txn-leader", 3)
    tid = "leader-killed"
    p = txn_producer(cluster.all_bootstraps, tid)
    coordinator = transaction_coordinator(cluster, 1, tid)
    by_partition = leaders(cluster, 1, "txn-leader")
    # A partition led by a broker that is not the coordinator, so its marker crosses brokers.
    partition, leader = next((part, node) for part, node in sorted(by_partition.items()) if node != coordinator)
    p.begin_transaction()
    for value in values("moved", 40):
        p.produce("txn-leader", value=value, partition=partition)
    p.flush(30)
    cluster.nodes[leader].kill9()
    cluster.wait_for("a new leader of partition %d" % partition,
                     lambda: (lambda n: n if n not in (leader, -1) else None)(leaders(cluster, coordinator, "txn-leader")[partition]),
                     timeout=60)
    p.commit_transaction(60)
    assert read(cluster.all_bootstraps, "txn-leader", "read_committed", partitions=3) == sorted(values("moved", 40))
    cluster.nodes[leader].start()


def test_sluice_transactions_finds_the_coordinator_on_a_cluster(cluster, sluice_bin):
    """`sluice transactions` asks every broker for its list and the id's coordinator for its
    description (FindCoordinator with key type 1)."""
    def cli(*args):
        r = subprocess.run([sluice_bin, "transactions", *args, "--bootstrap", cluster.all_bootstraps], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        return [line.split("\t") for line in r.stdout.decode().splitlines()[1:]]

    create_topic(cluster, "txn-cli", 2)
    p = txn_producer(cluster.all_bootstraps, "described-tx")
    p.begin_transaction()
    p.produce("txn-cli", value=b"x", partition=1)
    p.flush(30)
    listed = {row[0]: row for row in cli("list")}
    assert listed["described-tx"][2] == "Ongoing", listed
    [row] = cli("describe", "--transactional-id", "described-tx")
    assert row[3] == "Ongoing" and row[6] == "txn-cli-1", row
    p.commit_transaction(30)


def test_a_leader_asks_a_coordinator_elsewhere_before_a_transactional_write(cluster):
    """KIP-890 part 1 across brokers: a transactional write to a partition not in the producer's
    open transaction is refused (INVALID_TXN_STATE) by a leader that is not the coordinator, after
    it asked the coordinator (AddPartitionsToTxn v4, VerifyOnly); once the partition is added it
    is taken; once the transaction has ended, a late write is refused again."""
    from test_versions import INVALID_TXN_STATE, batch
    create_topic(cluster, "txn-verify", 3)
    tid = "verified-tx"
    coordinator = transaction_coordinator(cluster, 1, tid)
    partition, leader = next((part, node) for part, node in sorted(leaders(cluster, 1, "txn-verify").items()) if node != coordinator)
    with kspec.Connection(cluster.bootstrap(coordinator)) as k:
        r = cluster.wait_for("InitProducerId at the coordinator", lambda: (lambda r: r if r["ErrorCode"] == 0 else None)(
            k.call("InitProducerId", 4, {"TransactionalId": tid, "TransactionTimeoutMs": 60000, "ProducerId": -1, "ProducerEpoch": -1})),
            timeout=60)
    pid, epoch = r["ProducerId"], r["ProducerEpoch"]

    def produce(seq):
        with kspec.Connection(cluster.bootstrap(leader)) as k:
            r = k.call("Produce", 9, {"TransactionalId": tid, "Acks": -1, "TimeoutMs": 10000, "TopicData": [
                {"Name": "txn-verify", "PartitionData": [{"Index": partition, "Records": batch(
                    [b"t%d" % seq], producer_id=pid, producer_epoch=epoch, base_sequence=seq, transactional=True)}]}]})
        return r["Responses"][0]["PartitionResponses"][0]["ErrorCode"]

    def open_transaction_start():
        with kspec.Connection(cluster.bootstrap(leader)) as k:
            r = k.call("DescribeProducers", 0, {"Topics": [{"Name": "txn-verify", "PartitionIndexes": [partition]}]})
        states = r["Topics"][0]["Partitions"][0]["ActiveProducers"]
        return next((s["CurrentTxnStartOffset"] for s in states if s["ProducerId"] == pid), -1)

    assert produce(0) == INVALID_TXN_STATE, "no transaction open"
    with kspec.Connection(cluster.bootstrap(coordinator)) as k:
        r = k.call("AddPartitionsToTxn", 3, {"V3AndBelowTransactionalId": tid, "V3AndBelowProducerId": pid, "V3AndBelowProducerEpoch": epoch,
                                             "V3AndBelowTopics": [{"Name": "txn-verify", "Partitions": [partition]}]})
        assert r["ResultsByTopicV3AndBelow"][0]["ResultsByPartition"][0]["PartitionErrorCode"] == 0
    assert produce(0) == 0, "in the transaction"
    assert produce(1) == 0, "still in it"
    with kspec.Connection(cluster.bootstrap(coordinator)) as k:
        assert k.call("EndTxn", 3, {"TransactionalId": tid, "ProducerId": pid, "ProducerEpoch": epoch, "Committed": False})["ErrorCode"] == 0
    cluster.wait_for("the abort marker on the leader", lambda: open_transaction_start() == -1 or None, timeout=60)
    assert produce(2) == INVALID_TXN_STATE, "a late write after the transaction ended"


def test_a_new_coordinator_finishes_a_commit_the_old_one_decided(cluster):
    """Recovery of a transaction in flight: its partition needs all three replicas
    (min.insync.replicas=3), so once that partition's leader is killed -9 the commit can be
    decided (PrepareCommit recorded, the producer answered) but its marker cannot be written;
    read_committed shows nothing of it. The coordinator is then killed -9 too and both brokers
    restarted. Whoever leads the transaction's __transaction_state partition next loads
    PrepareCommit and writes the marker: the whole transaction becomes visible."""
    create_topic(cluster, "txn-inflight", 3, min_insync=3)
    tid = "inflight-tx"
    p = txn_producer(cluster.all_bootstraps, tid)
    coordinator = transaction_coordinator(cluster, 1, tid)
    partition, leader = next((part, node) for part, node in sorted(leaders(cluster, 1, "txn-inflight").items()) if node != coordinator)
    p.begin_transaction()
    for value in values("inflight", 40):
        p.produce("txn-inflight", value=value, partition=partition)
    p.flush(30)
    cluster.nodes[leader].kill9()
    p.commit_transaction(60)
    third = next(n for n in cluster.nodes if n not in (coordinator, leader))
    assert read(cluster.bootstrap(third), "txn-inflight", "read_committed", partitions=3, idle=1.0) == [], \
        "decided, but its marker cannot be written with a replica down"
    cluster.nodes[coordinator].kill9()
    cluster.nodes[leader].start()
    cluster.nodes[coordinator].start()
    seen = []

    def committed_visible():
        seen[:] = read(cluster.bootstrap(third), "txn-inflight", "read_committed", partitions=3, idle=1.0)
        return len(seen) >= 40 or None
    cluster.wait_for("the decided transaction wholly visible", committed_visible, timeout=150)
    assert sorted(seen) == sorted(values("inflight", 40))
    print("coordinator now %s" % transaction_coordinator(cluster, third, tid))
