"""Dynamic broker configs, as Kafka's DynamicBrokerConfig runs them: AlterConfigs and
IncrementalAlterConfigs on a BROKER resource (this broker's id, or "" for the cluster default)
change the settings Kafka lists as dynamic while the broker runs, take effect at once (every
topic without its own override follows), are kept across a restart, and are described with
source DYNAMIC_BROKER_CONFIG (2) or DYNAMIC_DEFAULT_BROKER_CONFIG (3). Static settings, another
broker's id and bad values are refused with INVALID_REQUEST (42) and Kafka's messages
(core/.../server/ConfigAdminManager.scala, DynamicBrokerConfig.scala). Driven through
confluent-kafka's AdminClient (librdkafka) and, for the "" resource and raw answers, the
spec-driven wire codec."""
import os
import socket
import time

import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource

import clients as C
import kspec
import kwire

BROKER = 4
INVALID_REQUEST = 42
MESSAGE_TOO_LARGE = 10


def src(entry):
    s = entry.source
    return s.value if hasattr(s, "value") else int(s)


def broker_id(bootstrap):
    (bid,) = C.admin(bootstrap).list_topics(timeout=10).brokers
    return str(bid)


def describe_broker(bootstrap, name):
    res = ConfigResource(ConfigResource.Type.BROKER, name)
    return C.admin(bootstrap).describe_configs([res], request_timeout=15)[res].result(timeout=20)


def raw_incremental(bootstrap, name, ops, validate_only=False):
    """IncrementalAlterConfigs v1 on a broker resource: [(name, op, value)] -> (error, message)."""
    with kspec.Connection(bootstrap) as c:
        r = c.call("IncrementalAlterConfigs", 1, {"Resources": [{"ResourceType": BROKER, "ResourceName": name, "Configs": [
            {"Name": n, "ConfigOperation": op, "Value": v} for n, op, v in ops]}], "ValidateOnly": validate_only})
    (res,) = r["Responses"]
    return res["ErrorCode"], res["ErrorMessage"]


def raw_describe(bootstrap, name, keys=None):
    with kspec.Connection(bootstrap) as c:
        r = c.call("DescribeConfigs", 4, {"Resources": [{"ResourceType": BROKER, "ResourceName": name,
                                                        "ConfigurationKeys": keys}], "IncludeSynonyms": True})
    (res,) = r["Results"]
    return res["ErrorCode"], res["ErrorMessage"], {e["Name"]: e for e in res["Configs"]}


def produce_size(bootstrap, topic, size):
    """Produce one record of `size` bytes; the partition's error code."""
    with kwire.Conn(bootstrap, timeout=20) as c:
        return kwire.produce(c, 8, topic, 0, kwire.build_batch([(b"k", b"x" * size, None)]))["error"]


