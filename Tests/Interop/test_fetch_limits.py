"""Fetch size limits as Apache Kafka applies them (ReplicaManager.readFromLog, KIP-74): the
whole response stays within the request's MaxBytes and each partition within its
PartitionMaxBytes, except that the first batch of the first partition with data is returned
whole even when larger; a later partition's first batch that does not fit is left out (never
cut). Checked at every Fetch version with a request-level MaxBytes we serve (v4-v16), with and
without fetch sessions, over many partitions; incremental sessions put partitions that
returned data at the back so the others get their turn. A librdkafka consumer whose
fetch.max.bytes is far below max.partition.fetch.bytes reads everything (it used to get
responses larger than it accepts and loop forever)."""
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

import clients as C
import kspec
import kwire

BATCH_VALUE = 400_000          # one record per batch: batches of ~400 KB
BATCHES_PER_PARTITION = 3
PARTITIONS = 4
FETCH_VERSIONS = list(range(4, 17))


@pytest.fixture(scope="module")
def big_topic(_session_broker):
    """PARTITIONS partitions of BATCHES_PER_PARTITION ~400 KB batches each, and the topic id."""
    bootstrap = _session_broker.bootstrap
    topic = C.create_topic(bootstrap, PARTITIONS, "fetch-limits", config={"max.message.bytes": "2000000"})
    sizes = {}
    with kwire.Conn(bootstrap, timeout=20) as c:
        for p in range(PARTITIONS):
            for i in range(BATCHES_PER_PARTITION):
                batch = kwire.build_batch([(b"k", bytes([65 + p]) * BATCH_VALUE, None)])
                sizes[(p, i)] = len(batch)
                r = kwire.produce(c, 8, topic, p, batch)
                assert r["error"] == 0 and r["base_offset"] == i, "produce %d/%d: %r" % (p, i, r)
    with kspec.Connection(bootstrap) as c:
        md = c.call("Metadata", 12, {"Topics": [{"Name": topic}], "AllowAutoTopicCreation": False})
    (entry,) = md["Topics"]
    return topic, entry["TopicId"], sizes


def fetch_request(version, topic, topic_id, offsets, max_bytes, partition_max_bytes=20_000_000,
                  session_id=0, epoch=-1):
    return {
        "ReplicaId": -1, "MaxWaitMs": 0, "MinBytes": 1, "MaxBytes": max_bytes, "IsolationLevel": 0,
        "SessionId": session_id, "SessionEpoch": epoch,
        "Topics": [{"Topic": topic, "TopicId": topic_id, "Partitions": [
            {"Partition": p, "FetchOffset": o, "PartitionMaxBytes": partition_max_bytes} for p, o in offsets]}],
        "ForgottenTopicsData": [], "RackId": "",
    }


def partitions_of(response):
    assert response["ErrorCode"] == 0 if "ErrorCode" in response else True
    out = {}
    for t in response["Responses"]:
        for p in t["Partitions"]:
            assert p["ErrorCode"] == 0, "partition %d: error %d" % (p["PartitionIndex"], p["ErrorCode"])
            out[p["PartitionIndex"]] = p["Records"] or b""
    return out


def whole_batches(records):
    batches, trailing = kwire.parse_batches(records)
    return [b.base_offset for b in batches], trailing


@pytest.mark.parametrize("version", FETCH_VERSIONS, ids=lambda v: "Fetch-v%d" % v)
def test_a_small_max_bytes_returns_only_the_first_batch(bootstrap, big_topic, version):
    topic, topic_id, sizes = big_topic
    with kspec.Connection(bootstrap) as c:
        resp = c.call("Fetch", version, fetch_request(version, topic, topic_id,
                                                       [(p, 0) for p in range(PARTITIONS)], max_bytes=100_000))
    got = partitions_of(resp)
    assert sorted(got) == list(range(PARTITIONS)), "every partition is answered (high watermarks): %r" % sorted(got)
    assert len(got[0]) == sizes[(0, 0)], \
        "KIP-74: the first partition's first batch comes whole (%d bytes) although MaxBytes is 100,000; got %d" % (
            sizes[(0, 0)], len(got[0]))
    assert whole_batches(got[0]) == ([0], 0)
    assert all(len(got[p]) == 0 for p in range(1, PARTITIONS)), \
        "MaxBytes is spent: later partitions must be empty, got %r" % {p: len(got[p]) for p in got}


