"""Replication and failover (issue #11) on three real broker processes, 127.0.0.1/.2/.3.

Setup as ../shared/notes/replication.md gives it: RF=3, min.insync.replicas=2, idempotent
acks=all producers (confluent-kafka), replica.lag.time.max.ms 5 s, a 3 s broker session. Every
run that produces under faults is checked with Tools/chaos/history.py: lost, duplicated and
inconsistent records are counted against the final full read.

What each case gets:
- no faults: every acknowledged record read back once at its offset; the three replicas' segment
  files identical byte for byte (followers store the leader's batches unchanged);
- kill -9 of a partition's leader under load, then its restart: 0 acknowledged records lost,
  0 duplicated, 0 inconsistent offsets; the restarted broker truncates what it alone had,
  catches up and is taken back into the ISR;
- a follower paused (SIGSTOP) with min.insync.replicas=3: acks=all is answered
  REQUEST_TIMED_OUT at the request's timeout (the high watermark cannot pass the records); once
  it is fenced or dropped for lag, the ISR shrinks and acks=all gets NOT_ENOUGH_REPLICAS before
  anything is appended; acks=1 is still written but not exposed to consumers (the high
  watermark stays frozen below min.insync.replicas); resumed, it rejoins the ISR and the
  record becomes readable;
- both followers paused: nothing is acknowledged (the metadata quorum of three is gone with
  them too, so the ISR cannot even shrink); resumed, they catch up and rejoin.
"""
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import kspec
import kwire
from cluster import Cluster

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "Tools" / "chaos"))
import history as H  # noqa: E402
import workload as W  # noqa: E402

pytestmark = pytest.mark.timeout(300)

REQUEST_TIMED_OUT = 7
NOT_ENOUGH_REPLICAS = 19

SETTINGS = {"replica.lag.time.max.ms": "5000", "default.replication.factor": "3"}


@pytest.fixture(scope="module")
def cluster(sluice_bin, tmp_path_factory):
    from cluster import free_port
    c = Cluster(sluice_bin, tmp_path_factory.mktemp("replication"), extra=SETTINGS)
    c.metrics = {}
    for n, node in c.nodes.items():
        c.metrics[n] = "%s:%d" % (c.hosts[n], free_port(c.hosts[n]))
        node.settings["metrics.listener"] = c.metrics[n]
    c.start()
    try:
        c.wait_live([1, 2, 3], via=1)
        yield c
    finally:
        c.close()


def create_topic(cluster, name, partitions, min_insync=2, configs=None):
    # After a case that paused or killed brokers they may still be registering again (fenced):
    # INVALID_REPLICATION_FACTOR until all three are live.
    deadline = time.monotonic() + 60
    while True:
        with kspec.Connection(cluster.bootstrap(1)) as k:
            r = k.call("CreateTopics", 7, {"Topics": [{
                "Name": name, "NumPartitions": partitions, "ReplicationFactor": 3, "Assignments": [],
                "Configs": [{"Name": "min.insync.replicas", "Value": str(min_insync)}]
                + [{"Name": k, "Value": v} for k, v in (configs or {}).items()]}], "timeoutMs": 30000, "validateOnly": False})
        if r["Topics"][0]["ErrorCode"] != 38 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert r["Topics"][0]["ErrorCode"] == 0, r
    ready = lambda p: len(p["IsrNodes"]) == 3 and p["LeaderId"] >= 0
    parts = wait_partitions(cluster, name, partitions, ready)
    # One broker's metadata is not every broker's: a leader that has not applied the new topic
    # yet answers UNKNOWN_TOPIC_OR_PARTITION, and a case that pauses the others right away would
    # leave it that way (failed once in CI). Every live broker must know the partitions first.
    for n in cluster.nodes:
        if cluster.nodes[n].alive():
            wait_partitions(cluster, name, partitions, ready, via=n)
    return parts


