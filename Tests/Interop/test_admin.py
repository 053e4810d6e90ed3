"""Admin APIs through confluent-kafka's AdminClient, kafka-python's KafkaAdminClient and kcat -L:
CreateTopics (configs, defaults, validate_only, errors), Metadata (advertised address,
auto-creation), DescribeConfigs, AlterConfigs (whole-set replace), IncrementalAlterConfigs,
CreatePartitions, DeleteTopics. Error codes are Kafka's (clients/.../protocol/Errors.java)."""
import time

import pytest
from confluent_kafka import KafkaError
from confluent_kafka.admin import (AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewPartitions, NewTopic)

import clients as C
import kwire

UNKNOWN_TOPIC_OR_PARTITION = 3
INVALID_TOPIC_EXCEPTION = 17
TOPIC_ALREADY_EXISTS = 36
INVALID_PARTITIONS = 37
INVALID_REPLICATION_FACTOR = 38
INVALID_CONFIG = 40


DYNAMIC_TOPIC_CONFIG = ConfigSource.DYNAMIC_TOPIC_CONFIG.value


def src(entry):
    """A ConfigEntry's source as an int (confluent gives an enum or an int depending on the path)."""
    s = entry.source
    return s.value if hasattr(s, "value") else int(s)


def topic_configs(bootstrap, topic):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return C.admin(bootstrap).describe_configs([res], request_timeout=15)[res].result(timeout=20)


def kp_expect_error(call, code, what):
    """kafka-python's admin raises the error class for a failed topic; older paths return the
    response. Either way the error code must be `code`."""
    from kafka.errors import KafkaError as KPError
    try:
        resp = call()
    except KPError as e:
        assert getattr(e, "errno", None) == code, "%s: kafka-python raised %r (errno %r), expected error %d" % (
            what, e, getattr(e, "errno", None), code)
        return
    errs = [t[1] for t in getattr(resp, "topic_errors", [])]
    assert errs == [code], "%s: kafka-python got %r, expected error %d" % (what, resp, code)


def create(bootstrap, new_topics, **kw):
    return C.admin(bootstrap).create_topics(new_topics, operation_timeout=10, request_timeout=15, **kw)


# ---------------------------------------------------------------------------- CreateTopics / Metadata
def test_create_topic_visible_to_every_client(bootstrap):
    name = C.unique("adm")
    create(bootstrap, [NewTopic(name, 5, 1, config={"retention.ms": "3600000"})])[name].result(timeout=20)
    C.wait_topic(bootstrap, name, 5)

    md = C.admin(bootstrap).list_topics(timeout=10)
    assert len(md.brokers) == 1, "Metadata lists brokers %r, expected exactly one" % md.brokers
    (b,) = md.brokers.values()
    host, port = kwire.host_port(bootstrap)
    assert b.port == port, "Metadata advertises %s:%d but the broker listens on %s" % (b.host, b.port, bootstrap)
    t = md.topics[name]
    assert sorted(t.partitions) == list(range(5)), "partitions %r" % sorted(t.partitions)
    for p in t.partitions.values():
        assert p.leader == b.id and p.replicas == [b.id] and p.isrs == [b.id], \
            "partition %d: leader %d replicas %r isr %r, expected broker %d everywhere" % (
                p.id, p.leader, p.replicas, p.isrs, b.id)

    kadm = C.kp_admin(bootstrap)
    try:
        (desc,) = kadm.describe_topics([name])
        assert desc["error_code"] == 0, "kafka-python describe_topics: error %d" % desc["error_code"]
        assert sorted(p["partition"] for p in desc["partitions"]) == list(range(5)), \
            "kafka-python sees partitions %r" % [p["partition"] for p in desc["partitions"]]
        assert name in kadm.list_topics(), "kafka-python list_topics lacks %s" % name
    finally:
        kadm.close()

    kmd = C.kcat_metadata(bootstrap, name)
    kt = [t for t in kmd["topics"] if t["topic"] == name]
    assert kt and len(kt[0]["partitions"]) == 5 and not kt[0].get("error"), "kcat -L: %r" % kt
    assert [x["name"] for x in kmd["brokers"]] == ["%s:%d" % (b.host, b.port)], "kcat -L brokers %r" % kmd["brokers"]


