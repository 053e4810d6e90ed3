"""Deleting a topic and creating it again, in every order with produce, fetch, restart and
kill -9: the new topic never shares a directory, file or record with the old one, and nothing
acknowledged for the new one is lost. Kafka moves a deleted partition's directory aside at once
(`<topic>-<n>.<uuid>-delete`) and removes it later; a directory no topic owns (a deletion a crash
cut short) is removed at start. Also: legal topic names up to 249 characters everywhere, and
Metadata for the topic "" answered INVALID_TOPIC_EXCEPTION (17) on a connection that stays open.
"""
import os
import shutil
import signal

import pytest
from confluent_kafka import TopicPartition

import clients as C
import kspec
import kwire

INVALID_TOPIC_EXCEPTION = 17


def values(bootstrap, topic):
    return [(g["offset"], g["value"]) for g in C.consume_confluent(bootstrap, topic, partitions=[0])]


def produce_all(bootstrap, topic, prefix, n):
    C.produce_confluent(bootstrap, topic, [{"value": b"%s-%d" % (prefix, i), "partition": 0} for i in range(n)],
                        **{"acks": "all"})


def delete_and_create_pipelined(bootstrap, topic, partitions=1):
    """DeleteTopics and CreateTopics for the same name, sent back to back on one connection
    before either answer is read."""
    with kspec.Connection(bootstrap) as c:
        d = c.send("DeleteTopics", 6, {"Topics": [{"Name": topic, "TopicId": kspec.ZERO_UUID}], "TimeoutMs": 10000})
        k = c.send("CreateTopics", 7, {"Topics": [{"Name": topic, "NumPartitions": partitions, "ReplicationFactor": 1,
                                                   "Assignments": [], "Configs": []}], "timeoutMs": 10000})
        deleted = c.receive("DeleteTopics", 6, d)
        created = c.receive("CreateTopics", 7, k)
    assert deleted["Responses"][0]["ErrorCode"] == 0, deleted
    assert created["Topics"][0]["ErrorCode"] == 0, "CreateTopics right behind DeleteTopics: %r" % created


@pytest.mark.parametrize("restart", ["sigterm", "kill9"])
def test_delete_and_create_back_to_back_then_produce_survives_a_restart(broker_factory, restart):
    """The reported loss: 100 of 100 acknowledged records gone after a restart, in 10 of 10
    rounds, because the old topic's deferred removal deleted the new topic's directory."""
    b = broker_factory()
    topic = C.create_topic(b.bootstrap, 1, "life-b2b")
    for round_ in range(5):
        produce_all(b.bootstrap, topic, b"old%d" % round_, 50)
        delete_and_create_pipelined(b.bootstrap, topic)
        produce_all(b.bootstrap, topic, b"new%d" % round_, 100)
        want = [(i, b"new%d-%d" % (round_, i)) for i in range(100)]
        assert values(b.bootstrap, topic) == want, "round %d before the restart" % round_
        b.restart(sig=signal.SIGKILL if restart == "kill9" else signal.SIGTERM)
        C.forget(b.bootstrap)
        assert values(b.bootstrap, topic) == want, "round %d after %s: acknowledged records lost or old ones back" % (
            round_, restart)
    leftovers = [e for e in os.listdir(b.data_dir) if e.endswith("-delete")]
    assert not leftovers, "deleted directories left behind: %r" % leftovers


def test_interleavings_of_delete_create_produce_and_restart(broker_factory):
    b = broker_factory()
    boot = lambda: b.bootstrap  # noqa: E731 (the port survives restarts)
    admin = lambda: C.admin(boot())  # noqa: E731
    topic = C.unique("life-mix")

    def create():
        C.create_topic(boot(), 1, name=topic)

    def delete():
        admin().delete_topics([topic], operation_timeout=10, request_timeout=15)[topic].result(timeout=20)

    # delete, restart, create: the old records never come back.
    create()
    produce_all(boot(), topic, b"a", 20)
    delete()
    b.restart()
    C.forget(boot())
    create()
    assert values(boot(), topic) == []
    # create, produce, delete, create, kill -9: only the last topic's records, all of them.
    produce_all(boot(), topic, b"b", 20)
    delete()
    create()
    produce_all(boot(), topic, b"c", 30)
    b.restart(sig=signal.SIGKILL)
    C.forget(boot())
    assert values(boot(), topic) == [(i, b"c-%d" % i) for i in range(30)]
    # delete, kill -9 at once, start, create: empty; then produce and restart.
    delete()
    b.restart(sig=signal.SIGKILL)
    C.forget(boot())
    _, _, topics = kwire.metadata_v4(boot(), [topic], allow_auto_create=False)
    assert topics[topic][0] == 3, "a deleted topic must stay deleted across kill -9"
    create()
    assert values(boot(), topic) == []
    produce_all(boot(), topic, b"d", 10)
    b.restart()
    C.forget(boot())
    assert values(boot(), topic) == [(i, b"d-%d" % i) for i in range(10)]


def test_a_fetch_by_topic_id_of_a_deleted_topic_never_reads_its_successor(bootstrap):
    topic = C.create_topic(bootstrap, 1, "life-fetch")
    produce_all(bootstrap, topic, b"old", 5)
    with kspec.Connection(bootstrap) as c:
        md = c.call("Metadata", 12, {"Topics": [{"Name": topic}], "AllowAutoTopicCreation": False})
    old_id = md["Topics"][0]["TopicId"]
    delete_and_create_pipelined(bootstrap, topic)
    produce_all(bootstrap, topic, b"new", 5)
    with kspec.Connection(bootstrap) as c:
        r = c.call("Fetch", 13, {"ReplicaId": -1, "MaxWaitMs": 0, "MinBytes": 1, "MaxBytes": 1 << 20, "SessionEpoch": -1,
                                 "Topics": [{"TopicId": old_id, "Partitions": [{"Partition": 0, "FetchOffset": 0,
                                                                                 "PartitionMaxBytes": 1 << 20}]}],
                                 "ForgottenTopicsData": [], "RackId": ""})
    part = r["Responses"][0]["Partitions"][0]
    assert part["ErrorCode"] == 100 and not part["Records"], "the old topic id must be UNKNOWN_TOPIC_ID: %r" % part
    assert values(bootstrap, topic) == [(i, b"new-%d" % i) for i in range(5)]