@pytest.mark.parametrize("version", FETCH_VERSIONS, ids=lambda v: "Fetch-v%d" % v)
def test_the_response_stays_within_max_bytes(bootstrap, big_topic, version):
    """fetch.max.bytes=1,000,000 with max.partition.fetch.bytes=20,000,000: the case that made a
    client loop forever on a 20 MB response."""
    topic, topic_id, sizes = big_topic
    with kspec.Connection(bootstrap) as c:
        resp = c.call("Fetch", version, fetch_request(version, topic, topic_id,
                                                       [(p, 0) for p in range(PARTITIONS)], max_bytes=1_000_000))
    got = partitions_of(resp)
    total = sum(len(r) for r in got.values())
    assert total <= 1_000_000, "records in the response: %d bytes, over MaxBytes 1,000,000" % total
    offsets, trailing = whole_batches(got[0])
    assert offsets == [0, 1], "two whole batches fit in partition 0: %r" % offsets
    assert total == 1_000_000 and trailing == 1_000_000 - sizes[(0, 0)] - sizes[(0, 1)], \
        "the last batch may be cut at MaxBytes, as Kafka's are (total %d, trailing %d)" % (total, trailing)
    assert all(len(got[p]) == 0 for p in range(1, PARTITIONS))


@pytest.mark.parametrize("version", [4, 11, 12, 16], ids=lambda v: "Fetch-v%d" % v)
def test_a_later_partition_gets_what_fits_and_never_a_cut_first_batch(bootstrap, big_topic, version):
    topic, topic_id, sizes = big_topic
    # Partition 0 from its last batch (one batch), then partition 1 with room for one more
    # batch but not two: it gets exactly one whole batch; partition 2 gets nothing.
    budget = sizes[(0, 2)] + sizes[(1, 0)] + 1000
    with kspec.Connection(bootstrap) as c:
        resp = c.call("Fetch", version, fetch_request(version, topic, topic_id,
                                                       [(0, 2), (1, 0), (2, 0)], max_bytes=budget))
    got = partitions_of(resp)
    assert whole_batches(got[0]) == ([2], 0)
    assert len(got[1]) == sizes[(1, 0)] + 1000 and whole_batches(got[1])[0] == [0], \
        "partition 1: one whole batch and the rest of the budget (%d bytes)" % len(got[1])
    assert len(got[2]) == 0, "a first batch that does not fit is left out, not cut (got %d bytes)" % len(got[2])
    # With an empty partition first, the next one with data still gets its first batch whole.
    with kspec.Connection(bootstrap) as c:
        resp = c.call("Fetch", version, fetch_request(version, topic, topic_id,
                                                       [(0, BATCHES_PER_PARTITION), (3, 0)], max_bytes=10))
    got = partitions_of(resp)
    assert len(got[0]) == 0 and whole_batches(got[3]) == ([0], 0), \
        "KIP-74 applies to the first partition that has data, not the first in the request"


@pytest.mark.parametrize("partition_max", [10, 500_000])
def test_partition_max_bytes_caps_each_partition(bootstrap, big_topic, partition_max):
    topic, topic_id, sizes = big_topic
    with kspec.Connection(bootstrap) as c:
        resp = c.call("Fetch", 12, fetch_request(12, topic, topic_id, [(p, 0) for p in range(PARTITIONS)],
                                                  max_bytes=50_000_000, partition_max_bytes=partition_max))
    got = partitions_of(resp)
    # The first partition gets its first batch whole (KIP-74); every other partition gets at most
    # PartitionMaxBytes, so a whole ~400 KB batch only where that fits.
    assert whole_batches(got[0])[0][:1] == [0]
    for p in range(1, PARTITIONS):
        assert len(got[p]) <= partition_max, "partition %d: %d bytes over PartitionMaxBytes %d" % (p, len(got[p]), partition_max)
        assert (len(got[p]) > 0) == (partition_max >= sizes[(p, 0)])


