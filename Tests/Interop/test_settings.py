"""Broker settings given with `sluice serve --set key=value` (Kafka's names) take effect the way
they do in Kafka, each on its own broker: num.partitions, auto.create.topics.enable,
socket.request.max.bytes, message.max.bytes (with the topic override max.message.bytes),
log.message.timestamp.type and compression.type as topic defaults, connections.max.idle.ms;
and a bad value stops the broker from starting."""
import os
import re
import struct
import time

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import ConfigResource, NewTopic

import clients as C
import kwire
from broker import BrokerError

MESSAGE_TOO_LARGE = 10
UNKNOWN_TOPIC_OR_PARTITION = 3


def broker_config(bootstrap):
    md = C.admin(bootstrap).list_topics(timeout=10)
    (bid,) = md.brokers
    res = ConfigResource(ConfigResource.Type.BROKER, str(bid))
    return C.admin(bootstrap).describe_configs([res], request_timeout=15)[res].result(timeout=20)


def topic_config(bootstrap, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return C.admin(bootstrap).describe_configs([res], request_timeout=15)[res].result(timeout=20)


def test_num_partitions(broker_factory):
    b = broker_factory({"num.partitions": "3"})
    boot = b.bootstrap
    assert broker_config(boot)["num.partitions"].value == "3", "DescribeConfigs does not show --set num.partitions=3"
    auto = C.unique("set-auto")
    C.produce_kcat(boot, auto, [("k", "v")], extra=["-m", "15"])
    C.wait_topic(boot, auto, 3)
    name = C.unique("set-default")
    C.admin(boot).create_topics([NewTopic(name)], request_timeout=15)[name].result(timeout=20)
    C.wait_topic(boot, name, 3)


def test_auto_create_disabled(broker_factory):
    b = broker_factory({"auto.create.topics.enable": "false"})
    name = C.unique("set-noauto")
    _, _, topics = kwire.metadata_v4(b.bootstrap, [name], allow_auto_create=True)
    assert topics[name][0] == UNKNOWN_TOPIC_OR_PARTITION, \
        "auto.create.topics.enable=false, Metadata(allow_auto_topic_creation=true): error %d, expected 3" % topics[name][0]
    _, _, topics = kwire.metadata_v4(b.bootstrap, [name], allow_auto_create=False)
    assert topics[name][0] == UNKNOWN_TOPIC_OR_PARTITION, "the topic was created anyway"
    C.create_topic(b.bootstrap, 2, name=name)  # CreateTopics still works


def test_socket_request_max_bytes(broker_factory):
    b = broker_factory({"socket.request.max.bytes": str(1 << 20)})
    with kwire.Conn(b.bootstrap) as c:
        try:
            c.send(struct.pack(">i", (1 << 20) + 1) + b"\x00" * 64)
        except (BrokenPipeError, ConnectionResetError):
            pass
        how, data = c.wait_closed(10)
        assert how != "open" and not data, \
            "socket.request.max.bytes=1 MiB: a 1 MiB + 1 size prefix left the connection %s (%d bytes back)" % (how, len(data))
    topic = C.create_topic(b.bootstrap, 1, "set-frame")
    C.produce_confluent(b.bootstrap, topic, [{"value": b"x" * 900_000, "partition": 0}],
                        **{"compression.type": "none"})
    got = C.consume_kp(b.bootstrap, topic)
    assert len(got) == 1 and len(got[0]["value"]) == 900_000, "a 900 KB record under a 1 MiB frame limit"


def test_message_max_bytes_and_topic_override(broker_factory):
    b = broker_factory({"message.max.bytes": "20000"})
    boot = b.bootstrap
    small = C.create_topic(boot, 1, "set-small")
    big = C.create_topic(boot, 1, "set-big", config={"max.message.bytes": "100000"})
    assert topic_config(boot, small)["max.message.bytes"].value == "20000", \
        "a topic without an override should report the broker's message.max.bytes as max.message.bytes"
    batch = kwire.build_batch([(b"k", b"y" * 30_000, None)])
    versions = kwire.api_versions(boot)
    v = kwire.pick_version(versions, kwire.API_PRODUCE, 3, 8, "Produce")
    with kwire.Conn(boot) as c:
        r = kwire.produce(c, v, small, 0, batch)
        assert r["error"] == MESSAGE_TOO_LARGE, \
            "a 30 KB batch over message.max.bytes=20000: error %d, expected MESSAGE_TOO_LARGE (10)" % r["error"]
        r = kwire.produce(c, v, big, 0, batch)
        assert r["error"] == 0, "a 30 KB batch under the topic's max.message.bytes=100000: error %d" % r["error"]
    assert C.watermarks(boot, small, 0) == (0, 0)
    p = C.confluent_producer(boot, **{"message.timeout.ms": 15000, "retries": 0, "compression.type": "none"})
    errs = []
    p.produce(small, b"z" * 30_000, partition=0, on_delivery=lambda e, m: errs.append(e))
    p.flush(20)
    assert errs and errs[0] is not None and errs[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, \
        "confluent producer: 30 KB record over message.max.bytes gave %r, expected MSG_SIZE_TOO_LARGE" % errs


def test_topic_defaults_from_broker_settings(broker_factory):
    """log.message.timestamp.type and compression.type are the defaults of topics without an
    override, and DescribeConfigs shows them under the topic names."""
    b = broker_factory({"log.message.timestamp.type": "LogAppendTime", "compression.type": "zstd"})
    boot = b.bootstrap
    topic = C.create_topic(boot, 1, "set-defaults")
    cfg = topic_config(boot, topic)
    assert cfg["message.timestamp.type"].value == "LogAppendTime", "topic message.timestamp.type %r" % (
        cfg["message.timestamp.type"].value)
    assert cfg["compression.type"].value == "zstd", "topic compression.type %r" % cfg["compression.type"].value
    old = C.now_ms() - 86_400_000
    t0 = C.now_ms()
    C.produce_confluent(boot, topic, [{"value": b"v%d" % i * 20, "partition": 0, "timestamp": old} for i in range(20)],
                        **{"compression.type": "gzip"})
    t1 = C.now_ms()
    got = C.consume_confluent(boot, topic)
    assert len(got) == 20
    for g in got:
        assert g["ts_type"] == "append" and t0 - 1000 <= g["ts"] <= t1 + 1000, \
            "offset %d: timestamp %s %d, expected LogAppendTime within [%d, %d]" % (g["offset"], g["ts_type"], g["ts"], t0, t1)
    batches, _ = kwire.fetch_all_batches(boot, topic, 0)
    codecs = {kwire.CODEC_NAMES.get(x.compression_type) for x in batches}
    assert codecs == {"zstd"}, "compression.type=zstd broker default: batches stored as %r" % codecs
    assert all(x.validate_crc() for x in batches), "a recompressed batch fails its CRC"


def test_connections_max_idle_ms(broker_factory):
    b = broker_factory({"connections.max.idle.ms": "1500"})
    with kwire.Conn(b.bootstrap, timeout=20) as busy, kwire.Conn(b.bootstrap, timeout=20) as idle:
        idle.roundtrip(kwire.API_API_VERSIONS, 0, b"")
        t0 = time.monotonic()
        closed_at = None
        while time.monotonic() - t0 < 12:
            busy.roundtrip(kwire.API_API_VERSIONS, 0, b"")  # an active connection is never idle
            if closed_at is None and not idle.is_open(wait=0.4):
                closed_at = time.monotonic() - t0
            if closed_at is not None and time.monotonic() - t0 > 4:
                break
        assert closed_at is not None, "an idle connection was still open 12 s into connections.max.idle.ms=1500"
        assert closed_at >= 1.0, "the idle connection was closed after %.1fs, before connections.max.idle.ms" % closed_at
        busy.roundtrip(kwire.API_API_VERSIONS, 0, b"")


def started_line(broker):
    with open(broker.log_path, "rb") as f:
        lines = [l for l in f.read().decode("utf-8", "replace").splitlines() if "sluice broker started" in l]
    assert lines, "no start-up line in the broker's log"
    return lines[-1]


def test_event_loops_follow_the_cpu_affinity(broker_factory):
    # Under taskset with one CPU the broker may run on one core: one event loop, not one per core of
    # the machine (two loops on one core pay a thread switch per request that crosses them).
    # One CPU this process may use (a CI runner's cpuset need not include CPU 0).
    cpu = str(min(os.sched_getaffinity(0)))
    pinned = broker_factory(command_prefix=["taskset", "-c", cpu])
    assert re.search(r"\beventLoops=1\b", started_line(pinned)), started_line(pinned)
    topic = C.create_topic(pinned.bootstrap, partitions=4)
    sent = [{"value": b"v%d" % i, "partition": i % 4} for i in range(40)]
    C.produce_confluent(pinned.bootstrap, topic, sent)
    got = C.consume_confluent(pinned.bootstrap, topic)
    assert sorted(r["value"] for r in got) == sorted(m["value"] for m in sent)
    # num.network.threads still decides when it is set.
    chosen = broker_factory({"num.network.threads": "3"}, command_prefix=["taskset", "-c", cpu])
    assert re.search(r"\beventLoops=3\b", started_line(chosen)), started_line(chosen)


@pytest.mark.parametrize("setting", ["num.partitions=lots", "log.message.timestamp.type=Sometimes"])
def test_bad_setting_stops_startup(broker_factory, setting):
    key, value = setting.split("=", 1)
    b = broker_factory({key: value}, start=False)
    try:
        b.start()
    except BrokerError:
        pass
    else:
        pytest.fail("the broker started with --set %s (it printed %r); Kafka refuses to start on an invalid value" % (setting, b.listening_line))
    assert b.exit_codes and b.exit_codes[-1] not in (0, None), "exit status %r" % b.exit_codes
    assert key in b.tail(100), "the refusal does not name the setting %s:\n%s" % (key, b.tail(100))


def test_max_connections_refuses_the_connection_over_the_limit(broker_factory):
    """max.connections=2: a third connection is closed at accept; the first two keep working,
    and a slot frees up when one of them closes."""
    b = broker_factory({"max.connections": "2"})
    with kwire.Conn(b.bootstrap, timeout=20) as first, kwire.Conn(b.bootstrap, timeout=20) as second:
        first.roundtrip(kwire.API_API_VERSIONS, 0, b"")
        second.roundtrip(kwire.API_API_VERSIONS, 0, b"")
        with kwire.Conn(b.bootstrap, timeout=20) as third:
            assert not third.is_open(wait=2.0), "a third connection stayed open with max.connections=2"
        first.roundtrip(kwire.API_API_VERSIONS, 0, b"")
    # The slots free up once the broker has seen the two connections close, which on a loaded
    # machine may be after the next connect is accepted: that one is refused, as it should be,
    # and a client's reconnect gets in.
    deadline = time.monotonic() + 20
    while True:
        try:
            with kwire.Conn(b.bootstrap, timeout=20) as again:
                again.roundtrip(kwire.API_API_VERSIONS, 0, b"")
            break
        except kwire.Closed:
            assert time.monotonic() < deadline, "no connection was accepted 20 s after the first two closed"
            time.sleep(0.2)
