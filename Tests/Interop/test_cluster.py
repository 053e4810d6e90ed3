"""A cluster of real processes (issue #10): three nodes on 127.0.0.1, .2 and .3, each a broker
and a voter of the metadata quorum, started exactly as the issue gives the command.

What each case gets:
- three nodes form a cluster; a topic of 6 partitions spreads its leaders and replicas over all
  three; librdkafka (kcat, confluent-kafka) and the Swift client (`sluice produce/consume`)
  produce and consume through any bootstrap broker; a replication factor above the registered
  brokers gets INVALID_REPLICATION_FACTOR; producer ids from different brokers never collide;
- a request for a partition this broker does not lead gets NOT_LEADER_OR_FOLLOWER, a future
  leader epoch UNKNOWN_LEADER_EPOCH, a stale one (after a failover) FENCED_LEADER_EPOCH;
- kill -9 of the active controller: another is elected within seconds, no topic or id rolls
  back, the killed broker is fenced and its partitions move; restarted, it rejoins and catches up;
- a second process with the node id of a live broker is refused (DUPLICATE_BROKER_REGISTRATION);
- a node whose controller.quorum.voters disagrees gets INCONSISTENT_VOTER_SET, logged on both
  sides, and the quorum carries on;
- a data directory formatted for another cluster id refuses to start;
- controllers and brokers as separate processes (process.roles=controller / broker): brokers
  observe the quorum, register, and carry the topics;
- topic configs changed through one broker reach every broker; group requests to a broker
  other than the group's coordinator (the leader of its __consumer_offsets partition) get
  NOT_COORDINATOR.

Data replication is issue #11: these tests check where records are routed and served, not that
they survive the loss of the broker that led them.
"""
import subprocess
import time

import pytest

import clients as C
import kspec
import kwire
from cluster import CLUSTER_ID, Cluster, ClusterNode, free_port

# Cluster start-up and failovers take longer than the suite's default per-test cap.
pytestmark = pytest.mark.timeout(240)

NOT_LEADER_OR_FOLLOWER = 6
INVALID_REPLICATION_FACTOR = 38
FENCED_LEADER_EPOCH = 74
UNKNOWN_LEADER_EPOCH = 75


@pytest.fixture(scope="module")
def cluster(sluice_bin, tmp_path_factory):
    c = Cluster(sluice_bin, tmp_path_factory.mktemp("cluster")).start()
    try:
        c.wait_live([1, 2, 3], via=1)
        yield c
    finally:
        c.close()


def metadata(bootstrap, topic):
    with kspec.Connection(bootstrap) as k:
        r = k.call("Metadata", 12, {"Topics": [{"Name": topic}], "AllowAutoTopicCreation": False,
                                    "IncludeTopicAuthorizedOperations": False})
    return r


def partitions_of(bootstrap, topic):
    t = metadata(bootstrap, topic)["Topics"][0]
    assert t["ErrorCode"] == 0, t
    return t["TopicId"], {p["PartitionIndex"]: p for p in t["Partitions"]}


def wait_everywhere(cluster, topic, count, nodes=(1, 2, 3)):
    """Until every node's image has the topic: a created topic reaches the brokers one by one,
    as in Kafka (each applies the metadata log at its own pace)."""
    for n in nodes:
        cluster.wait_for("%s with %d partitions on node %d" % (topic, count, n),
                         lambda: (lambda r: r if r[1] and len(r[1]) == count else None)(_try_partitions(cluster.bootstrap(n), topic)))


def create(bootstrap, name, partitions, replication):
    from confluent_kafka.admin import NewTopic
    fut = C.admin(bootstrap).create_topics([NewTopic(name, partitions, replication)], request_timeout=30)[name]
    return fut


