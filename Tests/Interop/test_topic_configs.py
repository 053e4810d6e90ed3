"""Every topic config Kafka 3.9 accepts, through confluent-kafka's AdminClient (librdkafka) and
kafka-python: accepted at CreateTopics, validated by Kafka's rules with Kafka's messages
(INVALID_CONFIG, 40), reported by DescribeConfigs with Kafka's sources and synonyms;
cleanup.policy as a list (IncrementalAlterConfigs APPEND/SUBTRACT, the empty list keeping
everything); values Sluice cannot honour yet refused with a message that says so; and the
configs that change what clients see doing so: message.timestamp.before/after.max.ms
(INVALID_TIMESTAMP, 32), min.insync.replicas (NOT_ENOUGH_REPLICAS, 19), cleanup.policy without
delete (DeleteRecords gets POLICY_VIOLATION, 44), message.format.version accepted and ignored
(batches stay v2). Expected behaviour is Kafka's: storage/.../log/LogConfig.java,
core/.../server/ConfigHelper.scala, metadata/.../controller/ConfigurationControlManager.java."""
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource, NewTopic

import clients as C
import kspec
import kwire

INVALID_CONFIG = 40
INVALID_TIMESTAMP = 32
NOT_ENOUGH_REPLICAS = 19
POLICY_VIOLATION = 44

# A valid value other than the default for every topic config of Kafka 3.9 (cleanup.policy and
# remote.storage.enable keep values Sluice can honour; see test_unhonourable_values_are_refused).
EVERY_TOPIC_CONFIG = {
    "cleanup.policy": "delete",
    "compression.type": "lz4",
    "compression.gzip.level": "5",
    "compression.lz4.level": "10",
    "compression.zstd.level": "7",
    "delete.retention.ms": "3600000",
    "file.delete.delay.ms": "1000",
    "flush.messages": "10",
    "flush.ms": "5000",
    "follower.replication.throttled.replicas": "0:1",
    "index.interval.bytes": "8192",
    "leader.replication.throttled.replicas": "*",
    "local.retention.bytes": "-2",
    "local.retention.ms": "-2",
    "max.compaction.lag.ms": "86400000",
    "max.message.bytes": "2000000",
    "message.downconversion.enable": "false",
    "message.format.version": "3.0-IV1",
    "message.timestamp.after.max.ms": "3600000",
    "message.timestamp.before.max.ms": "7200000",
    "message.timestamp.difference.max.ms": "9000000",
    "message.timestamp.type": "LogAppendTime",
    "min.cleanable.dirty.ratio": "0.25",
    "min.compaction.lag.ms": "1000",
    "min.insync.replicas": "1",
    "preallocate": "true",
    "remote.log.copy.disable": "false",
    "remote.log.delete.on.disable": "false",
    "remote.storage.enable": "false",
    "retention.bytes": "100000000",
    "retention.ms": "3600000",
    "segment.bytes": "1048576",
    "segment.index.bytes": "1048576",
    "segment.jitter.ms": "1000",
    "segment.ms": "3600000",
    "unclean.leader.election.enable": "true",
}


def src(entry):
    s = entry.source
    return s.value if hasattr(s, "value") else int(s)


def describe(bootstrap, topic, **kw):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    return C.admin(bootstrap).describe_configs([res], request_timeout=15, **kw)[res].result(timeout=20)


def create(bootstrap, name, config, validate_only=False):
    fut = C.admin(bootstrap).create_topics([NewTopic(name, 1, 1, config=config)], validate_only=validate_only,
                                           operation_timeout=10, request_timeout=15)[name]
    return fut


def refused(fut, code, fragment, what):
    """The future fails with Kafka error `code` and a message containing `fragment`."""
    try:
        fut.result(timeout=20)
    except KafkaException as e:
        err = e.args[0]
        assert err.code() == code, "%s: error %s, expected %d" % (what, err, code)
        assert fragment in err.str(), "%s: message %r does not contain %r" % (what, err.str(), fragment)
        return
    raise AssertionError("%s: accepted, expected error %d" % (what, code))


def incremental(bootstrap, topic, *entries):
    res = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=list(entries))
    return C.admin(bootstrap).incremental_alter_configs([res])[res]


