"""Damaged log files are never served as data. A batch whose bytes changed on disk after it was
written (64 flipped bytes in an older segment) is found by its CRC the first time a fetch would
send it: the broker logs it, counts it on /metrics (sluice_corrupt_batches_total), answers
fetches that start at it with KAFKA_STORAGE_ERROR (56, Kafka's answer for a failed log:
clients refresh and retry) and keeps everything before and after it readable. After an unclean
stop, recovery still cuts the log at the first invalid batch of the active segment (Kafka's
rule; replicas will restore the rest), and now says which offsets it cut and counts them
(sluice_recovery_truncated_bytes_total / _records_total)."""
import os
import signal
import struct

import clients as C
import kspec
from test_metrics import free_port, scrape

KAFKA_STORAGE_ERROR = 56


def batches_of(path):
    """[(position, base offset, last offset, total size)] of the batches in a segment file."""
    data = open(path, "rb").read()
    out, pos = [], 0
    while pos + 61 <= len(data):
        base, length = struct.unpack_from(">qi", data, pos)
        last_delta = struct.unpack_from(">i", data, pos + 23)[0]
        out.append((pos, base, base + last_delta, 12 + length))
        pos += 12 + length
    return out


def fetch(bootstrap, topic_id, offset, max_bytes=1 << 20):
    with kspec.Connection(bootstrap) as c:
        r = c.call("Fetch", 13, {"ReplicaId": -1, "MaxWaitMs": 0, "MinBytes": 1, "MaxBytes": max_bytes, "SessionEpoch": -1,
                                 "Topics": [{"TopicId": topic_id, "Partitions": [
                                     {"Partition": 0, "FetchOffset": offset, "PartitionMaxBytes": max_bytes}]}],
                                 "ForgottenTopicsData": [], "RackId": ""})
    p = r["Responses"][0]["Partitions"][0]
    return p["ErrorCode"], p["Records"] or b""


def topic_id(bootstrap, topic):
    with kspec.Connection(bootstrap) as c:
        return c.call("Metadata", 12, {"Topics": [{"Name": topic}]})["Topics"][0]["TopicId"]


def offsets_in(records):
    from kwire import parse_batches
    batches, _ = parse_batches(records)
    return [o for b in batches for o in range(b.base_offset, b.next_offset)]


def test_a_damaged_batch_in_an_old_segment_is_refused_and_the_rest_stays_readable(broker_factory):
    port = free_port()
    b = broker_factory({"metrics.listener": "127.0.0.1:%d" % port})
    topic = C.create_topic(b.bootstrap, 1, "corrupt", config={"segment.bytes": "20000"})
    for i in range(60):  # one batch per record, ~1 KB each: several segments
        C.produce_confluent(b.bootstrap, topic, [{"value": b"%04d" % i + b"v" * 1000, "partition": 0}], **{"linger.ms": 0})
    tid = topic_id(b.bootstrap, topic)
    b.stop()
    directory = os.path.join(b.data_dir, "%s-0" % topic)
    segments = sorted(f for f in os.listdir(directory) if f.endswith(".log"))
    assert len(segments) >= 3, segments
    old = os.path.join(directory, segments[1])
    pos, base, last, size = batches_of(old)[3]
    with open(old, "r+b") as f:  # 64 bytes inside the records, past the 61-byte header
        f.seek(pos + 61 + 100)
        chunk = bytearray(f.read(64))
        f.seek(pos + 61 + 100)
        f.write(bytes(x ^ 0xFF for x in chunk))
    b.start()
    C.forget(b.bootstrap)

    err, records = fetch(b.bootstrap, tid, base)
    assert err == KAFKA_STORAGE_ERROR and not records, "a fetch at the damaged batch: error %d, %d bytes" % (err, len(records))
    err, records = fetch(b.bootstrap, tid, 0, max_bytes=10 << 20)
    assert err == 0 and offsets_in(records) and max(offsets_in(records)) < base, \
        "a fetch from before the damage stops short of it: %r" % offsets_in(records)[-3:]
    err, records = fetch(b.bootstrap, tid, last + 1)
    assert err == 0 and offsets_in(records)[0] == last + 1, "what follows the damaged batch stays readable"
    # librdkafka reads everything before the damage, each record intact, and nothing past it.
    from confluent_kafka import Consumer, TopicPartition
    import time
    c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": C.unique("corrupt"), "enable.auto.commit": False})
    got = []
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        deadline = time.time() + 10
        while time.time() < deadline:
            m = c.poll(0.5)
            if m is not None and m.error() is None:
                got.append((m.offset(), m.value()))
    finally:
        c.close()
    assert got == [(i, b"%04d" % i + b"v" * 1000) for i in range(base)], \
        "librdkafka got %d records (last %r), expected offsets 0-%d intact" % (len(got), got[-1][0] if got else None, base - 1)
    series = scrape(port)
    assert series.get("sluice_corrupt_batches_total") == 1, series.get("sluice_corrupt_batches_total")
    log = open(b.log_path).read()
    assert "damaged batch found when read" in log and "CRC mismatch" in log


def test_recovery_says_what_it_cut_from_a_damaged_tail(broker_factory):
    port = free_port()
    b = broker_factory({"metrics.listener": "127.0.0.1:%d" % port})
    topic = C.create_topic(b.bootstrap, 1, "corrupt-tail")
    for i in range(20):
        C.produce_confluent(b.bootstrap, topic, [{"value": b"r%d" % i, "partition": 0}], **{"linger.ms": 0})
    b.kill9()  # unclean: the next start recovers the active segment
    directory = os.path.join(b.data_dir, "%s-0" % topic)
    (active,) = [f for f in os.listdir(directory) if f.endswith(".log")]
    path = os.path.join(directory, active)
    pos, base, _, _ = batches_of(path)[5]
    with open(path, "r+b") as f:
        f.seek(pos + 61 + 2)
        byte = f.read(1)
        f.seek(pos + 61 + 2)
        f.write(bytes([byte[0] ^ 0x01]))
    b.start()
    C.forget(b.bootstrap)
    assert C.watermarks(b.bootstrap, topic, 0) == (0, base), "recovery keeps what is before the first invalid batch"
    series = scrape(port)
    assert series.get("sluice_recovery_truncated_records_total") == 20 - base
    assert series.get("sluice_recovery_truncated_bytes_total", 0) > 0
    log = open(b.log_path).read()
    assert "recovery truncated the log tail" in log and ("offsetsCut=%d-19" % base) in log, "the log must name the offsets cut"