def test_three_nodes_form_a_cluster_that_clients_use_through_any_broker(cluster, sluice_bin):
    topic = C.unique("spread")
    create(cluster.bootstrap(3), topic, 6, 3).result(timeout=40)
    for via in (1, 2, 3):
        _, parts = cluster.wait_for("topic %s on node %d" % (topic, via),
                                    lambda: (lambda r: r if r[1] and len(r[1]) == 6 else None)(_try_partitions(cluster.bootstrap(via), topic)))
        assert {p["LeaderId"] for p in parts.values()} == {1, 2, 3}, parts
        for p in parts.values():
            assert sorted(p["ReplicaNodes"]) == [1, 2, 3] and sorted(p["IsrNodes"]) == [1, 2, 3], p
    # More replicas than registered brokers: Kafka's error and message.
    with pytest.raises(Exception) as refused:
        create(cluster.bootstrap(1), C.unique("too-many"), 3, 4).result(timeout=40)
    assert "INVALID_REPLICATION_FACTOR" in str(refused.value) and "3 broker(s) are registered" in str(refused.value), refused.value

    # librdkafka through node 1 (kcat) and node 2 (confluent-kafka), the Swift client through node 3.
    for partition in range(6):
        C.produce_kcat(cluster.bootstrap(1), topic, [(None, "kcat-%d-%d" % (partition, i)) for i in range(20)], partition=partition)
    C.produce_confluent(cluster.bootstrap(2), topic, [{"key": b"k%d" % i, "value": b"confluent-%d" % i} for i in range(120)])
    lines = ["swift-%d" % i for i in range(120)]
    out = subprocess.run([str(sluice_bin), "produce", "--bootstrap", cluster.bootstrap(3), "--topic", topic],
                         input=("\n".join(lines) + "\n").encode(), capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    want = {"kcat-%d-%d" % (p, i) for p in range(6) for i in range(20)} | {"confluent-%d" % i for i in range(120)} | set(lines)

    got_confluent = {m["value"].decode() for m in C.consume_confluent(cluster.bootstrap(3), topic)}
    assert got_confluent == want, "confluent-kafka via node 3: %d of %d" % (len(got_confluent & want), len(want))
    got_kcat = {m["value"].decode() for m in C.consume_kcat(cluster.bootstrap(2), topic)}
    assert got_kcat == want, "kcat via node 2: %d of %d" % (len(got_kcat & want), len(want))
    out = subprocess.run([str(sluice_bin), "consume", "--bootstrap", cluster.bootstrap(1), "--topic", topic, "--from-beginning",
                          "--count", str(len(want))], capture_output=True, timeout=120)
    assert out.returncode == 0, out.stderr.decode()
    assert set(out.stdout.decode().split("\n")) - {""} == want

    # Every broker names the same group coordinator (the leader of the group's partition of
    # __consumer_offsets, made at the first lookup); producer ids come from controller blocks.
    coordinators = {find_coordinator(cluster, via, "g") for via in (1, 2, 3)}
    assert len(coordinators) == 1, coordinators
    ids = []
    for via in (1, 2, 3):
        with kspec.Connection(cluster.bootstrap(via)) as k:
            for _ in range(3):
                r = k.call("InitProducerId", 4, {"TransactionalId": None, "TransactionTimeoutMs": 60000, "ProducerId": -1,
                                                 "ProducerEpoch": -1})
                assert r["ErrorCode"] == 0, r
                ids.append(r["ProducerId"])
    assert len(set(ids)) == len(ids), "producer ids handed out twice: %s" % ids


def find_coordinator(cluster, via, group):
    def ask():
        with kspec.Connection(cluster.bootstrap(via)) as k:
            r = k.call("FindCoordinator", 4, {"KeyType": 0, "CoordinatorKeys": [group]})["Coordinators"][0]
        return r["NodeId"] if r["ErrorCode"] == 0 else None
    return cluster.wait_for("a coordinator for %s named by node %d" % (group, via), ask, timeout=60)


def heartbeat_code(cluster, n, group):
    with kspec.Connection(cluster.bootstrap(n)) as k:
        return k.call("Heartbeat", 4, {"GroupId": group, "GenerationId": 1, "MemberId": "m", "GroupInstanceId": None})["ErrorCode"]


def _try_partitions(bootstrap, topic):
    try:
        return partitions_of(bootstrap, topic)
    except AssertionError:
        return None, None


def list_offsets(bootstrap, topic, partition, epoch):
    with kspec.Connection(bootstrap) as k:
        r = k.call("ListOffsets", 8, {"ReplicaId": -1, "IsolationLevel": 0, "Topics": [{"Name": topic, "Partitions": [
            {"PartitionIndex": partition, "CurrentLeaderEpoch": epoch, "Timestamp": -1}]}]})
    return r["Topics"][0]["Partitions"][0]["ErrorCode"]


def test_a_broker_answers_for_partitions_it_does_not_lead_as_kafka_does(cluster):
    topic = C.unique("routing")
    create(cluster.bootstrap(1), topic, 3, 1).result(timeout=40)
    wait_everywhere(cluster, topic, 3)
    _, parts = partitions_of(cluster.bootstrap(2), topic)
    for index, p in parts.items():
        leader = p["LeaderId"]
        others = [n for n in (1, 2, 3) if n != leader]
        # Not a replica there (replication factor 1): still Kafka's NOT_LEADER_OR_FOLLOWER, so the client refreshes.
        for n in others:
            assert list_offsets(cluster.bootstrap(n), topic, index, -1) == NOT_LEADER_OR_FOLLOWER
            with kwire.Conn(cluster.bootstrap(n)) as conn:
                answer = kwire.produce(conn, 8, topic, index, kwire.build_batch([(None, b"x", [])]), acks=1)
                assert answer["error"] == NOT_LEADER_OR_FOLLOWER, answer
        assert list_offsets(cluster.bootstrap(leader), topic, index, p["LeaderEpoch"]) == 0
        assert list_offsets(cluster.bootstrap(leader), topic, index, p["LeaderEpoch"] + 1) == UNKNOWN_LEADER_EPOCH


def test_killing_the_active_controller_elects_another_and_nothing_rolls_back(sluice_bin, tmp_path):
    c = Cluster(sluice_bin, tmp_path).start()
    try:
        c.wait_live([1, 2, 3], via=1)
        before = C.unique("before")
        create(c.bootstrap(2), before, 6, 3).result(timeout=40)
        wait_everywhere(c, before, 6)
        before_id, _ = partitions_of(c.bootstrap(1), before)
        _, leader, epoch, hw = c.describe(1)
        survivors = [n for n in (1, 2, 3) if n != leader]
        _, parts_before = partitions_of(c.bootstrap(survivors[0]), before)
        killed_at = time.monotonic()
        c.nodes[leader].kill9()
        d = c.wait_for("a new quorum leader", lambda: (lambda d: d if d and d[1] not in (None, -1, leader) and d[2] > epoch else None)(
            c.describe(survivors[0])), timeout=30)
        elected_after = time.monotonic() - killed_at
        print("new active controller %d (epoch %d -> %d) %.1f s after kill -9 of %d" % (d[1], epoch, d[2], elected_after, leader))
        assert elected_after < 15, elected_after
        assert d[3] >= hw, "the quorum's high watermark went back: %d -> %d" % (hw, d[3])

        live = c.wait_live(survivors, via=survivors[1], timeout=30)
        print("node %d fenced %.1f s after the kill" % (leader, time.monotonic() - killed_at))
        for via in survivors:
            # Each survivor applies the fencing at its own pace: wait until its image shows it.
            c.wait_for("node %d sees %d's partitions moved" % (via, leader), lambda: all(
                p["LeaderId"] in survivors and leader not in p["IsrNodes"] for p in partitions_of(c.bootstrap(via), before)[1].values()))
            topic_id, parts = partitions_of(c.bootstrap(via), before)
            assert topic_id == before_id, "topic id changed"
            for index, p in parts.items():
                assert p["LeaderId"] in survivors and leader not in p["IsrNodes"], p
                assert leader in p["OfflineReplicas"], p
                if parts_before[index]["LeaderId"] == leader:
                    assert p["LeaderEpoch"] > parts_before[index]["LeaderEpoch"], (parts_before[index], p)
                    # A client that still knows the old leader epoch is fenced by the new leader.
                    assert list_offsets(c.bootstrap(p["LeaderId"]), before, index, parts_before[index]["LeaderEpoch"]) == FENCED_LEADER_EPOCH
                    # The new leader writes under its new epoch, and its epoch cache says where that epoch starts.
                    C.produce_kcat(c.bootstrap(p["LeaderId"]), before, [(None, "after-failover")] * 3, partition=index)
                    with kspec.Connection(c.bootstrap(p["LeaderId"])) as k:
                        r = k.call("OffsetForLeaderEpoch", 4, {"ReplicaId": -1, "Topics": [{"Topic": before, "Partitions": [
                            {"Partition": index, "CurrentLeaderEpoch": p["LeaderEpoch"], "LeaderEpoch": p["LeaderEpoch"]}]}]})
                    answer = r["Topics"][0]["Partitions"][0]
                    assert (answer["ErrorCode"], answer["LeaderEpoch"]) == (0, p["LeaderEpoch"]), answer
                    assert answer["EndOffset"] == C.watermarks(c.bootstrap(p["LeaderId"]), before, index)[1], answer
        after = C.unique("after")
        # A fresh admin client: librdkafka's cached one keeps the controller id it last saw (the
        # killed node) until its next periodic metadata refresh.
        C.forget(c.bootstrap(survivors[0]))
        started = time.monotonic()
        create(c.bootstrap(survivors[0]), after, 3, 2).result(timeout=40)
        print("CreateTopics after the failover took %.1f s" % (time.monotonic() - started))

        started = time.monotonic()
        c.nodes[leader].start()
        c.wait_live([1, 2, 3], via=leader, timeout=60)
        print("node %d restarted and live again in %.1f s" % (leader, time.monotonic() - started))
        for name, count in ((before, 6), (after, 3)):
            topic_id, parts = c.wait_for("node %d sees %s" % (leader, name), lambda: (lambda r: r if r[1] and len(r[1]) == count else None)(
                _try_partitions(c.bootstrap(leader), name)))
        assert partitions_of(c.bootstrap(leader), before)[0] == before_id
        _, _, epoch_after, hw_after = c.describe(leader)
        assert epoch_after >= d[2] and hw_after >= d[3]
    finally:
        c.close()


def test_a_second_process_with_a_live_brokers_id_is_refused(cluster, sluice_bin, tmp_path):
    def observer(name, port):
        settings = {"cluster.id": cluster.cluster_id, "node.id": "4", "process.roles": "broker",
                    "listeners": "PLAINTEXT://127.0.0.1:%d" % port, "controller.listener.names": "CONTROLLER",
                    "controller.quorum.voters": cluster.voters, "broker.session.timeout.ms": "3000",
                    "broker.heartbeat.interval.ms": "500"}
        return ClusterNode(sluice_bin, tmp_path / name, tmp_path / (name + ".log"), settings=settings)

    first = observer("first", free_port("127.0.0.1")).start()
    second = None
    try:
        cluster.wait_live([1, 2, 3, 4], via=1)
        second = observer("second", free_port("127.0.0.1")).start()
        cluster.wait_for("the second node 4 refused", lambda: "DUPLICATE_BROKER_REGISTRATION" in second.log_text(), timeout=30)
        # Node 4 is still the first process: its address is the one clients are given.
        with kspec.Connection(cluster.bootstrap(1)) as k:
            brokers = {b["NodeId"]: b["Port"] for b in k.call("Metadata", 12, {"Topics": []})["Brokers"]}
        assert brokers.get(4) == first.port, (brokers, first.port, second.port)
    finally:
        for node in (second, first):
            if node:
                node.close()


def test_voter_lists_that_disagree_get_inconsistent_voter_set(cluster, sluice_bin, tmp_path):
    _, leader, epoch, _ = cluster.describe(1)
    port, cport = free_port("127.0.0.1"), free_port("127.0.0.1")
    voters = "1@%s:%d,2@%s:%d,5@127.0.0.1:%d" % (cluster.hosts[1], cluster.controller_ports[1], cluster.hosts[2],
                                                 cluster.controller_ports[2], cport)
    settings = {"cluster.id": cluster.cluster_id, "node.id": "5", "process.roles": "broker,controller",
                "listeners": "PLAINTEXT://127.0.0.1:%d,CONTROLLER://127.0.0.1:%d" % (port, cport),
                "controller.listener.names": "CONTROLLER", "controller.quorum.voters": voters}
    stray = ClusterNode(sluice_bin, tmp_path / "stray", tmp_path / "stray.log", settings=settings).start()
    try:
        seen = cluster.wait_for("INCONSISTENT_VOTER_SET logged", lambda: [n for n in (1, 2) if
                                "controller.quorum.voters differ" in cluster.nodes[n].log_text()], timeout=30)
        assert seen
        cluster.wait_for("the stray node logs the refusal", lambda: "inconsistentVoterSet" in stray.log_text()
                         or "INCONSISTENT_VOTER_SET" in stray.log_text(), timeout=30)
        # The quorum carried on under its leader, in its epoch: the stray's votes moved nothing. (It
        # may still fetch the log as an observer and register as broker 5, as a Kafka node would.)
        live, now_leader, now_epoch, _ = cluster.describe(1)
        assert {1, 2, 3} <= set(live) and now_leader == leader and now_epoch == epoch, (live, now_leader, now_epoch)
    finally:
        stray.close()


def test_a_data_directory_of_another_cluster_refuses_to_start(sluice_bin, tmp_path):
    data = tmp_path / "data"
    out = subprocess.run([str(sluice_bin), "format", "--data-dir", str(data), "--cluster-id", "AAAAAAAAAAAAAAAAAAAAAA",
                          "--node-id", "1"], capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr.decode()
    c = Cluster(sluice_bin, tmp_path)
    node = c.nodes[1]
    cmd = node.command(0)
    cmd[cmd.index("--data-dir") + 1] = str(data)
    out = subprocess.run(cmd, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    err = out.stderr.decode()
    assert out.returncode != 0, err
    assert "belongs to another cluster" in err and "AAAAAAAAAAAAAAAAAAAAAA" in err, err


def test_topic_configs_and_groups_are_the_clusters(cluster):
    """A topic config changed through one broker is a ConfigRecord every broker applies; group
    requests reach the one coordinating broker, and another answers NOT_COORDINATOR."""
    from confluent_kafka.admin import ConfigResource, ConfigEntry, AlterConfigOpType
    topic = C.unique("configs")
    create(cluster.bootstrap(1), topic, 3, 3).result(timeout=40)
    wait_everywhere(cluster, topic, 3)
    resource = ConfigResource("topic", topic, incremental_configs=[
        ConfigEntry("retention.ms", "123456", incremental_operation=AlterConfigOpType.SET)])
    C.admin(cluster.bootstrap(2)).incremental_alter_configs([resource])[resource].result(timeout=40)

    def described(via):
        r = ConfigResource("topic", topic)
        return C.admin(cluster.bootstrap(via)).describe_configs([r])[r].result(timeout=20)["retention.ms"].value

    for via in (1, 2, 3):
        cluster.wait_for("retention.ms on node %d" % via, lambda: described(via) == "123456", timeout=20)

    # A group's coordinator, named by every broker; the others refuse its requests.
    coordinator = find_coordinator(cluster, 3, "readers")
    cluster.wait_for("node %d coordinates readers" % coordinator, lambda: heartbeat_code(cluster, coordinator, "readers") == 25)
    for n in (1, 2, 3):
        with kspec.Connection(cluster.bootstrap(n)) as k:
            r = k.call("Heartbeat", 4, {"GroupId": "readers", "GenerationId": 1, "MemberId": "m", "GroupInstanceId": None})
        assert r["ErrorCode"] == (25 if n == coordinator else 16), (n, coordinator, r)  # UNKNOWN_MEMBER_ID there, NOT_COORDINATOR elsewhere
    C.produce_confluent(cluster.bootstrap(1), topic, [{"value": b"%d" % i} for i in range(30)])
    consumer = C.group_consumer(cluster.bootstrap(2), "readers")
    try:
        consumer.subscribe([topic])
        got = 0
        deadline = time.monotonic() + 60
        while got < 30 and time.monotonic() < deadline:
            m = consumer.poll(1.0)
            if m is not None and not m.error():
                got += 1
        assert got == 30
        consumer.commit(asynchronous=False)
        from confluent_kafka import TopicPartition
        committed = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=20)
        assert sum(max(0, tp.offset) for tp in committed) == 30, committed
    finally:
        consumer.close()


def test_controllers_and_brokers_may_be_separate_processes(sluice_bin, tmp_path):
    """process.roles=controller nodes form the quorum and serve no clients; process.roles=broker
    nodes read the metadata log as observers, register, and carry the topics."""
    hosts = {n: "127.0.0.%d" % n for n in (1, 2, 3)}
    cports = {n: free_port(h) for n, h in hosts.items()}
    voters = ",".join("%d@%s:%d" % (n, hosts[n], cports[n]) for n in hosts)
    nodes = []
    try:
        for n in (1, 2, 3):
            nodes.append(ClusterNode(sluice_bin, tmp_path / ("c%d" % n), tmp_path / ("c%d.log" % n), settings={
                "cluster.id": CLUSTER_ID, "node.id": str(n), "process.roles": "controller",
                "listeners": "CONTROLLER://%s:%d" % (hosts[n], cports[n]), "controller.listener.names": "CONTROLLER",
                "controller.quorum.voters": voters}, host=hosts[n]).start())
        brokers = {}
        for n in (4, 5):
            port = free_port("127.0.0.1")
            brokers[n] = "127.0.0.1:%d" % port
            nodes.append(ClusterNode(sluice_bin, tmp_path / ("b%d" % n), tmp_path / ("b%d.log" % n), settings={
                "cluster.id": CLUSTER_ID, "node.id": str(n), "process.roles": "broker",
                "listeners": "PLAINTEXT://127.0.0.1:%d" % port, "controller.listener.names": "CONTROLLER",
                "controller.quorum.voters": voters, "broker.session.timeout.ms": "3000",
                "broker.heartbeat.interval.ms": "500"}).start())

        def described():
            out = subprocess.run([str(sluice_bin), "cluster", "describe", "--bootstrap", brokers[4]], capture_output=True, timeout=30)
            text = out.stdout.decode()
            return text if out.returncode == 0 and text.count(" live") == 2 and "observer 5" in text and "observer 4" in text else None

        deadline = time.monotonic() + 60
        text = None
        while time.monotonic() < deadline and not text:
            text = described()
            time.sleep(0.25)
        assert text, "brokers 4 and 5 live and observing the quorum"
        assert all("voter %d" % n in text for n in (1, 2, 3)), text
        topic = C.unique("split-roles")
        create(brokers[5], topic, 4, 2).result(timeout=40)
        deadline = time.monotonic() + 30
        parts = None
        while time.monotonic() < deadline and not parts:
            parts = _try_partitions(brokers[4], topic)[1]
            time.sleep(0.1)
        assert {p["LeaderId"] for p in parts.values()} == {4, 5}, parts
        C.produce_confluent(brokers[4], topic, [{"value": b"%d" % i} for i in range(40)])
        assert len(C.consume_confluent(brokers[5], topic)) == 40
    finally:
        for node in nodes:
            node.close()
            for bs in node.bootstraps:
                C.forget(bs)


def test_the_controller_refuses_bad_topic_requests_with_kafkas_errors(cluster):
    """Checked by the controller whether or not the request is only validated: gaps in a manual
    assignment's partition indexes (INVALID_REPLICA_ASSIGNMENT), zero partitions
    (INVALID_PARTITIONS), zero replicas (INVALID_REPLICATION_FACTOR)."""
    with kspec.Connection(cluster.bootstrap(2)) as k:
        for validate_only in (False, True):
            r = k.call("CreateTopics", 7, {"Topics": [
                {"Name": C.unique("gap"), "NumPartitions": -1, "ReplicationFactor": -1,
                 "Assignments": [{"PartitionIndex": 0, "BrokerIds": [1]}, {"PartitionIndex": 2, "BrokerIds": [2]}], "Configs": []},
                {"Name": C.unique("zero-partitions"), "NumPartitions": 0, "ReplicationFactor": 1, "Assignments": [], "Configs": []},
                {"Name": C.unique("zero-replicas"), "NumPartitions": 1, "ReplicationFactor": 0, "Assignments": [], "Configs": []},
            ], "timeoutMs": 30000, "validateOnly": validate_only})
            codes = [t["ErrorCode"] for t in r["Topics"]]
            assert codes == [39, 37, 38], (validate_only, r["Topics"])  # INVALID_REPLICA_ASSIGNMENT, INVALID_PARTITIONS, INVALID_REPLICATION_FACTOR


def restart_all_with_topic(cluster, topic, partitions):
    """Creates `topic` (replication 3) once every node is live and knows it, then kills all three
    nodes with kill -9 and starts them again at once: each then holds client requests until it
    has replayed the metadata log and is registered and unfenced."""
    cluster.wait_live([1, 2, 3], via=1)
    create(cluster.bootstrap(1), topic, partitions, 3)
    wait_everywhere(cluster, topic, partitions)
    for node in cluster.nodes.values():
        node.kill9()
    for node in cluster.nodes.values():
        node.start()


def test_acks0_produces_held_until_unfenced_do_not_stall_their_connection(sluice_bin, tmp_path):
    """More acks=0 Produce requests than connection.max.pending.requests (100), pipelined to a
    node that holds client requests until it is registered and unfenced, then a Metadata request
    on the same connection. The connection stops reading at 100 unanswered requests; when the
    gate opens the acks=0 ones finish with nothing to write, and their places must free up so
    the rest is read and the Metadata answered (they did not, and the connection sat until
    connections.max.idle.ms)."""
    cluster = Cluster(sluice_bin, tmp_path).start()
    try:
        restart_all_with_topic(cluster, "acks0", 1)
        produce = {"TransactionalId": None, "Acks": 0, "TimeoutMs": 1000,
                   "TopicData": [{"Name": "acks0", "PartitionData": [{"Index": 0, "Records": None}]}]}
        with kspec.Connection(cluster.bootstrap(1), timeout=90) as k:
            for _ in range(130):
                k.send("Produce", 9, produce)
            started = time.monotonic()
            r = k.receive("Metadata", 12, k.send("Metadata", 12, {"Topics": [{"Name": "acks0"}], "AllowAutoTopicCreation": False,
                                                                   "IncludeTopicAuthorizedOperations": False}))
        assert r["Brokers"] and r["Topics"][0]["ErrorCode"] == 0, r
        print("Metadata answered %.1f s after 130 acks=0 produces" % (time.monotonic() - started))
    finally:
        cluster.close()


def test_a_restarted_broker_answers_clients_only_once_registered_and_unfenced(sluice_bin, tmp_path):
    """All three nodes killed and restarted at once. A node that has just started replays the
    metadata log and waits out its previous incarnation's session before it may register; until
    its own image shows it registered and unfenced, its answers would come from an empty or
    stale image (no brokers, the topic unknown). Kafka's broker serves nobody before that, and a
    librdkafka producer that got a Metadata answer listing no brokers dropped every broker it
    knew and stalled for good (the chaos supervisor's kill-all). Requests sent the moment each
    node listens are answered, after a wait, with every broker and the topic's partitions."""
    cluster = Cluster(sluice_bin, tmp_path).start()
    try:
        restart_all_with_topic(cluster, "gated", 3)
        for n in cluster.nodes:
            started = time.monotonic()
            with kspec.Connection(cluster.bootstrap(n), timeout=60) as k:
                r = k.call("Metadata", 12, {"Topics": [{"Name": "gated"}], "AllowAutoTopicCreation": False,
                                            "IncludeTopicAuthorizedOperations": False})
            waited = time.monotonic() - started
            assert r["Brokers"], "node %d answered with no brokers (after %.1f s)" % (n, waited)
            topic = r["Topics"][0]
            assert topic["ErrorCode"] == 0 and len(topic["Partitions"]) == 3, (n, waited, topic)
            print("node %d answered after %.1f s with brokers %s" % (n, waited, sorted(b["NodeId"] for b in r["Brokers"])))
    finally:
        cluster.close()