def test_create_topic_defaults_to_num_partitions(bootstrap):
    """num_partitions and replication_factor -1 (CreateTopics v4+) take the broker defaults:
    num.partitions (1 unless configured) and one replica."""
    name = C.unique("adm-def")
    create(bootstrap, [NewTopic(name)])[name].result(timeout=20)
    C.wait_topic(bootstrap, name, 1)


def test_create_existing_topic(bootstrap):
    name = C.create_topic(bootstrap, 2, "adm-dup")
    C.expect_error_code(create(bootstrap, [NewTopic(name, 2, 1)])[name], [TOPIC_ALREADY_EXISTS],
                        "CreateTopics on an existing topic")
    kadm = C.kp_admin(bootstrap)
    try:
        from kafka.admin import NewTopic as KNewTopic
        kp_expect_error(lambda: kadm.create_topics([KNewTopic(name, 2, 1)]), TOPIC_ALREADY_EXISTS,
                        "CreateTopics on an existing topic")
    finally:
        kadm.close()
    assert C.partition_count(bootstrap, name) == 2, "the failed re-create changed the topic"


@pytest.mark.parametrize("bad", ["has space", "slash/name", "x" * 250, ".", "..", "star*", ""])
def test_create_invalid_topic_name(bootstrap, bad):
    if bad == "":
        # confluent refuses an empty name before sending; ask kafka-python, which sends it
        kadm = C.kp_admin(bootstrap)
        try:
            from kafka.admin import NewTopic as KNewTopic
            kp_expect_error(lambda: kadm.create_topics([KNewTopic(bad, 1, 1)]), INVALID_TOPIC_EXCEPTION,
                            'CreateTopics("")')
        finally:
            kadm.close()
        return
    C.expect_error_code(create(bootstrap, [NewTopic(bad, 1, 1)])[bad], [INVALID_TOPIC_EXCEPTION],
                        "CreateTopics(%r)" % bad[:30])


def test_create_invalid_partitions_and_replication(bootstrap):
    name = C.unique("adm-bad")
    C.expect_error_code(create(bootstrap, [NewTopic(name, 0, 1)])[name], [INVALID_PARTITIONS],
                        "CreateTopics with 0 partitions")
    C.expect_error_code(create(bootstrap, [NewTopic(name, 1, 3)])[name], [INVALID_REPLICATION_FACTOR],
                        "CreateTopics with replication factor 3 on a one-broker cluster")
    md = C.admin(bootstrap).list_topics(timeout=10)
    assert name not in md.topics, "a topic was created by a failed CreateTopics"


def test_create_invalid_configs(bootstrap):
    a = C.unique("adm-cfg")
    b = C.unique("adm-cfg")
    C.expect_error_code(create(bootstrap, [NewTopic(a, 1, 1, config={"retention.ms": "not-a-number"})])[a],
                        [INVALID_CONFIG], "CreateTopics with retention.ms=not-a-number")
    C.expect_error_code(create(bootstrap, [NewTopic(b, 1, 1, config={"no.such.config": "1"})])[b],
                        [INVALID_CONFIG], "CreateTopics with an unknown config name")
    md = C.admin(bootstrap).list_topics(timeout=10)
    assert a not in md.topics and b not in md.topics, "a topic was created by a failed CreateTopics"


def test_create_validate_only(bootstrap):
    name = C.unique("adm-val")
    create(bootstrap, [NewTopic(name, 3, 1)], validate_only=True)[name].result(timeout=20)
    time.sleep(0.5)
    md = C.admin(bootstrap).list_topics(timeout=10)
    assert name not in md.topics, "CreateTopics(validate_only=true) created the topic"
    bad = C.unique("adm-val")
    C.expect_error_code(create(bootstrap, [NewTopic(bad, 0, 1)], validate_only=True)[bad],
                        [INVALID_PARTITIONS], "validate_only CreateTopics with 0 partitions")


