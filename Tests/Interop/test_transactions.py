"""Transactions with librdkafka's transactional producer (confluent-kafka) against a broker of
its own: commit, abort, commit, with read_committed consumers seeing exactly the committed
records and read_uncommitted all of them; a second producer with the same transactional.id
fencing the first (whose commit then fails, its records never visible); kill -9 of the broker
inside a transaction (after the restart the transaction is aborted by the next producer of the
id, never partly visible); a transaction left open past transaction.timeout.ms aborted by the
broker, so read_committed consumers are not held up."""
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

import clients as C


def txn_producer(bootstrap, transactional_id, **conf):
    base = {"bootstrap.servers": bootstrap, "transactional.id": transactional_id, "linger.ms": 5}
    base.update(conf)
    p = Producer(base)
    p.init_transactions(30)
    return p


def transaction(p, topic, values, partitions=2, commit=True):
    p.begin_transaction()
    for i, value in enumerate(values):
        p.produce(topic, value=value, partition=i % partitions)
    if commit:
        p.commit_transaction(30)
    else:
        p.flush(30)  # abort_transaction purges what is still queued: have it written first
        p.abort_transaction(30)


def read(bootstrap, topic, isolation, partitions=2, idle=3.0, timeout=60):
    """Every record a consumer with `isolation` gets from the start until nothing comes for `idle` s."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": C.unique("g"), "enable.auto.commit": False,
                  "isolation.level": isolation, "fetch.wait.max.ms": 100})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out, last, deadline = [], time.time(), time.time() + timeout
    try:
        while time.time() - last < idle and time.time() < deadline:
            m = c.poll(0.2)
            if m is None:
                continue
            if m.error():
                raise AssertionError("consumer error: %s" % m.error())
            out.append(m.value())
            last = time.time()
    finally:
        c.close()
    return sorted(out)


def values(prefix, n):
    return [b"%s-%d" % (prefix.encode(), i) for i in range(n)]


def test_commit_abort_commit(broker):
    topic = C.create_topic(broker.bootstrap, 2, "txn")
    p = txn_producer(broker.bootstrap, C.unique("tx"))
    transaction(p, topic, values("c1", 50))
    transaction(p, topic, values("a", 50), commit=False)
    transaction(p, topic, values("c2", 50))
    assert read(broker.bootstrap, topic, "read_committed") == sorted(values("c1", 50) + values("c2", 50))
    assert read(broker.bootstrap, topic, "read_uncommitted") == sorted(values("c1", 50) + values("a", 50) + values("c2", 50))


def test_a_second_producer_fences_the_first(broker):
    topic = C.create_topic(broker.bootstrap, 2, "txn-fence")
    tid = C.unique("tx")
    first = txn_producer(broker.bootstrap, tid)
    first.begin_transaction()
    for value in values("zombie", 20):
        first.produce(topic, value=value, partition=0)
    first.flush(30)
    second = txn_producer(broker.bootstrap, tid)  # aborts the first's transaction and bumps the epoch
    with pytest.raises(KafkaException) as raised:
        first.commit_transaction(30)
    error = raised.value.args[0]
    assert error.code() in (KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH), error
    transaction(second, topic, values("live", 20))
    assert read(broker.bootstrap, topic, "read_committed") == sorted(values("live", 20))


@pytest.mark.timeout(180)
def test_kill_9_inside_a_transaction_leaves_none_of_it_visible(broker):
    topic = C.create_topic(broker.bootstrap, 2, "txn-kill")
    tid = C.unique("tx")
    p = txn_producer(broker.bootstrap, tid)
    transaction(p, topic, values("before", 20))
    p.begin_transaction()
    for value in values("open", 20):
        p.produce(topic, value=value, partition=1)
    p.flush(30)
    broker.kill9()
    broker.start()
    # The next producer of the id aborts what the dead broker left open.
    q = txn_producer(broker.bootstrap, tid)
    transaction(q, topic, values("after", 20))
    assert read(broker.bootstrap, topic, "read_committed") == sorted(values("before", 20) + values("after", 20))
    assert len(read(broker.bootstrap, topic, "read_uncommitted")) == 60


def metric(b, name):
    import urllib.request
    for line in urllib.request.urlopen(b.metrics_url, timeout=10).read().decode().splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("%s not on /metrics" % name)


@pytest.mark.timeout(120)
def test_a_transaction_past_its_timeout_is_aborted(broker_factory):
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    b = broker_factory(settings={"transaction.abort.timed.out.transaction.cleanup.interval.ms": "200",
                                 "metrics.listener": "127.0.0.1:%d" % port})
    b.metrics_url = "http://127.0.0.1:%d/metrics" % port
    topic = C.create_topic(b.bootstrap, 1, "txn-timeout")
    p = txn_producer(b.bootstrap, C.unique("tx"), **{"transaction.timeout.ms": 2000})
    p.begin_transaction()
    for value in values("stuck", 10):
        p.produce(topic, value=value, partition=0)
    p.flush(30)
    plain = Producer({"bootstrap.servers": b.bootstrap})
    plain.produce(topic, value=b"later", partition=0)
    plain.flush(30)
    # Until the abort, read_committed stops at the open transaction; then it reads past it.
    deadline = time.time() + 30
    seen = []
    while time.time() < deadline:
        seen = read(b.bootstrap, topic, "read_committed", partitions=1, idle=1.0)
        if seen:
            break
    assert seen == [b"later"], "the stuck transaction was aborted, the plain record after it visible"
    assert metric(b, "sluice_transactions_timed_out_total") == 1 and metric(b, "sluice_transactions_aborted_total") == 1
    assert metric(b, "sluice_transactions_open") == 0
    with pytest.raises(KafkaException):
        p.commit_transaction(10)


@pytest.mark.timeout(240)
def test_consume_transform_produce_copies_a_topic_exactly_once(broker):
    """The exactly-once loop: read with read_committed, write the transformed records and the
    consumed offsets in one transaction (send_offsets_to_transaction), abort every third one and
    rewind to the committed offsets. The copy holds each record once; the group's committed
    offsets end where the input ends, also after a restart (kill -9)."""
    src = C.create_topic(broker.bootstrap, 2, "eos-in")
    dst = C.create_topic(broker.bootstrap, 2, "eos-out")
    total = 300
    C.produce_confluent(broker.bootstrap, src, [{"value": b"m-%d" % i, "partition": i % 2} for i in range(total)])
    group = C.unique("eos")
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False,
                         "isolation.level": "read_committed", "auto.offset.reset": "earliest"})
    consumer.subscribe([src])
    p = txn_producer(broker.bootstrap, C.unique("eos-tx"))
    committed_values, rounds, aborted = set(), 0, 0
    deadline = time.time() + 150
    try:
        while len(committed_values) < total and time.time() < deadline:
            batch = [m for m in consumer.consume(40, 1.0) if not m.error()]
            if not batch:
                continue
            rounds += 1
            p.begin_transaction()
            for m in batch:
                p.produce(dst, value=m.value().upper(), partition=m.partition())
            p.send_offsets_to_transaction(consumer.position(consumer.assignment()), consumer.consumer_group_metadata(), 30)
            if rounds % 3 == 0:
                p.flush(30)
                p.abort_transaction(30)
                aborted += 1
                # Read the aborted records again: back to the committed offsets.
                for tp in consumer.committed(consumer.assignment(), timeout=30):
                    consumer.seek(TopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else 0))
            else:
                p.commit_transaction(30)
                committed_values.update(m.value().upper() for m in batch)
    finally:
        consumer.close()
    assert aborted >= 1, "the loop aborted some transactions"
    expected = sorted(b"M-%d" % i for i in range(total))
    assert read(broker.bootstrap, dst, "read_committed") == expected, "each record copied exactly once"

    def committed_offsets():
        c = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group, "enable.auto.commit": False})
        try:
            return sorted(tp.offset for tp in c.committed([TopicPartition(src, 0), TopicPartition(src, 1)], timeout=30))
        finally:
            c.close()
    assert committed_offsets() == [total // 2, total // 2]
    broker.kill9()
    broker.start()
    assert committed_offsets() == [total // 2, total // 2], "the transactional offsets survive a restart"
    assert read(broker.bootstrap, dst, "read_committed") == expected


def test_sluice_transactions_lists_and_describes_an_open_transaction(broker, sluice_bin):
    import subprocess

    def cli(*args):
        r = subprocess.run([str(sluice_bin), "transactions", *args, "--bootstrap", broker.bootstrap], capture_output=True, timeout=60)
        assert r.returncode == 0, r.stderr.decode()
        return [line.split("\t") for line in r.stdout.decode().splitlines()[1:]]

    topic = C.create_topic(broker.bootstrap, 1, "txn-cli")
    tid = C.unique("tx")
    p = txn_producer(broker.bootstrap, tid)
    p.begin_transaction()
    p.produce(topic, value=b"x", partition=0)
    p.flush(30)
    listed = {row[0]: row for row in cli("list")}
    assert listed[tid][2] == "Ongoing", listed
    [row] = cli("describe", "--transactional-id", tid)
    assert row[0] == tid and row[3] == "Ongoing" and row[6] == "%s-0" % topic, row
    [producer] = cli("describe-producers", "--topic", topic, "--partition", "0")
    assert producer[0] == listed[tid][1] and producer[5] == "0", "the open transaction starts at offset 0: %r" % producer
    p.commit_transaction(30)
    [row] = cli("describe", "--transactional-id", tid)
    assert row[3] in ("PrepareCommit", "CompleteCommit"), row
    [producer] = cli("describe-producers", "--topic", topic, "--partition", "0")
    assert producer[5] == "None", producer


def test_the_swift_clients_transactions_are_read_committed_by_librdkafka(broker, sluice_bin):
    """`sluice produce --transactional-id` (the Swift client's transactional producer) commits
    every 100 lines; librdkafka's read_committed consumer sees all of them once, and `sluice
    consume --isolation-level read_committed --exit-at-end` reaches the end past the markers."""
    import subprocess

    topic = C.create_topic(broker.bootstrap, 2, "txn-swift")
    lines = "".join("k%d:v%d\n" % (i % 5, i) for i in range(1000)).encode()
    r = subprocess.run([sluice_bin, "produce", "--bootstrap", broker.bootstrap, "--topic", topic, "--key-separator", ":",
                        "--transactional-id", C.unique("swift-tx"), "--transaction-records", "100"],
                       input=lines, capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert b"in 10 transactions" in r.stderr, r.stderr.decode()
    expected = sorted(b"v%d" % i for i in range(1000))
    assert read(broker.bootstrap, topic, "read_committed") == expected
    r = subprocess.run([sluice_bin, "consume", "--bootstrap", broker.bootstrap, "--topic", topic, "--from-beginning",
                        "--exit-at-end", "--isolation-level", "read_committed"], capture_output=True, timeout=120)
    assert r.returncode == 0, r.stderr.decode()
    assert sorted(r.stdout.split()) == expected


def test_kill_9_of_the_broker_inside_a_swift_transaction_leaves_it_all_or_nothing(broker, sluice_bin, tmp_path):
    """The broker is killed -9 while the Swift client's transactional producer has 50 records
    of its third transaction written; it comes back on the same port and the producer goes on
    with 50 more and commits. read_committed then shows the first two transactions once each
    and the third wholly (the producer reports success) or not at all, never part of it."""
    import signal
    import subprocess

    topic = C.create_topic(broker.bootstrap, 2, "txn-swift-kill")
    producer = subprocess.Popen([sluice_bin, "produce", "--bootstrap", broker.bootstrap, "--topic", topic,
                                 "--transactional-id", C.unique("swift-tx"), "--transaction-records", "100"],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(tmp_path / "produce.err", "wb"))
    try:
        producer.stdin.write("".join("v%d\n" % i for i in range(250)).encode())
        producer.stdin.flush()
        deadline = time.time() + 60
        while len(read(broker.bootstrap, topic, "read_uncommitted", idle=1.0)) < 250 and time.time() < deadline:
            time.sleep(0.2)
        assert len(read(broker.bootstrap, topic, "read_committed", idle=1.0)) == 200, "two transactions committed before the kill"
        broker.restart(sig=signal.SIGKILL)
        producer.stdin.write("".join("v%d\n" % i for i in range(250, 300)).encode())
        producer.stdin.close()
        producer.wait(timeout=180)
    finally:
        if producer.poll() is None:
            producer.kill()
    seen = read(broker.bootstrap, topic, "read_committed")
    assert len(seen) == len(set(seen)), "no record twice"
    assert set(b"v%d" % i for i in range(200)) <= set(seen), "the committed transactions survived the kill"
    third = set(seen) - set(b"v%d" % i for i in range(200))
    print("third transaction: %d records visible; producer exit %s" % (len(third), producer.returncode))
    assert third in (set(), set(b"v%d" % i for i in range(200, 300))), "the third transaction partly visible: %d records" % len(third)
    if producer.returncode == 0:
        assert len(third) == 100, "the producer reported the commit: %s" % (tmp_path / "produce.err").read_text()


def read_kafka_python(bootstrap, topic, isolation, partitions=2):
    """Every record kafka-python's consumer gets with `isolation` until nothing comes for 3 s."""
    from kafka import KafkaConsumer
    from kafka import TopicPartition as KTopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap, isolation_level=isolation, auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=3000, fetch_max_wait_ms=100)
    try:
        c.assign([KTopicPartition(topic, p) for p in range(partitions)])
        return sorted(m.value for m in c)
    finally:
        c.close()


def test_kafka_python_transactions_commit_abort_and_fence(broker):
    """kafka-python's transactional producer (its own implementation of KIP-98, not librdkafka's)
    and its read_committed consumer: commit, abort, commit; a second producer of the id fences
    the first."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError as KPError
    topic = C.create_topic(broker.bootstrap, 2, "txn-kp")
    tid = C.unique("kp-tx")
    p = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=tid, linger_ms=5)
    p.init_transactions()
    for prefix, commit in (("c1", True), ("a", False), ("c2", True)):
        p.begin_transaction()
        for i, value in enumerate(values(prefix, 30)):
            p.send(topic, value=value, partition=i % 2)
        if commit:
            p.commit_transaction()
        else:
            p.flush()
            p.abort_transaction()
    assert read_kafka_python(broker.bootstrap, topic, "read_committed") == sorted(values("c1", 30) + values("c2", 30))
    assert len(read_kafka_python(broker.bootstrap, topic, "read_uncommitted")) == 90
    p.begin_transaction()
    p.send(topic, value=b"zombie", partition=0)
    p.flush()
    successor = KafkaProducer(bootstrap_servers=broker.bootstrap, transactional_id=tid, linger_ms=5)
    successor.init_transactions()
    with pytest.raises(KPError):
        p.commit_transaction()
    successor.begin_transaction()
    successor.send(topic, value=b"successor", partition=1)
    successor.commit_transaction()
    successor.close()
    p.close(timeout=5)
    assert read_kafka_python(broker.bootstrap, topic, "read_committed") == sorted(values("c1", 30) + values("c2", 30) + [b"successor"])
