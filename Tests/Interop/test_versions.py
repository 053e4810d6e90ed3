"""Every advertised version of every API, over a plain socket, decoded independently.

One case per (API, version) the broker advertises (ids like `Fetch-v12`). Requests are encoded
and responses decoded by kspec.py, a spec-driven codec written from Kafka's JSON message specs
(no code shared with the broker's generator); a response that leaves a byte over or runs short
fails with the message, version and field. Record batches are built and parsed by kafka-python's
own record code. Each case checks what a Kafka user relies on at that version: error codes as
Apache Kafka returns them, offsets, read-back records, topic ids, group state.

ADVERTISED below is the expected ApiVersions answer; `test_advertised_versions_match_the_table`
fails when the broker advertises anything else, so a new version cannot ship without a case.

Most APIs run against the session broker. The group APIs use one extra broker for this module,
started with group.initial.rebalance.delay.ms=0: with Kafka's 3 s default every fresh group's
first JoinGroup would wait 3 s, and this file makes about seventy groups.
"""
import struct
import time
import uuid

import pytest

import kspec
from broker import Broker

SPECS = kspec.specs()

# API name (as in the spec files, without Request/Response) -> advertised (min, max) version.
ADVERTISED = {
    "Produce": (0, 11),
    "Fetch": (4, 16),
    "ListOffsets": (1, 8),
    "Metadata": (0, 12),
    "OffsetCommit": (2, 9),
    "OffsetFetch": (1, 9),
    "FindCoordinator": (0, 4),
    "JoinGroup": (0, 9),
    "Heartbeat": (0, 4),
    "LeaveGroup": (0, 5),
    "SyncGroup": (0, 5),
    "DescribeGroups": (0, 5),
    "ListGroups": (0, 5),
    "ApiVersions": (0, 4),
    "CreateTopics": (2, 7),
    "DeleteTopics": (1, 6),
    "DeleteRecords": (0, 2),
    "InitProducerId": (0, 4),
    "AddPartitionsToTxn": (0, 4),
    "AddOffsetsToTxn": (0, 4),
    "EndTxn": (0, 4),
    "TxnOffsetCommit": (0, 4),
    "DescribeTransactions": (0, 0),
    "ListTransactions": (0, 1),
    "DescribeProducers": (0, 0),
    "OffsetForLeaderEpoch": (2, 4),
    "DescribeConfigs": (1, 4),
    "AlterConfigs": (0, 2),
    "CreatePartitions": (0, 3),
    "DeleteGroups": (0, 2),
    "IncrementalAlterConfigs": (0, 1),
    "OffsetDelete": (0, 0),
    "DescribeCluster": (0, 1),
    "SaslHandshake": (0, 1),
    "SaslAuthenticate": (0, 2),
    "DescribeUserScramCredentials": (0, 0),
    "AlterUserScramCredentials": (0, 0),
}
GROUP_APIS = {"OffsetCommit", "OffsetFetch", "JoinGroup", "Heartbeat", "LeaveGroup", "SyncGroup",
              "DescribeGroups", "ListGroups", "DeleteGroups", "OffsetDelete"}

# Kafka error codes
NONE, OFFSET_OUT_OF_RANGE, UNKNOWN_TOPIC_OR_PARTITION = 0, 1, 3
ILLEGAL_GENERATION, INCONSISTENT_GROUP_PROTOCOL, UNKNOWN_MEMBER_ID = 22, 23, 25
UNSUPPORTED_VERSION, TOPIC_ALREADY_EXISTS, INVALID_PARTITIONS, INVALID_CONFIG = 35, 36, 37, 40
NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, UNKNOWN_LEADER_EPOCH = 68, 69, 75
MEMBER_ID_REQUIRED, GROUP_SUBSCRIBED_TO_TOPIC, UNKNOWN_TOPIC_ID = 79, 86, 100
MISMATCHED_ENDPOINT_TYPE, UNSUPPORTED_ENDPOINT_TYPE = 114, 115
INVALID_PRODUCER_EPOCH, INVALID_TXN_STATE, INVALID_PRODUCER_ID_MAPPING = 47, 48, 49
INVALID_TRANSACTION_TIMEOUT, CONCURRENT_TRANSACTIONS, OPERATION_NOT_ATTEMPTED, PRODUCER_FENCED = 50, 51, 55, 90
TRANSACTIONAL_ID_NOT_FOUND, INVALID_REQUEST = 105, 42
EARLIEST, LATEST, MAX_TIMESTAMP, EARLIEST_LOCAL = -2, -1, -3, -4
TOPIC_RESOURCE, BROKER_RESOURCE = 2, 4
DYNAMIC_TOPIC_CONFIG, DEFAULT_CONFIG = 1, 5
INT32_MIN = -2 ** 31
ZERO_UUID = uuid.UUID(int=0)


def top(api):
    return ADVERTISED[api][1]


def uniq(prefix):
    return "versions-%s-%s" % (prefix, uuid.uuid4().hex[:10])


def eq(got, want, what):
    assert got == want, "%s: got %r, expected %r" % (what, got, want)


def only(items, what):
    assert len(items) == 1, "%s: expected exactly one entry, got %r" % (what, items)
    return items[0]


def by(items, key, value, what):
    found = [x for x in items if x[key] == value]
    assert len(found) == 1, "%s: expected one entry with %s=%r, got %r" % (what, key, value, items)
    return found[0]


# ---------------------------------------------------------------------------- record batches
def batch(values, base_ts=None, timestamps=None, producer_id=-1, producer_epoch=-1, base_sequence=-1, transactional=False):
    """One magic-2 batch built by kafka-python: keys k0.., the given values, one header each."""
    from kafka.record.default_records import DefaultRecordBatchBuilder
    b = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=transactional,
                                  producer_id=producer_id, producer_epoch=producer_epoch,
                                  base_sequence=base_sequence, batch_size=1 << 30)
    ts = int(time.time() * 1000) if base_ts is None else base_ts
    for i, v in enumerate(values):
        b.append(i, timestamp=timestamps[i] if timestamps else ts + i, key=b"k%d" % i, value=v,
                 headers=[("h", b"x%d" % i)])
    return bytes(b.build())


def parse_batches(data):
    """kafka-python DefaultRecordBatch objects of the whole batches in a records field."""
    from kafka.record.memory_records import MemoryRecords
    mr = MemoryRecords(bytes(data or b""))
    out = []
    while mr.has_next():
        out.append(mr.next_batch())
    return out


def legacy_message_set(magic):
    from kafka.record.legacy_records import LegacyRecordBatchBuilder
    b = LegacyRecordBatchBuilder(magic=magic, compression_type=0, batch_size=1 << 30)
    b.append(0, timestamp=int(time.time() * 1000) if magic else None, key=b"k", value=b"old format")
    return bytes(b.build())


def subscription(topics):
    """ConsumerProtocolSubscription v0 as a consumer puts it in JoinGroup metadata."""
    return struct.pack(">h", 0) + SPECS.encode("ConsumerProtocolSubscription", 0, {"Topics": topics})


def assignment(topic, partitions):
    return struct.pack(">h", 0) + SPECS.encode(
        "ConsumerProtocolAssignment", 0, {"AssignedPartitions": [{"Topic": topic, "Partitions": partitions}]})


# ---------------------------------------------------------------------------- a session
class K:
    """One connection to a broker, plus the setup steps the cases share (done at each API's
    highest advertised version; the version under test is always passed explicitly)."""

    def __init__(self, bootstrap):
        self.host, port = bootstrap.rsplit(":", 1)
        self.port = int(port)
        self.conn = kspec.Connection(bootstrap, timeout=20)
        self._meta = None

    def close(self):
        self.conn.close()

    def call(self, api, version, body=None):
        return self.conn.call(api, version, body or {})

    def metadata(self, topics=None):
        return self.call("Metadata", top("Metadata"), {
            "Topics": None if topics is None else [{"Name": t} for t in topics],
            "AllowAutoTopicCreation": False})

    @property
    def node(self):
        if self._meta is None:
            self._meta = self.metadata([])
        return only(self._meta["Brokers"], "Metadata brokers")["NodeId"]

    def create_topic(self, partitions=1, configs=None, prefix="t"):
        name = uniq(prefix)
        r = self.call("CreateTopics", top("CreateTopics"), {
            "Topics": [{"Name": name, "NumPartitions": partitions, "ReplicationFactor": 1,
                        "Configs": [{"Name": k, "Value": v} for k, v in (configs or {}).items()]}],
            "timeoutMs": 10000})
        t = only(r["Topics"], "CreateTopics topics")
        eq(t["ErrorCode"], NONE, "CreateTopics %s error" % name)
        return name, t.get("TopicId")

    def produce(self, topic, partition, records, version=None):
        v = top("Produce") if version is None else version
        r = self.call("Produce", v, {"Acks": -1, "TimeoutMs": 10000, "TopicData": [
            {"Name": topic, "PartitionData": [{"Index": partition, "Records": records}]}]})
        t = only(r["Responses"], "Produce v%d topics" % v)
        eq(t["Name"], topic, "Produce v%d topic name" % v)
        return only(t["PartitionResponses"], "Produce v%d partitions" % v)

    def append(self, topic, partition, records):
        p = self.produce(topic, partition, records)
        eq(p["ErrorCode"], NONE, "setup Produce to %s[%d]" % (topic, partition))
        return p["BaseOffset"]

    def list_offset(self, topic, partition, timestamp, version=None):
        v = top("ListOffsets") if version is None else version
        r = self.call("ListOffsets", v, {"ReplicaId": -1, "IsolationLevel": 0, "Topics": [
            {"Name": topic, "Partitions": [{"PartitionIndex": partition, "Timestamp": timestamp}]}]})
        t = only(r["Topics"], "ListOffsets v%d topics" % v)
        return only(t["Partitions"], "ListOffsets v%d partitions" % v)

    def offset(self, topic, partition, timestamp):
        p = self.list_offset(topic, partition, timestamp)
        eq(p["ErrorCode"], NONE, "ListOffsets %s[%d] @%d error" % (topic, partition, timestamp))
        return p["Offset"]

    def describe_configs(self, topic, keys, version=None, synonyms=False, docs=False):
        v = top("DescribeConfigs") if version is None else version
        body = {"Resources": [{"ResourceType": TOPIC_RESOURCE, "ResourceName": topic, "ConfigurationKeys": keys}],
                "IncludeSynonyms": synonyms}
        if v >= 3:
            body["IncludeDocumentation"] = docs
        res = only(self.call("DescribeConfigs", v, body)["Results"], "DescribeConfigs v%d results" % v)
        eq(res["ErrorCode"], NONE, "DescribeConfigs v%d %s error" % (v, topic))
        return {c["Name"]: c for c in res["Configs"]}

    def topic_configs(self, topic):
        """{name: (value, source)} of the given topic's configs."""
        return {n: (c["Value"], c["ConfigSource"]) for n, c in self.describe_configs(topic, None).items()}

    # ---- groups
    def join(self, group, topics):
        """Join `group` as a new member at the highest version (retrying after MEMBER_ID_REQUIRED)."""
        body = {"GroupId": group, "SessionTimeoutMs": 30000, "RebalanceTimeoutMs": 10000, "MemberId": "",
                "ProtocolType": "consumer", "Protocols": [{"Name": "range", "Metadata": subscription(topics)}]}
        r = self.call("JoinGroup", top("JoinGroup"), body)
        if r["ErrorCode"] == MEMBER_ID_REQUIRED:
            r = self.call("JoinGroup", top("JoinGroup"), dict(body, MemberId=r["MemberId"]))
        eq(r["ErrorCode"], NONE, "JoinGroup %s error" % group)
        return r

    def sync(self, group, join, asg):
        r = self.call("SyncGroup", top("SyncGroup"), {
            "GroupId": group, "GenerationId": join["GenerationId"], "MemberId": join["MemberId"],
            "ProtocolType": "consumer", "ProtocolName": "range",
            "Assignments": [{"MemberId": join["MemberId"], "Assignment": asg}]})
        eq(r["ErrorCode"], NONE, "SyncGroup %s error" % group)
        return r

    def member(self, group, topic, partitions=(0,)):
        """A stable one-member group; returns (join response, assignment bytes)."""
        j = self.join(group, [topic])
        asg = assignment(topic, list(partitions))
        self.sync(group, j, asg)
        return j, asg

    def commit(self, group, topic, offsets, generation=-1, member=""):
        """OffsetCommit at the highest version; {partition: (offset, metadata)} -> {partition: error}."""
        r = self.call("OffsetCommit", top("OffsetCommit"), {
            "GroupId": group, "GenerationIdOrMemberEpoch": generation, "MemberId": member,
            "Topics": [{"Name": topic, "Partitions": [
                {"PartitionIndex": p, "CommittedOffset": o, "CommittedMetadata": m} for p, (o, m) in offsets.items()]}]})
        t = only(r["Topics"], "OffsetCommit topics")
        return {p["PartitionIndex"]: p["ErrorCode"] for p in t["Partitions"]}

    def committed(self, group, topic, partitions):
        """OffsetFetch at the highest version -> {partition: (offset, metadata)}."""
        r = self.call("OffsetFetch", top("OffsetFetch"), {"Groups": [
            {"GroupId": group, "Topics": [{"Name": topic, "PartitionIndexes": list(partitions)}]}]})
        g = only(r["Groups"], "OffsetFetch groups")
        eq(g["ErrorCode"], NONE, "OffsetFetch %s error" % group)
        out = {}
        for t in g["Topics"]:
            for p in t["Partitions"]:
                eq(p["ErrorCode"], NONE, "OffsetFetch %s %s[%d] error" % (group, t["Name"], p["PartitionIndex"]))
                out[p["PartitionIndex"]] = (p["CommittedOffset"], p["Metadata"])
        return out

    def describe_group(self, group):
        r = self.call("DescribeGroups", top("DescribeGroups"), {"Groups": [group]})
        return only(r["Groups"], "DescribeGroups groups")


