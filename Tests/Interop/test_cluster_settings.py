"""The cluster's settings by Kafka's names (issue #10 item 6), as far as a single broker goes:
Kafka's NAME://HOST:PORT listener form serves clients, inconsistent settings are refused with
Kafka's reasons, and a node told to join a quorum must be given the cluster's id."""
import subprocess

import clients as C


def serve(sluice_bin, tmp_path, settings, timeout=60):
    cmd = [str(sluice_bin), "serve", "--data-dir", str(tmp_path / "data")]
    for key, value in settings.items():
        cmd += ["--set", "%s=%s" % (key, value)]
    return subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)


def test_kafkas_named_listener_form_serves_clients(broker_factory):
    broker = broker_factory(settings={"listeners": "PLAINTEXT://127.0.0.1:0"})
    topic = C.create_topic(broker.bootstrap, partitions=1, prefix="named-listener")
    C.produce_confluent(broker.bootstrap, topic, [{"value": b"a"}, {"value": b"b"}])
    got = C.consume_confluent(broker.bootstrap, topic)
    assert [m["value"] for m in got] == [b"a", b"b"], got


ISSUE_NODE_2 = {
    "cluster.id": "MkU3OEVBNTcwNTJENDM2Qk", "node.id": "2", "process.roles": "broker,controller",
    "listeners": "PLAINTEXT://127.0.0.2:0,CONTROLLER://127.0.0.2:0",
    "controller.listener.names": "CONTROLLER",
    "controller.quorum.voters": "1@127.0.0.1:9193,2@127.0.0.2:9193,3@127.0.0.3:9193",
    "broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "500",
}


def test_a_node_of_a_cluster_needs_the_clusters_id(sluice_bin, tmp_path):
    settings = dict(ISSUE_NODE_2)
    del settings["cluster.id"]
    out = serve(sluice_bin, tmp_path, settings)
    err = out.stderr.decode()
    assert out.returncode != 0, err
    assert "cluster.id must be too" in err, err
    assert not (tmp_path / "data").exists()


def test_inconsistent_cluster_settings_are_refused_with_kafkas_reasons(sluice_bin, tmp_path):
    cases = [
        (dict(ISSUE_NODE_2, **{"node.id": "4"}), "must be included in the set of voters"),
        (dict(ISSUE_NODE_2, **{"process.roles": "broker"}), "must not be included in the set of voters"),
        (dict(ISSUE_NODE_2, **{"controller.quorum.voters": "1@127.0.0.1:9193,x@h:1"}), "{id}@{host}:{port}"),
        ({"process.roles": "broker,controller"}, "needs controller.quorum.voters"),
        ({"listeners": "PLAINTEXT://127.0.0.1:0,PLAINTEXT://127.0.0.1:1"}, "Each listener must have a different name"),
    ]
    for settings, reason in cases:
        out = serve(sluice_bin, tmp_path, settings)
        err = out.stderr.decode()
        assert out.returncode != 0, (settings, err)
        assert reason in err, (settings, err)
        # Refused before anything was written: the data directory was never created.
        assert not (tmp_path / "data").exists(), (settings, list((tmp_path / "data").iterdir()))
