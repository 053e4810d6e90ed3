"""No request may leave a data directory the broker cannot open again. CreateTopics asking for
100,000 partitions used to run the process out of file descriptors, persist anyway, and make
every restart fail. Now: a request that would write more than 10,000 metadata records gets
Kafka's POLICY_VIOLATION "Unable to perform excessively large batch operation." and changes
nothing; max.broker.partitions (KIP-578's name) caps what one broker hosts, with
POLICY_VIOLATION past it; and partitions hold no file descriptor of their own (every segment's
descriptor comes from one LRU cache), so thousands of partitions work, and restart, under a
descriptor limit far below their number."""
import shutil

import pytest
from confluent_kafka.admin import NewPartitions, NewTopic

import clients as C
import kspec
from broker import Broker

POLICY_VIOLATION = 44


def create_raw(bootstrap, topics):
    """CreateTopics v7 of [(name, partitions)] -> {name: (error, message)}."""
    with kspec.Connection(bootstrap, timeout=60) as c:
        r = c.call("CreateTopics", 7, {"Topics": [{"Name": n, "NumPartitions": p, "ReplicationFactor": 1, "Assignments": [],
                                                   "Configs": []} for n, p in topics], "timeoutMs": 30000})
    return {t["Name"]: (t["ErrorCode"], t["ErrorMessage"]) for t in r["Topics"]}


def test_an_excessively_large_create_topics_is_refused_and_changes_nothing(broker_factory):
    b = broker_factory()
    big = C.unique("huge")
    small = C.unique("small")
    got = create_raw(b.bootstrap, [(big, 100_000), (small, 3)])
    want = (POLICY_VIOLATION, "Unable to perform excessively large batch operation.")
    assert got == {big: want, small: want}, "every topic of an over-large request fails as one: %r" % got
    # 9,999 partitions and one topic record: 10,000 records, Kafka's limit exactly.
    ok = create_raw(b.bootstrap, [(C.unique("limit"), 9_999)])
    assert list(ok.values()) == [(0, None)], ok
    grow = C.create_topic(b.bootstrap, 1, "grow")
    fut = C.admin(b.bootstrap).create_partitions([NewPartitions(grow, 20_000)], request_timeout=30)[grow]
    C.expect_error_code(fut, [POLICY_VIOLATION], "CreatePartitions adding 19,999 partitions")
    b.restart()
    C.forget(b.bootstrap)
    md = C.admin(b.bootstrap).list_topics(timeout=30)
    assert big not in md.topics and small not in md.topics, "a refused request must persist nothing"
    assert len(md.topics[grow].partitions) == 1


def test_max_broker_partitions_caps_what_one_broker_hosts(broker_factory):
    b = broker_factory({"max.broker.partitions": "10", "num.partitions": "4"})
    C.create_topic(b.bootstrap, 6, "cap-a")
    over = C.unique("cap-b")
    fut = C.admin(b.bootstrap).create_topics([NewTopic(over, 5, 1)], request_timeout=15)[over]
    C.expect_error_code(fut, [POLICY_VIOLATION], "6 + 5 partitions with max.broker.partitions=10")
    C.create_topic(b.bootstrap, 4, "cap-c")
    # Metadata auto-creation is capped too (num.partitions=4 would make 14).
    with kspec.Connection(b.bootstrap) as c:
        r = c.call("Metadata", 12, {"Topics": [{"Name": C.unique("cap-auto")}], "AllowAutoTopicCreation": True})
    assert r["Topics"][0]["ErrorCode"] == POLICY_VIOLATION, r["Topics"][0]


def test_thousands_of_partitions_work_and_restart_under_a_low_descriptor_limit(broker_factory):
    if shutil.which("prlimit") is None:
        pytest.fail("prlimit (util-linux) is needed to run the broker under a low descriptor limit")
    b = broker_factory(start=False)
    plain = b.command
    b.command = lambda port: ["prlimit", "--nofile=1024:1024", "--"] + plain(port)
    b.start()
    topics = [C.unique("fd-%d" % i) for i in range(3)]
    for topic in topics:
        assert create_raw(b.bootstrap, [(topic, 1000)]) == {topic: (0, None)}
    # Touch every partition: each active segment is opened for the write and again for the read.
    C.produce_confluent(b.bootstrap, topics[0], [{"value": b"p%d" % p, "partition": p} for p in range(1000)],
                        **{"linger.ms": 5})
    C.produce_confluent(b.bootstrap, topics[1], [{"value": b"q%d" % p, "partition": p} for p in range(1000)],
                        **{"linger.ms": 5})
    got = C.consume_confluent(b.bootstrap, topics[0], timeout=60)
    assert sorted((g["partition"], g["value"]) for g in got) == sorted((p, b"p%d" % p) for p in range(1000))
    assert b.open_fds() < 1024
    b.restart()
    C.forget(b.bootstrap)
    got = C.consume_confluent(b.bootstrap, topics[1], timeout=60)
    assert sorted((g["partition"], g["value"]) for g in got) == sorted((p, b"q%d" % p) for p in range(1000)), \
        "3,000 partitions under a 1,024-descriptor limit after a restart"
