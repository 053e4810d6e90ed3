"""Partition reassignment under load (issue #11): a 4th broker joins a cluster of three and every
partition moves off broker 1 onto it, through AlterPartitionReassignments, while idempotent
acks=all producers write. The new replicas copy the logs from their leaders, join the ISR,
and the reassignment completes; broker 1 drops its copies; the history checker finds nothing
lost, duplicated or out of place, and the new replicas hold the leaders' bytes.
"""
import threading
import time
from pathlib import Path

import pytest

import kspec
from cluster import Cluster
from test_elections import add_broker
from test_replication import SETTINGS, H, W, create_topic, partitions_of, segment_bytes, verdict_of, wait_partitions

pytestmark = pytest.mark.timeout(300)


def test_a_new_broker_takes_over_a_brokers_replicas_under_load(sluice_bin, tmp_path):
    cluster = Cluster(sluice_bin, tmp_path, extra=SETTINGS).start()
    try:
        cluster.wait_live([1, 2, 3], via=1)
        parts = create_topic(cluster, "moving", 3)
        path = tmp_path / "history.jsonl"
        history = W.HistoryFile(str(path))
        producer = threading.Thread(target=W.produce, args=(cluster.all_bootstraps, "moving", history, "p", 8000),
                                    kwargs={"rate": 400, "timeout_s": 90.0})
        producer.start()
        add_broker(cluster, sluice_bin, tmp_path, 4)
        cluster.wait_live([1, 2, 3, 4], via=2)
        time.sleep(3)
        targets = {i: [4 if r == 1 else r for r in p["ReplicaNodes"]] for i, p in parts.items()}
        with kspec.Connection(cluster.bootstrap(2)) as k:
            r = k.call("AlterPartitionReassignments", 0, {"TimeoutMs": 30000, "Topics": [
                {"Name": "moving", "Partitions": [{"PartitionIndex": i, "Replicas": t} for i, t in targets.items()]},
                {"Name": "missing", "Partitions": [{"PartitionIndex": 0, "Replicas": [1, 2, 3]}]}]})
        assert r["ErrorCode"] == 0, r
        codes = {(t["Name"], p["PartitionIndex"]): p["ErrorCode"] for t in r["Responses"] for p in t["Partitions"]}
        assert codes == {("moving", 0): 0, ("moving", 1): 0, ("moving", 2): 0, ("missing", 0): 3}, codes
        started = time.monotonic()

        def ongoing():
            with kspec.Connection(cluster.bootstrap(3)) as k:
                listed = k.call("ListPartitionReassignments", 0, {"TimeoutMs": 30000, "Topics": None})
            return [p for t in listed["Topics"] for p in t["Partitions"]]
        cluster.wait_for("the reassignment done", lambda: not ongoing() and (lambda p: p and all(
            sorted(x["ReplicaNodes"]) == sorted(targets[i]) and sorted(x["IsrNodes"]) == sorted(targets[i]) for i, x in p.items()))(
            partitions_of(cluster, "moving", 2)), timeout=120)
        print("reassignment of 3 partitions done in %.1f s under load" % (time.monotonic() - started))
        producer.join()
        W.read_all(cluster.all_bootstraps, "moving", 3, history)
        history.close()
        verdict = verdict_of(path)
        assert verdict["valid"], {k: v[:10] if isinstance(v, list) else v for k, v in verdict.items()}
        assert verdict["outcomes"].get("ok", 0) == 8000, verdict["outcomes"]
        # Broker 1 holds none of them any more; the new replicas hold what the others hold.
        cluster.wait_for("broker 1's copies removed", lambda: not any(
            (Path(cluster.nodes[1].data_dir) / ("moving-%d" % i)).exists() for i in range(3)), timeout=30)
        for i, replicas in targets.items():
            cluster.wait_for("moving-%d identical on %s" % (i, replicas), lambda: len(
                {segment_bytes(cluster, n, "moving", i) for n in replicas}) == 1, timeout=60)
    finally:
        cluster.close()
