"""Produce/consume round trips across the three clients: keys, headers, null and empty keys and
values, binary and UTF-8 payloads, CreateTime timestamps, 1 MB values (with fetch limits below
the record size: KIP-74), per-partition order with keys, and the acks levels."""
import hashlib
import random
import time

import pytest

import clients as C
import kwire

PRODUCERS = ["confluent", "kafka-python", "kcat"]
CONSUMERS = ["confluent", "kafka-python", "kcat"]


def library_messages(base_ts, confluent=True):
    """What confluent-kafka and kafka-python can express: per-record headers (repeated keys,
    empty and binary values), null/empty keys and values, explicit timestamps. kafka-python
    refuses null header values and a record whose key and value are both null, so only
    confluent produces those."""
    msgs = [
        {"key": b"k0", "value": b"plain value", "headers": [("h1", b"v1")]},
        {"key": None, "value": b"null key"},
        {"key": b"", "value": b"empty key"},
        {"key": b"tombstone", "value": None},
        {"key": b"empty-value", "value": b""},
        {"key": None, "value": None} if confluent else {"key": b"", "value": None},
        {"key": b"\x00\xff\xfe\n\tbinary", "value": bytes(range(256)) * 4, "headers": [("bin", bytes(range(256)))]},
        {"key": b"hdrs", "value": b"repeated headers", "headers": [("a", b"1"), ("b", b"2"), ("a", b"3"), ("empty", b"")]},
        {"key": b"null-header", "value": b"x",
         "headers": [("n", None if confluent else b"not-null"), ("after", b"y")]},
        {"key": "ключ".encode(), "value": "значение ✓ 値".encode(), "headers": [("ünï", "çødé".encode())]},
    ]
    msgs += [{"key": b"seq-%d" % (i % 3), "value": b"value-%05d" % i, "headers": [("i", b"%d" % i)]}
             for i in range(200)]
    for i, m in enumerate(msgs):
        m["timestamp"] = base_ts + i * 7
        m["partition"] = 0
    return msgs


def kcat_lines():
    """kcat -P -K TAB -Z: one message per line; no delimiter = null key; empty value = NULL."""
    lines = [("k0", "v0"), (None, "no key"), ("tomb", ""), ("utf8", "значение ✓"), ("spaces", "a b  c")]
    lines += [("seq-%d" % (i % 3), "value-%05d" % i) for i in range(200)]
    return lines


KCAT_HEADERS = [("a", "1"), ("b", "2"), ("a", "3")]


def expected_from_kcat(lines):
    hs = [(k, v.encode()) for k, v in KCAT_HEADERS]
    return [{"key": None if k is None else k.encode(), "value": v.encode() if v != "" else None,
             "headers": hs} for k, v in lines]


def _simple(b):
    return b is not None and all(0x20 < c < 0x7f and c not in b",=" for c in b)


def kcat_view(want):
    """kcat's -f %h prints headers as n=v CSV: compare headers only when that is unambiguous."""
    out = []
    for w in want:
        w = dict(w)
        hs = w.get("headers") or []
        w["headers"] = list(hs) if all(_simple(k.encode()) and _simple(v) for k, v in hs) else None
        out.append(w)
    return out


def produce_with(name, bootstrap, topic, base_ts):
    t0 = C.now_ms()
    if name == "confluent":
        want = library_messages(base_ts)
        reports = C.produce_confluent(bootstrap, topic, want)
        assert [o for _, o in reports] == list(range(len(want))), "confluent delivery offsets not 0..n-1"
    elif name == "kafka-python":
        want = library_messages(base_ts, confluent=False)
        reports = C.produce_kp(bootstrap, topic, want)
        assert [o for _, o in reports] == list(range(len(want))), "kafka-python delivery offsets not 0..n-1"
    else:
        lines = kcat_lines()
        C.produce_kcat(bootstrap, topic, lines, headers=KCAT_HEADERS, null_empty=True)
        want = expected_from_kcat(lines)
    return want, (t0 - 1000, C.now_ms() + 1000)


