"""ListOffsets: earliest, latest, by timestamp (first offset whose timestamp >= T, also with
out-of-order timestamps), max timestamp (KIP-734), after DeleteRecords, on LogAppendTime topics,
through confluent (AdminClient.list_offsets, offsets_for_times, watermarks), kafka-python
(beginning/end_offsets, offsets_for_times) and kcat -Q."""
import time

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import OffsetSpec

import clients as C
import kwire

OFFSET_OUT_OF_RANGE = 1
UNKNOWN_TOPIC_OR_PARTITION = 3


def list_offsets(bootstrap, topic, partition, spec):
    """AdminClient.list_offsets -> (offset, timestamp)."""
    tp = TopicPartition(topic, partition)
    r = C.admin(bootstrap).list_offsets({tp: spec}, request_timeout=15)[tp].result(timeout=20)
    return r.offset, r.timestamp


def one_batch_each(bootstrap, topic, timestamps, partition=0):
    """Produce one record per batch (flush after each) with the given CreateTimes."""
    p = C.confluent_producer(bootstrap, **{"linger.ms": 0})
    errs = []
    for i, ts in enumerate(timestamps):
        p.produce(topic, value=b"%d" % i, partition=partition, timestamp=ts,
                  on_delivery=lambda e, m: errs.append(e) if e else None)
        assert p.flush(15) == 0, "record %d not delivered" % i
    assert not errs, "delivery errors: %r" % errs


def kp_consumer(bootstrap):
    from kafka import KafkaConsumer
    return KafkaConsumer(bootstrap_servers=[bootstrap], enable_auto_commit=False, group_id=None)


def test_empty_partition(bootstrap):
    topic = C.create_topic(bootstrap, 1, "off-empty")
    assert C.watermarks(bootstrap, topic, 0) == (0, 0), "empty partition watermarks"
    assert list_offsets(bootstrap, topic, 0, OffsetSpec.earliest())[0] == 0
    assert list_offsets(bootstrap, topic, 0, OffsetSpec.latest())[0] == 0
    off, _ = list_offsets(bootstrap, topic, 0, OffsetSpec.for_timestamp(0))
    assert off == -1, "timestamp lookup on an empty partition: offset %d, expected -1" % off
    assert C.kcat_query(bootstrap, topic, 0, 0) == -1, "kcat -Q on an empty partition"


def test_earliest_latest_all_clients(bootstrap):
    topic = C.create_topic(bootstrap, 3, "off-wm")
    counts = {0: 37, 1: 0, 2: 5}
    C.produce_confluent(bootstrap, topic, [{"value": b"x", "partition": p} for p, n in counts.items() for _ in range(n)])
    for p, n in counts.items():
        assert C.watermarks(bootstrap, topic, p) == (0, n), "confluent watermarks p%d" % p
        assert list_offsets(bootstrap, topic, p, OffsetSpec.earliest())[0] == 0, "ListOffsets earliest p%d" % p
        assert list_offsets(bootstrap, topic, p, OffsetSpec.latest())[0] == n, "ListOffsets latest p%d" % p
    from kafka import TopicPartition as KTP
    kc = kp_consumer(bootstrap)
    try:
        tps = [KTP(topic, p) for p in counts]
        assert kc.beginning_offsets(tps) == {KTP(topic, p): 0 for p in counts}, "kafka-python beginning_offsets"
        assert kc.end_offsets(tps) == {KTP(topic, p): n for p, n in counts.items()}, "kafka-python end_offsets"
    finally:
        kc.close()


def test_offsets_for_times(bootstrap):
    """Monotonic CreateTimes 1 s apart, several records per batch: the answer is the first
    record (not batch) whose timestamp is >= T, with that record's timestamp."""
    topic = C.create_topic(bootstrap, 1, "off-ts")
    base = C.now_ms() - 600_000
    C.produce_confluent(bootstrap, topic, [{"value": b"%d" % i, "partition": 0, "timestamp": base + i * 1000}
                                           for i in range(50)], **{"linger.ms": 100})
    cases = [(base - 1, 0), (base, 0), (base + 1, 1), (base + 5000, 5), (base + 5500, 6),
             (base + 49_000, 49), (base + 49_001, -1), (base + 3_600_000, -1)]
    for ts, want in cases:
        off, rts = list_offsets(bootstrap, topic, 0, OffsetSpec.for_timestamp(ts))
        assert off == want, "ListOffsets(T=base%+d): offset %d, expected %d" % (ts - base, off, want)
        if want >= 0:
            assert rts == base + want * 1000, "ListOffsets(T=base%+d): timestamp %d, expected %d" % (
                ts - base, rts, base + want * 1000)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": C.unique("g"), "enable.auto.commit": False})
    try:
        for ts, want in cases:
            got = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=10)[0]
            assert got.error is None, "offsets_for_times(base%+d): %s" % (ts - base, got.error)
            assert got.offset == want, "confluent offsets_for_times(base%+d) = %d, expected %d" % (
                ts - base, got.offset, want)
    finally:
        c.close()
    from kafka import TopicPartition as KTP
    kc = kp_consumer(bootstrap)
    try:
        tp = KTP(topic, 0)
        for ts, want in cases:
            r = kc.offsets_for_times({tp: ts})[tp]
            if want < 0:
                assert r is None, "kafka-python offsets_for_times(base%+d) = %r, expected None" % (ts - base, r)
            else:
                assert r is not None and (r.offset, r.timestamp) == (want, base + want * 1000), \
                    "kafka-python offsets_for_times(base%+d) = %r, expected offset %d" % (ts - base, r, want)
    finally:
        kc.close()
    for ts, want in cases[:6]:
        assert C.kcat_query(bootstrap, topic, 0, ts) == want, "kcat -Q at base%+d" % (ts - base)