def test_metadata_auto_creates_and_respects_allow_flag(bootstrap):
    """Auto-creation on Metadata is on by default (1 partition); Metadata v4 with
    allow_auto_topic_creation=false for an unknown topic answers UNKNOWN_TOPIC_OR_PARTITION and
    creates nothing."""
    name = C.unique("auto-no")
    _, _, topics = kwire.metadata_v4(bootstrap, [name], allow_auto_create=False)
    assert topics.get(name, (None,))[0] == UNKNOWN_TOPIC_OR_PARTITION, \
        "Metadata v4 (no auto-create) for an unknown topic: %r, expected error 3" % (topics.get(name),)
    _, _, topics = kwire.metadata_v4(bootstrap, [name], allow_auto_create=False)
    assert topics[name][0] == UNKNOWN_TOPIC_OR_PARTITION, "the topic was created despite allow_auto_topic_creation=false"

    auto = C.unique("auto-yes")
    C.produce_kcat(bootstrap, auto, [("k", "auto-created")], extra=["-m", "15"])
    C.wait_topic(bootstrap, auto, 1)
    got = C.consume_kp(bootstrap, auto)
    assert [g["value"] for g in got] == [b"auto-created"], "auto-created topic returned %r" % got

    auto2 = C.unique("auto-kp")
    C.produce_kp(bootstrap, auto2, [{"value": b"v"}])
    C.wait_topic(bootstrap, auto2, 1)


# ---------------------------------------------------------------------------- configs
def test_describe_topic_configs(bootstrap):
    name = C.create_topic(bootstrap, 1, "adm-desc", config={"retention.ms": "3600000", "segment.bytes": "1048576"})
    cfg = topic_configs(bootstrap, name)
    for key, want in (("retention.ms", "3600000"), ("segment.bytes", "1048576")):
        assert key in cfg, "DescribeConfigs lacks %s; got %s" % (key, sorted(cfg))
        assert cfg[key].value == want, "%s = %r, created with %r" % (key, cfg[key].value, want)
        assert src(cfg[key]) == DYNAMIC_TOPIC_CONFIG, \
            "%s source %r, expected DYNAMIC_TOPIC_CONFIG" % (key, src(cfg[key]))
        assert not cfg[key].is_default, "%s reported as a default" % key
    # Kafka's documented topic defaults (when the broker does not override them)
    for key, want in (("cleanup.policy", "delete"), ("compression.type", "producer"),
                      ("message.timestamp.type", "CreateTime")):
        assert key in cfg, "DescribeConfigs lacks %s; got %s" % (key, sorted(cfg))
        assert cfg[key].value == want, "default %s = %r, Kafka's default is %r" % (key, cfg[key].value, want)
        assert src(cfg[key]) != DYNAMIC_TOPIC_CONFIG, \
            "%s (never set) reported as a dynamic topic config" % key

    kadm = C.kp_admin(bootstrap)
    try:
        from kafka.admin import ConfigResource as KRes, ConfigResourceType as KType
        (resp,) = kadm.describe_configs([KRes(KType.TOPIC, name, {"retention.ms": None})])
        obj = resp.to_object()
        (res,) = obj["resources"]
        assert res["error_code"] == 0, "kafka-python DescribeConfigs: error %d" % res["error_code"]
        vals = {e["config_names"]: e["config_value"] for e in res["config_entries"]}
        assert vals == {"retention.ms": "3600000"}, "kafka-python DescribeConfigs(retention.ms) -> %r" % vals
    finally:
        kadm.close()


def test_describe_configs_unknown_topic(bootstrap):
    res = ConfigResource(ConfigResource.Type.TOPIC, C.unique("nope"))
    C.expect_error_code(C.admin(bootstrap).describe_configs([res], request_timeout=15)[res],
                        [UNKNOWN_TOPIC_OR_PARTITION], "DescribeConfigs for an unknown topic")