def partitions_of(cluster, name, via):
    try:
        with kspec.Connection(cluster.bootstrap(via)) as k:
            r = k.call("Metadata", 12, {"Topics": [{"Name": name}], "AllowAutoTopicCreation": False,
                                        "IncludeTopicAuthorizedOperations": False})
    except Exception:
        return None
    topic = r["Topics"][0]
    if topic["ErrorCode"] != 0:
        return None
    return {p["PartitionIndex"]: p for p in topic["Partitions"]}


def wait_partitions(cluster, name, count, condition, timeout=60.0, via=None):
    def check():
        for n in ([via] if via else cluster.nodes):
            if not cluster.nodes[n].alive():
                continue
            parts = partitions_of(cluster, name, n)
            if parts and len(parts) == count and all(condition(p) for p in parts.values()):
                return parts
        return None
    return cluster.wait_for("%s: partitions in the wanted state" % name, check, timeout=timeout)


def segment_bytes(cluster, node, topic, partition):
    directory = Path(cluster.nodes[node].data_dir) / ("%s-%d" % (topic, partition))
    return b"".join(f.read_bytes() for f in sorted(directory.glob("*.log")))


def wait_identical(cluster, topic, partitions, timeout=60.0):
    def check():
        for p in range(partitions):
            copies = {segment_bytes(cluster, n, topic, p) for n in cluster.nodes}
            if len(copies) != 1:
                return None
        return True
    cluster.wait_for("%s: replicas identical" % topic, check, timeout=timeout)


def verdict_of(path):
    verdict = H.check(H.load([str(path)]))
    print(H.summary(verdict))
    return verdict


def test_no_faults_every_record_once_and_replicas_identical(cluster, tmp_path):
    create_topic(cluster, "rep-clean", 3)
    path = tmp_path / "history.jsonl"
    history = W.HistoryFile(str(path))
    W.produce(cluster.all_bootstraps, "rep-clean", history, "p0", 6000)
    W.read_all(cluster.all_bootstraps, "rep-clean", 3, history)
    history.close()
    verdict = verdict_of(path)
    assert verdict["valid"], verdict
    assert verdict["outcomes"] == {"ok": 6000}
    wait_identical(cluster, "rep-clean", 3)


def test_kill_leader_under_load_loses_nothing(cluster, tmp_path):
    parts = create_topic(cluster, "rep-kill", 3)
    victim = parts[0]["LeaderId"]
    path = tmp_path / "history.jsonl"
    history = W.HistoryFile(str(path))
    producers = [threading.Thread(target=W.produce, args=(cluster.all_bootstraps, "rep-kill", history, "p%d" % i, 6000),
                                  kwargs={"rate": 400, "timeout_s": 90.0}) for i in range(2)]
    for t in producers:
        t.start()
    time.sleep(4)
    cluster.nodes[victim].kill9()
    killed_at = time.monotonic()
    others = [n for n in cluster.nodes if n != victim]
    moved = wait_partitions(cluster, "rep-kill", 3, lambda p: p["LeaderId"] in others, via=others[0])
    print("leaders moved off broker %d within %.1f s: %s" % (victim, time.monotonic() - killed_at,
                                                              {i: p["LeaderId"] for i, p in moved.items()}))
    time.sleep(3)
    cluster.nodes[victim].start()
    for t in producers:
        t.join()
    W.read_all(cluster.all_bootstraps, "rep-kill", 3, history)
    history.close()
    verdict = verdict_of(path)
    assert verdict["valid"], {k: v[:10] if isinstance(v, list) else v for k, v in verdict.items()}
    # The restarted broker catches up, rejoins every ISR, and holds what the others hold.
    wait_partitions(cluster, "rep-kill", 3, lambda p: len(p["IsrNodes"]) == 3, timeout=90.0)
    wait_identical(cluster, "rep-kill", 3)
    # Every broker checkpoints its replicas' high watermarks (a restart starts from them).
    def checkpointed(n):
        path = Path(cluster.nodes[n].data_dir) / "replication-offset-checkpoint"
        return path.exists() and all(("rep-kill %d " % p) in path.read_text() for p in range(3))
    cluster.wait_for("high watermarks checkpointed", lambda: all(checkpointed(n) for n in cluster.nodes), timeout=30)