def test_every_kafka_topic_config_is_accepted_and_described(bootstrap):
    name = C.unique("cfg-all")
    create(bootstrap, name, EVERY_TOPIC_CONFIG).result(timeout=20)
    cfg = describe(bootstrap, name)
    assert set(EVERY_TOPIC_CONFIG) <= set(cfg), "DescribeConfigs lacks %s" % sorted(set(EVERY_TOPIC_CONFIG) - set(cfg))
    for key, want in EVERY_TOPIC_CONFIG.items():
        assert cfg[key].value == want, "%s = %r, created with %r" % (key, cfg[key].value, want)
        assert src(cfg[key]) == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, "%s source %r" % (key, src(cfg[key]))
        assert not cfg[key].is_read_only and not cfg[key].is_sensitive
    # Synonyms on the wire (confluent keys them by name, which hides a broker synonym of the
    # same name such as compression.type): the override comes first.
    with kspec.Connection(bootstrap) as c:
        r = c.call("DescribeConfigs", 4, {"Resources": [{"ResourceType": 2, "ResourceName": name, "ConfigurationKeys": None}],
                                          "IncludeSynonyms": True, "IncludeDocumentation": True})
    entries = {e["Name"]: e for e in r["Results"][0]["Configs"]}
    for key, want in EVERY_TOPIC_CONFIG.items():
        first = entries[key]["Synonyms"][0]
        assert (first["Name"], first["Value"], first["Source"]) == (key, want, 1), "%s: first synonym %r" % (key, first)
        assert entries[key]["Documentation"], "%s: no documentation although asked" % key

    # kafka-python, an independent client, reads the same.
    from kafka.admin import ConfigResource as KRes, ConfigResourceType as KType
    kadm = C.kp_admin(bootstrap)
    try:
        (resp,) = kadm.describe_configs([KRes(KType.TOPIC, name)])
        (res,) = resp.to_object()["resources"]
        vals = {e["config_names"]: e["config_value"] for e in res["config_entries"]}
    finally:
        kadm.close()
    assert {k: vals.get(k) for k in EVERY_TOPIC_CONFIG} == EVERY_TOPIC_CONFIG


def test_defaults_sources_and_synonyms_follow_kafka(bootstrap):
    name = C.create_topic(bootstrap, 1, "cfg-src", config={"retention.ms": "1000"})
    cfg = describe(bootstrap, name)
    # ConfigHelper: synonyms are the override, then broker synonyms with a value; those ahead of
    # the first broker synonym's own name are dropped.
    ret = cfg["retention.ms"]
    assert [(s.name, s.value, src(s)) for s in ret.synonyms.values()] == [("retention.ms", "1000", 1)]
    seg = cfg["segment.bytes"]
    assert src(seg) == ConfigSource.DEFAULT_CONFIG.value and seg.value == "1073741824"
    assert [(s.name, s.value, src(s)) for s in seg.synonyms.values()] == [("log.segment.bytes", "1073741824", 5)]
    rolled = cfg["segment.ms"]
    assert rolled.value == "604800000" and src(rolled) == ConfigSource.DEFAULT_CONFIG.value and not rolled.synonyms, \
        "segment.ms: log.roll.ms has no default, so Kafka lists no synonym (log.roll.hours is dropped)"
    assert cfg["message.format.version"].value == "3.0-IV1"
    assert cfg["cleanup.policy"].value == "delete"


@pytest.mark.parametrize("key,value,message", [
    ("made.up.config", "1", "Unknown topic config name: made.up.config"),
    ("retention.ms", "soon", "Invalid value soon for configuration retention.ms: Not a number of type LONG"),
    ("retention.ms", "-5", "Invalid value -5 for configuration retention.ms: Value must be at least -1"),
    ("segment.bytes", "10", "Invalid value 10 for configuration segment.bytes: Value must be at least 14"),
    ("min.cleanable.dirty.ratio", "1.5", "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1"),
    ("preallocate", "maybe", "Invalid value maybe for configuration preallocate: Expected value to be either true or false"),
    ("compression.type", "brotli", "String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"),
    ("cleanup.policy", "delete,shred", "Invalid value shred for configuration cleanup.policy: String must be one of: compact, delete"),
    ("compression.gzip.level", "12", "Value must be between 1 and 9 or equal to -1"),
    ("message.format.version", "9.9", "Version 9.9 is not a valid version"),
    ("leader.replication.throttled.replicas", "everything", "must be the literal '*' or a list of replicas"),
    ("message.timestamp.type", "Now", "String must be one of: CreateTime, LogAppendTime"),
])
def test_invalid_values_get_kafkas_error_and_message(bootstrap, key, value, message):
    name = C.unique("cfg-bad")
    refused(create(bootstrap, name, {key: value}), INVALID_CONFIG, message, "CreateTopics %s=%s" % (key, value))
    topic = C.create_topic(bootstrap, 1, "cfg-bad-alter")
    refused(incremental(bootstrap, topic, ConfigEntry(key, value, incremental_operation=AlterConfigOpType.SET)),
            INVALID_CONFIG, message, "IncrementalAlterConfigs %s=%s" % (key, value))


def test_compaction_lags_must_be_ordered(bootstrap):
    refused(create(bootstrap, C.unique("cfg-lag"), {"min.compaction.lag.ms": "10", "max.compaction.lag.ms": "5"}),
            INVALID_CONFIG, "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)", "lags")