def test_a_dynamic_config_is_set_described_kept_across_a_restart_and_applied(broker_factory):
    b = broker_factory()
    boot = b.bootstrap
    bid = broker_id(boot)
    topic = C.create_topic(boot, 1, "dyn-topic")
    own = C.create_topic(boot, 1, "dyn-own", config={"max.message.bytes": "100000"})
    assert produce_size(boot, topic, 30_000) == 0

    # This broker: message.max.bytes, through librdkafka's IncrementalAlterConfigs.
    res = ConfigResource(ConfigResource.Type.BROKER, bid, incremental_configs=[
        ConfigEntry("message.max.bytes", "20000", incremental_operation=AlterConfigOpType.SET)])
    C.admin(boot).incremental_alter_configs([res])[res].result(timeout=20)
    # The cluster default: log.retention.ms, through the wire (resource "").
    assert raw_incremental(boot, "", [("log.retention.ms", 0, "3600000")]) == (0, None)

    def check(what):
        cfg = describe_broker(boot, bid)
        assert cfg["message.max.bytes"].value == "20000" and src(cfg["message.max.bytes"]) == 2, \
            "%s: message.max.bytes %r source %r" % (what, cfg["message.max.bytes"].value, src(cfg["message.max.bytes"]))
        assert not cfg["message.max.bytes"].is_read_only
        assert cfg["log.retention.ms"].value == "3600000" and src(cfg["log.retention.ms"]) == 3
        err, _, defaults = raw_describe(boot, "")
        assert err == 0 and {n: (e["Value"], e["ConfigSource"]) for n, e in defaults.items()} == {"log.retention.ms": ("3600000", 3)}, \
            "%s: the cluster default lists only what is set there: %r" % (what, defaults)
        tcfg = C.admin(boot).describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)], request_timeout=15)
        tcfg = list(tcfg.values())[0].result(timeout=20)
        assert tcfg["max.message.bytes"].value == "20000" and src(tcfg["max.message.bytes"]) == 2
        assert tcfg["retention.ms"].value == "3600000" and src(tcfg["retention.ms"]) == 3
        # Taking effect: a topic without an override follows the broker; one with its own keeps it.
        assert produce_size(boot, topic, 30_000) == MESSAGE_TOO_LARGE, "%s: message.max.bytes=20000 not in force" % what
        assert produce_size(boot, own, 30_000) == 0, "%s: the topic's own max.message.bytes must win" % what

    check("after AlterConfigs")
    b.restart()
    boot = b.bootstrap
    check("after a restart")

    res = ConfigResource(ConfigResource.Type.BROKER, bid, incremental_configs=[
        ConfigEntry("message.max.bytes", None, incremental_operation=AlterConfigOpType.DELETE)])
    C.admin(boot).incremental_alter_configs([res])[res].result(timeout=20)
    assert produce_size(boot, topic, 30_000) == 0, "deleting the dynamic value restores the static default"
    cfg = describe_broker(boot, bid)
    assert cfg["message.max.bytes"].value == "1048588" and src(cfg["message.max.bytes"]) == 5


def test_dynamic_log_segment_bytes_rolls_existing_topics(broker_factory):
    b = broker_factory()
    topic = C.create_topic(b.bootstrap, 1, "dyn-seg")
    bid = broker_id(b.bootstrap)
    res = ConfigResource(ConfigResource.Type.BROKER, bid, set_config={"log.segment.bytes": "100000"})
    C.admin(b.bootstrap).alter_configs([res], request_timeout=15)[res].result(timeout=20)
    for _ in range(50):
        assert produce_size(b.bootstrap, topic, 10_000) == 0
    logs = [f for f in os.listdir(os.path.join(b.data_dir, "%s-0" % topic)) if f.endswith(".log")]
    assert len(logs) >= 4, "500 KB with log.segment.bytes=100000 set at run time: %d segment(s)" % len(logs)


def test_legacy_alter_configs_replaces_the_brokers_set(broker_factory):
    b = broker_factory()
    bid = broker_id(b.bootstrap)
    assert raw_incremental(b.bootstrap, bid, [("log.retention.ms", 0, "3600000"), ("log.flush.interval.messages", 0, "1000")]) == (0, None)
    res = ConfigResource(ConfigResource.Type.BROKER, bid, set_config={"log.retention.ms": "7200000"})
    C.admin(b.bootstrap).alter_configs([res], request_timeout=15)[res].result(timeout=20)
    cfg = describe_broker(b.bootstrap, bid)
    assert cfg["log.retention.ms"].value == "7200000" and src(cfg["log.retention.ms"]) == 2
    assert cfg["log.flush.interval.messages"].value == "1" and src(cfg["log.flush.interval.messages"]) == 5, \
        "AlterConfigs replaces the whole dynamic set: what it leaves out goes back to the default"


@pytest.mark.parametrize("name,value,message", [
    ("num.partitions", "3", "Cannot update these configs dynamically: Set(num.partitions)"),
    ("log.dirs", "/tmp/elsewhere", "Cannot update these configs dynamically: Set(log.dirs)"),
    ("node.id", "7", "Cannot update these configs dynamically: Set(node.id)"),
    ("log.retention.hours", "1", "Cannot update these configs dynamically: Set(log.retention.hours)"),
    ("log.retention.ms", "soon", "Invalid value soon for configuration log.retention.ms: Not a number of type LONG"),
    ("message.max.bytes", "-1", "Invalid value -1 for configuration message.max.bytes: Value must be at least 0"),
])
def test_static_settings_and_bad_values_are_refused(bootstrap, name, value, message):
    bid = broker_id(bootstrap)
    before = describe_broker(bootstrap, bid)[name].value
    for resource in (bid, ""):
        err, msg = raw_incremental(bootstrap, resource, [(name, 0, value)])
        assert (err, msg) == (INVALID_REQUEST, message), "%s=%s on %r: %r" % (name, value, resource, (err, msg))
    res = ConfigResource(ConfigResource.Type.BROKER, bid, incremental_configs=[
        ConfigEntry(name, value, incremental_operation=AlterConfigOpType.SET)])
    C.expect_error_code(C.admin(bootstrap).incremental_alter_configs([res])[res], [KafkaError.INVALID_REQUEST],
                        "librdkafka: %s=%s" % (name, value))
    assert describe_broker(bootstrap, bid)[name].value == before, "a refused change changed %s" % name


