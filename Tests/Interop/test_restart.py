"""Durability across process lifetimes, each test on its own broker and data directory:

  - SIGTERM (and SIGINT) is a clean shutdown with exit status 0, and a restart on the same data
    dir serves everything back: records byte for byte (keys, headers, nulls, timestamps, offsets)
    from all three clients and every codec, LogAppendTime stamps, watermarks, DeleteRecords'
    log start, topic configs, added partitions, deleted topics, multi-segment partitions;
    offsets continue where they stopped;
  - a second broker on the same data dir refuses to start;
  - kill -9 while acks=all producers are mid-flight, three times: every record whose delivery report
    said "acknowledged" is found after the restart at the offset the report gave.
"""
import signal
import time

import pytest
from confluent_kafka import Consumer, KafkaError, TopicPartition
from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource, NewPartitions,
                                   OffsetSpec)

import clients as C
from broker import BrokerError


def snapshot_topic(bootstrap, topic):
    recs = C.consume_confluent(bootstrap, topic, timeout=60)
    return [(r["partition"], r["offset"], r["key"], r["value"], r["headers"], r["ts_type"], r["ts"]) for r in recs]


def all_watermarks(bootstrap, topic):
    n = C.partition_count(bootstrap, topic)
    return {p: C.watermarks(bootstrap, topic, p) for p in range(n)}


def config_value(bootstrap, topic, key):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return C.admin(bootstrap).describe_configs([res], request_timeout=15)[res].result(timeout=20)[key].value


def offset_for_time(bootstrap, topic, partition, ts):
    tp = TopicPartition(topic, partition)
    r = C.admin(bootstrap).list_offsets({tp: OffsetSpec.for_timestamp(ts)}, request_timeout=15)[tp].result(timeout=20)
    return r.offset


def topic_ids(bootstrap, topics):
    """Topic ids (Metadata v10+) from confluent's describe_topics."""
    from confluent_kafka import TopicCollection
    futs = C.admin(bootstrap).describe_topics(TopicCollection(list(topics)), request_timeout=15)
    return {t: str(f.result(timeout=20).topic_id) for t, f in futs.items()}


def poll_values(consumer, n, timeout):
    """Up to n values; errors other than transport hiccups (the broker restarting) fail."""
    out = []
    deadline = time.time() + timeout
    while len(out) < n and time.time() < deadline:
        m = consumer.poll(0.2)
        if m is None:
            continue
        if m.error():
            if m.error().code() in (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN):
                continue
            raise AssertionError("live consumer error: %s" % m.error())
        out.append(m.value())
    return out