def test_timestamps_out_of_order(bootstrap):
    """CreateTimes are the producer's: lookup returns the first offset whose timestamp >= T even
    when an earlier record has a larger timestamp; max_timestamp returns the record with the
    largest timestamp (KIP-734), not the last one."""
    topic = C.create_topic(bootstrap, 1, "off-ooo")
    b = C.now_ms() - 600_000
    ts = [b + 1000, b + 9000, b + 2000, b + 3000, b + 8000, b + 4000]
    one_batch_each(bootstrap, topic, ts)
    for t, want in ((b + 500, 0), (b + 1500, 1), (b + 2500, 1), (b + 8500, 1), (b + 9000, 1), (b + 9001, -1)):
        off, _ = list_offsets(bootstrap, topic, 0, OffsetSpec.for_timestamp(t))
        assert off == want, "ListOffsets(T=b%+d) over timestamps %r: offset %d, expected %d" % (
            t - b, [x - b for x in ts], off, want)
    off, mts = list_offsets(bootstrap, topic, 0, OffsetSpec.max_timestamp())
    assert (off, mts) == (1, b + 9000), "max_timestamp: (offset %d, ts b%+d), expected (1, b+9000)" % (off, mts - b)


def test_max_timestamp_inside_a_batch(bootstrap):
    """Several records in one batch: max_timestamp names the record, as Kafka >= 3.8 does."""
    topic = C.create_topic(bootstrap, 1, "off-maxb")
    b = C.now_ms() - 600_000
    ts = [b + 100, b + 700, b + 300, b + 200]
    p = C.confluent_producer(bootstrap, **{"linger.ms": 200})
    for i, t in enumerate(ts):
        p.produce(topic, value=b"%d" % i, partition=0, timestamp=t)
    assert p.flush(15) == 0
    off, mts = list_offsets(bootstrap, topic, 0, OffsetSpec.max_timestamp())
    assert mts == b + 700, "max_timestamp timestamp b%+d, expected b+700" % (mts - b)
    assert off == 1, "max_timestamp offset %d, expected 1 (the record with the largest timestamp)" % off


def test_log_append_time_topic(bootstrap):
    """message.timestamp.type=LogAppendTime: the broker stamps records; consumers see
    LogAppendTime with a time inside the produce window, and lookups use that time."""
    topic = C.create_topic(bootstrap, 1, "off-lat", config={"message.timestamp.type": "LogAppendTime"})
    old = C.now_ms() - 86_400_000
    t0 = C.now_ms()
    C.produce_confluent(bootstrap, topic, [{"value": b"a%d" % i, "partition": 0, "timestamp": old} for i in range(10)])
    time.sleep(0.05)
    t1 = C.now_ms()
    C.produce_kp(bootstrap, topic, [{"value": b"b%d" % i, "partition": 0} for i in range(10)])
    t2 = C.now_ms()
    for consumer in ("confluent", "kafka-python"):
        got = C.consume_with(consumer, bootstrap, topic)
        assert len(got) == 20, "%s read %d of 20" % (consumer, len(got))
        for g in got:
            assert g["ts_type"] == "append", "%s: offset %d timestamp type %s, expected LogAppendTime" % (
                consumer, g["offset"], g["ts_type"])
            assert t0 - 1000 <= g["ts"] <= t2 + 1000, "%s: offset %d LogAppendTime %d outside [%d, %d]" % (
                consumer, g["offset"], g["ts"], t0, t2)
    assert list_offsets(bootstrap, topic, 0, OffsetSpec.for_timestamp(old))[0] == 0, \
        "lookup by the producer's (ignored) old timestamp should find offset 0 (all append times are later)"
    off, _ = list_offsets(bootstrap, topic, 0, OffsetSpec.for_timestamp(t1))
    assert off == 10, "lookup at the second producer's start time: offset %d, expected 10 (its first record)" % off
    off, _ = list_offsets(bootstrap, topic, 0, OffsetSpec.for_timestamp(t2 + 60_000))
    assert off == -1, "lookup after every append time: %d" % off