def produce_raw(cluster, node, topic, acks, timeout_ms, value=b"x"):
    body = kwire.produce_body(8, topic, 0, kwire.build_batch([(None, value, [])]), acks=acks, timeout_ms=timeout_ms)
    with kwire.Conn(cluster.bootstrap(node)) as conn:
        return kwire.parse_produce_response(8, conn.roundtrip(kwire.API_PRODUCE, 8, body))[(topic, 0)]


def test_follower_paused_isr_shrinks_and_acks_all_refused(cluster):
    # min.insync.replicas=3, so one follower out of the ISR is one too many (two paused nodes
    # would take the metadata quorum of three with them).
    parts = create_topic(cluster, "rep-isr", 1, min_insync=3)
    leader = parts[0]["LeaderId"]
    follower = [n for n in cluster.nodes if n != leader][0]
    assert produce_raw(cluster, leader, "rep-isr", -1, 10000)["error"] == 0
    os.kill(cluster.nodes[follower].proc.pid, signal.SIGSTOP)
    try:
        # Still in the ISR, but fetching nothing: the high watermark cannot pass the record.
        started = time.monotonic()
        answer = produce_raw(cluster, leader, "rep-isr", -1, 1000)
        assert answer["error"] == REQUEST_TIMED_OUT, answer
        assert time.monotonic() - started >= 0.9
        # Fenced (3 s session) or dropped for lag (5 s): the ISR loses it.
        wait_partitions(cluster, "rep-isr", 1, lambda p: sorted(p["IsrNodes"]) == sorted(set(cluster.nodes) - {follower}),
                        via=leader, timeout=30.0)
        answer = produce_raw(cluster, leader, "rep-isr", -1, 5000)
        assert answer["error"] == NOT_ENOUGH_REPLICAS, answer
        # Operators see it: the CLI flags the partition, /metrics counts it.
        described = sluice(cluster, leader, "topic", "describe", "rep-isr")
        assert "UNDER-REPLICATED" in described, described
        summary = re.search(r"under-replicated (\d+)", sluice(cluster, leader, "cluster", "describe"))
        assert summary and int(summary.group(1)) >= 1, "every partition with the paused follower counts"
        figures = metrics(cluster, leader)
        assert figures["sluice_under_replicated_partitions"] >= 1, figures
        assert figures["sluice_under_min_isr_partitions"] >= 1, figures
        # acks=1 is written, but below min.insync.replicas the high watermark stays put.
        answer = produce_raw(cluster, leader, "rep-isr", 1, 5000, value=b"acks1")
        assert answer["error"] == 0, answer
        high = high_watermark(cluster, leader, "rep-isr")
        assert high <= answer["base_offset"], (high, answer)
    finally:
        os.kill(cluster.nodes[follower].proc.pid, signal.SIGCONT)
    wait_partitions(cluster, "rep-isr", 1, lambda p: len(p["IsrNodes"]) == 3, via=leader, timeout=60.0)
    assert produce_raw(cluster, leader, "rep-isr", -1, 10000)["error"] == 0
    figures = metrics(cluster, leader)
    assert figures["sluice_isr_expands_total"] >= 1 and figures["sluice_offline_partitions"] == 0, figures
    cluster.wait_for("the acks=1 record exposed once replicated",
                     lambda: high_watermark(cluster, leader, "rep-isr") >= 4, timeout=30.0)
    wait_identical(cluster, "rep-isr", 1)


def test_both_followers_paused_nothing_acknowledged(cluster):
    parts = create_topic(cluster, "rep-two", 1, min_insync=2)
    leader = parts[0]["LeaderId"]
    followers = [n for n in cluster.nodes if n != leader]
    for n in followers:
        os.kill(cluster.nodes[n].proc.pid, signal.SIGSTOP)
    try:
        for _ in range(3):
            answer = produce_raw(cluster, leader, "rep-two", -1, 1500)
            assert answer["error"] in (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS), answer
    finally:
        for n in followers:
            os.kill(cluster.nodes[n].proc.pid, signal.SIGCONT)
    wait_partitions(cluster, "rep-two", 1, lambda p: len(p["IsrNodes"]) == 3, timeout=60.0)
    assert produce_raw(cluster, leader, "rep-two", -1, 10000)["error"] == 0
    wait_identical(cluster, "rep-two", 1)