@pytest.mark.timeout(180)
def test_sigterm_restart_reads_everything_back(broker_factory, tmp_path):
    b = broker_factory()
    boot = b.bootstrap
    base = C.now_ms() - 3_600_000

    mixed = C.create_topic(boot, 3, "rs-mixed")
    msgs = []
    for i in range(600):
        m = {"key": None if i % 10 == 0 else b"key-%d" % (i % 17),
             "value": None if i % 25 == 0 else (b"" if i % 31 == 0 else b"confluent-%d " % i * (1 + i % 5)),
             "headers": [("i", b"%d" % i), ("dup", b"a"), ("dup", b"b")] if i % 3 else None,
             "timestamp": base + i, "partition": i % 3}
        msgs.append(m)
    C.produce_confluent(boot, mixed, msgs[:300], **{"compression.type": "gzip"})
    C.produce_confluent(boot, mixed, msgs[300:], **{"compression.type": "snappy"})
    C.produce_kp(boot, mixed, [{"key": b"kp-%d" % i, "value": b"kafka-python %d " % i * 4, "partition": i % 3,
                                "headers": [("src", b"kp")], "timestamp": base + 1000 + i} for i in range(300)],
                 compression_type="zstd")
    C.produce_kcat(boot, mixed, [("kcat-%d" % i, "kcat value %d" % i) for i in range(300)], partition=2,
                   headers=[("src", "kcat")], extra=["-z", "lz4"])

    lat = C.create_topic(boot, 1, "rs-lat", config={"message.timestamp.type": "LogAppendTime"})
    C.produce_confluent(boot, lat, [{"value": b"lat-%d" % i, "partition": 0} for i in range(50)])

    trimmed = C.create_topic(boot, 1, "rs-trim")
    C.produce_confluent(boot, trimmed, [{"value": b"t%d" % i, "partition": 0} for i in range(20)])
    list(C.admin(boot).delete_records([TopicPartition(trimmed, 0, 8)], request_timeout=15).values())[0].result(20)

    gone = C.create_topic(boot, 2, "rs-gone")
    C.produce_confluent(boot, gone, [{"value": b"g", "partition": 0}])
    C.admin(boot).delete_topics([gone], operation_timeout=10, request_timeout=15)[gone].result(timeout=20)
    C.wait_topic_gone(boot, gone)

    grown = C.create_topic(boot, 1, "rs-grown", config={"retention.ms": "3600000"})
    C.admin(boot).create_partitions([NewPartitions(grown, 3)], request_timeout=15)[grown].result(timeout=20)
    C.wait_topic(boot, grown, 3)
    res = ConfigResource(ConfigResource.Type.TOPIC, grown, incremental_configs=[
        ConfigEntry("retention.ms", "7777777", incremental_operation=AlterConfigOpType.SET)])
    C.admin(boot).incremental_alter_configs([res])[res].result(timeout=20)
    C.produce_confluent(boot, grown, [{"value": b"p%d" % p, "partition": p} for p in range(3)])

    segs = C.create_topic(boot, 1, "rs-segs", config={"segment.bytes": str(1 << 20)})
    C.produce_confluent(boot, segs, [{"value": b"%06d" % i + b"." * 20_000, "partition": 0} for i in range(200)],
                        **{"compression.type": "none"})

    topics = [mixed, lat, trimmed, grown, segs]
    before = {t: snapshot_topic(boot, t) for t in topics}
    marks = {t: all_watermarks(boot, t) for t in topics}
    lookups = {(mixed, p, ts): offset_for_time(boot, mixed, p, ts) for p in range(3) for ts in (base + 250, base + 1100)}
    assert len(before[mixed]) == 1200, "before the restart %s holds %d records, expected 1200" % (mixed, len(before[mixed]))
    assert marks[trimmed][0] == (8, 20)

    ids = topic_ids(boot, topics)

    # a consumer that lives through the restart (the broker comes back on the same port)
    live = Consumer({"bootstrap.servers": boot, "group.id": C.unique("live"), "enable.auto.commit": False,
                     "enable.partition.eof": False, "reconnect.backoff.max.ms": 500})
    live.assign([TopicPartition(grown, p, 0) for p in range(3)])
    live_vals = poll_values(live, 3, 15)
    assert sorted(live_vals) == [b"p0", b"p1", b"p2"], "live consumer before the restart read %r" % live_vals

    old_port = b.port
    rc = b.stop(signal.SIGTERM)
    assert rc == 0, "SIGTERM: broker exited with status %r, expected 0 (clean shutdown)\n%s" % (rc, b.tail())
    b.start(port=old_port)
    boot = b.bootstrap
    assert len(b.listening_lines()) == 1, "expected exactly one 'listening on' line, got %r" % b.listening_lines()
    assert topic_ids(boot, topics) == ids, "topic ids changed across the restart: %r -> %r" % (ids, topic_ids(boot, topics))

    for t in topics:
        after = snapshot_topic(boot, t)
        if after != before[t]:
            diff = next((i for i, (x, y) in enumerate(zip(after, before[t])) if x != y), min(len(after), len(before[t])))
            raise AssertionError("topic %s after restart: %d records (before: %d); first difference at #%d: %r != %r"
                                 % (t, len(after), len(before[t]), diff,
                                    after[diff] if diff < len(after) else None,
                                    before[t][diff] if diff < len(before[t]) else None))
        assert all_watermarks(boot, t) == marks[t], "watermarks of %s: %r after restart, %r before" % (
            t, all_watermarks(boot, t), marks[t])
    for (t, p, ts), off in lookups.items():
        assert offset_for_time(boot, t, p, ts) == off, "ListOffsets by time on %s[%d] changed across the restart" % (t, p)
    assert config_value(boot, grown, "retention.ms") == "7777777", "altered retention.ms lost in the restart"
    assert C.partition_count(boot, grown) == 3, "CreatePartitions lost in the restart"
    md = C.admin(boot).list_topics(timeout=10)
    assert gone not in md.topics, "deleted topic %s came back after the restart" % gone
    assert config_value(boot, lat, "message.timestamp.type") == "LogAppendTime"

    kc = C.consume_kcat(boot, mixed)
    assert [(r["partition"], r["offset"], r["key"], r["value"]) for r in kc] == \
        [(x[0], x[1], x[2], x[3]) for x in before[mixed]], "kcat reads %s differently after the restart" % mixed

    if b.port == old_port:
        C.produce_confluent(boot, grown, [{"value": b"after-%d" % p, "partition": p} for p in range(3)])
        more = poll_values(live, 3, 30)
        assert sorted(more) == [b"after-0", b"after-1", b"after-2"], \
            "a consumer connected before the restart got %r after it (expected the 3 new records)" % more
    live.close()

    reports = C.produce_confluent(boot, mixed, [{"value": b"after", "partition": p} for p in range(3)])
    for p, off in reports:
        assert off == marks[mixed][p][1], "first offset after restart in %s[%d] is %d, expected %d" % (
            mixed, p, off, marks[mixed][p][1])
    C.produce_confluent(boot, lat, [{"value": b"after", "partition": 0}])
    got = C.consume_kp(boot, lat)
    assert [g["offset"] for g in got] == list(range(51)) and got[-1]["value"] == b"after"