@pytest.mark.parametrize("consumer", CONSUMERS)
@pytest.mark.parametrize("producer", PRODUCERS)
def test_roundtrip(bootstrap, producer, consumer):
    topic = C.create_topic(bootstrap, 1, "rt")
    base_ts = C.now_ms() - 3_600_000
    want, (t_lo, t_hi) = produce_with(producer, bootstrap, topic, base_ts)
    got = C.consume_with(consumer, bootstrap, topic)
    who = "%s -> %s" % (producer, consumer)
    assert [r["offset"] for r in got] == list(range(len(want))), "%s: offsets %r..., expected 0..%d" % (
        who, [r["offset"] for r in got][:10], len(want) - 1)
    if consumer == "kcat":
        view = kcat_view(want)
        for i, (g, w) in enumerate(zip(got, view)):
            if w["headers"] is None:
                g["headers"] = None
        want = view
    C.assert_same_records(got, want, who, check_ts=(producer != "kcat"))
    if producer == "kcat":
        for g in got:
            assert t_lo <= g["ts"] <= t_hi, "%s: kcat record at offset %d has timestamp %d, outside the " \
                                            "produce window [%d, %d]" % (who, g["offset"], g["ts"], t_lo, t_hi)
    if consumer != "kcat":
        bad = [g["offset"] for g in got if g["ts_type"] != "create"]
        assert not bad, "%s: offsets %r not reported as CreateTime" % (who, bad[:5])


def test_keyed_order_across_partitions(bootstrap):
    """5000 keyed records over 4 partitions: every delivery report matches what is stored,
    offsets are dense from 0 in every partition, a key stays in one partition, and each key's
    sequence is in order there."""
    topic = C.create_topic(bootstrap, 4, "order")
    n = 5000
    msgs = [{"key": b"key-%02d" % (i % 37), "value": b"%d" % i} for i in range(n)]
    reports = C.produce_confluent(bootstrap, topic, msgs, **{"batch.num.messages": 100})
    where = {(p, o): int(m["value"]) for (p, o), m in zip(reports, msgs)}
    for consumer in ("kafka-python", "kcat"):
        got = C.consume_with(consumer, bootstrap, topic)
        assert len(got) == n, "%s read %d of %d records" % (consumer, len(got), n)
        per_part = {}
        for r in got:
            per_part.setdefault(r["partition"], []).append(r)
        for p, recs in per_part.items():
            offs = [r["offset"] for r in recs]
            assert offs == list(range(len(recs))), "%s: partition %d offsets not dense from 0: %r..." % (
                consumer, p, offs[:20])
        key_part = {}
        last_seq = {}
        for r in got:
            v = int(r["value"])
            assert where.get((r["partition"], r["offset"])) == v, \
                "%s: partition %d offset %d holds %d, delivery report said %r" % (
                    consumer, r["partition"], r["offset"], v, where.get((r["partition"], r["offset"])))
            assert key_part.setdefault(r["key"], r["partition"]) == r["partition"], \
                "%s: key %r in partitions %d and %d" % (consumer, r["key"], key_part[r["key"]], r["partition"])
            assert v > last_seq.get(r["key"], -1), "%s: key %r out of order (%d after %d)" % (
                consumer, r["key"], v, last_seq[r["key"]])
            last_seq[r["key"]] = v


# ------------------------------------------------------------------------- 1 MB values
ONE_MB = 1_000_000  # under both clients' default message.max.bytes and Kafka's max.message.bytes


@pytest.mark.parametrize("consumer", CONSUMERS)
def test_one_megabyte_values_with_small_fetch_limits(bootstrap, consumer, tmp_path):
    """Three 1 MB values (one per producer), read with fetch limits of 64 KiB: the broker must
    return the first batch whole even when it is larger than the limits (KIP-74)."""
    topic = C.create_topic(bootstrap, 1, "big")
    rnd = random.Random(74)
    vals = [rnd.randbytes(ONE_MB) for _ in range(3)]
    C.produce_confluent(bootstrap, topic, [{"value": vals[0], "key": b"confluent", "partition": 0}],
                        **{"message.max.bytes": 2_000_000, "compression.type": "none"})
    C.produce_kp(bootstrap, topic, [{"value": vals[1], "key": b"kafka-python", "partition": 0}],
                 max_request_size=2_000_000)
    f = tmp_path / "value.bin"
    f.write_bytes(vals[2])
    C.produce_kcat_files(bootstrap, topic, [f], extra=["-X", "message.max.bytes=2000000"])
    small = 65536
    if consumer == "confluent":
        got = C.consume_confluent(bootstrap, topic, **{"fetch.max.bytes": small, "max.partition.fetch.bytes": small,
                                                       "message.max.bytes": small})
    elif consumer == "kafka-python":
        got = C.consume_kp(bootstrap, topic, fetch_max_bytes=small, max_partition_fetch_bytes=small)
    else:
        got = C.consume_kcat(bootstrap, topic, extra=["-X", "fetch.max.bytes=%d" % small,
                                                      "-X", "max.partition.fetch.bytes=%d" % small,
                                                      "-X", "message.max.bytes=%d" % small])
    assert len(got) == 3, "%s read %d of 3 one-megabyte records" % (consumer, len(got))
    for i, (g, v) in enumerate(zip(got, vals)):
        assert g["value"] is not None and len(g["value"]) == ONE_MB and \
            hashlib.sha256(g["value"]).digest() == hashlib.sha256(v).digest(), \
            "%s: 1 MB record %d differs (got %s bytes)" % (consumer, i, None if g["value"] is None else len(g["value"]))


