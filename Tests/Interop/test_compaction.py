"""Log compaction (cleanup.policy=compact) seen by real clients, as Kafka's log cleaner behaves:
confluent-kafka (librdkafka) writes 100k records over a few hundred keys, some deleted by
tombstones, to a compacted topic with small segments; the broker cleans it in the background; a
consumer from the beginning then reads the latest value of each key once, tombstones until
delete.retention.ms after the cleaning that kept them and nothing of the deleted keys after that;
a consumer positioned at a removed offset goes on at the next one; a restart, and kill -9 while
the cleaner works, keep all of it. A record without a key is refused by a compacted topic with
INVALID_RECORD (87), as Kafka's LogValidator refuses it. The group log is compacted by the same
cleaner: thousands of commits leave one record per key, and a kill -9 keeps every last commit."""
import os
import random
import socket
import subprocess
import time
import urllib.request

import pytest

from confluent_kafka import Consumer, KafkaError, TopicPartition

import clients as C

TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.bytes": "65536",
    "segment.ms": "1000",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "4000",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_broker(broker_factory):
    port = free_port()
    b = broker_factory(settings={"log.cleaner.backoff.ms": "100", "metrics.listener": "127.0.0.1:%d" % port})
    b.metrics_url = "http://127.0.0.1:%d/metrics" % port
    return b


def metric(b, name):
    text = urllib.request.urlopen(b.metrics_url, timeout=10).read().decode()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("%s not on /metrics" % name)


def produce_history(bootstrap, topic, count, keys, deleted, seed):
    """`count` updates over `keys` keys, the keys in `deleted` ending with a tombstone; returns
    the latest value per key (None for a tombstone)."""
    rng = random.Random(seed)
    latest = {}
    messages = []
    for i in range(count):
        key = "key-%d" % rng.randrange(keys)
        value = b"%s-v%d" % (key.encode(), i)
        messages.append({"key": key.encode(), "value": value, "partition": 0})
        latest[key] = value
    for key in sorted(deleted):
        messages.append({"key": key.encode(), "value": None, "partition": 0})
        latest[key] = None
    C.produce_confluent(bootstrap, topic, messages, timeout=120, **{"linger.ms": 5, "compression.type": "lz4"})
    return latest


def roll(bootstrap, topic):
    """segment.ms is 1 s and segments roll on append: a later record makes everything before it
    cleanable (the active segment never is)."""
    time.sleep(1.3)
    C.produce_confluent(bootstrap, topic, [{"key": b"filler", "value": b"roll", "partition": 0}])


def read_all(bootstrap, topic):
    return C.consume_confluent(bootstrap, topic, [0], timeout=60)


def latest_per_key_once(records, latest, tombstones):
    """Each key once, with its latest value; deleted keys as a tombstone (`tombstones`) or not at
    all (once the horizon passed)."""
    seen = {}
    for r in records:
        key = r["key"].decode()
        if key == "filler":
            continue
        if key in seen:
            return False
        seen[key] = r["value"]
    for key, value in latest.items():
        if value is None:
            if tombstones and seen.get(key, b"missing") is not None:
                return False
            if not tombstones and key in seen:
                return False
        elif seen.get(key) != value:
            return False
    return len(seen) == len([k for k, v in latest.items() if v is not None or tombstones])


def wait_until(what, check, timeout):
    deadline = time.time() + timeout
    while True:
        got = check()
        if got:
            return got
        assert time.time() < deadline, "not within %.0fs: %s" % (timeout, what)
        time.sleep(0.5)


