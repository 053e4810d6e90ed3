"""Every codec (none, gzip, snappy, lz4, zstd) from every producer, read by every consumer; the
batches on the wire keep the producer's codec (topic compression.type=producer, Kafka's default)
and carry a valid CRC-32C, checked with raw Fetch requests and kafka-python's batch reader."""
import pytest

import clients as C
import kwire

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
PER_PRODUCER = 300


def _value(who, i):
    # compressible, so that no client falls back to sending the batch uncompressed
    return (b"%s record %05d; " % (who.encode(), i)) * 12


def _check_batches(bootstrap, topic, codec, expected_records):
    batches, hw = kwire.fetch_all_batches(bootstrap, topic, 0)
    assert hw == expected_records, "high watermark %d, expected %d" % (hw, expected_records)
    seen = 0
    wrong = []
    for b in batches:
        assert b.magic == 2, "batch at offset %d has magic %d" % (b.base_offset, b.magic)
        assert b.validate_crc(), "batch at offset %d fails its CRC-32C as fetched" % b.base_offset
        if b.compression_type != kwire.CODECS[codec]:
            wrong.append((b.base_offset, kwire.CODEC_NAMES.get(b.compression_type, b.compression_type)))
        n = len(list(b))
        seen += n
    assert not wrong, ("batches stored with another codec than the producer's %s (offset, codec): %r. "
                       "librdkafka silently sends uncompressed batches when the broker's ApiVersions lack "
                       "what its codec feature checks need (gzip/snappy: Produce v0, lz4: FindCoordinator v0, "
                       "zstd: Produce v7 and Fetch v10)" % (codec, wrong[:10]))
    assert seen == expected_records, "batches hold %d records, expected %d" % (seen, expected_records)


@pytest.mark.parametrize("codec", CODECS)
def test_codec_all_producers_all_consumers(bootstrap, codec):
    topic = C.create_topic(bootstrap, 1, "codec-" + codec)
    want = []
    msgs = [{"key": b"c%d" % i, "value": _value("confluent", i), "partition": 0} for i in range(PER_PRODUCER)]
    C.produce_confluent(bootstrap, topic, msgs, **{"compression.type": codec, "linger.ms": 50,
                                                    "batch.num.messages": 100})
    want += msgs
    msgs = [{"key": b"p%d" % i, "value": _value("kafka-python", i), "partition": 0} for i in range(PER_PRODUCER)]
    C.produce_kp(bootstrap, topic, msgs, compression_type=None if codec == "none" else codec, linger_ms=50)
    want += msgs
    lines = [("k%d" % i, _value("kcat", i).decode()) for i in range(PER_PRODUCER)]
    C.produce_kcat(bootstrap, topic, lines, extra=["-z", codec, "-X", "linger.ms=50"])
    want += [{"key": k.encode(), "value": v.encode()} for k, v in lines]

    _check_batches(bootstrap, topic, codec, len(want))
    for consumer in ("confluent", "kafka-python", "kcat"):
        got = C.consume_with(consumer, bootstrap, topic)
        assert [g["offset"] for g in got] == list(range(len(want))), \
            "%s (%s): offsets not 0..%d" % (consumer, codec, len(want) - 1)
        C.assert_same_records(got, want, "%s reading %s batches" % (consumer, codec), fields=("key", "value"))


def test_mixed_codecs_in_one_partition(bootstrap):
    """Batches with different codecs interleaved in one partition read back in offset order."""
    topic = C.create_topic(bootstrap, 1, "codec-mixed")
    want = []
    for rnd in range(2):
        for codec in CODECS:
            msgs = [{"value": b"%s-%d-%d " % (codec.encode(), rnd, i) * 8, "partition": 0} for i in range(40)]
            C.produce_confluent(bootstrap, topic, msgs, **{"compression.type": codec})
            want += msgs
            msgs = [{"value": b"kp-%s-%d-%d " % (codec.encode(), rnd, i) * 8, "partition": 0} for i in range(40)]
            C.produce_kp(bootstrap, topic, msgs, compression_type=None if codec == "none" else codec)
            want += msgs
    batches, hw = kwire.fetch_all_batches(bootstrap, topic, 0)
    codecs_seen = {kwire.CODEC_NAMES.get(b.compression_type) for b in batches}
    assert codecs_seen == set(CODECS), "codecs on the wire %r, expected all of %r" % (codecs_seen, CODECS)
    for consumer in ("confluent", "kafka-python", "kcat"):
        got = C.consume_with(consumer, bootstrap, topic)
        assert [g["value"] for g in got] == [w["value"] for w in want], \
            "%s: mixed-codec partition read back %d records, first difference at %r" % (
                consumer, len(got), next((i for i, (g, w) in enumerate(zip(got, want)) if g["value"] != w["value"]),
                                         min(len(got), len(want))))