@pytest.mark.timeout(90)
def test_sigint_is_a_clean_shutdown(broker_factory):
    b = broker_factory()
    t = C.create_topic(b.bootstrap, 1, "rs-int")
    C.produce_confluent(b.bootstrap, t, [{"value": b"%d" % i, "partition": 0} for i in range(10)])
    rc = b.stop(signal.SIGINT)
    assert rc == 0, "SIGINT: broker exited with status %r, expected 0\n%s" % (rc, b.tail())
    b.start()
    got = C.consume_confluent(b.bootstrap, t)
    assert [g["value"] for g in got] == [b"%d" % i for i in range(10)], "after SIGINT + restart: %r" % got


@pytest.mark.timeout(90)
def test_second_broker_on_same_data_dir_is_refused(broker_factory):
    a = broker_factory()
    t = C.create_topic(a.bootstrap, 1, "rs-lock")
    C.produce_confluent(a.bootstrap, t, [{"value": b"before", "partition": 0}])
    b = broker_factory(start=False, data_dir=a.data_dir)
    try:
        b.start()
    except BrokerError:
        pass
    else:
        b.stop(signal.SIGKILL)
        pytest.fail("a second broker started on data dir %s, which a running broker owns (listening on %s)"
                    % (a.data_dir, b.listening_line))
    rc = b.exit_codes[-1]
    assert rc not in (0, None), "the refused second broker exited with status %r, expected non-zero" % rc
    text = b.tail(100)
    assert any(w in text.lower() for w in ("lock", "in use", "already", a.data_dir.lower())), \
        "the refusal does not say why (no mention of a lock, 'in use', 'already' or the data dir):\n%s" % text
    assert a.alive(), "the first broker died when a second one tried its data dir"
    C.produce_confluent(a.bootstrap, t, [{"value": b"after", "partition": 0}])
    got = C.consume_kp(a.bootstrap, t)
    assert [g["value"] for g in got] == [b"before", b"after"], "first broker after the refused start: %r" % got