def metrics(cluster, node):
    """The unlabelled samples of a node's /metrics."""
    import urllib.request
    text = urllib.request.urlopen("http://%s/metrics" % cluster.metrics[node], timeout=10).read().decode()
    return {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
            if line and not line.startswith("#") and "{" not in line.split()[0]}


def sluice(cluster, node, *args):
    out = subprocess.run([str(cluster.binary), *args, "--bootstrap", cluster.bootstrap(node)], capture_output=True, timeout=30,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr.decode()
    return out.stdout.decode()


def high_watermark(cluster, node, topic):
    with kwire.Conn(cluster.bootstrap(node)) as conn:
        body = conn.roundtrip(kwire.API_FETCH, 11, kwire.fetch_body(11, topic, 0, 0, max_wait_ms=0))
    return kwire.parse_fetch_response(11, body)[(topic, 0)]["high_watermark"]


def test_a_follower_behind_the_leaders_log_start_starts_over_there(cluster):
    """DeleteRecords while a follower is down: the in-sync follower's log start follows the
    leader's; the returning one finds its offset below the leader's log start
    (OFFSET_OUT_OF_RANGE), starts its log over at the leader's log start, and rejoins the ISR."""
    parts = create_topic(cluster, "rep-start", 1)
    leader = parts[0]["LeaderId"]
    late, steady = [n for n in cluster.nodes if n != leader]
    for _ in range(10):
        assert produce_raw(cluster, leader, "rep-start", -1, 10000)["error"] == 0
    cluster.nodes[late].kill9()
    wait_partitions(cluster, "rep-start", 1, lambda p: late not in p["IsrNodes"], via=leader, timeout=30.0)
    for _ in range(10):
        assert produce_raw(cluster, leader, "rep-start", -1, 10000)["error"] == 0
    with kspec.Connection(cluster.bootstrap(leader)) as k:
        r = k.call("DeleteRecords", 2, {"Topics": [{"Name": "rep-start", "Partitions": [{"PartitionIndex": 0, "Offset": 15}]}],
                                        "TimeoutMs": 10000})
    assert r["Topics"][0]["Partitions"][0]["ErrorCode"] == 0, r
    assert r["Topics"][0]["Partitions"][0]["LowWatermark"] == 15
    assert produce_raw(cluster, leader, "rep-start", -1, 10000)["error"] == 0
    cluster.nodes[late].start()
    wait_partitions(cluster, "rep-start", 1, lambda p: len(p["IsrNodes"]) == 3, via=leader, timeout=60.0)

    def log_start(node):
        path = Path(cluster.nodes[node].data_dir) / "rep-start-0" / "log-start-offset"
        return int.from_bytes(path.read_bytes(), "big") if path.exists() else 0
    cluster.wait_for("every replica's log starts at 15", lambda: all(log_start(n) == 15 for n in cluster.nodes), timeout=30.0)
    late_log = segment_bytes(cluster, late, "rep-start", 0)
    assert late_log and late_log == segment_bytes(cluster, leader, "rep-start", 0)[-len(late_log):]
    assert "started over at 15" in cluster.nodes[late].log_text()


def test_controlled_shutdown_of_a_leader_moves_leadership_first(cluster, tmp_path):
    """SIGTERM to a leader: it asks the controller to move its partitions before it exits, so
    leadership moves within a heartbeat rather than a session timeout, and nothing is lost."""
    parts = create_topic(cluster, "rep-term", 3)
    victim = parts[0]["LeaderId"]
    path = tmp_path / "history.jsonl"
    history = W.HistoryFile(str(path))
    producer = threading.Thread(target=W.produce, args=(cluster.all_bootstraps, "rep-term", history, "p", 4000),
                                kwargs={"rate": 400, "timeout_s": 60.0})
    producer.start()
    time.sleep(3)
    stopping = threading.Thread(target=cluster.nodes[victim].stop)
    started = time.monotonic()
    stopping.start()
    others = [n for n in cluster.nodes if n != victim]
    wait_partitions(cluster, "rep-term", 3, lambda p: p["LeaderId"] in others, via=others[0], timeout=30.0)
    moved = time.monotonic() - started
    stopping.join()
    print("leadership off broker %d %.2f s after SIGTERM" % (victim, moved))
    assert moved < 3.0, "moved by the controlled shutdown, not by the 3 s session timeout"
    cluster.nodes[victim].start()
    producer.join()
    W.read_all(cluster.all_bootstraps, "rep-term", 3, history)
    history.close()
    verdict = verdict_of(path)
    assert verdict["valid"], {k: v[:10] if isinstance(v, list) else v for k, v in verdict.items()}
    assert verdict["outcomes"] == {"ok": 4000}, verdict["outcomes"]
    wait_partitions(cluster, "rep-term", 3, lambda p: len(p["IsrNodes"]) == 3, timeout=60.0)


def test_a_new_replica_of_a_compacted_partition_copies_the_cleaned_log(cluster):
    """Each replica cleans its own log (Kafka's cleaner is local); a replica that starts empty
    copies the leader's cleaned log, gaps and all, holds the latest value of every key, and a
    kill -9 of it afterwards (recovery from its first segment) keeps every record it copied."""
    import clients as C
    import kwire
    from test_compaction import TOPIC_CONFIG, latest_per_key_once, produce_history, roll
    topic = "rep-compact"
    parts = create_topic(cluster, topic, 1, configs=dict(TOPIC_CONFIG, **{"delete.retention.ms": "600000"}))
    leader = parts[0]["LeaderId"]
    late = [n for n in cluster.nodes if n != leader][0]
    latest = produce_history(cluster.all_bootstraps, topic, 30_000, 100, {"key-7"}, seed=5)
    roll(cluster.all_bootstraps, topic)
    cluster.wait_for("the leader compacts", lambda: latest_per_key_once(
        C.consume_confluent(cluster.all_bootstraps, topic, [0], timeout=60), latest, tombstones=True), timeout=90.0)

    end = C.watermarks(cluster.all_bootstraps, topic, 0)[1]
    cluster.nodes[late].kill9()
    directory = Path(cluster.nodes[late].data_dir) / ("%s-0" % topic)
    subprocess.run(["rm", "-rf", str(directory)], check=True)
    cluster.nodes[late].start()

    def stored():
        records = []
        for segment in sorted(directory.glob("*.log")):
            batches, _ = kwire.parse_batches(segment.read_bytes())
            for batch in batches:
                records += [(r.offset, r.key, r.value) for r in batch]
        return records

    # The ISR may still name it from before the kill: wait for its copy to reach the log end.
    cluster.wait_for("the new replica copies the log", lambda: (stored() or [(-1,)])[-1][0] == end - 1, timeout=60.0)
    def holds_latest(records):
        last = {}
        for _, key, value in records:
            last[key.decode()] = value
        return [(k, last.get(k, b"missing"), v) for k, v in latest.items() if last.get(k, b"missing") != v]

    copied = stored()
    offsets = [o for o, _, _ in copied]
    assert offsets == sorted(set(offsets)) and len(offsets) < 30_000, "the copy has the leader's gaps"
    assert not holds_latest(copied), "the new replica (key, holds, latest): %r" % holds_latest(copied)[:3]
    # Its recovery after kill -9 checks the copied segments from the first (no recovery point
    # yet) and keeps them: the last offset is still there. Its own cleaner may have run since.
    cluster.nodes[late].kill9()
    cluster.nodes[late].start()
    cluster.wait_for("the replica is back", lambda: cluster.nodes[late].alive() and (stored() or [(-1,)])[-1][0] == end - 1,
                     timeout=60.0)
    assert "recovery truncated" not in cluster.nodes[late].log_text()
    assert not holds_latest(stored())