@pytest.mark.parametrize("codec", ["gzip", "snappy", "lz4", "zstd"])
def test_one_megabyte_compressed_value(bootstrap, codec):
    """A 1 MB highly compressible value per codec (the batch is small, the record is large)."""
    topic = C.create_topic(bootstrap, 1, "codec-big-" + codec)
    value = (b"0123456789abcdef" * 62500)[:1_000_000]
    C.produce_confluent(bootstrap, topic, [{"value": value, "partition": 0}],
                        **{"compression.type": codec, "message.max.bytes": 2_000_000})
    C.produce_kp(bootstrap, topic, [{"value": value, "partition": 0}], compression_type=codec,
                 max_request_size=2_000_000)
    for consumer in ("confluent", "kafka-python"):
        got = C.consume_with(consumer, bootstrap, topic)
        assert len(got) == 2 and all(g["value"] == value for g in got), \
            "%s: %s-compressed 1 MB values read back as %r" % (
                consumer, codec, [None if g["value"] is None else len(g["value"]) for g in got])


@pytest.mark.parametrize("topic_codec,stored", [("zstd", "zstd"), ("gzip", "gzip"), ("uncompressed", "none")])
def test_topic_compression_type_recompresses(bootstrap, topic_codec, stored):
    """A topic whose compression.type names a codec stores every batch in it, whatever the
    producer used (Kafka recompresses); consumers read the same records."""
    topic = C.create_topic(bootstrap, 1, "codec-topic-" + topic_codec, config={"compression.type": topic_codec})
    want = []
    for codec in ("none", "snappy", "lz4", "gzip"):
        msgs = [{"key": b"%s-%d" % (codec.encode(), i), "value": _value(codec, i), "partition": 0,
                 "headers": [("codec", codec.encode())]} for i in range(50)]
        C.produce_confluent(bootstrap, topic, msgs, **{"compression.type": codec})
        want += msgs
    msgs = [{"key": b"kp-%d" % i, "value": _value("kp", i), "partition": 0, "headers": [("codec", b"kp-zstd")]}
            for i in range(50)]
    C.produce_kp(bootstrap, topic, msgs, compression_type="zstd")
    want += msgs
    _check_batches(bootstrap, topic, stored, len(want))
    for consumer in ("confluent", "kafka-python", "kcat"):
        got = C.consume_with(consumer, bootstrap, topic)
        C.assert_same_records(got, want, "%s reading a compression.type=%s topic" % (consumer, topic_codec))


def test_topic_compression_type_recompresses_to_the_named_codec(bootstrap):
    """compression.type=lz4 on the topic: a gzip producer's batch is stored and served as lz4
    (Kafka's rule: recompress only when the topic names a codec other than the producer's), and
    the records are unchanged."""
    topic = C.create_topic(bootstrap, 1, prefix="recompress", config={"compression.type": "lz4"})
    messages = [{"key": b"k%d" % i, "value": _value("recompress", i)} for i in range(50)]
    C.produce_confluent(bootstrap, topic, messages, **{"compression.type": "gzip", "linger.ms": 50})
    batches, hw = kwire.fetch_all_batches(bootstrap, topic, 0)
    assert hw == 50
    assert batches and all(b.compression_type == kwire.CODECS["lz4"] for b in batches), \
        "stored codecs: %r" % [kwire.CODEC_NAMES.get(b.compression_type) for b in batches]
    assert all(b.validate_crc() for b in batches)
    values = [r.value for b in batches for r in b]
    assert values == [m["value"] for m in messages]