# ------------------------------------------------------------------------- acks
def test_acks_levels_confluent_and_kafka_python(bootstrap):
    """acks=0, 1 and all (-1) into one partition: all arrive in order. kafka-python 2.3.3 is
    left out of acks=0: its client queues an acks=0 Produce and only writes it to the socket when
    some later request needs sending (client_async.send skips `_sending` for a future that is
    already done), so its acks=0 records never leave a short-lived producer."""
    topic = C.create_topic(bootstrap, 1, "acks")
    expect = []
    for acks in (0, 1, -1):
        vals = [b"confluent-acks%d-%d" % (acks, i) for i in range(100)]
        reports = C.produce_confluent(bootstrap, topic, [{"value": v, "partition": 0} for v in vals],
                                      **{"acks": str(acks) if acks >= 0 else "all"})
        if acks != 0:
            assert [o for _, o in reports] == list(range(len(expect), len(expect) + 100)), \
                "acks=%d delivery offsets %r..." % (acks, [o for _, o in reports][:5])
        expect += vals
        if acks != 0:
            vals = [b"kp-acks%d-%d" % (acks, i) for i in range(100)]
            reports = C.produce_kp(bootstrap, topic, [{"value": v, "partition": 0} for v in vals],
                                   acks=acks if acks >= 0 else "all")
            assert [o for _, o in reports] == list(range(len(expect), len(expect) + 100)), \
                "kafka-python acks=%d delivery offsets %r..." % (acks, [o for _, o in reports][:5])
            expect += vals
    got = C.consume_confluent(bootstrap, topic)
    assert [g["value"] for g in got] == expect, "acks round trip: %d records, first mismatch at %r" % (
        len(got), next((i for i, (g, e) in enumerate(zip(got, expect)) if g["value"] != e), None))


def test_acks0_gets_no_response_on_the_wire(bootstrap):
    """Produce with acks=0 is never answered (Kafka sends no response): the next response on
    the same connection belongs to the next request."""
    topic = C.create_topic(bootstrap, 1, "acks0raw")
    versions = kwire.api_versions(bootstrap)
    v = kwire.pick_version(versions, kwire.API_PRODUCE, 3, 8, "Produce")
    batch = kwire.build_batch([(b"k", b"acks0", None)])
    with kwire.Conn(bootstrap) as c:
        c.request(kwire.API_PRODUCE, v, kwire.produce_body(v, topic, 0, batch, acks=0))
        corr = c.request(kwire.API_API_VERSIONS, 0, b"")
        data = c.recv_frame()
        got = int.from_bytes(data[:4], "big", signed=True)
        assert got == corr, "after an acks=0 Produce the broker sent a response with correlation id %d; " \
                            "expected only the ApiVersions answer (%d)" % (got, corr)
    deadline = time.time() + 10
    while C.watermarks(bootstrap, topic, 0)[1] < 1 and time.time() < deadline:
        time.sleep(0.1)
    assert C.watermarks(bootstrap, topic, 0) == (0, 1), "acks=0 record not stored"