def test_delete_records_moves_log_start(bootstrap):
    topic = C.create_topic(bootstrap, 2, "off-del")
    C.produce_confluent(bootstrap, topic, [{"value": b"%d" % i, "partition": i % 2} for i in range(40)])
    a = C.admin(bootstrap)
    tp = TopicPartition(topic, 0, 7)
    r = a.delete_records([tp], request_timeout=15)
    res = list(r.values())[0].result(timeout=20)
    assert res.low_watermark == 7, "DeleteRecords(before 7) low watermark %d" % res.low_watermark
    assert C.watermarks(bootstrap, topic, 0) == (7, 20), "watermarks after DeleteRecords"
    assert C.watermarks(bootstrap, topic, 1) == (0, 20), "DeleteRecords touched partition 1"
    assert list_offsets(bootstrap, topic, 0, OffsetSpec.earliest())[0] == 7, "ListOffsets earliest after DeleteRecords"
    got = C.consume_confluent(bootstrap, topic, partitions=[0])
    assert [g["offset"] for g in got] == list(range(7, 20)), "read after DeleteRecords: %r" % [g["offset"] for g in got]
    assert [g["value"] for g in got] == [b"%d" % (2 * o) for o in range(7, 20)]
    got = C.consume_kp(bootstrap, topic, partitions=[0])
    assert [g["offset"] for g in got] == list(range(7, 20)), "kafka-python read after DeleteRecords"

    # -1 means "up to the high watermark"
    hw_tp = TopicPartition(topic, 1, -1)
    res = list(a.delete_records([hw_tp], request_timeout=15).values())[0].result(timeout=20)
    assert res.low_watermark == 20, "DeleteRecords(-1) low watermark %d, expected the high watermark 20" % res.low_watermark

    beyond = TopicPartition(topic, 0, 21)
    C.expect_error_code(list(a.delete_records([beyond], request_timeout=15).values())[0],
                        [KafkaError.OFFSET_OUT_OF_RANGE], "DeleteRecords beyond the high watermark")
    assert C.watermarks(bootstrap, topic, 0) == (7, 20), "failed DeleteRecords changed the watermarks"

    from kafka import TopicPartition as KTP
    kadm = C.kp_admin(bootstrap)
    try:
        out = kadm.delete_records({KTP(topic, 0): 10})
        assert out[KTP(topic, 0)]["low_watermark"] == 10, "kafka-python DeleteRecords: %r" % out
    finally:
        kadm.close()
    assert C.watermarks(bootstrap, topic, 0) == (10, 20)


@pytest.mark.parametrize("offset", [-1001, -2, "hw+1"])
def test_delete_records_out_of_range_offsets_change_nothing(bootstrap, offset):
    """Kafka (ReplicaManager.deleteRecordsOnLocalLog): -1 means the high watermark; any other
    offset below 0, or one above the high watermark, is OFFSET_OUT_OF_RANGE and leaves the log
    start where it was. An offset below the current log start is accepted and changes nothing."""
    topic = C.create_topic(bootstrap, 1, "off-del-range")
    C.produce_confluent(bootstrap, topic, [{"value": b"%d" % i, "partition": 0} for i in range(20)])
    a = C.admin(bootstrap)
    res = list(a.delete_records([TopicPartition(topic, 0, 6)], request_timeout=15).values())[0].result(timeout=20)
    assert res.low_watermark == 6
    wanted = 21 if offset == "hw+1" else offset
    C.expect_error_code(list(a.delete_records([TopicPartition(topic, 0, wanted)], request_timeout=15).values())[0],
                        [KafkaError.OFFSET_OUT_OF_RANGE], "DeleteRecords before %r" % wanted)
    assert C.watermarks(bootstrap, topic, 0) == (6, 20), "a refused DeleteRecords moved the watermarks"
    res = list(a.delete_records([TopicPartition(topic, 0, 3)], request_timeout=15).values())[0].result(timeout=20)
    assert res.low_watermark == 6, "DeleteRecords below the log start: low watermark %d, expected 6" % res.low_watermark
    got = C.consume_confluent(bootstrap, topic, partitions=[0])
    assert [g["offset"] for g in got] == list(range(6, 20))