def test_other_broker_ids_and_bad_names_are_refused(bootstrap):
    bid = broker_id(bootstrap)
    other = str(int(bid) + 7)
    assert raw_incremental(bootstrap, other, [("log.retention.ms", 0, "1")]) == \
        (INVALID_REQUEST, "Unexpected broker id, expected %s, but received %s" % (bid, other))
    assert raw_incremental(bootstrap, "abc", [("log.retention.ms", 0, "1")]) == \
        (INVALID_REQUEST, "Node id must be an integer, but it is: abc")
    err, msg, _ = raw_describe(bootstrap, other)
    assert (err, msg) == (INVALID_REQUEST, "Unexpected broker id, expected %s or empty string, but received %s" % (bid, other))
    assert raw_incremental(bootstrap, bid, [("log.retention.ms", 2, "1")]) == \
        (40, "Config value append is not allowed for config key: log.retention.ms")
    assert raw_incremental(bootstrap, bid, [("log.retention.ms", 7, "1")]) == (INVALID_REQUEST, "Unknown operations type 7")
    assert raw_incremental(bootstrap, bid, [("log.retention.ms", 0, "1"), ("log.retention.ms", 0, "2")]) == \
        (INVALID_REQUEST, "Error due to duplicate config keys")


def test_validate_only_changes_nothing(bootstrap):
    bid = broker_id(bootstrap)
    assert raw_incremental(bootstrap, bid, [("log.retention.ms", 0, "1234")], validate_only=True) == (0, None)
    assert describe_broker(bootstrap, bid)["log.retention.ms"].value is None, "validateOnly must not store the value"


def test_unknown_names_are_kept_as_custom_settings(broker_factory):
    """Kafka stores names it does not know (settings for plugins) and describes them as
    sensitive, with no value, since it cannot know their type."""
    b = broker_factory()
    bid = broker_id(b.bootstrap)
    assert raw_incremental(b.bootstrap, bid, [("my.plugin.secret", 0, "s3cr3t")]) == (0, None)
    b.restart()
    err, _, cfg = raw_describe(b.bootstrap, bid, keys=["my.plugin.secret"])
    assert err == 0 and cfg["my.plugin.secret"]["IsSensitive"] and cfg["my.plugin.secret"]["Value"] is None
    assert cfg["my.plugin.secret"]["ConfigSource"] == 2


def test_max_connections_changes_at_run_time(broker_factory):
    b = broker_factory()
    bid = broker_id(b.bootstrap)
    host, port = kwire.host_port(b.bootstrap)
    assert raw_incremental(b.bootstrap, bid, [("max.connections", 0, "3")]) == (0, None)
    conns = []
    try:
        for _ in range(6):
            s = socket.create_connection((host, port), timeout=5)
            conns.append(s)
        time.sleep(0.5)
        closed = 0
        for s in conns:
            s.settimeout(0.5)
            try:
                if s.recv(1) == b"":
                    closed += 1
            except socket.timeout:
                pass
            except OSError:
                closed += 1
        assert closed >= 3, "max.connections=3: only %d of 6 connections were closed" % closed
    finally:
        for s in conns:
            s.close()
    # The closed connections are counted out asynchronously: retry until one is let in.
    deadline = time.time() + 10
    while True:
        try:
            assert raw_incremental(b.bootstrap, bid, [("max.connections", 1, None)]) == (0, None)
            break
        except (ConnectionError, kspec.DecodeError, OSError):
            if time.time() > deadline:
                raise
            time.sleep(0.2)
    C.forget(b.bootstrap)
    assert len(C.admin(b.bootstrap).list_topics(timeout=10).brokers) == 1, "connections work again after the delete"
