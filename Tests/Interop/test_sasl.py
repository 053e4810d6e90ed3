"""SASL on a SASL_PLAINTEXT listener (issue #14): PLAIN from the listener's JAAS users,
SCRAM-SHA-256 and -512 from credentials managed with AlterUserScramCredentials, with
librdkafka (confluent-kafka, kcat) as the clients, and hostile input on the login path.

What each case gets, as Kafka gives it:
- a wrong password: SASL_AUTHENTICATION_FAILED with Kafka's message, after
  connection.failed.authentication.delay.ms, then the connection closes;
- a request other than ApiVersions/SaslHandshake before logging in, SaslAuthenticate before
  SaslHandshake, or a frame over sasl.server.max.receive.size before logging in: the connection
  closes without an answer;
- an unknown mechanism: UNSUPPORTED_SASL_MECHANISM with the mechanisms offered, then a close;
- a SCRAM final message with another nonce or a wrong proof: SASL_AUTHENTICATION_FAILED;
- SaslAuthenticate again after logging in, or SaslHandshake on a PLAINTEXT listener: ILLEGAL_SASL_STATE;
- with connections.max.reauth.ms, a session that ran out: the next request closes the connection.
In every case the broker stays up and other clients go on.
"""
import base64
import hashlib
import hmac
import os
import socket
import struct
import subprocess
import threading
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (ScramCredentialInfo, ScramMechanism, UserScramCredentialDeletion,
                                   UserScramCredentialUpsertion)

import clients as C
import kwire as W

SASL_HANDSHAKE, SASL_AUTHENTICATE, API_VERSIONS, METADATA = 17, 36, 18, 3
UNSUPPORTED_SASL_MECHANISM, ILLEGAL_SASL_STATE, SASL_AUTHENTICATION_FAILED = 33, 34, 58

CONFIG = """
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required \\
    user_alice="alice-secret" \\
    user_admin="admin-secret";
sasl.server.max.receive.size=4096
connection.failed.authentication.delay.ms=300
"""
LISTENERS = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"


def start(broker_factory, extra="", **kw):
    return broker_factory(listeners=LISTENERS, config_text=CONFIG + extra, **kw)


def sasl_bootstrap(b):
    return "127.0.0.1:%d" % b.listener_ports["SASL_PLAINTEXT"]


def sasl_conf(b, mechanism, user, password):
    return {"bootstrap.servers": sasl_bootstrap(b), "security.protocol": "SASL_PLAINTEXT",
            "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}


def add_scram_user(bootstrap, user, password, mechanisms=(ScramMechanism.SCRAM_SHA_256, ScramMechanism.SCRAM_SHA_512),
                   iterations=4096):
    admin = C.admin(bootstrap)
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(user, ScramCredentialInfo(m, iterations), password.encode()) for m in mechanisms])
    for f in futures.values():
        f.result(timeout=30)


def round_trip(b, conf, n=20):
    """Produce n records and read them back in a group that commits, all over `conf`."""
    topic = C.create_topic(b.bootstrap, 2, "sasl")
    values = [b"v%d" % i for i in range(n)]
    C.produce_confluent(conf["bootstrap.servers"], topic, [{"value": v, "partition": i % 2} for i, v in enumerate(values)],
                        **{k: v for k, v in conf.items() if k != "bootstrap.servers"})
    group = C.unique("sasl-group")
    consumer = Consumer(dict(conf, **{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False}))
    got = []
    try:
        consumer.subscribe([topic])
        deadline = time.time() + 60
        while len(got) < n and time.time() < deadline:
            for m in consumer.consume(100, 0.5):
                assert not m.error(), m.error()
                got.append(m.value())
        consumer.commit(asynchronous=False)
        committed = consumer.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=20)
    finally:
        consumer.close()
    assert sorted(got) == sorted(values)
    assert sum(tp.offset for tp in committed) == n, committed