def test_describe_broker_configs(bootstrap):
    md = C.admin(bootstrap).list_topics(timeout=10)
    (bid,) = md.brokers
    res = ConfigResource(ConfigResource.Type.BROKER, str(bid))
    cfg = C.admin(bootstrap).describe_configs([res], request_timeout=15)[res].result(timeout=20)
    for key, want in (("num.partitions", "1"), ("auto.create.topics.enable", "true"),
                      ("socket.request.max.bytes", "104857600")):
        assert key in cfg, "broker DescribeConfigs lacks %s (has %d entries: %s...)" % (key, len(cfg), sorted(cfg)[:15])
        assert cfg[key].value == want, "broker %s = %r, expected the default %r" % (key, cfg[key].value, want)


def test_incremental_alter_configs(bootstrap):
    name = C.create_topic(bootstrap, 1, "adm-inc", config={"retention.ms": "3600000"})
    a = C.admin(bootstrap)
    res = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", "7200000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("max.message.bytes", "2000000", incremental_operation=AlterConfigOpType.SET)])
    a.incremental_alter_configs([res])[res].result(timeout=20)
    cfg = topic_configs(bootstrap, name)
    assert cfg["retention.ms"].value == "7200000", "after SET retention.ms = %r" % cfg["retention.ms"].value
    assert cfg["max.message.bytes"].value == "2000000", "after SET max.message.bytes = %r" % cfg["max.message.bytes"].value

    res = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", None, incremental_operation=AlterConfigOpType.DELETE)])
    a.incremental_alter_configs([res])[res].result(timeout=20)
    cfg = topic_configs(bootstrap, name)
    assert src(cfg["retention.ms"]) != DYNAMIC_TOPIC_CONFIG, \
        "after DELETE retention.ms is still a dynamic topic config (%r)" % cfg["retention.ms"].value
    assert cfg["max.message.bytes"].value == "2000000", "DELETE of retention.ms changed max.message.bytes"

    bad = ConfigResource(ConfigResource.Type.TOPIC, name, incremental_configs=[
        ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET)])
    C.expect_error_code(a.incremental_alter_configs([bad])[bad], [INVALID_CONFIG],
                        "IncrementalAlterConfigs retention.ms=soon")
    missing = ConfigResource(ConfigResource.Type.TOPIC, C.unique("nope"), incremental_configs=[
        ConfigEntry("retention.ms", "1000", incremental_operation=AlterConfigOpType.SET)])
    C.expect_error_code(a.incremental_alter_configs([missing])[missing], [UNKNOWN_TOPIC_OR_PARTITION],
                        "IncrementalAlterConfigs on an unknown topic")
    assert topic_configs(bootstrap, name)["max.message.bytes"].value == "2000000", "a failed alter changed configs"


def test_legacy_alter_configs_replaces_the_whole_set(bootstrap):
    """AlterConfigs (not incremental) sets the resource's dynamic configs to exactly the given
    set: configs left out fall back to their defaults."""
    name = C.create_topic(bootstrap, 1, "adm-alt", config={"retention.ms": "3600000", "max.message.bytes": "2000000"})
    res = ConfigResource(ConfigResource.Type.TOPIC, name, set_config={"retention.ms": "5400000"})
    C.admin(bootstrap).alter_configs([res], request_timeout=15)[res].result(timeout=20)
    cfg = topic_configs(bootstrap, name)
    assert cfg["retention.ms"].value == "5400000", "retention.ms = %r after AlterConfigs" % cfg["retention.ms"].value
    assert src(cfg["max.message.bytes"]) != DYNAMIC_TOPIC_CONFIG, \
        "max.message.bytes (left out of AlterConfigs) kept its dynamic value %r" % cfg["max.message.bytes"].value

    kadm = C.kp_admin(bootstrap)
    try:
        from kafka.admin import ConfigResource as KRes, ConfigResourceType as KType
        resp = kadm.alter_configs([KRes(KType.TOPIC, name, {"retention.ms": "1800000"})])
        errs = [r[0] for r in resp.resources]
        assert errs == [0], "kafka-python AlterConfigs: %r" % (resp.resources,)
    finally:
        kadm.close()
    assert topic_configs(bootstrap, name)["retention.ms"].value == "1800000", "kafka-python AlterConfigs not applied"