def test_a_compacted_topic_keeps_the_latest_value_of_each_key(broker_factory):
    b = start_broker(broker_factory)
    topic = C.create_topic(b.bootstrap, 1, "compact", config=TOPIC_CONFIG)
    deleted = {"key-%d" % k for k in range(0, 300, 10)}
    latest = produce_history(b.bootstrap, topic, 100_000, 300, deleted, seed=1)
    produced = C.watermarks(b.bootstrap, topic, 0)[1]
    roll(b.bootstrap, topic)

    def cleaned():
        records = read_all(b.bootstrap, topic)
        return records if latest_per_key_once(records, latest, tombstones=True) else None

    records = wait_until("the cleaner compacts the topic to one record per key", cleaned, 90)
    offsets = [r["offset"] for r in records]
    assert offsets == sorted(set(offsets)), "offsets only increase"
    assert len(records) == 300 + 1, "270 live keys, 30 tombstones, the filler: %d records" % len(records)
    assert metric(b, "sluice_log_cleaner_runs_total") >= 1
    assert metric(b, "sluice_log_cleaner_records_removed_total") >= produced - 301
    assert C.watermarks(b.bootstrap, topic, 0)[1] == produced + 1, "compaction never moves the log end"

    # A consumer at a removed offset goes on at the next record that is left.
    kept = set(offsets)
    removed = [o for o in range(offsets[0], offsets[-1]) if o not in kept]
    for start in random.Random(2).sample(removed, 5):
        c = Consumer({"bootstrap.servers": b.bootstrap, "group.id": C.unique("g"), "enable.auto.commit": False})
        try:
            c.assign([TopicPartition(topic, 0, start)])
            first = None
            deadline = time.time() + 30
            while first is None and time.time() < deadline:
                m = c.poll(0.5)
                if m is not None and not m.error():
                    first = m.offset()
            assert first == min(o for o in offsets if o > start), "a fetch at removed offset %d" % start
        finally:
            c.close()

    # Past delete.retention.ms after the cleaning that kept them, the tombstones go too.
    def tombstones_gone():
        records = read_all(b.bootstrap, topic)
        return records if latest_per_key_once(records, latest, tombstones=False) else None

    records = wait_until("the tombstones are removed after delete.retention.ms", tombstones_gone, 60)
    assert len(records) == 270 + 1

    # A restart keeps it.
    b.restart()
    assert read_all(b.bootstrap, topic) == records
    described = subprocess.run([b.binary, "topic", "describe", topic, "--bootstrap", b.bootstrap], stdout=subprocess.PIPE,
                               timeout=60, check=True).stdout.decode()
    assert "config cleanup.policy=compact" in described, described


@pytest.mark.timeout(240)
def test_compact_delete_compacts_and_still_deletes_by_time(broker_factory):
    """cleanup.policy=compact,delete: the cleaner keeps each key's latest record, and retention.ms
    still deletes old segments whole, latest values included, as Kafka does."""
    port = free_port()
    b = broker_factory(settings={"log.cleaner.backoff.ms": "100", "metrics.listener": "127.0.0.1:%d" % port,
                                 "log.retention.check.interval.ms": "500"})
    b.metrics_url = "http://127.0.0.1:%d/metrics" % port
    topic = C.create_topic(b.bootstrap, 1, "compact-delete", config=dict(
        TOPIC_CONFIG, **{"cleanup.policy": "compact,delete", "retention.ms": "15000", "delete.retention.ms": "600000"}))
    latest = produce_history(b.bootstrap, topic, 20_000, 100, set(), seed=5)
    produced_at = time.time()
    roll(b.bootstrap, topic)
    wait_until("the cleaner compacts the compact,delete topic", lambda: latest_per_key_once(read_all(b.bootstrap, topic), latest, False), 60)
    assert C.watermarks(b.bootstrap, topic, 0)[0] == 0, "nothing is old enough for retention yet"
    # Past retention.ms the old segments go, though they hold each key's latest value.
    time.sleep(max(0, produced_at + 15 - time.time()))
    roll(b.bootstrap, topic)

    def old_keys_gone():
        return not [r for r in read_all(b.bootstrap, topic) if r["key"].startswith(b"key-")]
    wait_until("retention deletes the old segments of a compact,delete topic", old_keys_gone, 60)
    assert C.watermarks(b.bootstrap, topic, 0)[0] > 0, "the log start moved"


def test_kill_9_while_the_cleaner_works_loses_no_key(broker_factory):
    b = start_broker(broker_factory)
    topic = C.create_topic(b.bootstrap, 1, "compact-kill", config=dict(TOPIC_CONFIG, **{"delete.retention.ms": "600000"}))
    latest = {}
    rng = random.Random(3)
    for round_ in range(4):
        latest.update(produce_history(b.bootstrap, topic, 20_000, 200, {"key-%d" % rng.randrange(200)}, seed=10 + round_))
        roll(b.bootstrap, topic)
        # The cleaner wakes every 100 ms: stop it somewhere in a pass.
        time.sleep(rng.uniform(0.0, 0.6))
        b.kill9()
        b.start()
        records = read_all(b.bootstrap, topic)
        last = {}
        for r in records:
            last[r["key"].decode()] = r["value"]
        for key, value in latest.items():
            assert last.get(key, b"missing") == value, "round %d: %s reads %r, latest %r" % (round_, key, last.get(key), value)
        offsets = [r["offset"] for r in records]
        assert offsets == sorted(set(offsets)), "round %d: offsets only increase" % round_
    wait_until("the cleaner compacts after the crashes", lambda: latest_per_key_once(read_all(b.bootstrap, topic), latest, tombstones=True), 90)
    b.stop()
    b.start()
    directory = os.path.join(b.data_dir, topic + "-0")
    assert not [n for n in os.listdir(directory) if n.endswith((".cleaned", ".swap"))], "a start finishes or drops every cleaning"