# ---------------------------------------------------------------------------- clients that log in
def test_plain_users_from_jaas_produce_consume_and_commit(broker_factory):
    b = start(broker_factory)
    round_trip(b, sasl_conf(b, "PLAIN", "alice", "alice-secret"))


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_scram_users_made_with_the_admin_api_log_in(broker_factory, mechanism):
    b = start(broker_factory)
    add_scram_user(b.bootstrap, "bob", "bob-secret")
    described = C.admin(b.bootstrap).describe_user_scram_credentials(["bob"])["bob"].result(timeout=30)
    infos = sorted((i.mechanism, i.iterations) for i in described.scram_credential_infos)
    assert infos == [(ScramMechanism.SCRAM_SHA_256, 4096), (ScramMechanism.SCRAM_SHA_512, 4096)]
    round_trip(b, sasl_conf(b, mechanism, "bob", "bob-secret"))


def test_kcat_with_scram_sha_512(broker_factory):
    b = start(broker_factory)
    add_scram_user(b.bootstrap, "carol", "carol-secret")
    topic = C.create_topic(b.bootstrap, 1, "kcat-sasl")
    common = ["kcat", "-b", sasl_bootstrap(b), "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-512",
              "-X", "sasl.username=carol", "-X", "sasl.password=carol-secret", "-t", topic]
    subprocess.run(common + ["-P"], input=b"one\ntwo\nthree\n", check=True, timeout=60)
    out = subprocess.run(common + ["-C", "-o", "beginning", "-e", "-q"], capture_output=True, check=True, timeout=60)
    assert out.stdout.split() == [b"one", b"two", b"three"]


def login_error(conf, seconds=10):
    """The first error librdkafka reports for this configuration (None if it logged in)."""
    errors = []
    p = Producer(dict(conf, **{"error_cb": errors.append}))
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            p.list_topics(timeout=1)
            return None
        except KafkaException:
            pass
        p.poll(0.1)
        if errors:
            return errors[0]
    raise AssertionError("neither logged in nor refused within %ds" % seconds)


def test_wrong_password_and_unknown_user_are_refused_alike(broker_factory):
    b = start(broker_factory)
    add_scram_user(b.bootstrap, "dave", "dave-secret")
    for conf in (sasl_conf(b, "SCRAM-SHA-256", "dave", "wrong"), sasl_conf(b, "SCRAM-SHA-256", "nobody", "dave-secret")):
        err = login_error(conf)
        assert err is not None and err.code() == KafkaError._AUTHENTICATION, err
        assert "Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256" \
            in err.str(), err.str()
    err = login_error(sasl_conf(b, "PLAIN", "alice", "wrong"))
    assert err is not None and "Authentication failed: Invalid username or password" in err.str(), err
    assert login_error(sasl_conf(b, "SCRAM-SHA-256", "dave", "dave-secret")) is None
    # No password reaches the log, right or wrong.
    log = open(b.log_path, errors="replace").read()
    assert "dave-secret" not in log and "alice-secret" not in log


def test_credentials_survive_a_restart_and_deleted_ones_stop_working(broker_factory):
    b = start(broker_factory)
    add_scram_user(b.bootstrap, "erin", "erin-secret")
    b.restart(same_port=False)
    assert login_error(sasl_conf(b, "SCRAM-SHA-512", "erin", "erin-secret")) is None
    admin = C.admin(b.bootstrap)
    for f in admin.alter_user_scram_credentials([UserScramCredentialDeletion("erin", ScramMechanism.SCRAM_SHA_512)]).values():
        f.result(timeout=30)
    assert login_error(sasl_conf(b, "SCRAM-SHA-512", "erin", "erin-secret")) is not None
    assert login_error(sasl_conf(b, "SCRAM-SHA-256", "erin", "erin-secret")) is None


def test_credential_changes_are_checked_as_kafka_checks_them(broker_factory):
    b = start(broker_factory)
    admin = C.admin(b.bootstrap)
    too_few = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion("frank", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 1000), b"pw")])["frank"]
    with pytest.raises(Exception) as e:
        too_few.result(timeout=30)
    assert e.value.args[0].code() == KafkaError.UNACCEPTABLE_CREDENTIAL, e.value
    missing = admin.alter_user_scram_credentials([UserScramCredentialDeletion("frank", ScramMechanism.SCRAM_SHA_256)])["frank"]
    with pytest.raises(Exception) as e:
        missing.result(timeout=30)
    assert e.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND, e.value
    with pytest.raises(Exception) as e:
        admin.describe_user_scram_credentials(["frank"])["frank"].result(timeout=30)
    assert e.value.args[0].code() == KafkaError.RESOURCE_NOT_FOUND, e.value