# ============================================================================ the cases
def check_api_versions(k, v):
    body = {"ClientSoftwareName": "kspec-tests", "ClientSoftwareVersion": "1.0"} if v >= 3 else {}
    r = k.call("ApiVersions", v, body)
    eq(r["ErrorCode"], NONE, "ApiVersions v%d error" % v)
    got = {SPECS.by_key[a["ApiKey"]]: (a["MinVersion"], a["MaxVersion"]) for a in r["ApiKeys"]}
    eq(got, ADVERTISED, "ApiVersions v%d ranges" % v)
    if v >= 1:
        eq(r["ThrottleTimeMs"], 0, "ApiVersions v%d throttle" % v)


def check_produce(k, v):
    topic, _ = k.create_topic(prefix="produce")
    if v < 3:
        # Advertised so that librdkafka enables compression (it wants Produce v0 in the range),
        # but message format v0/v1 is refused per partition and nothing is appended.
        p = k.produce(topic, 0, legacy_message_set(0 if v < 2 else 1), version=v)
        eq(p["ErrorCode"], UNSUPPORTED_VERSION, "Produce v%d with a magic-%d message set" % (v, 0 if v < 2 else 1))
        eq(k.offset(topic, 0, LATEST), 0, "log end offset after a refused Produce v%d" % v)
        return
    p = k.produce(topic, 0, batch([b"a", b"b", b"c"]), version=v)
    eq(p["ErrorCode"], NONE, "Produce v%d error" % v)
    eq(p["BaseOffset"], 0, "Produce v%d base offset of the first batch" % v)
    eq(p["LogAppendTimeMs"], -1, "Produce v%d log append time of a CreateTime topic" % v)
    if v >= 5:
        eq(p["LogStartOffset"], 0, "Produce v%d log start offset" % v)
    if v >= 8:
        eq(p["RecordErrors"], [], "Produce v%d record errors" % v)
        eq(p["ErrorMessage"], None, "Produce v%d error message" % v)
    eq(k.produce(topic, 0, batch([b"d"]), version=v)["BaseOffset"], 3, "Produce v%d second batch base offset" % v)
    eq(k.produce(topic, 5, batch([b"e"]), version=v)["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION,
       "Produce v%d to a partition the topic does not have" % v)
    eq(k.offset(topic, 0, LATEST), 4, "log end offset after Produce v%d" % v)


def _fetch_body(v, topic, tid, partitions, max_bytes=1 << 20, max_wait=500):
    """partitions: [(partition, offset, partition max bytes, current leader epoch)]"""
    t = {"Topic": topic} if v < 13 else {"TopicId": tid}
    t["Partitions"] = [{"Partition": p, "FetchOffset": o, "PartitionMaxBytes": m, "CurrentLeaderEpoch": e}
                       for p, o, m, e in partitions]
    return {"MaxWaitMs": max_wait, "MinBytes": 1, "MaxBytes": max_bytes, "IsolationLevel": 0,
            "SessionId": 0, "SessionEpoch": -1, "Topics": [t]}


def _fetch(k, v, topic, tid, offset=0, max_bytes=1 << 20, partition_max_bytes=1 << 20, leader_epoch=-1, max_wait=500):
    """Fetch one partition (0); returns its PartitionData after checking the envelope."""
    r = k.call("Fetch", v, _fetch_body(v, topic, tid, [(0, offset, partition_max_bytes, leader_epoch)], max_bytes,
                                       max_wait))
    if v >= 7:
        eq(r["ErrorCode"], NONE, "Fetch v%d top-level error" % v)
        eq(r["SessionId"], 0, "Fetch v%d session id of a sessionless fetch" % v)
    rt = only(r["Responses"], "Fetch v%d topics" % v)
    if v < 13:
        eq(rt["Topic"], topic, "Fetch v%d topic name" % v)
    else:
        eq(rt["TopicId"], tid, "Fetch v%d topic id" % v)
    p = only(rt["Partitions"], "Fetch v%d partitions" % v)
    eq(p["PartitionIndex"], 0, "Fetch v%d partition" % v)
    return p


def check_fetch(k, v):
    topic, tid = k.create_topic(partitions=2, prefix="fetch")
    ts = int(time.time() * 1000) - 1000
    first = batch([b"v0", b"v1", b"v2"], base_ts=ts)
    eq(k.append(topic, 0, first), 0, "base offset of the first batch")
    eq(k.append(topic, 0, batch([b"w" * 300], base_ts=ts + 3)), 3, "base offset of the second batch")
    k.append(topic, 1, batch([b"p" * 200]))
    epoch = k.metadata([topic])["Topics"][0]["Partitions"][0]["LeaderEpoch"]

    p = _fetch(k, v, topic, tid)
    eq(p["ErrorCode"], NONE, "Fetch v%d error" % v)
    eq(p["HighWatermark"], 4, "Fetch v%d high watermark" % v)
    eq(p["LastStableOffset"], 4, "Fetch v%d last stable offset" % v)
    if v >= 5:
        eq(p["LogStartOffset"], 0, "Fetch v%d log start offset" % v)
    if v >= 11:
        eq(p["PreferredReadReplica"], -1, "Fetch v%d preferred read replica" % v)
    batches = parse_batches(p["Records"])
    eq([(b.base_offset, b.next_offset) for b in batches], [(0, 3), (3, 4)], "Fetch v%d batches (base, next offset)" % v)
    for b in batches:
        assert b.validate_crc(), "Fetch v%d: batch at %d fails its CRC-32C" % (v, b.base_offset)
        eq(b.leader_epoch, epoch, "Fetch v%d partition leader epoch of the batch at %d" % (v, b.base_offset))
    recs = [r for b in batches for r in b]
    eq([(r.offset, r.key, r.value, r.timestamp, list(r.headers)) for r in recs],
       [(0, b"k0", b"v0", ts, [("h", b"x0")]), (1, b"k1", b"v1", ts + 1, [("h", b"x1")]),
        (2, b"k2", b"v2", ts + 2, [("h", b"x2")]), (3, b"k0", b"w" * 300, ts + 3, [("h", b"x0")])],
       "Fetch v%d records (offset, key, value, timestamp, headers)" % v)

    p = _fetch(k, v, topic, tid, offset=3)
    eq([b.base_offset for b in parse_batches(p["Records"])], [3], "Fetch v%d from offset 3" % v)
    p = _fetch(k, v, topic, tid, offset=4, max_wait=0)
    eq((p["ErrorCode"], p["HighWatermark"], parse_batches(p["Records"])), (NONE, 4, []),
       "Fetch v%d at the high watermark (error, high watermark, batches)" % v)
    p = _fetch(k, v, topic, tid, offset=99)
    eq(p["ErrorCode"], OFFSET_OUT_OF_RANGE, "Fetch v%d above the high watermark" % v)
    if v < 13:
        p = _fetch(k, v, uniq("missing"), None)
        eq(p["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION, "Fetch v%d of an unknown topic name" % v)
    else:
        p = _fetch(k, v, None, uuid.uuid4())
        eq(p["ErrorCode"], UNKNOWN_TOPIC_ID, "Fetch v%d of an unknown topic id" % v)

    # KIP-74: MaxBytes and PartitionMaxBytes are soft only for the first batch of the response;
    # past it, Kafka returns at most the limits (possibly ending in a partial batch).
    for limits in ({"max_bytes": 1}, {"partition_max_bytes": 1}, {"max_bytes": len(first) + 50}):
        p = _fetch(k, v, topic, tid, **limits)
        eq(p["ErrorCode"], NONE, "Fetch v%d with %s" % (v, limits))
        got = parse_batches(p["Records"])
        assert got and (got[0].base_offset, got[0].next_offset) == (0, 3), \
            "Fetch v%d with %s: the first batch must be returned whole, got %r" % (v, limits, got)
        bound = max(len(first), min(limits.get("max_bytes", 1 << 20), limits.get("partition_max_bytes", 1 << 20)))
        assert len(p["Records"]) <= bound, "Fetch v%d with %s: %d record bytes, more than %d" % (
            v, limits, len(p["Records"]), bound)
    limit = len(first) + 50
    r = k.call("Fetch", v, _fetch_body(v, topic, tid, [(0, 0, 1 << 20, -1), (1, 0, 1 << 20, -1)], max_bytes=limit))
    sizes = {p["PartitionIndex"]: len(p["Records"] or b"") for p in only(r["Responses"], "topics")["Partitions"]}
    assert sum(sizes.values()) <= limit, "Fetch v%d of two partitions with MaxBytes %d: %r record bytes" % (
        v, limit, sizes)
    # the exception is the first batch of the first partition that has data, here partition 1
    r = k.call("Fetch", v, _fetch_body(v, topic, tid, [(0, 4, 1 << 20, -1), (1, 0, 1 << 20, -1)], max_bytes=1))
    parts = {p["PartitionIndex"]: p for p in only(r["Responses"], "topics")["Partitions"]}
    eq(len(parts[0]["Records"] or b""), 0, "Fetch v%d MaxBytes 1: records of partition 0 (at its end)" % v)
    eq([(b.base_offset, b.next_offset) for b in parse_batches(parts[1]["Records"])], [(0, 1)],
       "Fetch v%d MaxBytes 1: partition 1's first batch, whole" % v)

    if v >= 9:   # the consumer's current leader epoch is checked against the leader's (KIP-320)
        eq(_fetch(k, v, topic, tid, leader_epoch=epoch)["ErrorCode"], NONE, "Fetch v%d with the current leader epoch" % v)
        eq(_fetch(k, v, topic, tid, leader_epoch=epoch + 1)["ErrorCode"], UNKNOWN_LEADER_EPOCH,
           "Fetch v%d with a current leader epoch ahead of the leader's" % v)


def check_list_offsets(k, v):
    topic, _ = k.create_topic(prefix="listoffsets")
    ts = int(time.time() * 1000) - 60000
    k.append(topic, 0, batch([b"a", b"b", b"c"], timestamps=[ts, ts + 20, ts + 10]))
    epoch = k.metadata([topic])["Topics"][0]["Partitions"][0]["LeaderEpoch"]

    seen = {}

    def query(timestamp, current=-1):
        r = k.call("ListOffsets", v, {"ReplicaId": -1, "IsolationLevel": 0, "Topics": [{"Name": topic, "Partitions": [
            {"PartitionIndex": 0, "Timestamp": timestamp, "CurrentLeaderEpoch": current}]}]})
        t = only(r["Topics"], "ListOffsets v%d topics" % v)
        eq(t["Name"], topic, "ListOffsets v%d topic" % v)
        p = only(t["Partitions"], "ListOffsets v%d partitions" % v)
        eq(p["PartitionIndex"], 0, "ListOffsets v%d partition" % v)
        eq(p["ErrorCode"], NONE, "ListOffsets v%d @%d error" % (v, timestamp))
        if v >= 4 and p["Offset"] >= 0:
            eq(p["LeaderEpoch"], epoch, "ListOffsets v%d @%d leader epoch" % (v, timestamp))
        seen[timestamp] = p
        return p["Timestamp"], p["Offset"]

    eq(query(EARLIEST), (-1, 0), "ListOffsets v%d earliest (timestamp, offset)" % v)
    eq(query(LATEST), (-1, 3), "ListOffsets v%d latest (timestamp, offset)" % v)
    eq(query(ts + 15), (ts + 20, 1), "ListOffsets v%d first record at or after a timestamp" % v)
    eq(query(ts + 100), (-1, -1), "ListOffsets v%d after the newest timestamp" % v)
    if v >= 7:
        eq(query(MAX_TIMESTAMP), (ts + 20, 1), "ListOffsets v%d max timestamp (KIP-734)" % v)
    eq(k.list_offset(topic, 4, LATEST, version=v)["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION,
       "ListOffsets v%d of a partition the topic does not have" % v)
    if v >= 4:   # KIP-320
        eq(query(LATEST, current=epoch), (-1, 3), "ListOffsets v%d with the current leader epoch" % v)
        p = k.call("ListOffsets", v, {"ReplicaId": -1, "Topics": [{"Name": topic, "Partitions": [
            {"PartitionIndex": 0, "Timestamp": LATEST, "CurrentLeaderEpoch": epoch + 1}]}]})["Topics"][0]["Partitions"][0]
        eq(p["ErrorCode"], UNKNOWN_LEADER_EPOCH, "ListOffsets v%d with a current leader epoch ahead of the leader's" % v)
    if v >= 8:   # KIP-405: without tiered storage the local log starts at the log start offset
        eq(query(EARLIEST_LOCAL), (-1, 0), "ListOffsets v%d earliest local (-4)" % v)
    if v >= 4:   # no record found: Kafka answers buildErrorResponse(NONE), every field unknown
        eq(seen[ts + 100]["LeaderEpoch"], -1, "ListOffsets v%d leader epoch when no record is found" % v)


def check_metadata(k, v):
    topic, tid = k.create_topic(partitions=2, prefix="metadata")
    body = {"Topics": [{"Name": topic}]}
    if v >= 4:
        body["AllowAutoTopicCreation"] = False
    r = k.call("Metadata", v, body)
    b = only(r["Brokers"], "Metadata v%d brokers" % v)
    node = b["NodeId"]
    eq((b["Host"], b["Port"]), (k.host, k.port), "Metadata v%d broker address" % v)
    if v >= 1:
        eq(b["Rack"], None, "Metadata v%d rack" % v)
        eq(r["ControllerId"], node, "Metadata v%d controller id" % v)
    if v >= 2:
        assert r["ClusterId"], "Metadata v%d: no cluster id" % v
    t = only(r["Topics"], "Metadata v%d topics" % v)
    eq((t["ErrorCode"], t["Name"]), (NONE, topic), "Metadata v%d topic (error, name)" % v)
    if v >= 1:
        eq(t["IsInternal"], False, "Metadata v%d is_internal" % v)
    if v >= 8:
        eq(t["TopicAuthorizedOperations"], INT32_MIN, "Metadata v%d topic authorized operations (not asked)" % v)
    if 8 <= v <= 10:
        eq(r["ClusterAuthorizedOperations"], INT32_MIN, "Metadata v%d cluster authorized operations (not asked)" % v)
    if v >= 10:
        eq(t["TopicId"], tid, "Metadata v%d topic id (as CreateTopics gave it)" % v)
    parts = sorted(t["Partitions"], key=lambda p: p["PartitionIndex"])
    eq([p["PartitionIndex"] for p in parts], [0, 1], "Metadata v%d partitions" % v)
    for p in parts:
        what = "Metadata v%d partition %d" % (v, p["PartitionIndex"])
        eq((p["ErrorCode"], p["LeaderId"], p["ReplicaNodes"], p["IsrNodes"]), (NONE, node, [node], [node]),
           what + " (error, leader, replicas, isr)")
        if v >= 5:
            eq(p["OfflineReplicas"], [], what + " offline replicas")
        if v >= 7:
            assert p["LeaderEpoch"] >= 0, "%s: leader epoch %d" % (what, p["LeaderEpoch"])

    everything = k.call("Metadata", v, {"Topics": [] if v == 0 else None})   # v0: empty = all
    assert topic in [t["Name"] for t in everything["Topics"]], "Metadata v%d of all topics lacks %s" % (v, topic)
    if v >= 1:
        eq(k.call("Metadata", v, {"Topics": []})["Topics"], [], "Metadata v%d of no topics" % v)
    if v >= 4:
        missing = uniq("absent")
        t = only(k.call("Metadata", v, {"Topics": [{"Name": missing}], "AllowAutoTopicCreation": False})["Topics"],
                 "Metadata v%d unknown topic" % v)
        eq(t["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION, "Metadata v%d unknown topic, auto-creation off" % v)
        eq(k.metadata([missing])["Topics"][0]["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION,
           "topic created although AllowAutoTopicCreation was false")


def check_create_topics(k, v):
    name = uniq("create")
    spec = {"Name": name, "NumPartitions": 3, "ReplicationFactor": 1,
            "Configs": [{"Name": "retention.ms", "Value": "86400000"}]}
    r = k.call("CreateTopics", v, {"Topics": [spec], "timeoutMs": 10000})
    t = only(r["Topics"], "CreateTopics v%d topics" % v)
    eq((t["Name"], t["ErrorCode"], t["ErrorMessage"]), (name, NONE, None), "CreateTopics v%d (name, error, message)" % v)
    if v >= 5:
        eq((t["NumPartitions"], t["ReplicationFactor"]), (3, 1), "CreateTopics v%d partitions, replication" % v)
        c = by(t["Configs"], "Name", "retention.ms", "CreateTopics v%d configs" % v)
        eq((c["Value"], c["ConfigSource"]), ("86400000", DYNAMIC_TOPIC_CONFIG), "CreateTopics v%d retention.ms" % v)
    md = only(k.metadata([name])["Topics"], "Metadata of the new topic")
    eq((md["ErrorCode"], len(md["Partitions"])), (NONE, 3), "Metadata of the topic CreateTopics v%d made" % v)
    if v >= 7:
        assert t["TopicId"] != ZERO_UUID, "CreateTopics v%d gave no topic id" % v
        eq(md["TopicId"], t["TopicId"], "topic id in Metadata and CreateTopics v%d" % v)
    eq(k.topic_configs(name)["retention.ms"], ("86400000", DYNAMIC_TOPIC_CONFIG), "retention.ms of the new topic")

    again = only(k.call("CreateTopics", v, {"Topics": [spec], "timeoutMs": 10000})["Topics"], "CreateTopics again")
    eq(again["ErrorCode"], TOPIC_ALREADY_EXISTS, "CreateTopics v%d of an existing topic" % v)
    dry = uniq("create-dry")
    r = k.call("CreateTopics", v, {"Topics": [dict(spec, Name=dry)], "timeoutMs": 10000, "validateOnly": True})
    eq(only(r["Topics"], "validateOnly")["ErrorCode"], NONE, "CreateTopics v%d validateOnly" % v)
    eq(k.metadata([dry])["Topics"][0]["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION, "a validateOnly topic was created")
    bad = only(k.call("CreateTopics", v, {"Topics": [dict(spec, Name=uniq("create-bad"), NumPartitions=0)],
                                          "timeoutMs": 10000})["Topics"], "CreateTopics with 0 partitions")
    eq(bad["ErrorCode"], INVALID_PARTITIONS, "CreateTopics v%d with NumPartitions 0" % v)
    if v >= 4:   # KIP-464: -1 takes the broker's defaults
        dflt = uniq("create-default")
        r = k.call("CreateTopics", v, {"Topics": [{"Name": dflt, "NumPartitions": -1, "ReplicationFactor": -1}]})
        eq(only(r["Topics"], "defaults")["ErrorCode"], NONE, "CreateTopics v%d with -1/-1" % v)
        eq(len(k.metadata([dflt])["Topics"][0]["Partitions"]), 1, "partitions of a topic created with -1 (num.partitions)")


def check_delete_topics(k, v):
    topic, tid = k.create_topic(prefix="delete")
    if v >= 6:
        body = {"Topics": [{"Name": None, "TopicId": tid}], "TimeoutMs": 10000}
    else:
        body = {"TopicNames": [topic], "TimeoutMs": 10000}
    d = only(k.call("DeleteTopics", v, body)["Responses"], "DeleteTopics v%d responses" % v)
    eq((d["Name"], d["ErrorCode"]), (topic, NONE), "DeleteTopics v%d (name, error)" % v)
    if v >= 5:
        eq(d["ErrorMessage"], None, "DeleteTopics v%d error message" % v)
    if v >= 6:
        eq(d["TopicId"], tid, "DeleteTopics v%d topic id" % v)
    eq(k.metadata([topic])["Topics"][0]["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION, "Metadata of a deleted topic")
    d = only(k.call("DeleteTopics", v, body)["Responses"], "DeleteTopics v%d again" % v)
    eq(d["ErrorCode"], UNKNOWN_TOPIC_ID if v >= 6 else UNKNOWN_TOPIC_OR_PARTITION,
       "DeleteTopics v%d of a topic that no longer exists" % v)


def check_create_partitions(k, v):
    topic, _ = k.create_topic(prefix="partitions")

    def grow(count, validate_only=False, name=topic):
        r = k.call("CreatePartitions", v, {"Topics": [{"Name": name, "Count": count, "Assignments": None}],
                                           "TimeoutMs": 10000, "ValidateOnly": validate_only})
        res = only(r["Results"], "CreatePartitions v%d results" % v)
        eq(res["Name"], name, "CreatePartitions v%d name" % v)
        return res

    res = grow(3)
    eq((res["ErrorCode"], res["ErrorMessage"]), (NONE, None), "CreatePartitions v%d 1 -> 3" % v)
    eq(len(k.metadata([topic])["Topics"][0]["Partitions"]), 3, "partitions after CreatePartitions v%d" % v)
    eq(grow(5, validate_only=True)["ErrorCode"], NONE, "CreatePartitions v%d validate-only 3 -> 5" % v)
    eq(len(k.metadata([topic])["Topics"][0]["Partitions"]), 3, "partitions after a validate-only CreatePartitions")
    eq(grow(2)["ErrorCode"], INVALID_PARTITIONS, "CreatePartitions v%d 3 -> 2" % v)
    eq(grow(3, name=uniq("absent"))["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION, "CreatePartitions v%d unknown topic" % v)
    eq(k.append(topic, 2, batch([b"new partition"])), 0, "produce to a new partition")


def check_describe_configs(k, v):
    topic, _ = k.create_topic(configs={"retention.ms": "123456"}, prefix="describeconfigs")
    cfg = k.describe_configs(topic, ["retention.ms", "cleanup.policy"], version=v, synonyms=True, docs=True)
    eq(sorted(cfg), ["cleanup.policy", "retention.ms"], "DescribeConfigs v%d names" % v)
    r, c = cfg["retention.ms"], cfg["cleanup.policy"]
    eq((r["Value"], r["ReadOnly"], r["IsSensitive"], r["ConfigSource"]), ("123456", False, False, DYNAMIC_TOPIC_CONFIG),
       "DescribeConfigs v%d retention.ms (value, read-only, sensitive, source)" % v)
    eq((c["Value"], c["ConfigSource"]), ("delete", DEFAULT_CONFIG), "DescribeConfigs v%d cleanup.policy" % v)
    assert r["Synonyms"], "DescribeConfigs v%d: no synonyms for retention.ms although asked" % v
    eq(r["Synonyms"][0], {"Name": "retention.ms", "Value": "123456", "Source": DYNAMIC_TOPIC_CONFIG},
       "DescribeConfigs v%d first synonym of retention.ms" % v)
    if v >= 3:
        eq((r["ConfigType"], c["ConfigType"]), (5, 7), "DescribeConfigs v%d config types (LONG, LIST)" % v)
        plain = k.describe_configs(topic, ["retention.ms"], version=v)["retention.ms"]
        eq((plain["Synonyms"], plain["Documentation"]), ([], None), "DescribeConfigs v%d without synonyms and docs" % v)
    every = k.describe_configs(topic, None, version=v)
    for name in ("retention.ms", "cleanup.policy", "segment.bytes", "max.message.bytes"):
        assert name in every, "DescribeConfigs v%d of all configs lacks %s" % (v, name)

    res = k.call("DescribeConfigs", v, {"Resources": [
        {"ResourceType": BROKER_RESOURCE, "ResourceName": str(k.node), "ConfigurationKeys": ["num.partitions"]},
        {"ResourceType": TOPIC_RESOURCE, "ResourceName": uniq("absent"), "ConfigurationKeys": None}]})
    b, missing = res["Results"]
    eq((b["ErrorCode"], b["ResourceType"], b["ResourceName"]), (NONE, BROKER_RESOURCE, str(k.node)),
       "DescribeConfigs v%d broker resource" % v)
    eq(only(b["Configs"], "broker configs")["Value"], "1", "DescribeConfigs v%d num.partitions" % v)
    eq(missing["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION, "DescribeConfigs v%d of an unknown topic" % v)
    if v >= 3:   # Kafka (ConfigHelper): the config's documentation when IncludeDocumentation is set
        assert r["Documentation"], "DescribeConfigs v%d: no documentation for retention.ms although asked" % v


def check_alter_configs(k, v):
    topic, _ = k.create_topic(configs={"retention.ms": "100000", "max.message.bytes": "2000"}, prefix="alterconfigs")

    def alter(configs, validate_only=False, name=topic):
        r = k.call("AlterConfigs", v, {"Resources": [{"ResourceType": TOPIC_RESOURCE, "ResourceName": name,
                                                      "Configs": [{"Name": a, "Value": b} for a, b in configs.items()]}],
                                       "ValidateOnly": validate_only})
        res = only(r["Responses"], "AlterConfigs v%d responses" % v)
        eq((res["ResourceType"], res["ResourceName"]), (TOPIC_RESOURCE, name), "AlterConfigs v%d resource" % v)
        return res

    res = alter({"retention.ms": "200000"})
    eq(res["ErrorCode"], NONE, "AlterConfigs v%d error" % v)
    cfg = k.topic_configs(topic)
    eq(cfg["retention.ms"], ("200000", DYNAMIC_TOPIC_CONFIG), "retention.ms after AlterConfigs v%d" % v)
    eq(cfg["max.message.bytes"][1], DEFAULT_CONFIG, "AlterConfigs v%d replaces the whole set" % v)
    eq(alter({"segment.ms": "60000"}, validate_only=True)["ErrorCode"], NONE, "AlterConfigs v%d validate-only" % v)
    eq(k.topic_configs(topic)["retention.ms"], ("200000", DYNAMIC_TOPIC_CONFIG), "a validate-only AlterConfigs applied")
    eq(alter({"no.such.config": "1"})["ErrorCode"], INVALID_CONFIG, "AlterConfigs v%d unknown config name" % v)
    eq(alter({"retention.ms": "1"}, name=uniq("absent"))["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION,
       "AlterConfigs v%d unknown topic" % v)


def check_incremental_alter_configs(k, v):
    topic, _ = k.create_topic(configs={"retention.ms": "100000", "max.message.bytes": "2000"}, prefix="incalter")
    SET, DELETE = 0, 1
    r = k.call("IncrementalAlterConfigs", v, {"Resources": [{
        "ResourceType": TOPIC_RESOURCE, "ResourceName": topic, "Configs": [
            {"Name": "retention.ms", "ConfigOperation": SET, "Value": "300000"},
            {"Name": "max.message.bytes", "ConfigOperation": DELETE, "Value": None}]}], "ValidateOnly": False})
    res = only(r["Responses"], "IncrementalAlterConfigs v%d responses" % v)
    eq((res["ErrorCode"], res["ResourceType"], res["ResourceName"]), (NONE, TOPIC_RESOURCE, topic),
       "IncrementalAlterConfigs v%d (error, type, name)" % v)
    cfg = k.topic_configs(topic)
    eq(cfg["retention.ms"], ("300000", DYNAMIC_TOPIC_CONFIG), "retention.ms after SET")
    eq(cfg["max.message.bytes"][1], DEFAULT_CONFIG, "max.message.bytes source after DELETE")
    r = k.call("IncrementalAlterConfigs", v, {"Resources": [{
        "ResourceType": TOPIC_RESOURCE, "ResourceName": uniq("absent"), "Configs": [
            {"Name": "retention.ms", "ConfigOperation": SET, "Value": "1"}]}]})
    eq(only(r["Responses"], "unknown topic")["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION,
       "IncrementalAlterConfigs v%d unknown topic" % v)


def check_delete_records(k, v):
    topic, _ = k.create_topic(prefix="deleterecords")
    k.append(topic, 0, batch([b"0", b"1"]))
    k.append(topic, 0, batch([b"2", b"3", b"4"]))

    def delete(offset, partition=0):
        r = k.call("DeleteRecords", v, {"Topics": [{"Name": topic, "Partitions": [
            {"PartitionIndex": partition, "Offset": offset}]}], "TimeoutMs": 10000})
        t = only(r["Topics"], "DeleteRecords v%d topics" % v)
        eq(t["Name"], topic, "DeleteRecords v%d topic" % v)
        p = only(t["Partitions"], "DeleteRecords v%d partitions" % v)
        return p["ErrorCode"], p["LowWatermark"]

    eq(delete(2), (NONE, 2), "DeleteRecords v%d before offset 2 (error, low watermark)" % v)
    eq(k.offset(topic, 0, EARLIEST), 2, "earliest offset after DeleteRecords v%d" % v)
    eq(delete(1), (NONE, 2), "DeleteRecords v%d below the log start offset leaves it" % v)
    eq(delete(-1), (NONE, 5), "DeleteRecords v%d with -1 (up to the high watermark)" % v)
    eq(k.offset(topic, 0, EARLIEST), 5, "earliest offset after DeleteRecords v%d -1" % v)
    eq(delete(0, partition=3)[0], UNKNOWN_TOPIC_OR_PARTITION, "DeleteRecords v%d of an unknown partition" % v)
    # Kafka (Partition.deleteRecordsOnLeader): offset < 0 after resolving -1, or above the high watermark.
    eq(delete(6)[0], OFFSET_OUT_OF_RANGE, "DeleteRecords v%d above the high watermark" % v)
    eq(delete(-2)[0], OFFSET_OUT_OF_RANGE, "DeleteRecords v%d with offset -2" % v)


def check_describe_cluster(k, v):
    body = {"IncludeClusterAuthorizedOperations": False}
    if v >= 1:
        body["EndpointType"] = 1
    r = k.call("DescribeCluster", v, body)
    eq((r["ErrorCode"], r["ErrorMessage"]), (NONE, None), "DescribeCluster v%d (error, message)" % v)
    md = k.metadata([])
    eq(r["ClusterId"], md["ClusterId"], "DescribeCluster v%d cluster id (as Metadata gives it)" % v)
    b = only(r["Brokers"], "DescribeCluster v%d brokers" % v)
    eq((b["BrokerId"], b["Host"], b["Port"], b["Rack"]), (k.node, k.host, k.port, None), "DescribeCluster v%d broker" % v)
    eq(r["ControllerId"], k.node, "DescribeCluster v%d controller id" % v)
    eq(r["ClusterAuthorizedOperations"], INT32_MIN, "DescribeCluster v%d authorized operations (not asked)" % v)
    if v >= 1:
        eq(r["EndpointType"], 1, "DescribeCluster v%d endpoint type" % v)
        eq(k.call("DescribeCluster", v, {"EndpointType": 2})["ErrorCode"], MISMATCHED_ENDPOINT_TYPE,
           "DescribeCluster v%d for controllers, sent to a broker" % v)
        eq(k.call("DescribeCluster", v, {"EndpointType": 7})["ErrorCode"], UNSUPPORTED_ENDPOINT_TYPE,
           "DescribeCluster v%d for an unknown endpoint type" % v)


def check_offset_for_leader_epoch(k, v):
    topic, _ = k.create_topic(prefix="epoch")
    k.append(topic, 0, batch([b"a", b"b", b"c"]))
    epoch = only(k.metadata([topic])["Topics"][0]["Partitions"], "partitions")["LeaderEpoch"]

    def query(leader_epoch, current=-1, name=topic):
        r = k.call("OffsetForLeaderEpoch", v, {"ReplicaId": -1, "Topics": [{"Topic": name, "Partitions": [
            {"Partition": 0, "CurrentLeaderEpoch": current, "LeaderEpoch": leader_epoch}]}]})
        t = only(r["Topics"], "OffsetForLeaderEpoch v%d topics" % v)
        eq(t["Topic"], name, "OffsetForLeaderEpoch v%d topic" % v)
        p = only(t["Partitions"], "OffsetForLeaderEpoch v%d partitions" % v)
        eq(p["Partition"], 0, "OffsetForLeaderEpoch v%d partition" % v)
        return p["ErrorCode"], p["LeaderEpoch"], p["EndOffset"]

    eq(query(epoch), (NONE, epoch, 3), "OffsetForLeaderEpoch v%d of the current epoch (error, epoch, end offset)" % v)
    eq(query(epoch, current=epoch), (NONE, epoch, 3), "OffsetForLeaderEpoch v%d with the current leader epoch" % v)
    eq(query(epoch + 1), (NONE, -1, -1), "OffsetForLeaderEpoch v%d of a later epoch" % v)
    eq(query(epoch, current=epoch + 1)[0], UNKNOWN_LEADER_EPOCH,
       "OffsetForLeaderEpoch v%d with a current leader epoch ahead of the leader's" % v)
    eq(query(epoch, name=uniq("absent"))[0], UNKNOWN_TOPIC_OR_PARTITION, "OffsetForLeaderEpoch v%d unknown topic" % v)


def check_init_producer_id(k, v):
    def init():
        r = k.call("InitProducerId", v, {"TransactionalId": None, "TransactionTimeoutMs": 60000})
        eq(r["ErrorCode"], NONE, "InitProducerId v%d error" % v)
        assert r["ProducerId"] >= 0, "InitProducerId v%d producer id %d" % (v, r["ProducerId"])
        eq(r["ProducerEpoch"], 0, "InitProducerId v%d epoch of a new idempotent producer" % v)
        return r["ProducerId"]

    pid = init()
    assert init() != pid, "InitProducerId v%d gave producer id %d twice" % (v, pid)
    topic, _ = k.create_topic(prefix="pid")
    records = batch([b"a", b"b"], producer_id=pid, producer_epoch=0, base_sequence=0)
    eq(k.append(topic, 0, records), 0, "idempotent produce with the new producer id")
    p = k.produce(topic, 0, records)   # a retry: answered with the original offset, not appended
    eq((p["ErrorCode"], p["BaseOffset"]), (NONE, 0), "retried idempotent batch (error, base offset)")
    eq(k.offset(topic, 0, LATEST), 2, "log end offset after a retried idempotent batch")


def check_find_coordinator(k, v):
    groups = [uniq("coord-a"), uniq("coord-b")]
    if v >= 1:  # no coordinator type 7: INVALID_REQUEST
        body = {"KeyType": 7, "CoordinatorKeys": groups} if v >= 4 else {"Key": groups[0], "KeyType": 7}
        r = k.call("FindCoordinator", v, body)
        codes = [c["ErrorCode"] for c in r["Coordinators"]] if v >= 4 else [r["ErrorCode"]]
        eq(set(codes), {INVALID_REQUEST}, "FindCoordinator v%d with an unknown key type" % v)
    if v >= 4:
        r = k.call("FindCoordinator", v, {"KeyType": 0, "CoordinatorKeys": groups})
        eq([c["Key"] for c in r["Coordinators"]], groups, "FindCoordinator v%d keys" % v)
        for c in r["Coordinators"]:
            eq((c["ErrorCode"], c["NodeId"], c["Host"], c["Port"]), (NONE, k.node, k.host, k.port),
               "FindCoordinator v%d coordinator of %s" % (v, c["Key"]))
        return
    body = {"Key": groups[0]}
    if v >= 1:
        body["KeyType"] = 0
    r = k.call("FindCoordinator", v, body)
    eq((r["ErrorCode"], r["NodeId"], r["Host"], r["Port"]), (NONE, k.node, k.host, k.port),
       "FindCoordinator v%d (error, node, host, port)" % v)


# ---------------------------------------------------------------------------- group APIs
def check_join_group(k, v):
    group = uniq("join")
    sub = subscription(["some-topic"])
    body = {"GroupId": group, "SessionTimeoutMs": 30000, "RebalanceTimeoutMs": 10000, "MemberId": "",
            "ProtocolType": "consumer", "Protocols": [{"Name": "range", "Metadata": sub},
                                                      {"Name": "roundrobin", "Metadata": sub}]}
    r = k.call("JoinGroup", v, body)
    if v >= 4:   # KIP-394: a new member first gets its id with MEMBER_ID_REQUIRED
        eq(r["ErrorCode"], MEMBER_ID_REQUIRED, "JoinGroup v%d first join of a new member" % v)
        assert r["MemberId"], "JoinGroup v%d: MEMBER_ID_REQUIRED without a member id" % v
        body["MemberId"] = r["MemberId"]
        r = k.call("JoinGroup", v, body)
    eq(r["ErrorCode"], NONE, "JoinGroup v%d error" % v)
    mid = r["MemberId"]
    assert mid, "JoinGroup v%d: no member id" % v
    if v >= 4:
        eq(mid, body["MemberId"], "JoinGroup v%d member id after MEMBER_ID_REQUIRED" % v)
    eq((r["GenerationId"], r["ProtocolName"], r["Leader"]), (1, "range", mid), "JoinGroup v%d (generation, protocol, leader)" % v)
    m = only(r["Members"], "JoinGroup v%d members (the leader's view)" % v)
    eq((m["MemberId"], m["Metadata"]), (mid, sub), "JoinGroup v%d member" % v)
    if v >= 5:
        eq(m["GroupInstanceId"], None, "JoinGroup v%d group instance id" % v)
    if v >= 7:
        eq(r["ProtocolType"], "consumer", "JoinGroup v%d protocol type" % v)
    if v >= 9:
        eq(r["SkipAssignment"], False, "JoinGroup v%d skip assignment" % v)
    eq(k.describe_group(group)["GroupState"], "CompletingRebalance", "group state after JoinGroup v%d" % v)
    if v >= 5:   # KIP-345: a static member joins at once, without MEMBER_ID_REQUIRED
        static = uniq("join-static")
        r = k.call("JoinGroup", v, dict(body, GroupId=static, MemberId="", GroupInstanceId="instance-1"))
        eq(r["ErrorCode"], NONE, "JoinGroup v%d of a static member" % v)
        eq(only(r["Members"], "static members")["GroupInstanceId"], "instance-1", "JoinGroup v%d static member" % v)


def check_sync_group(k, v):
    topic, group = "sync-topic", uniq("sync")
    j = k.join(group, [topic])
    asg = assignment(topic, [0, 1])
    body = {"GroupId": group, "GenerationId": j["GenerationId"], "MemberId": j["MemberId"],
            "Assignments": [{"MemberId": j["MemberId"], "Assignment": asg}]}
    if v >= 5:
        body.update(ProtocolType="consumer", ProtocolName="range")
    if v >= 5:
        bad = k.call("SyncGroup", v, dict(body, ProtocolName="roundrobin"))
        eq(bad["ErrorCode"], INCONSISTENT_GROUP_PROTOCOL, "SyncGroup v%d with another protocol name" % v)
    bad = k.call("SyncGroup", v, dict(body, GenerationId=j["GenerationId"] + 1))
    eq(bad["ErrorCode"], ILLEGAL_GENERATION, "SyncGroup v%d with a wrong generation" % v)
    r = k.call("SyncGroup", v, body)
    eq((r["ErrorCode"], r["Assignment"]), (NONE, asg), "SyncGroup v%d (error, assignment)" % v)
    if v >= 5:
        eq((r["ProtocolType"], r["ProtocolName"]), ("consumer", "range"), "SyncGroup v%d protocol" % v)
    eq(k.describe_group(group)["GroupState"], "Stable", "group state after SyncGroup v%d" % v)


def check_heartbeat(k, v):
    group = uniq("heartbeat")
    j, _ = k.member(group, "hb-topic")

    def beat(generation, member):
        body = {"GroupId": group, "GenerationId": generation, "MemberId": member}
        return k.call("Heartbeat", v, body)["ErrorCode"]

    eq(beat(j["GenerationId"], j["MemberId"]), NONE, "Heartbeat v%d of the member" % v)
    eq(beat(j["GenerationId"] + 1, j["MemberId"]), ILLEGAL_GENERATION, "Heartbeat v%d with a wrong generation" % v)
    eq(beat(j["GenerationId"], "no-such-member"), UNKNOWN_MEMBER_ID, "Heartbeat v%d of an unknown member" % v)
    eq(k.describe_group(group)["GroupState"], "Stable", "group state after Heartbeat v%d" % v)


def check_offset_commit(k, v):
    topic, _ = k.create_topic(partitions=2, prefix="commit")
    group = uniq("commit")
    j, _ = k.member(group, topic, [0, 1])
    missing = uniq("absent")

    def commit(generation, member):
        body = {"GroupId": group, "GenerationIdOrMemberEpoch": generation, "MemberId": member, "Topics": [
            {"Name": topic, "Partitions": [
                {"PartitionIndex": 0, "CommittedOffset": 5, "CommittedMetadata": "meta-v%d" % v},
                {"PartitionIndex": 1, "CommittedOffset": 7, "CommittedMetadata": None}]},
            {"Name": missing, "Partitions": [{"PartitionIndex": 0, "CommittedOffset": 1, "CommittedMetadata": ""}]}]}
        if v <= 4:
            body["RetentionTimeMs"] = -1
        r = k.call("OffsetCommit", v, body)
        return {(t["Name"], p["PartitionIndex"]): p["ErrorCode"] for t in r["Topics"] for p in t["Partitions"]}

    eq(commit(j["GenerationId"], j["MemberId"]),
       {(topic, 0): NONE, (topic, 1): NONE, (missing, 0): UNKNOWN_TOPIC_OR_PARTITION},
       "OffsetCommit v%d errors (the member's commit; a topic that does not exist)" % v)
    eq(k.committed(group, topic, [0, 1]), {0: (5, "meta-v%d" % v), 1: (7, "")},
       "offsets and metadata after OffsetCommit v%d (null metadata reads back empty)" % v)
    eq(commit(j["GenerationId"] + 1, j["MemberId"])[(topic, 0)], ILLEGAL_GENERATION,
       "OffsetCommit v%d from a wrong generation" % v)
    eq(commit(j["GenerationId"], "no-such-member")[(topic, 0)], UNKNOWN_MEMBER_ID,
       "OffsetCommit v%d from a non-member" % v)


def check_offset_fetch(k, v):
    topic, _ = k.create_topic(partitions=2, prefix="fetchoffsets")
    group, unknown = uniq("offsetfetch"), uniq("never")
    eq(k.commit(group, topic, {0: (11, "m")}), {0: NONE}, "simple commit (generation -1)")
    want = {0: (11, "m", NONE), 1: (-1, "", NONE)}

    def parts(ps):
        for p in ps:
            if v >= 5:
                eq(p["CommittedLeaderEpoch"], -1, "OffsetFetch v%d leader epoch of a commit without one" % v)
        return {p["PartitionIndex"]: (p["CommittedOffset"], p["Metadata"], p["ErrorCode"]) for p in ps}

    if v <= 7:
        body = {"GroupId": group, "Topics": [{"Name": topic, "PartitionIndexes": [0, 1]}]}
        if v >= 7:
            body["RequireStable"] = True
        r = k.call("OffsetFetch", v, body)
        if v >= 2:
            eq(r["ErrorCode"], NONE, "OffsetFetch v%d error" % v)
        t = only(r["Topics"], "OffsetFetch v%d topics" % v)
        eq(parts(t["Partitions"]), want, "OffsetFetch v%d (offset, metadata, error) by partition" % v)
        if v >= 2:   # null topics: every committed offset of the group
            t = only(k.call("OffsetFetch", v, {"GroupId": group, "Topics": None})["Topics"], "all topics")
            eq(parts(t["Partitions"]), {0: want[0]}, "OffsetFetch v%d of all topics" % v)
        t = only(k.call("OffsetFetch", v, {"GroupId": unknown, "Topics": [{"Name": topic, "PartitionIndexes": [0]}]})
                 ["Topics"], "unknown group")
        eq(parts(t["Partitions"]), {0: (-1, "", NONE)}, "OffsetFetch v%d of a group that never committed" % v)
        return
    r = k.call("OffsetFetch", v, {"RequireStable": True, "Groups": [
        {"GroupId": group, "Topics": [{"Name": topic, "PartitionIndexes": [0, 1]}]},
        {"GroupId": unknown, "Topics": None}]})
    eq([g["GroupId"] for g in r["Groups"]], [group, unknown], "OffsetFetch v%d groups" % v)
    g, u = r["Groups"]
    eq(g["ErrorCode"], NONE, "OffsetFetch v%d group error" % v)
    eq(parts(only(g["Topics"], "topics")["Partitions"]), want, "OffsetFetch v%d (offset, metadata, error)" % v)
    eq((u["ErrorCode"], u["Topics"]), (NONE, []), "OffsetFetch v%d all offsets of a group that never committed" % v)


def check_leave_group(k, v):
    group = uniq("leave")
    j, _ = k.member(group, "leave-topic")

    def leave(member):
        if v <= 2:
            r = k.call("LeaveGroup", v, {"GroupId": group, "MemberId": member})
            return r["ErrorCode"]
        ident = {"MemberId": member, "GroupInstanceId": None}
        if v >= 5:
            ident["Reason"] = "done"
        r = k.call("LeaveGroup", v, {"GroupId": group, "Members": [ident]})
        eq(r["ErrorCode"], NONE, "LeaveGroup v%d top-level error" % v)
        m = only(r["Members"], "LeaveGroup v%d members" % v)
        eq((m["MemberId"], m["GroupInstanceId"]), (member, None), "LeaveGroup v%d member" % v)
        return m["ErrorCode"]

    eq(leave(j["MemberId"]), NONE, "LeaveGroup v%d of the member" % v)
    d = k.describe_group(group)
    eq((d["GroupState"], d["Members"]), ("Empty", []), "group after LeaveGroup v%d" % v)
    eq(leave("no-such-member"), UNKNOWN_MEMBER_ID, "LeaveGroup v%d of an unknown member" % v)


def check_describe_groups(k, v):
    group, unknown = uniq("describe"), uniq("never")
    j, asg = k.member(group, "describe-topic")
    body = {"Groups": [group, unknown]}
    if v >= 3:
        body["IncludeAuthorizedOperations"] = False
    r = k.call("DescribeGroups", v, body)
    g, u = r["Groups"]
    eq((g["GroupId"], g["ErrorCode"], g["GroupState"], g["ProtocolType"], g["ProtocolData"]),
       (group, NONE, "Stable", "consumer", "range"), "DescribeGroups v%d (id, error, state, type, protocol)" % v)
    m = only(g["Members"], "DescribeGroups v%d members" % v)
    eq((m["MemberId"], m["ClientId"], m["MemberMetadata"], m["MemberAssignment"]),
       (j["MemberId"], "kspec", subscription(["describe-topic"]), asg), "DescribeGroups v%d member" % v)
    assert m["ClientHost"].endswith("127.0.0.1"), "DescribeGroups v%d client host %r" % (v, m["ClientHost"])
    if v >= 3:
        eq(g["AuthorizedOperations"], INT32_MIN, "DescribeGroups v%d authorized operations (not asked)" % v)
    if v >= 4:
        eq(m["GroupInstanceId"], None, "DescribeGroups v%d group instance id" % v)
    eq((u["GroupId"], u["ErrorCode"], u["GroupState"], u["ProtocolType"], u["Members"]),
       (unknown, NONE, "Dead", "", []), "DescribeGroups v%d of an unknown group" % v)


def check_list_groups(k, v):
    active, empty = uniq("list-active"), uniq("list-empty")
    topic, _ = k.create_topic(prefix="list")
    k.member(active, topic)
    eq(k.commit(empty, topic, {0: (1, "")}), {0: NONE}, "simple commit")

    def listed(body):
        r = k.call("ListGroups", v, body)
        eq(r["ErrorCode"], NONE, "ListGroups v%d error" % v)
        return {g["GroupId"]: g for g in r["Groups"] if g["GroupId"] in (active, empty)}

    got = listed({})
    eq(sorted(got), sorted([active, empty]), "ListGroups v%d lists both groups" % v)
    eq((got[active]["ProtocolType"], got[empty]["ProtocolType"]), ("consumer", ""), "ListGroups v%d protocol types" % v)
    if v >= 4:   # KIP-518 state filter
        eq((got[active]["GroupState"], got[empty]["GroupState"]), ("Stable", "Empty"), "ListGroups v%d states" % v)
        eq(sorted(listed({"StatesFilter": ["Stable"]})), [active], "ListGroups v%d filtered by Stable" % v)
        eq(sorted(listed({"StatesFilter": ["Empty"]})), [empty], "ListGroups v%d filtered by Empty" % v)
    if v >= 5:   # KIP-848 type filter
        eq(got[active]["GroupType"], "classic", "ListGroups v%d group type" % v)
        eq(sorted(listed({"TypesFilter": ["classic"]})), sorted([active, empty]), "ListGroups v%d type classic" % v)
        eq(listed({"TypesFilter": ["consumer"]}), {}, "ListGroups v%d type consumer" % v)


def check_delete_groups(k, v):
    topic, _ = k.create_topic(prefix="deletegroups")
    empty, active, unknown = uniq("del-empty"), uniq("del-active"), uniq("del-never")
    eq(k.commit(empty, topic, {0: (3, "")}), {0: NONE}, "simple commit")
    k.member(active, topic)
    r = k.call("DeleteGroups", v, {"GroupsNames": [empty, active, unknown]})
    eq({x["GroupId"]: x["ErrorCode"] for x in r["Results"]},
       {empty: NONE, active: NON_EMPTY_GROUP, unknown: GROUP_ID_NOT_FOUND}, "DeleteGroups v%d errors" % v)
    eq(k.committed(empty, topic, [0]), {0: (-1, "")}, "offsets of a deleted group")
    eq(k.describe_group(active)["GroupState"], "Stable", "a non-empty group after DeleteGroups v%d" % v)
    r = k.call("DeleteGroups", v, {"GroupsNames": [empty]})
    eq(only(r["Results"], "results")["ErrorCode"], GROUP_ID_NOT_FOUND, "DeleteGroups v%d of a deleted group" % v)


def check_offset_delete(k, v):
    topic, _ = k.create_topic(partitions=2, prefix="offsetdelete")
    group, active = uniq("odel"), uniq("odel-active")
    eq(k.commit(group, topic, {0: (4, "a"), 1: (6, "b")}), {0: NONE, 1: NONE}, "simple commit")

    def delete(g, partitions=(0,)):
        r = k.call("OffsetDelete", v, {"GroupId": g, "Topics": [
            {"Name": topic, "Partitions": [{"PartitionIndex": p} for p in partitions]}]})
        return r["ErrorCode"], {p["PartitionIndex"]: p["ErrorCode"] for t in r["Topics"] for p in t["Partitions"]}

    eq(delete(group), (NONE, {0: NONE}), "OffsetDelete v%d (error, partition errors)" % v)
    eq(k.committed(group, topic, [0, 1]), {0: (-1, ""), 1: (6, "b")}, "offsets after OffsetDelete v%d" % v)
    j, _ = k.member(active, topic, [0, 1])
    eq(k.commit(active, topic, {0: (1, "")}, j["GenerationId"], j["MemberId"]), {0: NONE}, "member commit")
    eq(delete(active), (NONE, {0: GROUP_SUBSCRIBED_TO_TOPIC}), "OffsetDelete v%d while a member subscribes" % v)
    eq(delete(uniq("never"))[0], GROUP_ID_NOT_FOUND, "OffsetDelete v%d of an unknown group" % v)


def init_transactional(k, tid, timeout_ms=60000):
    r = k.call("InitProducerId", top("InitProducerId"), {"TransactionalId": tid, "TransactionTimeoutMs": timeout_ms,
                                                          "ProducerId": -1, "ProducerEpoch": -1})
    eq(r["ErrorCode"], NONE, "InitProducerId with transactional id %s" % tid)
    return r["ProducerId"], r["ProducerEpoch"]


def add_partitions(k, v, tid, pid, epoch, topics):
    r = k.call("AddPartitionsToTxn", v, {"V3AndBelowTransactionalId": tid, "V3AndBelowProducerId": pid,
                                         "V3AndBelowProducerEpoch": epoch,
                                         "V3AndBelowTopics": [{"Name": t, "Partitions": ps} for t, ps in topics]})
    return {(t["Name"], p["PartitionIndex"]): p["PartitionErrorCode"]
            for t in r["ResultsByTopicV3AndBelow"] for p in t["ResultsByPartition"]}


def end_txn(k, v, tid, pid, epoch, committed):
    return k.call("EndTxn", v, {"TransactionalId": tid, "ProducerId": pid, "ProducerEpoch": epoch, "Committed": committed})["ErrorCode"]


def add_partitions_batched(k, v, tid, pid, epoch, topics, verify_only):
    r = k.call("AddPartitionsToTxn", v, {"Transactions": [{
        "TransactionalId": tid, "ProducerId": pid, "ProducerEpoch": epoch, "VerifyOnly": verify_only,
        "Topics": [{"Name": t, "Partitions": ps} for t, ps in topics]}]})
    eq(r["ErrorCode"], NONE, "AddPartitionsToTxn v%d top-level error" % v)
    return {(t["Name"], p["PartitionIndex"]): p["PartitionErrorCode"]
            for result in r["ResultsByTransaction"] for t in result["TopicResults"] for p in t["ResultsByPartition"]}


def check_add_partitions_to_txn(k, v):
    if v >= 4:
        return check_add_partitions_to_txn_batched(k, v)
    topic, _ = k.create_topic(partitions=2, prefix="txn")
    tid = uniq("tx")
    pid, epoch = init_transactional(k, tid)
    eq(add_partitions(k, v, tid, pid, epoch, [(topic, [0, 1])]), {(topic, 0): NONE, (topic, 1): NONE},
       "AddPartitionsToTxn v%d of two partitions" % v)
    missing = uniq("absent")
    eq(add_partitions(k, v, tid, pid, epoch, [(topic, [0]), (missing, [0])]),
       {(topic, 0): OPERATION_NOT_ATTEMPTED, (missing, 0): UNKNOWN_TOPIC_OR_PARTITION},
       "AddPartitionsToTxn v%d with an unknown topic: nothing added" % v)
    fenced = PRODUCER_FENCED if v >= 2 else INVALID_PRODUCER_EPOCH
    eq(add_partitions(k, v, tid, pid, epoch + 1, [(topic, [0])]), {(topic, 0): fenced}, "AddPartitionsToTxn v%d, another epoch" % v)
    eq(add_partitions(k, v, tid, pid + 1, epoch, [(topic, [0])]), {(topic, 0): INVALID_PRODUCER_ID_MAPPING},
       "AddPartitionsToTxn v%d, another producer id" % v)
    eq(add_partitions(k, v, uniq("never"), pid, epoch, [(topic, [0])]), {(topic, 0): INVALID_PRODUCER_ID_MAPPING},
       "AddPartitionsToTxn v%d, an unknown transactional id" % v)
    # A transactional write to an added partition is taken; to one not added, INVALID_TXN_STATE.
    def produce(partition, seq):
        r = k.call("Produce", top("Produce"), {"TransactionalId": tid, "Acks": -1, "TimeoutMs": 10000, "TopicData": [
            {"Name": topic, "PartitionData": [{"Index": partition, "Records": batch(
                [b"t"], producer_id=pid, producer_epoch=epoch, base_sequence=seq, transactional=True)}]}]})
        return only(only(r["Responses"], "Produce topics")["PartitionResponses"], "Produce partitions")["ErrorCode"]
    eq(produce(0, 0), NONE, "transactional produce to a partition of the transaction")
    eq(end_txn(k, top("EndTxn"), tid, pid, epoch, False), NONE, "EndTxn abort")
    eq(produce(1, 0), INVALID_TXN_STATE, "transactional produce after the transaction ended")


def check_add_partitions_to_txn_batched(k, v):
    """v4, the brokers' form (KIP-890): VerifyOnly says whether partitions are in the open
    transaction without adding them; without it, partitions are added as in v0-3."""
    topic, _ = k.create_topic(partitions=2, prefix="txn")
    tid = uniq("tx")
    pid, epoch = init_transactional(k, tid)
    both = [(topic, [0, 1])]
    eq(add_partitions_batched(k, v, tid, pid, epoch, both, True), {(topic, 0): INVALID_TXN_STATE, (topic, 1): INVALID_TXN_STATE},
       "AddPartitionsToTxn v%d VerifyOnly with no transaction open" % v)
    missing = uniq("absent")
    eq(add_partitions_batched(k, v, tid, pid, epoch, [(topic, [0]), (missing, [0])], False),
       {(topic, 0): OPERATION_NOT_ATTEMPTED, (missing, 0): UNKNOWN_TOPIC_OR_PARTITION},
       "AddPartitionsToTxn v%d with an unknown topic: nothing added" % v)
    eq(add_partitions_batched(k, v, tid, pid, epoch, [(topic, [0])], False), {(topic, 0): NONE}, "AddPartitionsToTxn v%d adds" % v)
    eq(add_partitions_batched(k, v, tid, pid, epoch, both, True), {(topic, 0): NONE, (topic, 1): INVALID_TXN_STATE},
       "AddPartitionsToTxn v%d VerifyOnly: only the added partition is in the transaction" % v)
    eq(add_partitions_batched(k, v, tid, pid, epoch + 1, [(topic, [0])], True), {(topic, 0): INVALID_PRODUCER_EPOCH},
       "AddPartitionsToTxn v%d VerifyOnly, another epoch" % v)
    eq(end_txn(k, top("EndTxn"), tid, pid, epoch, False), NONE, "EndTxn abort")
    eq(add_partitions_batched(k, v, tid, pid, epoch, [(topic, [0])], True), {(topic, 0): INVALID_TXN_STATE},
       "AddPartitionsToTxn v%d VerifyOnly after the transaction ended" % v)


def check_end_txn(k, v):
    topic, _ = k.create_topic(prefix="txn")
    tid = uniq("tx")
    pid, epoch = init_transactional(k, tid)
    eq(end_txn(k, v, tid, pid, epoch, True), INVALID_TXN_STATE, "EndTxn v%d with no transaction open" % v)
    eq(add_partitions(k, 3, tid, pid, epoch, [(topic, [0])]), {(topic, 0): NONE}, "setup AddPartitionsToTxn")
    fenced = PRODUCER_FENCED if v >= 2 else INVALID_PRODUCER_EPOCH
    eq(end_txn(k, v, tid, pid, epoch + 1, True), fenced, "EndTxn v%d, another epoch" % v)
    eq(end_txn(k, v, tid, pid + 1, epoch, True), INVALID_PRODUCER_ID_MAPPING, "EndTxn v%d, another producer id" % v)
    eq(end_txn(k, v, tid, pid, epoch, True), NONE, "EndTxn v%d commit" % v)
    deadline = time.time() + 10
    while True:   # the markers are written after the answer: a retry meanwhile is CONCURRENT_TRANSACTIONS
        code = end_txn(k, v, tid, pid, epoch, True)
        if code != CONCURRENT_TRANSACTIONS or time.time() > deadline:
            break
        time.sleep(0.05)
    eq(code, NONE, "EndTxn v%d commit retried" % v)
    eq(end_txn(k, v, tid, pid, epoch, False), INVALID_TXN_STATE, "EndTxn v%d abort of a committed transaction" % v)
    # The marker is in the log: the log end moved past it.
    eq(k.offset(topic, 0, LATEST), 1, "the commit marker's offset")


def check_add_offsets_to_txn(k, v):
    tid = uniq("tx")
    pid, epoch = init_transactional(k, tid)
    def add(p, e, group="g"):
        return k.call("AddOffsetsToTxn", v, {"TransactionalId": tid, "ProducerId": p, "ProducerEpoch": e, "GroupId": group})["ErrorCode"]
    eq(add(pid, epoch), NONE, "AddOffsetsToTxn v%d" % v)
    eq(add(pid, epoch + 1), PRODUCER_FENCED if v >= 2 else INVALID_PRODUCER_EPOCH, "AddOffsetsToTxn v%d, another epoch" % v)
    eq(add(pid + 1, epoch), INVALID_PRODUCER_ID_MAPPING, "AddOffsetsToTxn v%d, another producer id" % v)
    eq(end_txn(k, top("EndTxn"), tid, pid, epoch, False), NONE, "EndTxn abort after AddOffsetsToTxn")


def check_txn_offset_commit(k, v):
    topic, _ = k.create_topic(prefix="txn")
    tid, group = uniq("tx"), uniq("g")
    pid, epoch = init_transactional(k, tid)

    def commit(offset, e=epoch):
        body = {"TransactionalId": tid, "GroupId": group, "ProducerId": pid, "ProducerEpoch": e,
                "GenerationId": -1, "MemberId": "", "GroupInstanceId": None,
                "Topics": [{"Name": topic, "Partitions": [{"PartitionIndex": 0, "CommittedOffset": offset,
                                                           "CommittedLeaderEpoch": -1, "CommittedMetadata": "m"}]}]}
        r = k.call("TxnOffsetCommit", v, body)
        return only(only(r["Topics"], "TxnOffsetCommit topics")["Partitions"], "TxnOffsetCommit partitions")["ErrorCode"]

    eq(commit(5), INVALID_TXN_STATE, "TxnOffsetCommit v%d before AddOffsetsToTxn" % v)
    r = k.call("AddOffsetsToTxn", top("AddOffsetsToTxn"), {"TransactionalId": tid, "ProducerId": pid, "ProducerEpoch": epoch, "GroupId": group})
    eq(r["ErrorCode"], NONE, "setup AddOffsetsToTxn")
    eq(commit(5, e=epoch + 1), INVALID_PRODUCER_EPOCH, "TxnOffsetCommit v%d with another epoch" % v)
    eq(commit(5), NONE, "TxnOffsetCommit v%d" % v)
    eq(k.committed(group, topic, [0]), {0: (-1, "")}, "a transaction's offsets do not count before it commits")
    r = k.call("OffsetFetch", top("OffsetFetch"), {"RequireStable": True, "Groups": [
        {"GroupId": group, "Topics": [{"Name": topic, "PartitionIndexes": [0]}]}]})
    eq(only(only(only(r["Groups"], "groups")["Topics"], "topics")["Partitions"], "partitions")["ErrorCode"], 88,
       "OffsetFetch with require_stable while a transaction's offsets are undecided: UNSTABLE_OFFSET_COMMIT")
    eq(end_txn(k, top("EndTxn"), tid, pid, epoch, True), NONE, "EndTxn commit")
    deadline = time.time() + 10
    while k.committed(group, topic, [0]) != {0: (5, "m")} and time.time() < deadline:
        time.sleep(0.05)
    eq(k.committed(group, topic, [0]), {0: (5, "m")}, "the committed transaction's offsets count")


def open_transaction(k, partitions=1):
    """A transactional id with a transaction open on a new topic: (tid, pid, epoch, topic)."""
    topic, _ = k.create_topic(partitions=partitions, prefix="txn")
    tid = uniq("tx")
    pid, epoch = init_transactional(k, tid)
    eq(add_partitions(k, 3, tid, pid, epoch, [(topic, list(range(partitions)))]),
       {(topic, p): NONE for p in range(partitions)}, "setup AddPartitionsToTxn")
    r = k.call("Produce", top("Produce"), {"TransactionalId": tid, "Acks": -1, "TimeoutMs": 10000, "TopicData": [
        {"Name": topic, "PartitionData": [{"Index": 0, "Records": batch(
            [b"a", b"b"], producer_id=pid, producer_epoch=epoch, base_sequence=0, transactional=True)}]}]})
    eq(only(only(r["Responses"], "topics")["PartitionResponses"], "partitions")["ErrorCode"], NONE, "setup transactional Produce")
    return tid, pid, epoch, topic


def check_describe_transactions(k, v):
    tid, pid, epoch, topic = open_transaction(k, partitions=2)
    missing = uniq("never")
    r = k.call("DescribeTransactions", v, {"TransactionalIds": [tid, missing]})
    found, unknown = r["TransactionStates"]
    eq((found["ErrorCode"], found["TransactionalId"], found["TransactionState"], found["ProducerId"], found["ProducerEpoch"],
        found["TransactionTimeoutMs"]), (NONE, tid, "Ongoing", pid, epoch, 60000), "DescribeTransactions v%d of an open transaction" % v)
    eq([(t["Topic"], t["Partitions"]) for t in found["Topics"]], [(topic, [0, 1])], "DescribeTransactions v%d partitions" % v)
    assert found["TransactionStartTimeMs"] > 0
    eq((unknown["ErrorCode"], unknown["TransactionalId"]), (TRANSACTIONAL_ID_NOT_FOUND, missing), "DescribeTransactions v%d unknown id" % v)
    eq(end_txn(k, top("EndTxn"), tid, pid, epoch, False), NONE, "EndTxn abort")


def check_list_transactions(k, v):
    tid, pid, epoch, _ = open_transaction(k)
    body = {"StateFilters": ["Ongoing", "NoSuchState"], "ProducerIdFilters": [pid]}
    if v >= 1:
        body["DurationFilter"] = -1
    r = k.call("ListTransactions", v, body)
    eq((r["ErrorCode"], r["UnknownStateFilters"]), (NONE, ["NoSuchState"]), "ListTransactions v%d" % v)
    eq([(t["TransactionalId"], t["ProducerId"], t["TransactionState"]) for t in r["TransactionStates"]], [(tid, pid, "Ongoing")],
       "ListTransactions v%d by state and producer id" % v)
    if v >= 1:
        body["DurationFilter"] = 3_600_000
        eq(k.call("ListTransactions", v, body)["TransactionStates"], [], "ListTransactions v%d: none open for an hour" % v)
    eq(end_txn(k, top("EndTxn"), tid, pid, epoch, False), NONE, "EndTxn abort")


def check_describe_producers(k, v):
    tid, pid, epoch, topic = open_transaction(k)
    r = k.call("DescribeProducers", v, {"Topics": [{"Name": topic, "PartitionIndexes": [0]}, {"Name": uniq("absent"), "PartitionIndexes": [0]}]})
    present, absent = r["Topics"]
    p = only(present["Partitions"], "DescribeProducers partitions")
    state = only(p["ActiveProducers"], "active producers")
    eq((p["ErrorCode"], state["ProducerId"], state["ProducerEpoch"], state["LastSequence"], state["CurrentTxnStartOffset"]),
       (NONE, pid, epoch, 1, 0), "DescribeProducers v%d: the open transaction's producer" % v)
    eq(only(absent["Partitions"], "absent partitions")["ErrorCode"], UNKNOWN_TOPIC_OR_PARTITION, "DescribeProducers v%d unknown topic" % v)
    eq(end_txn(k, top("EndTxn"), tid, pid, epoch, False), NONE, "EndTxn abort")


ILLEGAL_SASL_STATE, RESOURCE_NOT_FOUND, UNACCEPTABLE_CREDENTIAL = 34, 91, 93


def check_sasl_handshake(k, v):
    # The session broker's listener is PLAINTEXT: there is nothing to log in to (test_sasl.py
    # covers a SASL listener).
    r = k.call("SaslHandshake", v, {"Mechanism": "PLAIN"})
    eq((r["ErrorCode"], r["Mechanisms"]), (ILLEGAL_SASL_STATE, []), "SaslHandshake v%d on a PLAINTEXT listener" % v)


def check_sasl_authenticate(k, v):
    r = k.call("SaslAuthenticate", v, {"AuthBytes": b"\0alice\0secret"})
    eq(r["ErrorCode"], ILLEGAL_SASL_STATE, "SaslAuthenticate v%d on a PLAINTEXT listener" % v)
    assert "without SASL" in (r["ErrorMessage"] or ""), r


def check_describe_user_scram_credentials(k, v):
    user = uniq("user")
    r = k.call("DescribeUserScramCredentials", v, {"Users": [{"Name": user}]})
    eq(r["ErrorCode"], NONE, "DescribeUserScramCredentials v%d" % v)
    eq([(x["User"], x["ErrorCode"]) for x in r["Results"]], [(user, RESOURCE_NOT_FOUND)], "DescribeUserScramCredentials v%d unknown user" % v)


def check_alter_user_scram_credentials(k, v):
    user = uniq("user")
    upsert = {"Name": user, "Mechanism": 2, "Iterations": 8192, "Salt": b"salt-salt", "SaltedPassword": b"x" * 64}
    r = k.call("AlterUserScramCredentials", v, {"Deletions": [], "Upsertions": [upsert]})
    eq([(x["User"], x["ErrorCode"]) for x in r["Results"]], [(user, NONE)], "AlterUserScramCredentials v%d upsert" % v)
    described = k.call("DescribeUserScramCredentials", top("DescribeUserScramCredentials"), {"Users": [{"Name": user}]})["Results"]
    eq([(c["Mechanism"], c["Iterations"]) for c in only(described, "described users")["CredentialInfos"]], [(2, 8192)],
       "the credential AlterUserScramCredentials v%d set" % v)
    r = k.call("AlterUserScramCredentials", v, {"Deletions": [], "Upsertions": [dict(upsert, Iterations=10)]})
    eq([x["ErrorCode"] for x in r["Results"]], [UNACCEPTABLE_CREDENTIAL], "AlterUserScramCredentials v%d too few iterations" % v)
    r = k.call("AlterUserScramCredentials", v, {"Deletions": [{"Name": user, "Mechanism": 2}], "Upsertions": []})
    eq([x["ErrorCode"] for x in r["Results"]], [NONE], "AlterUserScramCredentials v%d delete" % v)


CHECKS = {
    "ApiVersions": check_api_versions, "Produce": check_produce, "Fetch": check_fetch,
    "ListOffsets": check_list_offsets, "Metadata": check_metadata, "CreateTopics": check_create_topics,
    "DeleteTopics": check_delete_topics, "CreatePartitions": check_create_partitions,
    "DescribeConfigs": check_describe_configs, "AlterConfigs": check_alter_configs,
    "IncrementalAlterConfigs": check_incremental_alter_configs, "DeleteRecords": check_delete_records,
    "DescribeCluster": check_describe_cluster, "OffsetForLeaderEpoch": check_offset_for_leader_epoch,
    "InitProducerId": check_init_producer_id, "FindCoordinator": check_find_coordinator,
    "AddPartitionsToTxn": check_add_partitions_to_txn, "EndTxn": check_end_txn,
    "AddOffsetsToTxn": check_add_offsets_to_txn, "TxnOffsetCommit": check_txn_offset_commit,
    "DescribeTransactions": check_describe_transactions, "ListTransactions": check_list_transactions,
    "DescribeProducers": check_describe_producers,
    "JoinGroup": check_join_group, "SyncGroup": check_sync_group, "Heartbeat": check_heartbeat,
    "OffsetCommit": check_offset_commit, "OffsetFetch": check_offset_fetch, "LeaveGroup": check_leave_group,
    "DescribeGroups": check_describe_groups, "ListGroups": check_list_groups, "DeleteGroups": check_delete_groups,
    "OffsetDelete": check_offset_delete,
    "SaslHandshake": check_sasl_handshake, "SaslAuthenticate": check_sasl_authenticate,
    "DescribeUserScramCredentials": check_describe_user_scram_credentials,
    "AlterUserScramCredentials": check_alter_user_scram_credentials,
}


def _cases(groups):
    return [pytest.param(api, v, id="%s-v%d" % (api, v))
            for api, (lo, hi) in ADVERTISED.items() if (api in GROUP_APIS) == groups
            for v in range(lo, hi + 1)]


@pytest.fixture(scope="module")
def group_broker(sluice_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("sluice-versions-groups")
    b = Broker(sluice_bin, d / "data", d / "broker.log", settings={"group.initial.rebalance.delay.ms": "0"})
    b.start()
    yield b
    b.close()


@pytest.fixture
def group_bootstrap(group_broker):
    if not group_broker.alive():
        group_broker.start()
    yield group_broker.bootstrap
    assert group_broker.alive(), "the group broker died during this test\n%s" % group_broker.tail()


def _run(bootstrap, api, version):
    k = K(bootstrap)
    try:
        CHECKS[api](k, version)
    finally:
        k.close()


@pytest.mark.parametrize("api,version", _cases(groups=False))
def test_version(broker, bootstrap, api, version):
    _run(bootstrap, api, version)


@pytest.mark.parametrize("api,version", _cases(groups=True))
def test_group_version(group_broker, group_bootstrap, api, version):
    _run(group_bootstrap, api, version)


def test_advertised_versions_match_the_table(bootstrap):
    """The broker's ApiVersions answer equals ADVERTISED exactly: a newly advertised API or version
    fails here until it has a case above. Every range must also be one the specs define."""
    assert set(CHECKS) == set(ADVERTISED), "APIs without a check: %s" % sorted(set(ADVERTISED) - set(CHECKS))
    for api, (lo, hi) in ADVERTISED.items():
        for v in (lo, hi):
            assert kspec.within(v, SPECS.message(api + "Request").valid), "%s v%d is not in the spec" % (api, v)
    with kspec.Connection(bootstrap) as c:
        r = c.call("ApiVersions", top("ApiVersions"), {"ClientSoftwareName": "kspec-tests", "ClientSoftwareVersion": "1.0"})
    eq(r["ErrorCode"], NONE, "ApiVersions error")
    got = {}
    for a in r["ApiKeys"]:
        name = SPECS.by_key.get(a["ApiKey"], "api key %d" % a["ApiKey"])
        got[name] = (a["MinVersion"], a["MaxVersion"])
    extra = {k: v for k, v in got.items() if ADVERTISED.get(k) != v}
    lacking = {k: v for k, v in ADVERTISED.items() if got.get(k) != v}
    assert got == ADVERTISED, "ApiVersions differs from the table: broker has %r, table has %r" % (extra, lacking)