def test_unhonourable_values_are_refused(bootstrap):
    create(bootstrap, C.unique("cfg-compact"), {"cleanup.policy": "compact"}).result(timeout=20)
    create(bootstrap, C.unique("cfg-compact"), {"cleanup.policy": "compact,delete"}).result(timeout=20)
    refused(create(bootstrap, C.unique("cfg-remote"), {"remote.storage.enable": "true"}), INVALID_CONFIG,
            "Tiered Storage functionality is disabled in the broker", "remote.storage.enable=true")


def test_cleanup_policy_append_and_subtract(bootstrap):
    topic = C.create_topic(bootstrap, 1, "cfg-list")
    C.produce_confluent(bootstrap, topic, [{"value": b"%d" % i, "partition": 0} for i in range(10)])

    def policy():
        entry = describe(bootstrap, topic)["cleanup.policy"]
        return entry.value, src(entry)

    incremental(bootstrap, topic, ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.APPEND)).result(timeout=20)
    assert policy() == ("delete", 1), "APPEND of a value already in the default adds it once"
    incremental(bootstrap, topic, ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.SUBTRACT)).result(timeout=20)
    assert policy() == ("", 1), "SUBTRACT of the last value leaves Kafka's empty list"

    # No delete in the policy: DeleteRecords is refused (Partition.deleteRecordsOnLeader).
    fut = list(C.admin(bootstrap).delete_records([TopicPartition(topic, 0, 5)], request_timeout=15).values())[0]
    C.expect_error_code(fut, [KafkaError.POLICY_VIOLATION], "DeleteRecords on a topic without the delete policy")
    assert C.watermarks(bootstrap, topic, 0) == (0, 10)

    incremental(bootstrap, topic, ConfigEntry("cleanup.policy", "compact", incremental_operation=AlterConfigOpType.APPEND)).result(timeout=20)
    assert policy() == ("compact", 1)
    refused(incremental(bootstrap, topic, ConfigEntry("retention.ms", "5", incremental_operation=AlterConfigOpType.APPEND)),
            INVALID_CONFIG, "Can't APPEND to key retention.ms because its type is not LIST.", "APPEND on a LONG")
    refused(incremental(bootstrap, topic, ConfigEntry("segment.ms", "5", incremental_operation=AlterConfigOpType.SUBTRACT)),
            INVALID_CONFIG, "Can't SUBTRACT to key segment.ms because its type is not LIST.", "SUBTRACT on a LONG")
    incremental(bootstrap, topic, ConfigEntry("cleanup.policy", "delete", incremental_operation=AlterConfigOpType.APPEND)).result(timeout=20)
    assert policy() == ("compact,delete", 1)
    res = list(C.admin(bootstrap).delete_records([TopicPartition(topic, 0, 5)], request_timeout=15).values())[0].result(timeout=20)
    assert res.low_watermark == 5


def test_an_empty_cleanup_policy_keeps_everything(broker_factory):
    """Kafka skips time and size retention for a log whose policy lacks delete."""
    b = broker_factory({"log.retention.check.interval.ms": "200"})
    keep = C.create_topic(b.bootstrap, 1, "cfg-keep", config={"cleanup.policy": "", "retention.ms": "1", "segment.ms": "1"})
    drop = C.create_topic(b.bootstrap, 1, "cfg-drop", config={"retention.ms": "1", "segment.ms": "1"})
    for topic in (keep, drop):
        for i in range(3):
            C.produce_confluent(b.bootstrap, topic, [{"value": b"%d" % i, "partition": 0}])
            time.sleep(0.05)
    deadline = time.time() + 20
    while C.watermarks(b.bootstrap, drop, 0)[0] == 0 and time.time() < deadline:
        time.sleep(0.2)
    assert C.watermarks(b.bootstrap, drop, 0)[0] > 0, "retention.ms=1 with the delete policy removed nothing"
    assert C.watermarks(b.bootstrap, keep, 0) == (0, 3), "an empty cleanup.policy must keep every record"


def test_message_format_version_is_accepted_and_ignored(bootstrap):
    topic = C.create_topic(bootstrap, 1, "cfg-mfv", config={"message.format.version": "0.10.2"})
    assert describe(bootstrap, topic)["message.format.version"].value == "0.10.2"
    C.produce_confluent(bootstrap, topic, [{"value": b"v", "partition": 0}])
    batches, _ = kwire.fetch_all_batches(bootstrap, topic, 0)
    assert [b.magic for b in batches] == [2], "Kafka 3.x ignores message.format.version: batches stay v2"