# ---------------------------------------------------------------------------- the wire, by hand
def handshake(conn, mechanism):
    r = W.Reader(conn.roundtrip(SASL_HANDSHAKE, 1, W.string(mechanism)))
    code = r.i16()
    return code, [r.string() for _ in range(r.i32())]


def authenticate(conn, token, version=1):
    r = W.Reader(conn.roundtrip(SASL_AUTHENTICATE, version, W.nbytes(token)))
    code, message, data = r.i16(), r.string(), r.nbytes()
    lifetime = r.i64() if version >= 1 else None
    return code, message, data, lifetime


def api_versions_ok(conn):
    r = W.Reader(conn.roundtrip(API_VERSIONS, 0, b""))
    return r.i16() == 0


class Scram:
    """A SCRAM client by hand (RFC 5802), so its messages can be tampered with."""

    def __init__(self, user, password, digest=hashlib.sha256):
        self.user, self.password, self.digest = user, password, digest
        self.nonce = base64.b64encode(os.urandom(18)).decode()
        self.first_bare = "n=%s,r=%s" % (user, self.nonce)

    def first(self):
        return ("n,," + self.first_bare).encode()

    def final(self, server_first, nonce=None, proof_flip=False):
        attrs = dict(kv.split("=", 1) for kv in server_first.decode().split(","))
        salted = hashlib.pbkdf2_hmac(self.digest().name, self.password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
        client_key = hmac.new(salted, b"Client Key", self.digest).digest()
        stored = self.digest(client_key).digest()
        without_proof = "c=biws,r=%s" % (nonce or attrs["r"])
        auth = ("%s,%s,%s" % (self.first_bare, server_first.decode(), without_proof)).encode()
        proof = bytearray(a ^ b for a, b in zip(client_key, hmac.new(stored, auth, self.digest).digest()))
        if proof_flip:
            proof[0] ^= 1
        return ("%s,p=%s" % (without_proof, base64.b64encode(bytes(proof)).decode())).encode()


def sasl_conn(b):
    return W.Conn(sasl_bootstrap(b))


def test_a_scram_exchange_by_hand_and_its_tampered_variants(broker_factory):
    b = start(broker_factory)
    add_scram_user(b.bootstrap, "gina", "gina-secret", mechanisms=(ScramMechanism.SCRAM_SHA_256,))
    with sasl_conn(b) as conn:
        assert handshake(conn, "SCRAM-SHA-256") == (0, ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
        client = Scram("gina", "gina-secret")
        code, _, server_first, _ = authenticate(conn, client.first())
        assert code == 0
        code, _, server_final, lifetime = authenticate(conn, client.final(server_first))
        assert code == 0 and server_final.startswith(b"v=") and lifetime == 0
        assert api_versions_ok(conn), "an authenticated connection serves requests"
        # Logging in twice is a state error, not a new login; the connection stays.
        code, message, _, _ = authenticate(conn, client.first())
        assert code == ILLEGAL_SASL_STATE, (code, message)
        assert api_versions_ok(conn)
    for tamper in ({"nonce": "not-the-servers-nonce"}, {"proof_flip": True}):
        with sasl_conn(b) as conn:
            assert handshake(conn, "SCRAM-SHA-256")[0] == 0
            client = Scram("gina", "gina-secret")
            _, _, server_first, _ = authenticate(conn, client.first())
            started = time.monotonic()
            code, message, _, _ = authenticate(conn, client.final(server_first, **tamper))
            assert code == SASL_AUTHENTICATION_FAILED, (tamper, code, message)
            assert time.monotonic() - started >= 0.25, "the failure is answered after connection.failed.authentication.delay.ms"
            assert conn.wait_closed(10)[0] in ("eof", "reset")


def test_requests_before_logging_in_close_the_connection(broker_factory):
    b = start(broker_factory)
    metadata_v4 = W.i32(-1) + W.i8(1)
    cases = {
        "Metadata before SaslHandshake": lambda c: c.request(METADATA, 4, metadata_v4),
        "SaslAuthenticate before SaslHandshake": lambda c: c.request(SASL_AUTHENTICATE, 1, W.nbytes(b"\0alice\0alice-secret")),
        "Metadata between SaslHandshake and SaslAuthenticate": lambda c: (handshake(c, "PLAIN"), c.request(METADATA, 4, metadata_v4)),
        "a frame over sasl.server.max.receive.size": lambda c: c.send(W.i32(1 << 20) + b"\0" * 65536),
        "garbage": lambda c: c.send(b"\x00\x00\x00\x08GARBAGE!"),
    }
    for name, act in cases.items():
        with sasl_conn(b) as conn:
            try:
                act(conn)
            except (BrokenPipeError, ConnectionResetError):
                pass
            how, data = conn.wait_closed(10)
            assert how in ("eof", "reset") and not data, "%s: %s, got %r" % (name, how, data[:40])
    # ApiVersions is allowed before logging in (clients ask it first), and the broker is fine.
    with sasl_conn(b) as conn:
        assert api_versions_ok(conn)
    assert login_error(sasl_conf(b, "PLAIN", "alice", "alice-secret")) is None


def test_an_unknown_mechanism_gets_the_list_offered_then_a_close(broker_factory):
    b = start(broker_factory)
    with sasl_conn(b) as conn:
        code, mechanisms = handshake(conn, "GSSAPI")
        assert code == UNSUPPORTED_SASL_MECHANISM and mechanisms == ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]
        assert conn.wait_closed(10)[0] in ("eof", "reset")
    # On the PLAINTEXT listener there is nothing to log in to.
    with W.Conn(b.bootstrap) as conn:
        assert handshake(conn, "PLAIN")[0] == ILLEGAL_SASL_STATE
        assert api_versions_ok(conn)


def test_many_failed_logins_do_not_disturb_other_clients(broker_factory):
    b = start(broker_factory)
    topic = C.create_topic(b.bootstrap, 1, "guessing")
    stop = threading.Event()
    refused = []

    def guess(worker):
        while not stop.is_set():
            try:
                with sasl_conn(b) as conn:
                    handshake(conn, "PLAIN")
                    code, _, _, _ = authenticate(conn, b"\0alice\0guess-%d" % worker)
                    refused.append(code)
            except (OSError, W.Closed):
                pass

    workers = [threading.Thread(target=guess, args=(i,)) for i in range(8)]
    for w in workers:
        w.start()
    try:
        conf = sasl_conf(b, "PLAIN", "alice", "alice-secret")
        C.produce_confluent(conf["bootstrap.servers"], topic, [{"value": b"m%d" % i} for i in range(200)],
                            **{k: v for k, v in conf.items() if k != "bootstrap.servers"})
        time.sleep(2)
    finally:
        stop.set()
        for w in workers:
            w.join(30)
    assert len(refused) >= 20 and set(refused) == {SASL_AUTHENTICATION_FAILED}, refused[:10]
    assert b.alive()
    assert len(C.consume_confluent(b.bootstrap, topic)) == 200


def test_sessions_end_without_reauthentication(broker_factory):
    """KIP-368: with connections.max.reauth.ms the login answer carries the session's lifetime;
    librdkafka re-authenticates in time and goes on; a client that does not is closed at its next
    request after the session ended."""
    b = start(broker_factory, extra="connections.max.reauth.ms=3000\n")
    with sasl_conn(b) as conn:
        assert handshake(conn, "PLAIN")[0] == 0
        code, _, _, lifetime = authenticate(conn, b"\0alice\0alice-secret")
        assert code == 0 and lifetime == 3000
        assert api_versions_ok(conn)
        # Re-authenticating as someone else is refused.
        assert handshake(conn, "PLAIN")[0] == 0
        code, message, _, _ = authenticate(conn, b"\0admin\0admin-secret")
        assert code == SASL_AUTHENTICATION_FAILED and "Cannot change principals" in message, (code, message)
    with sasl_conn(b) as conn:
        assert handshake(conn, "PLAIN")[0] == 0
        assert authenticate(conn, b"\0alice\0alice-secret")[0] == 0
        time.sleep(3.5)
        conn.request(API_VERSIONS, 0, b"")
        how, data = conn.wait_closed(10)
        assert how in ("eof", "reset") and not data, (how, data[:40])
    # librdkafka re-authenticates by itself: a consumer that runs past several lifetimes keeps reading.
    topic = C.create_topic(b.bootstrap, 1, "reauth")
    conf = sasl_conf(b, "PLAIN", "alice", "alice-secret")
    producer = Producer(dict(conf))
    consumer = Consumer(dict(conf, **{"group.id": C.unique("reauth"), "auto.offset.reset": "earliest"}))
    consumer.subscribe([topic])
    got = 0
    try:
        deadline = time.time() + 7
        i = 0
        while time.time() < deadline:
            producer.produce(topic, b"r%d" % i)
            producer.poll(0)
            i += 1
            for m in consumer.consume(100, 0.2):
                assert not m.error(), m.error()
                got += 1
        producer.flush(10)
    finally:
        consumer.close()
    assert got >= i - 5 and i > 20, (got, i)


# ---------------------------------------------------------------------------- sluice's own tools
def test_a_broker_with_only_a_sasl_listener_from_format_add_scram_and_sluice_user(broker_factory, sluice_bin, tmp_path):
    """The first admin comes from `sluice format --add-scram` (nothing can log in otherwise);
    `sluice user` then manages users over SASL; kcat logs in as the user it added."""
    data = tmp_path / "only-sasl"
    subprocess.run([str(sluice_bin), "format", "--data-dir", str(data),
                    "--add-scram", "SCRAM-SHA-512=[name=admin,password=\"admin secret\"]"], check=True, timeout=60)
    b = broker_factory(listeners="SASL_PLAINTEXT://127.0.0.1:0", data_dir=data, config_text=CONFIG)
    env = dict(os.environ, SLUICE_BOOTSTRAP=b.bootstrap, SLUICE_SASL_MECHANISM="SCRAM-SHA-512",
               SLUICE_SASL_USERNAME="admin", SLUICE_SASL_PASSWORD="admin secret")

    def sluice(*args, check=True):
        return subprocess.run([str(sluice_bin)] + list(args), env=env, capture_output=True, text=True, timeout=60, check=check)

    sluice("user", "add", "hank", "--password", "hank-secret", "--mechanism", "SCRAM-SHA-256")
    listed = sluice("user", "list").stdout.splitlines()
    assert listed == ["User\tMechanism\tIterations", "admin\tSCRAM-SHA-512\t4096", "hank\tSCRAM-SHA-256\t4096"], listed
    topic = C.unique("only-sasl")
    common = ["kcat", "-b", b.bootstrap, "-X", "security.protocol=SASL_PLAINTEXT", "-X", "sasl.mechanisms=SCRAM-SHA-256",
              "-X", "sasl.username=hank", "-X", "sasl.password=hank-secret", "-t", topic]
    subprocess.run(common + ["-P"], input=b"x\ny\n", check=True, timeout=60)
    assert sluice("consume", "--topic", topic, "--from-beginning", "--exit-at-end").stdout.split() == ["x", "y"]
    sluice("user", "remove", "hank")
    assert sluice("user", "list").stdout.splitlines()[1:] == ["admin\tSCRAM-SHA-512\t4096"]
    # Without a login the CLI is refused with the broker's words, and says so.
    wrong = sluice("topic", "list", "--sasl-password", "not it", check=False)
    assert wrong.returncode != 0 and "SASL_AUTHENTICATION_FAILED" in wrong.stderr, wrong.stderr


# ---------------------------------------------------------------------------- a cluster
def test_a_user_added_through_one_broker_logs_in_on_every_broker(sluice_bin, tmp_path):
    """Credentials live in the metadata log: added through node 1, they hold on nodes 2 and 3,
    and after a restart. Metadata on the SASL listener names every broker's SASL endpoint."""
    from cluster import Cluster, free_port
    c = Cluster(sluice_bin, tmp_path)
    sasl_ports = {}
    for n, node in c.nodes.items():
        sasl_ports[n] = free_port(c.hosts[n])
        node.settings["listeners"] += ",SASL_PLAINTEXT://%s:%d" % (c.hosts[n], sasl_ports[n])
        node.settings["sasl.enabled.mechanisms"] = "SCRAM-SHA-512"
    try:
        c.start()
        c.wait_live([1, 2, 3], via=1)
        add_scram_user(c.bootstrap(1), "ivy", "ivy-secret", mechanisms=(ScramMechanism.SCRAM_SHA_512,))
        topic = C.unique("cluster-sasl")
        C.admin(c.bootstrap(1)).create_topics([C.NewTopic(topic, 3, 3)])[topic].result(timeout=60)

        def conf(n):
            return {"bootstrap.servers": "%s:%d" % (c.hosts[n], sasl_ports[n]), "security.protocol": "SASL_PLAINTEXT",
                    "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "ivy", "sasl.password": "ivy-secret"}

        for n in (1, 2, 3):
            md = Producer(conf(n)).list_topics(timeout=30)
            assert sorted((b.id, b.port) for b in md.brokers.values()) == sorted(sasl_ports.items()), md.brokers
        C.produce_confluent(conf(2)["bootstrap.servers"], topic, [{"value": b"c%d" % i} for i in range(30)], acks="all",
                            **{k: v for k, v in conf(2).items() if k != "bootstrap.servers"})
        got = C.consume_confluent(conf(3)["bootstrap.servers"], topic, partitions=[0, 1, 2],
                                  **{k: v for k, v in conf(3).items() if k != "bootstrap.servers"})
        assert len(got) == 30
        c.nodes[3].restart(same_port=True)
        c.wait_live([1, 2, 3], via=1)
        assert login_error(conf(3), seconds=30) is None
    finally:
        c.close()


def test_metrics_count_logins_by_outcome(broker_factory):
    from test_metrics import free_port, scrape
    port = free_port()
    b = start(broker_factory, extra="metrics.listener=127.0.0.1:%d\n" % port)
    assert login_error(sasl_conf(b, "PLAIN", "alice", "alice-secret")) is None
    for _ in range(3):
        with sasl_conn(b) as conn:
            handshake(conn, "PLAIN")
            assert authenticate(conn, b"\0alice\0nope")[0] == SASL_AUTHENTICATION_FAILED
    series = scrape(port)
    assert series.get('sluice_authentications_total{result="failure"}') == 3, series
    assert series.get('sluice_authentications_total{result="success"}', 0) >= 1, series


def test_saslhandshake_v0_then_bare_tokens(broker_factory):
    """SaslHandshake v0: the tokens that follow are bare size-prefixed frames, not requests
    (clients before Kafka 1.0). PLAIN completes with nothing sent back; SCRAM answers each token
    bare; a wrong password can only close the connection."""
    b = start(broker_factory)
    add_scram_user(b.bootstrap, "jo", "jo-secret", mechanisms=(ScramMechanism.SCRAM_SHA_256,))
    with sasl_conn(b) as conn:
        r = W.Reader(conn.roundtrip(SASL_HANDSHAKE, 0, W.string("PLAIN")))
        assert r.i16() == 0
        conn.send(W.nbytes(b"\0alice\0alice-secret"))
        assert api_versions_ok(conn), "logged in: requests are served"
    with sasl_conn(b) as conn:
        assert W.Reader(conn.roundtrip(SASL_HANDSHAKE, 0, W.string("SCRAM-SHA-256"))).i16() == 0
        client = Scram("jo", "jo-secret")
        conn.send(W.nbytes(client.first()))
        server_first = conn.recv_frame()
        conn.send(W.nbytes(client.final(server_first)))
        assert conn.recv_frame().startswith(b"v=")
        assert api_versions_ok(conn)
    with sasl_conn(b) as conn:
        assert W.Reader(conn.roundtrip(SASL_HANDSHAKE, 0, W.string("PLAIN"))).i16() == 0
        conn.send(W.nbytes(b"\0alice\0wrong"))
        how, data = conn.wait_closed(10)
        assert how in ("eof", "reset") and not data, (how, data[:40])