# ---------------------------------------------------------------------------- CreatePartitions
def test_create_partitions(bootstrap):
    name = C.create_topic(bootstrap, 1, "adm-parts")
    C.produce_confluent(bootstrap, name, [{"value": b"before", "partition": 0}])
    a = C.admin(bootstrap)
    a.create_partitions([NewPartitions(name, 3)], operation_timeout=10, request_timeout=15)[name].result(timeout=20)
    C.wait_topic(bootstrap, name, 3)
    for p in (1, 2):
        C.produce_confluent(bootstrap, name, [{"value": b"new-%d" % p, "partition": p}])
    got = C.consume_kp(bootstrap, name)
    assert [(g["partition"], g["offset"], g["value"]) for g in got] == \
        [(0, 0, b"before"), (1, 0, b"new-1"), (2, 0, b"new-2")], "after CreatePartitions: %r" % got

    for count, what in ((2, "fewer"), (3, "the same number of")):
        C.expect_error_code(a.create_partitions([NewPartitions(name, count)], request_timeout=15)[name],
                            [INVALID_PARTITIONS], "CreatePartitions to %s partitions (%d)" % (what, count))
    missing = C.unique("nope")
    C.expect_error_code(a.create_partitions([NewPartitions(missing, 2)], request_timeout=15)[missing],
                        [UNKNOWN_TOPIC_OR_PARTITION], "CreatePartitions on an unknown topic")

    kadm = C.kp_admin(bootstrap)
    try:
        from kafka.admin import NewPartitions as KNewPartitions
        resp = kadm.create_partitions({name: KNewPartitions(4)})
        assert [e[1] for e in resp.topic_errors] == [0], "kafka-python CreatePartitions: %r" % (resp.topic_errors,)
    finally:
        kadm.close()
    C.wait_topic(bootstrap, name, 4)


# ---------------------------------------------------------------------------- DeleteTopics
def test_delete_topic_and_recreate_empty(bootstrap):
    name = C.create_topic(bootstrap, 2, "adm-del")
    C.produce_confluent(bootstrap, name, [{"value": b"old-%d" % i, "partition": i % 2} for i in range(20)])
    a = C.admin(bootstrap)
    a.delete_topics([name], operation_timeout=10, request_timeout=15)[name].result(timeout=20)
    C.wait_topic_gone(bootstrap, name)
    _, _, topics = kwire.metadata_v4(bootstrap, [name], allow_auto_create=False)
    assert topics[name][0] == UNKNOWN_TOPIC_OR_PARTITION, "deleted topic: Metadata error %d" % topics[name][0]

    C.create_topic(bootstrap, 1, name=name)
    assert C.watermarks(bootstrap, name, 0) == (0, 0), "re-created topic is not empty: watermarks %r" % (
        C.watermarks(bootstrap, name, 0),)
    C.produce_confluent(bootstrap, name, [{"value": b"new", "partition": 0}])
    got = C.consume_confluent(bootstrap, name)
    assert [(g["offset"], g["value"]) for g in got] == [(0, b"new")], "re-created topic holds %r" % got

    missing = C.unique("nope")
    C.expect_error_code(a.delete_topics([missing], request_timeout=15)[missing],
                        [UNKNOWN_TOPIC_OR_PARTITION], "DeleteTopics on an unknown topic")


def test_delete_topics_kafka_python(bootstrap):
    names = [C.create_topic(bootstrap, 1, "adm-kdel") for _ in range(2)]
    kadm = C.kp_admin(bootstrap)
    try:
        resp = kadm.delete_topics(names)
        errs = {t[0]: t[1] for t in resp.topic_error_codes}
        assert errs == {n: 0 for n in names}, "kafka-python DeleteTopics: %r" % (resp.topic_error_codes,)
    finally:
        kadm.close()
    for n in names:
        C.wait_topic_gone(bootstrap, n)