def produce_raw(bootstrap, topic, timestamps, acks=-1):
    """Produce v9 (flexible) of one batch with these CreateTimes; the decoded partition answer."""
    from kafka.record.default_records import DefaultRecordBatchBuilder
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=False, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 30)
    for i, ts in enumerate(timestamps):
        builder.append(i, timestamp=ts, key=b"k%d" % i, value=b"v", headers=[])
    batch = bytes(builder.build())
    with kspec.Connection(bootstrap) as c:
        r = c.call("Produce", 9, {"Acks": acks, "TimeoutMs": 10000, "TopicData": [
            {"Name": topic, "PartitionData": [{"Index": 0, "Records": batch}]}]})
    return r["Responses"][0]["PartitionResponses"][0]


def test_timestamps_outside_the_topics_bounds_are_refused(bootstrap):
    topic = C.create_topic(bootstrap, 1, "cfg-ts", config={"message.timestamp.before.max.ms": "60000",
                                                            "message.timestamp.after.max.ms": "60000"})
    now = int(time.time() * 1000)
    ok = produce_raw(bootstrap, topic, [now, now - 30_000, now + 30_000])
    assert ok["ErrorCode"] == 0 and ok["BaseOffset"] == 0
    bad = produce_raw(bootstrap, topic, [now, now - 3_600_000, now, now + 3_600_000])
    assert bad["ErrorCode"] == INVALID_TIMESTAMP, "records an hour off with 60 s bounds: error %d" % bad["ErrorCode"]
    assert bad["ErrorMessage"] == "One or more records have been rejected due to invalid timestamp"
    assert [e["BatchIndex"] for e in bad["RecordErrors"]] == [1, 3], "both records at fault are listed: %r" % bad["RecordErrors"]
    assert "is out of range. The timestamp should be within [" in bad["RecordErrors"][0]["BatchIndexErrorMessage"]
    assert C.watermarks(bootstrap, topic, 0) == (0, 3), "the refused batch must not be appended"
    # librdkafka sees the same error.
    p = C.confluent_producer(bootstrap, **{"linger.ms": 0})
    errs = []
    p.produce(topic, value=b"old", partition=0, timestamp=now - 3_600_000, on_delivery=lambda e, m: errs.append(e))
    p.flush(15)
    assert len(errs) == 1 and errs[0] is not None and errs[0].code() == KafkaError.INVALID_TIMESTAMP, errs
    # The deprecated difference bound applies where before/after are not set; LogAppendTime is never checked.
    old = C.create_topic(bootstrap, 1, "cfg-ts-diff", config={"message.timestamp.difference.max.ms": "60000"})
    assert produce_raw(bootstrap, old, [now - 3_600_000])["ErrorCode"] == INVALID_TIMESTAMP
    stamped = C.create_topic(bootstrap, 1, "cfg-ts-lat", config={"message.timestamp.difference.max.ms": "60000",
                                                                  "message.timestamp.type": "LogAppendTime"})
    assert produce_raw(bootstrap, stamped, [now - 3_600_000])["ErrorCode"] == 0


def test_min_insync_replicas_above_the_isr_refuses_acks_all(bootstrap):
    topic = C.create_topic(bootstrap, 1, "cfg-isr", config={"min.insync.replicas": "2"})
    r = produce_raw(bootstrap, topic, [int(time.time() * 1000)], acks=-1)
    assert r["ErrorCode"] == NOT_ENOUGH_REPLICAS, "acks=all with min.insync.replicas=2 on one broker: error %d" % r["ErrorCode"]
    assert "insufficient to satisfy the min.isr requirement of 2" in (r["ErrorMessage"] or "")
    assert produce_raw(bootstrap, topic, [int(time.time() * 1000)], acks=1)["ErrorCode"] == 0, "acks=1 is not affected"
    incremental(bootstrap, topic, ConfigEntry("min.insync.replicas", None, incremental_operation=AlterConfigOpType.DELETE)).result(timeout=20)
    assert produce_raw(bootstrap, topic, [int(time.time() * 1000)], acks=-1)["ErrorCode"] == 0


def test_recompression_uses_the_topics_level(bootstrap):
    """compression.gzip.level changes the bytes the broker writes when it recompresses."""
    value = bytes(range(256)) * 64
    sizes = {}
    for level in ("1", "9"):
        topic = C.create_topic(bootstrap, 1, "cfg-gz", config={"compression.type": "gzip", "compression.gzip.level": level})
        C.produce_confluent(bootstrap, topic, [{"value": value + (b"%d" % i) * 100, "partition": 0} for i in range(200)],
                            **{"compression.type": "none", "linger.ms": 50})
        batches, _ = kwire.fetch_all_batches(bootstrap, topic, 0)
        assert {b.compression_type for b in batches} == {1}, "stored as gzip"
        sizes[level] = sum(b.size_in_bytes for b in batches)
        assert sum(b.records_count for b in batches) == 200
    assert sizes["9"] < sizes["1"], "gzip level 9 should store less than level 1: %r" % sizes
