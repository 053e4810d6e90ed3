"""Consumer groups through the loss of their coordinator (issue #11): group metadata and
committed offsets live on __consumer_offsets, replicated like any topic, and a group's
coordinator is the leader of its partition. Three real brokers, librdkafka consumers.

What it gets: three consumers of one group share a 6-partition topic, committing as they go;
the group's coordinator is killed with kill -9; another broker becomes the leader of the
group's partition, loads it, and coordinates; the consumers find it (FindCoordinator), rejoin
and finish: every record is read, no committed offset goes back, and the offsets the new
coordinator holds at the end are the topic's end offsets.
"""
import threading
import time

import pytest
from confluent_kafka import KafkaException, TopicPartition
from confluent_kafka.admin import ConfigResource

import clients as C
import kspec
from test_cluster import find_coordinator
from test_replication import SETTINGS, create_topic

pytestmark = pytest.mark.timeout(300)

RECORDS = 3000


@pytest.fixture
def cluster(sluice_bin, tmp_path):
    from cluster import Cluster
    c = Cluster(sluice_bin, tmp_path, extra=dict(SETTINGS, **{"offsets.topic.num.partitions": "6"})).start()
    try:
        c.wait_live([1, 2, 3], via=1)
        yield c
    finally:
        c.close()


def committed(cluster, via, group, topic, partitions):
    with kspec.Connection(cluster.bootstrap(via)) as k:
        r = k.call("OffsetFetch", 7, {"GroupId": group, "Topics": [{"Name": topic, "PartitionIndexes": list(range(partitions))}],
                                      "RequireStable": False})
    if r["ErrorCode"] != 0:
        return None
    return {p["PartitionIndex"]: p["CommittedOffset"] for t in r["Topics"] for p in t["Partitions"]}


def test_a_group_keeps_consuming_through_kill_9_of_its_coordinator(cluster):
    create_topic(cluster, "orders", 6)
    C.produce_confluent(cluster.all_bootstraps, "orders", [{"value": b"%d" % i} for i in range(RECORDS)], acks="all")
    seen = []
    lock = threading.Lock()
    stop = threading.Event()
    errors = []

    def consume(name):
        consumer = C.group_consumer(cluster.all_bootstraps, "survivors", **{"client.id": name, "session.timeout.ms": 10000})
        consumer.subscribe(["orders"])
        try:
            while not stop.is_set():
                msg = consumer.poll(0.2)
                if msg is None or msg.error():
                    continue
                with lock:
                    seen.append(msg.value())
                time.sleep(0.002)  # slow enough that the kill lands mid-way
                try:
                    consumer.commit(message=msg, asynchronous=False)
                except KafkaException as e:
                    # While the coordinator moves, a commit may fail; the record is then read again.
                    errors.append(str(e))
        finally:
            # All three still members: one last commit each, with no rebalance under way (a member
            # closing first would start one and fail the others' commits).
            try:
                done.wait(timeout=60)
                consumer.commit(asynchronous=False)
            except Exception as e:
                errors.append(str(e))
            try:
                # And none leaves before the others' commits are answered.
                committed_all.wait(timeout=60)
            except threading.BrokenBarrierError:
                pass
            consumer.close()

    done = threading.Barrier(3)
    committed_all = threading.Barrier(3)
    threads = [threading.Thread(target=consume, args=("c%d" % i,)) for i in range(3)]
    for t in threads:
        t.start()
    cluster.wait_for("a third of the records consumed", lambda: len(seen) >= RECORDS // 3, timeout=120)
    coordinator = find_coordinator(cluster, 1, "survivors")
    survivor = next(n for n in cluster.nodes if n != coordinator)
    before = committed(cluster, coordinator, "survivors", "orders", 6)
    assert before and sum(max(0, o) for o in before.values()) > 0, before
    cluster.nodes[coordinator].kill9()
    killed_at = time.monotonic()
    moved_to = cluster.wait_for("another coordinator", lambda: (lambda n: n if n != coordinator else None)(
        find_coordinator(cluster, survivor, "survivors")), timeout=60)
    print("coordinator %d killed; broker %d coordinates after %.1f s" % (coordinator, moved_to, time.monotonic() - killed_at))
    after = cluster.wait_for("offsets from the new coordinator", lambda: committed(cluster, moved_to, "survivors", "orders", 6),
                             timeout=60)
    for p, offset in before.items():
        assert after[p] >= offset, ("a committed offset went back", p, offset, after[p])
    cluster.wait_for("every record consumed", lambda: len(set(seen)) >= RECORDS, timeout=180)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert set(seen) == {b"%d" % i for i in range(RECORDS)}
    print("read %d records for %d values; %d commits failed while the coordinator moved" % (len(seen), RECORDS, len(errors)))
    print("last commit errors: %r" % errors[-5:])
    last = []

    def final():
        c = committed(cluster, moved_to, "survivors", "orders", 6)
        last[:] = [c]
        # -1 where nothing was committed: a partition the sticky partitioner left empty.
        return c if c and sum(max(0, o) for o in c.values()) == RECORDS else None
    try:
        ends = cluster.wait_for("final commits", final, timeout=60)
    except AssertionError:
        raise AssertionError("committed offsets never added up to %d: last %r; commit errors %r" % (RECORDS, last, errors[-10:]))
    assert sum(max(0, o) for o in ends.values()) == RECORDS
    # The group log is a compacted topic, as Kafka creates __consumer_offsets.
    resource = ConfigResource(ConfigResource.Type.TOPIC, "__consumer_offsets")
    configs = C.admin(cluster.nodes[moved_to].bootstrap).describe_configs([resource])[resource].result(timeout=30)
    assert configs["cleanup.policy"].value == "compact", configs["cleanup.policy"]


def test_the_swift_client_finds_the_new_coordinator_and_the_committed_offsets(cluster, sluice_bin):
    """`sluice consume --group` (the Swift client) commits what it printed; the coordinator is
    killed; a second run finds the new coordinator and continues exactly where the first stopped."""
    import subprocess
    create_topic(cluster, "ledger", 1)
    C.produce_confluent(cluster.all_bootstraps, "ledger", [{"value": b"%d" % i} for i in range(400)], acks="all")

    def consume(count):
        out = subprocess.run([str(sluice_bin), "consume", "--bootstrap", cluster.all_bootstraps, "--topic", "ledger",
                              "--group", "swift-readers", "--from-beginning", "--count", str(count)],
                             capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, out.stderr.decode()
        return out.stdout.decode().split()

    assert consume(150) == [str(i) for i in range(150)]
    coordinator = find_coordinator(cluster, 1, "swift-readers")
    cluster.nodes[coordinator].kill9()
    survivor = next(n for n in cluster.nodes if n != coordinator)
    cluster.wait_for("another coordinator", lambda: (lambda n: n if n != coordinator else None)(
        find_coordinator(cluster, survivor, "swift-readers")), timeout=60)
    assert consume(150) == [str(i) for i in range(150, 300)]