def test_fetch_out_of_range_resets(bootstrap):
    """A fetch below the log start or above the end is OFFSET_OUT_OF_RANGE; with
    auto.offset.reset=earliest the client resets to the log start offset."""
    topic = C.create_topic(bootstrap, 1, "off-oor")
    C.produce_confluent(bootstrap, topic, [{"value": b"%d" % i, "partition": 0} for i in range(10)])
    tp = TopicPartition(topic, 0, 4)
    list(C.admin(bootstrap).delete_records([tp], request_timeout=15).values())[0].result(timeout=20)
    for start in (1, 1000):
        c = Consumer({"bootstrap.servers": bootstrap, "group.id": C.unique("g"), "enable.auto.commit": False,
                      "auto.offset.reset": "earliest"})
        try:
            c.assign([TopicPartition(topic, 0, start)])
            m = None
            deadline = time.time() + 15
            while m is None and time.time() < deadline:
                m = c.poll(0.3)
                if m is not None and m.error():
                    m = None
            assert m is not None, "no record after an out-of-range start at %d" % start
            assert m.offset() == 4, "out-of-range start at %d reset to %d, expected the log start 4" % (start, m.offset())
        finally:
            c.close()


def test_list_offsets_raw_errors(bootstrap):
    """On the wire (clients refuse to ask): a partition the topic lacks, and a topic that does
    not exist, both answer UNKNOWN_TOPIC_OR_PARTITION in the partition's entry."""
    topic = C.create_topic(bootstrap, 1, "off-unk")
    C.produce_confluent(bootstrap, topic, [{"value": b"x", "partition": 0}])
    err, _, off = kwire.list_offsets(bootstrap, topic, 0, -1)
    assert (err, off) == (0, 1), "raw ListOffsets latest: error %d offset %d, expected (0, 1)" % (err, off)
    err, _, _ = kwire.list_offsets(bootstrap, topic, 5, -1)
    assert err == UNKNOWN_TOPIC_OR_PARTITION, "ListOffsets for partition 5 of a one-partition topic: error %d" % err
    missing = C.unique("nope")
    err, _, _ = kwire.list_offsets(bootstrap, missing, 0, -2)
    assert err == UNKNOWN_TOPIC_OR_PARTITION, "ListOffsets for an unknown topic: error %d" % err
    _, _, topics = kwire.metadata_v4(bootstrap, [missing], allow_auto_create=False)
    assert topics[missing][0] == UNKNOWN_TOPIC_OR_PARTITION, "ListOffsets auto-created the topic"


def test_leader_epochs_on_the_wire(bootstrap):
    """The leader-epoch cache (leader-epoch-checkpoint) answers OffsetForLeaderEpoch, and a fetch
    that names the epoch of its last fetched batch (v12+, as followers send) gets Kafka's
    DivergingEpoch when its log went past where that epoch ended here (empty records, no error),
    and OFFSET_OUT_OF_RANGE for an epoch this log cannot place."""
    import kspec
    topic = C.create_topic(bootstrap, 1, "off-epochs")
    C.produce_confluent(bootstrap, topic, [{"value": b"%d" % i, "partition": 0} for i in range(10)])
    with kspec.Connection(bootstrap) as c:
        r = c.call("OffsetForLeaderEpoch", 4, {"ReplicaId": -1, "Topics": [{"Topic": topic, "Partitions": [
            {"Partition": 0, "CurrentLeaderEpoch": 0, "LeaderEpoch": 0}]}]})
        p = r["Topics"][0]["Partitions"][0]
        assert (p["ErrorCode"], p["LeaderEpoch"], p["EndOffset"]) == (0, 0, 10), p
        tid = c.call("Metadata", 12, {"Topics": [{"Name": topic}]})["Topics"][0]["TopicId"]

        def fetch(offset, last_epoch):
            r = c.call("Fetch", 13, {"ReplicaId": -1, "MaxWaitMs": 0, "MinBytes": 1, "MaxBytes": 1 << 20, "SessionEpoch": -1,
                                     "Topics": [{"TopicId": tid, "Partitions": [{"Partition": 0, "CurrentLeaderEpoch": 0,
                                                                                  "FetchOffset": offset, "LastFetchedEpoch": last_epoch,
                                                                                  "PartitionMaxBytes": 1 << 20}]}],
                                     "ForgottenTopicsData": [], "RackId": ""})
            return r["Responses"][0]["Partitions"][0]

        ahead = fetch(12, 0)  # a "follower" that has offsets 10 and 11 of epoch 0, which this log never wrote
        assert ahead["ErrorCode"] == 0 and not ahead["Records"], ahead
        assert (ahead["DivergingEpoch"]["Epoch"], ahead["DivergingEpoch"]["EndOffset"]) == (0, 10), ahead["DivergingEpoch"]
        caught_up = fetch(5, 0)
        assert caught_up["ErrorCode"] == 0 and caught_up["Records"] and caught_up["DivergingEpoch"]["EndOffset"] == -1
        assert fetch(5, 3)["ErrorCode"] == OFFSET_OUT_OF_RANGE, "an epoch later than any this log has"