@pytest.mark.parametrize("version", [7, 12, 16], ids=lambda v: "Fetch-v%d" % v)
def test_incremental_sessions_rotate_partitions_under_a_small_max_bytes(bootstrap, big_topic, version):
    """Kafka moves a partition that returned data to the back of the session, so with a budget
    of about one batch each incremental fetch serves the next partition."""
    topic, topic_id, sizes = big_topic
    with kspec.Connection(bootstrap) as c:
        full = c.call("Fetch", version, fetch_request(version, topic, topic_id, [(p, 0) for p in range(PARTITIONS)],
                                                       max_bytes=100_000, epoch=0))
        session = full["SessionId"]
        assert session != 0, "a session was created"
        served = [p for p, r in partitions_of(full).items() if r]
        assert served == [0]
        offsets = {p: 0 for p in range(PARTITIONS)}
        offsets[0] = 1
        changed = 0
        order = []
        for epoch in range(1, PARTITIONS + 1):
            # An incremental request lists only the partition whose position moved.
            req = fetch_request(version, topic, topic_id, [(changed, offsets[changed])], max_bytes=100_000,
                                session_id=session, epoch=epoch)
            resp = c.call("Fetch", version, req)
            assert resp["ErrorCode"] == 0 and resp["SessionId"] == session
            with_data = [p for p, r in partitions_of(resp).items() if r]
            assert len(with_data) == 1, "epoch %d: one partition per fetch under MaxBytes, got %r" % (epoch, with_data)
            (changed,) = with_data
            order.append(changed)
            offsets[changed] += 1
        # Without rotation partition 0 would be served until it ran dry: [0, 0, 1, 1].
        assert order == [0, 1, 2, 3], \
            "partitions that returned data must move to the back of the session: served %r" % order


def test_librdkafka_with_fetch_max_bytes_below_the_partition_limit_reads_everything(bootstrap, big_topic):
    topic, _, _ = big_topic
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "fetch-limits-" + uuid.uuid4().hex[:8],
                  "enable.auto.commit": False, "auto.offset.reset": "earliest",
                  "fetch.max.bytes": 1_000_000, "max.partition.fetch.bytes": 20_000_000,
                  "receive.message.max.bytes": 1_100_000})
    try:
        c.assign([TopicPartition(topic, p, 0) for p in range(PARTITIONS)])
        got = []
        import time
        deadline = time.time() + 60
        while len(got) < PARTITIONS * BATCHES_PER_PARTITION and time.time() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            assert m.error() is None, "consumer error: %s" % m.error()
            got.append((m.partition(), m.offset(), len(m.value())))
    finally:
        c.close()
    assert sorted(got) == [(p, o, BATCH_VALUE) for p in range(PARTITIONS) for o in range(BATCHES_PER_PARTITION)]


@pytest.fixture(scope="module")
def many_topic(_session_broker):
    """200 partitions of ten ~1 KB batches each."""
    bootstrap = _session_broker.bootstrap
    topic = C.create_topic(bootstrap, 200, "fetch-many")
    with kwire.Conn(bootstrap, timeout=30) as c:
        for p in range(200):
            for i in range(10):
                assert kwire.produce(c, 8, topic, p, kwire.build_batch([(b"k", b"%03d-%d" % (p, i) + b"x" * 1000, None)]))["error"] == 0
    with kspec.Connection(bootstrap) as c:
        md = c.call("Metadata", 12, {"Topics": [{"Name": topic}], "AllowAutoTopicCreation": False})
    return topic, md["Topics"][0]["TopicId"]


@pytest.mark.parametrize("version", [4, 12, 16], ids=lambda v: "Fetch-v%d" % v)
def test_many_partitions_share_max_bytes(bootstrap, many_topic, version):
    """One fetch of 200 partitions stays within MaxBytes, fills it with whole first batches in
    request order, and answers every partition."""
    topic, tid = many_topic
    with kspec.Connection(bootstrap) as c:
        resp = c.call("Fetch", version, fetch_request(version, topic, tid, [(p, 0) for p in range(200)], max_bytes=50_000,
                                                       partition_max_bytes=3_000))
    got = partitions_of(resp)
    assert sorted(got) == list(range(200)), "every partition answered"
    total = sum(len(r) for r in got.values())
    assert total <= 50_000, "%d bytes of records for MaxBytes 50,000" % total
    served = [p for p in range(200) if got[p]]
    assert served == list(range(len(served))) and len(served) >= 15, \
        "partitions are filled in request order until MaxBytes runs out: %r" % served[:30]
    for p in served:
        assert whole_batches(got[p])[0][:1] == [0]