# ---------------------------------------------------------------------------- kill -9
def produce_then_kill(broker, topic, partitions, tag, min_acked, max_seconds=10.0):
    """Run two acks=all producers (uncompressed and zstd) flat out over `partitions`; once
    `min_acked` records are acknowledged (or max_seconds pass), SIGKILL the broker while records
    are still in flight. Returns ({value: (partition, offset)} acknowledged, in flight at the kill)."""
    boot = broker.bootstrap
    acked = {}
    failed = [0]

    def cb(err, msg):
        if err is None:
            acked[msg.value()] = (msg.partition(), msg.offset())
        else:
            failed[0] += 1

    producers = [C.confluent_producer(boot, **{"acks": "all", "compression.type": codec, "linger.ms": 2,
                                               "message.timeout.ms": 10000, "queue.buffering.max.messages": 20000})
                 for codec in ("none", "zstd")]
    i = 0
    t0 = time.time()
    while len(acked) < min_acked and time.time() - t0 < max_seconds:
        for p in producers:
            for _ in range(100):
                v = b"%s-%07d" % (tag.encode(), i)
                try:
                    p.produce(topic, value=v, key=b"%d" % (i % 97), partition=i % partitions, on_delivery=cb)
                except BufferError:
                    p.poll(0.01)
                    continue
                i += 1
            p.poll(0)
    in_flight = sum(len(p) for p in producers)
    broker.kill9()
    for p in producers:
        p.poll(0.2)  # acknowledgements already read from the socket still count
        p.purge(in_queue=True, in_flight=True, blocking=True)
        p.flush(15)
    return acked, in_flight, i


def read_partitions(bootstrap, topic, partitions):
    stored = {}
    for r in C.consume_confluent(bootstrap, topic, partitions=range(partitions), timeout=90):
        stored[(r["partition"], r["offset"])] = r["value"]
    for p in range(partitions):
        offs = sorted(o for (pp, o) in stored if pp == p)
        assert offs == list(range(len(offs))), "partition %d after recovery: offsets not dense from 0 (%r...)" % (
            p, [o for a, o in zip(range(len(offs)), offs) if a != o][:5])
    return stored


def check_acked(stored, acked, what):
    missing = [(v, po) for v, po in acked.items() if stored.get(po) != v]
    assert not missing, "%s: %d of %d acknowledged records are not where their delivery report put them; " \
                        "first: %r" % (what, len(missing), len(acked),
                                       [(v, po, stored.get(po)) for v, po in missing[:5]])


@pytest.mark.timeout(240)
def test_kill9_during_acks_all_produce_loses_no_acknowledged_record(broker_factory):
    b = broker_factory()
    parts = 3
    topic = C.create_topic(b.bootstrap, parts, "rs-kill")
    all_acked = {}
    for rnd, min_acked in enumerate((5000, 20000, 12000)):
        acked, in_flight, sent = produce_then_kill(b, topic, parts, "round%d" % rnd, min_acked=min_acked)
        assert len(acked) >= 100, "round %d: only %d records acknowledged before the kill (broker too slow or " \
                                  "not acknowledging)" % (rnd, len(acked))
        assert in_flight > 0, "round %d: nothing was in flight at the kill; the test did not kill mid-produce" % rnd
        all_acked.update(acked)
        b.start()
        stored = read_partitions(b.bootstrap, topic, parts)
        check_acked(stored, all_acked, "after kill -9 #%d (%d sent, %d acknowledged, %d in flight)" % (
            rnd + 1, sent, len(acked), in_flight))
    # the recovered log still takes writes at the right offsets
    ends = {p: C.watermarks(b.bootstrap, topic, p)[1] for p in range(parts)}
    reports = C.produce_confluent(b.bootstrap, topic, [{"value": b"final", "partition": p} for p in range(parts)],
                                  acks="all")
    for p, off in reports:
        assert off == ends[p], "after recovery partition %d appended at %d, high watermark was %d" % (p, off, ends[p])


@pytest.mark.timeout(120)
def test_kill9_right_after_ack(broker_factory):
    """The narrowest window: kill -9 the moment the last acks=all delivery report arrives."""
    b = broker_factory()
    topic = C.create_topic(b.bootstrap, 1, "rs-ack")
    acked = {}
    for rnd in range(3):
        vals = [b"r%d-%d" % (rnd, i) for i in range(200)]
        reports = C.produce_confluent(b.bootstrap, topic, [{"value": v, "partition": 0} for v in vals], acks="all")
        b.kill9()
        acked.update(zip(vals, reports))
        b.start()
        stored = read_partitions(b.bootstrap, topic, 1)
        check_acked(stored, acked, "kill -9 right after ack, round %d" % rnd)
        assert len(stored) == len(acked), "round %d: %d records stored, %d acknowledged (nothing else was sent)" % (
            rnd, len(stored), len(acked))