# ------------------------------------------------------------------------- Fetch on the wire
def test_fetch_positions_on_the_wire(bootstrap):
    """Fetch at the high watermark: no records, no error. Above it, or below the log start:
    OFFSET_OUT_OF_RANGE (1)."""
    topic = C.create_topic(bootstrap, 1, "fetchpos")
    C.produce_confluent(bootstrap, topic, [{"value": b"%d" % i, "partition": 0} for i in range(10)])
    from confluent_kafka import TopicPartition
    fut = C.admin(bootstrap).delete_records([TopicPartition(topic, 0, 3)], request_timeout=15)
    list(fut.values())[0].result(timeout=20)
    versions = kwire.api_versions(bootstrap)
    v = kwire.pick_version(versions, kwire.API_FETCH, 4, 11, "Fetch")
    with kwire.Conn(bootstrap) as c:
        d = kwire.fetch(c, v, topic, 0, 10, max_wait_ms=0)
        assert (d["error"], d["high_watermark"], d["records"]) == (0, 10, b""), \
            "Fetch at the high watermark: error %d, hw %d, %d record bytes" % (d["error"], d["high_watermark"], len(d["records"]))
        d = kwire.fetch(c, v, topic, 0, 11, max_wait_ms=0)
        assert d["error"] == 1, "Fetch above the high watermark: error %d, expected OFFSET_OUT_OF_RANGE (1)" % d["error"]
        d = kwire.fetch(c, v, topic, 0, 1, max_wait_ms=0)
        assert d["error"] == 1, "Fetch below the log start (3): error %d, expected OFFSET_OUT_OF_RANGE (1)" % d["error"]
        d = kwire.fetch(c, v, topic, 0, 5, max_wait_ms=0)
        assert d["error"] == 0, "Fetch at 5: error %d" % d["error"]
        if v >= 5:
            assert d["log_start_offset"] == 3, "Fetch v%d log_start_offset %d, expected 3" % (v, d["log_start_offset"])
        batches, _ = kwire.parse_batches(d["records"])
        offs = [r.offset for b in batches for r in b]
        assert offs and offs[0] <= 5 and offs[-1] == 9, "Fetch at 5 returned offsets %r" % offs


def test_fetch_long_poll(bootstrap):
    """min_bytes=1 on an empty partition waits up to max_wait_ms, and returns as soon as a record
    arrives."""
    topic = C.create_topic(bootstrap, 1, "longpoll")
    versions = kwire.api_versions(bootstrap)
    v = kwire.pick_version(versions, kwire.API_FETCH, 4, 11, "Fetch")
    with kwire.Conn(bootstrap) as c:
        t0 = time.monotonic()
        d = kwire.fetch(c, v, topic, 0, 0, max_wait_ms=800, min_bytes=1)
        took = time.monotonic() - t0
        assert d["error"] == 0 and d["records"] == b"", "empty long poll: %r" % d
        assert 0.6 <= took <= 3.0, "Fetch with max_wait_ms=800 on an empty partition returned after %.2fs" % took

        import threading
        t = threading.Timer(0.3, lambda: C.produce_confluent(bootstrap, topic, [{"value": b"wake", "partition": 0}]))
        t0 = time.monotonic()
        t.start()
        try:
            d = kwire.fetch(c, v, topic, 0, 0, max_wait_ms=5000, min_bytes=1)
        finally:
            t.join()
        took = time.monotonic() - t0
        batches, _ = kwire.parse_batches(d["records"])
        assert [r.value for b in batches for r in b] == [b"wake"], "long poll woke with %r" % d
        assert took < 3.0, "a long poll (max_wait 5 s) took %.2fs to return a record produced after 0.3 s" % took


def test_pipelined_requests_are_answered_in_order(bootstrap):
    """Several requests written at once on one connection, a long-polling Fetch first: the
    responses come back in request order (the Java client and kafka-python require it)."""
    topic = C.create_topic(bootstrap, 1, "pipeline")
    versions = kwire.api_versions(bootstrap)
    fv = kwire.pick_version(versions, kwire.API_FETCH, 4, 11, "Fetch")
    reqs = [(kwire.API_FETCH, fv, kwire.fetch_body(fv, topic, 0, 0, max_wait_ms=700, min_bytes=1)),
            (kwire.API_API_VERSIONS, 0, b""),
            (kwire.API_METADATA, 1, kwire.array([kwire.string(topic)])),
            (kwire.API_FETCH, fv, kwire.fetch_body(fv, topic, 0, 0, max_wait_ms=0, min_bytes=0)),
            (kwire.API_API_VERSIONS, 1, b""),
            (kwire.API_FETCH, fv, kwire.fetch_body(fv, topic, 0, 0, max_wait_ms=300, min_bytes=1)),
            (kwire.API_API_VERSIONS, 2, b"")]
    with kwire.Conn(bootstrap) as c:
        data = b""
        corrs = []
        for i, (k, ver, body) in enumerate(reqs):
            corr = 500 + i
            corrs.append(corr)
            data += kwire.frame(kwire.header_v1(k, ver, corr) + body)
        c.send(data)
        got = []
        for _ in reqs:
            frame = c.recv_frame()
            got.append(int.from_bytes(frame[:4], "big", signed=True))
    assert got == corrs, "pipelined responses came back in correlation-id order %r, sent %r" % (got, corrs)
