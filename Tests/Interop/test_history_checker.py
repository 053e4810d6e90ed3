"""The history checker (Tools/chaos/history.py) that issue #11's fault runs report through:
each anomaly it must name is caught in a history that has it and absent from one that has not,
and a real run — three brokers, RF=3, min.insync.replicas=2, idempotent acks=all producers, no
faults — comes out with every record acknowledged and read once, in order.
"""
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "Tools", "chaos"))
import history  # noqa: E402
import workload  # noqa: E402

import clients as C  # noqa: E402
from cluster import Cluster  # noqa: E402

pytestmark = pytest.mark.timeout(240)


def send(value, partition=0, offset=None, outcome="ok"):
    return {"type": "send", "producer": value.split(":")[0], "value": value, "partition": partition,
            "offset": offset, "outcome": outcome}


def read(value, partition, offset):
    return {"type": "read", "partition": partition, "offset": offset, "value": value}


def test_a_clean_history_is_valid():
    events = [send("a:0", 0, 0), send("a:1", 0, 1), send("b:0", 1, 0), send("b:1", outcome="error"),
              read("a:0", 0, 0), read("a:1", 0, 1), read("b:0", 1, 0)]
    verdict = history.check(events)
    assert verdict["valid"], verdict
    assert verdict["outcomes"] == {"ok": 3, "error": 1} and verdict["absent_by_outcome"] == {"error": 1}


def test_each_anomaly_is_named():
    lost = history.check([send("a:0", 0, 0), send("a:1", 0, 1), read("a:0", 0, 0)])
    assert lost["lost"] == ["a:1"] and not lost["valid"]

    duplicated = history.check([send("a:0", 0, 0), read("a:0", 0, 0), read("a:0", 0, 1)])
    assert duplicated["duplicated"] == ["a:0"]

    two_at_one = history.check([send("a:0", 0, 0), send("b:0", 0, 1), read("a:0", 0, 0), read("b:0", 0, 0)])
    assert any(i.get("offset") == 0 and i.get("values") == ["a:0", "b:0"] for i in two_at_one["inconsistent"]), two_at_one
    moved = history.check([send("a:0", 0, 5), read("a:0", 0, 6)])
    assert moved["inconsistent"] == [{"value": "a:0", "acknowledged_at": [0, 5], "read_at": [[0, 6]]}]

    reordered = history.check([send("a:0", 0, 1), send("a:1", 0, 0), read("a:1", 0, 0), read("a:0", 0, 1)])
    assert [r["value"] for r in reordered["reordered"]] == ["a:0"], reordered

    unexpected = history.check([read("ghost:0", 0, 0)])
    assert unexpected["unexpected"] == ["ghost:0"]

    # Failed or unanswered sends may or may not be present: neither is an anomaly.
    maybe = history.check([send("a:0", outcome="indeterminate"), send("a:1", outcome="error"), read("a:0", 0, 0)])
    assert maybe["valid"] and maybe["present_by_outcome"] == {"indeterminate": 1}


def test_a_run_without_faults_loses_and_duplicates_nothing(sluice_bin, tmp_path):
    cluster = Cluster(sluice_bin, tmp_path).start()
    try:
        cluster.wait_live([1, 2, 3], via=1)
        topic = C.unique("history")
        from confluent_kafka.admin import NewTopic
        fut = C.admin(cluster.bootstrap(1)).create_topics(
            [NewTopic(topic, 6, 3, config={"min.insync.replicas": "2"})], request_timeout=30)[topic]
        fut.result(timeout=40)
        cluster.wait_for("topic on every node", lambda: all(C.metadata_topic(cluster.bootstrap(n), topic) for n in (1, 2, 3)))
        path = str(tmp_path / "history.jsonl")
        log = workload.HistoryFile(path)
        import threading
        writers = [threading.Thread(target=workload.produce, args=(cluster.all_bootstraps, topic, log, "w%d" % i, 4000))
                   for i in range(2)]
        for w in writers:
            w.start()
        for w in writers:
            w.join(180)
        workload.read_all(cluster.all_bootstraps, topic, 6, log)
        log.close()
        verdict = history.check(history.load([path]))
        print(history.summary(verdict))
        assert verdict["valid"], history.summary(verdict)
        assert verdict["outcomes"] == {"ok": 8000} and verdict["read"] == 8000, history.summary(verdict)
    finally:
        cluster.close()