def test_a_record_without_a_key_is_refused_by_a_compacted_topic(broker_factory):
    b = start_broker(broker_factory)
    topic = C.create_topic(b.bootstrap, 1, "compact-nokey", config=TOPIC_CONFIG)
    p = C.confluent_producer(b.bootstrap, **{"linger.ms": 50})
    reports = []
    p.produce(topic, key=b"k", value=b"kept", partition=0, on_delivery=lambda e, m: reports.append(("keyed", e)))
    p.flush(30)
    p.produce(topic, value=b"no key", partition=0, on_delivery=lambda e, m: reports.append(("keyless", e)))
    p.flush(30)
    assert reports[0] == ("keyed", None)
    assert reports[1][0] == "keyless" and reports[1][1] is not None
    assert reports[1][1].code() == KafkaError.INVALID_RECORD, "compacted topic, keyless record: %s" % reports[1][1]
    assert [(r["key"], r["value"]) for r in read_all(b.bootstrap, topic)] == [(b"k", b"kept")]


def group_log_bytes(b):
    directory = os.path.join(b.data_dir, "__sluice_group_log")
    return sum(os.path.getsize(os.path.join(directory, n)) for n in os.listdir(directory) if n.endswith(".log"))


@pytest.mark.timeout(300)
def test_the_group_log_is_compacted_by_the_cleaner(broker_factory):
    port = free_port()
    b = broker_factory(settings={"log.cleaner.backoff.ms": "100", "metrics.listener": "127.0.0.1:%d" % port,
                                 "offsets.topic.segment.bytes": "16384"})
    b.metrics_url = "http://127.0.0.1:%d/metrics" % port
    topic = C.create_topic(b.bootstrap, 4, "compact-commits")
    consumer = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "committer", "enable.auto.commit": False})
    rounds = 1_000
    started = time.time()
    for i in range(rounds):
        consumer.commit(offsets=[TopicPartition(topic, p, i * 10 + p) for p in range(4)], asynchronous=False)
    # A second group, then deleted: its offsets become tombstones.
    gone = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "deleted-group", "enable.auto.commit": False})
    gone.commit(offsets=[TopicPartition(topic, p, 5) for p in range(4)], asynchronous=False)
    gone.close()
    [f.result(timeout=30) for f in C.admin(b.bootstrap).delete_consumer_groups(["deleted-group"]).values()]
    committed_in = time.time() - started
    # 4,000 commit records over 4 keys (~260 KiB): the cleaner leaves the latest of each and the
    # active 16 KiB segment; it has been cleaning all along.
    wait_until("the cleaner compacts the group log", lambda: metric(b, "sluice_log_cleaner_records_removed_total") >= 3_000, 60)
    wait_until("the group log shrinks", lambda: group_log_bytes(b) < 64 * 1024, 60)
    print("group log: %d commits in %.1f s, %d bytes on disk after cleaning, %d records removed"
          % (rounds, committed_in, group_log_bytes(b), metric(b, "sluice_log_cleaner_records_removed_total")))
    consumer.close()
    b.kill9()
    b.start()
    again = Consumer({"bootstrap.servers": b.bootstrap, "group.id": "committer", "enable.auto.commit": False})
    got = again.committed([TopicPartition(topic, p) for p in range(4)], timeout=30)
    assert [t.offset for t in got] == [(rounds - 1) * 10 + p for p in range(4)], got
    again.close()
    listed = C.admin(b.bootstrap).list_consumer_groups().result(timeout=30)
    assert "deleted-group" not in [g.group_id for g in listed.valid], "a deleted group stays deleted after cleaning and a restart"