def test_a_partition_directory_no_topic_owns_is_removed_at_start(broker_factory):
    """A crash between removing a topic's metadata and moving its directories aside leaves
    directories no topic owns: they must not reappear in a topic created later."""
    b = broker_factory()
    topic = C.create_topic(b.bootstrap, 2, "life-stray")
    produce_all(b.bootstrap, topic, b"stray", 20)
    b.stop()
    meta = os.path.join(b.data_dir, "__sluice_topics")
    (mine,) = [f for f in os.listdir(meta) if topic in open(os.path.join(meta, f)).read()]
    os.unlink(os.path.join(meta, mine))  # the deletion's commit point, then the crash
    b.start()
    C.forget(b.bootstrap)
    assert not os.path.exists(os.path.join(b.data_dir, "%s-0" % topic)), "the stray directory is still there"
    C.create_topic(b.bootstrap, 2, name=topic)
    assert values(b.bootstrap, topic) == [], "a stray directory's records leaked into a new topic"


@pytest.mark.parametrize("length", [246, 247, 248, 249])
def test_topic_names_up_to_249_characters_work_everywhere(broker_factory, length):
    b = broker_factory()
    topic = ("n%d-" % length + "x" * 300)[:length]
    C.create_topic(b.bootstrap, 2, name=topic, config={"retention.ms": "3600000"})
    produce_all(b.bootstrap, topic, b"long", 10)
    assert values(b.bootstrap, topic) == [(i, b"long-%d" % i) for i in range(10)]
    res = C.admin(b.bootstrap).describe_configs(
        [__import__("confluent_kafka.admin", fromlist=["ConfigResource"]).ConfigResource(2, topic)], request_timeout=15)
    assert list(res.values())[0].result(timeout=20)["retention.ms"].value == "3600000"
    b.restart()
    C.forget(b.bootstrap)
    assert values(b.bootstrap, topic) == [(i, b"long-%d" % i) for i in range(10)]
    delete_and_create_pipelined(b.bootstrap, topic, partitions=2)
    assert values(b.bootstrap, topic) == []
    too_long = topic + "y" * (250 - length)
    fut = C.admin(b.bootstrap).create_topics([__import__("confluent_kafka.admin", fromlist=["NewTopic"]).NewTopic(too_long, 1, 1)],
                                             request_timeout=15)[too_long]
    C.expect_error_code(fut, [INVALID_TOPIC_EXCEPTION], "a 250-character name")


@pytest.mark.parametrize("version", [1, 4, 9, 12])
def test_metadata_for_the_empty_topic_name_is_invalid_topic(bootstrap, version):
    with kspec.Connection(bootstrap) as c:
        body = {"Topics": [{"Name": "", "TopicId": kspec.ZERO_UUID}]}
        if version >= 4:
            body["AllowAutoTopicCreation"] = True
        r = c.call("Metadata", version, body)
        (t,) = r["Topics"]
        assert (t["ErrorCode"], t["Name"]) == (INVALID_TOPIC_EXCEPTION, ""), "Metadata v%d for '': %r" % (version, t)
        again = c.call("Metadata", version, {"Topics": []})
        assert again["Topics"] == [], "the connection must stay usable"


def test_a_partition_that_cannot_open_keeps_its_place(broker_factory):
    """A partition whose log cannot be opened stays in its topic, offline (this broker among its
    offline replicas, KAFKA_STORAGE_ERROR for its requests); the other partitions keep their own
    indexes and data (they used to shift onto one another's logs)."""
    b = broker_factory()
    topic = C.create_topic(b.bootstrap, 3, "life-offline")
    for p in range(3):
        C.produce_confluent(b.bootstrap, topic, [{"value": b"p%d-%d" % (p, i), "partition": p} for i in range(5)])
    b.stop()
    broken = os.path.join(b.data_dir, "%s-1" % topic)
    shutil.rmtree(broken)
    open(broken, "w").write("a file where the partition's directory was")
    b.start()
    C.forget(b.bootstrap)
    with kspec.Connection(b.bootstrap) as c:
        md = c.call("Metadata", 12, {"Topics": [{"Name": topic}]})
        parts = {p["PartitionIndex"]: p for p in md["Topics"][0]["Partitions"]}
        assert sorted(parts) == [0, 1, 2], "the offline partition keeps its place: %r" % sorted(parts)
        assert parts[1]["OfflineReplicas"] == [1] and parts[0]["OfflineReplicas"] == [] and parts[2]["OfflineReplicas"] == []
        r = c.call("Produce", 9, {"Acks": -1, "TimeoutMs": 5000, "TopicData": [{"Name": topic, "PartitionData": [
            {"Index": 1, "Records": kwire.build_batch([(b"k", b"v", None)])}]}]})
        assert r["Responses"][0]["PartitionResponses"][0]["ErrorCode"] == 56, "produce to the offline partition"
    for p in (0, 2):
        got = [g["value"] for g in C.consume_confluent(b.bootstrap, topic, partitions=[p])]
        assert got == [b"p%d-%d" % (p, i) for i in range(5)], "partition %d serves its own records: %r" % (p, got)
