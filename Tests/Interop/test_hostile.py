"""Hostile input against a running broker, over raw sockets, while a well-behaved confluent-kafka
producer and consumer (the bystander, on its own connections) keep producing and consuming.

What Kafka does, and so what we expect:
  - a size prefix above socket.request.max.bytes (100 MiB by default), or negative: the
    connection is closed without a response (Kafka: InvalidReceiveException), and nothing that
    size is allocated;
  - an unknown API key, an unsupported version of any API but ApiVersions, a frame too short
    for its header, a body that does not parse: the connection is closed without a response;
  - ApiVersions at an unsupported version: a v0-encoded answer with UNSUPPORTED_VERSION (35)
    that lists at least ApiVersions' own range, and the connection stays usable (KIP-511);
  - a client that half-closes (EOF) mid-frame: the broker closes its side;
  - a Produce whose batch fails its CRC: error CORRUPT_MESSAGE (2) for that partition, nothing
    appended, connection kept;
  - none of it disturbs other connections: the bystander sees no error, every record it
    produced is acknowledged and consumed in order, and the broker's memory and descriptor
    counts come back.
"""
import random
import socket
import struct
import threading
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

import clients as C
import kwire

CORRUPT_MESSAGE = 2
UNKNOWN_TOPIC_OR_PARTITION = 3
UNSUPPORTED_VERSION = 35
INVALID_REQUIRED_ACKS = 21
UNSUPPORTED_COMPRESSION_TYPE = 76
INVALID_RECORD = 87
MIB = 1 << 20


# ---------------------------------------------------------------------------- the bystander
class Bystander:
    """confluent producer (acks=all) + consumer (assign, offset 0) on one partition, in a thread."""

    def __init__(self, bootstrap, topic):
        self.bootstrap = bootstrap
        self.topic = topic
        self.errors = []
        self.acked = []
        self.consumed = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self._run, name="bystander", daemon=True)
        self.crashed = None

    def _err(self, where, e):
        with self.lock:
            self.errors.append((time.strftime("%H:%M:%S"), where, str(e)))

    def _run(self):
        try:
            self._loop()
        except Exception as e:  # noqa: BLE001 - surfaced by check()
            self.crashed = repr(e)

    def _loop(self):
        p = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": False, "acks": "all",
                      "linger.ms": 0, "message.timeout.ms": 30000,
                      "error_cb": lambda e: self._err("producer error_cb", e)})
        c = Consumer({"bootstrap.servers": self.bootstrap, "group.id": C.unique("bystander"),
                      "enable.auto.commit": False, "enable.partition.eof": False, "fetch.wait.max.ms": 100,
                      "error_cb": lambda e: self._err("consumer error_cb", e)})
        c.assign([TopicPartition(self.topic, 0, 0)])

        def delivered(err, msg):
            if err is not None:
                self._err("delivery", err)
            else:
                with self.lock:
                    self.acked.append((int(msg.value()), msg.offset()))

        i = 0
        try:
            while not self.stop_ev.is_set():
                p.produce(self.topic, value=b"%d" % i, partition=0, on_delivery=delivered)
                i += 1
                p.poll(0)
                for m in c.consume(200, 0.02):
                    if m.error():
                        self._err("consume", m.error())
                    else:
                        with self.lock:
                            self.consumed.append((int(m.value()), m.offset()))
                time.sleep(0.01)
            left = p.flush(30)
            if left:
                self._err("flush", "%d records unacknowledged 30 s after the end" % left)
            deadline = time.time() + 15
            while time.time() < deadline and len(self.consumed) < len(self.acked):
                for m in c.consume(500, 0.1):
                    if m.error():
                        self._err("consume", m.error())
                    else:
                        with self.lock:
                            self.consumed.append((int(m.value()), m.offset()))
        finally:
            c.close()

    def start(self):
        self.thread.start()
        self.wait_progress(self.checkpoint(), "bystander start-up", need=5, timeout=30)

    def checkpoint(self):
        with self.lock:
            return len(self.acked), len(self.consumed), len(self.errors)

    def wait_progress(self, cp, what, need=10, timeout=20):
        """Assert the bystander kept producing and consuming (at least `need` more of each since
        `cp`) and reported no error."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            a, c, e = self.checkpoint()
            if e > cp[2] or self.crashed:
                break
            if a >= cp[0] + need and c >= cp[1] + need:
                break
            time.sleep(0.05)
        a, c, e = self.checkpoint()
        assert not self.crashed, "bystander thread crashed during %s: %s" % (what, self.crashed)
        assert e == cp[2], "the well-behaved client on another connection saw errors during %s: %r" % (
            what, self.errors[cp[2]:][:5])
        assert a >= cp[0] + need, "during %s the bystander's acks=all produce stalled (%d acknowledged in %ds)" % (
            what, a - cp[0], timeout)
        assert c >= cp[1] + need, "during %s the bystander's consumer stalled (%d consumed in %ds)" % (
            what, c - cp[1], timeout)
        self.check_consistency(what)

    def check_consistency(self, what):
        """Records are acknowledged in order at offsets 0..n-1 (value i at offset i), and the
        consumer reads exactly that sequence. The consumer may briefly be ahead of the
        acknowledgements (a fetch can return a record before its Produce response arrives)."""
        with self.lock:
            acked = list(self.acked)
            consumed = list(self.consumed)
        assert acked == [(i, i) for i in range(len(acked))], \
            "%s: bystander acknowledgements (value, offset) are not (i, i) in order: %r" % (
                what, [x for i, x in enumerate(acked) if x != (i, i)][:5])
        assert consumed == [(i, i) for i in range(len(consumed))], \
            "%s: bystander consumed (value, offset) not (i, i) in order: %r" % (
                what, [x for i, x in enumerate(consumed) if x != (i, i)][:5])

    def stop(self):
        self.stop_ev.set()
        self.thread.join(60)
        assert not self.thread.is_alive(), "bystander did not stop"


@pytest.fixture(scope="module")
def bystander(_session_broker):
    bootstrap = _session_broker.bootstrap
    topic = C.create_topic(bootstrap, 1, "bystander")
    b = Bystander(bootstrap, topic)
    b.start()
    yield b
    if not b.stop_ev.is_set():
        b.stop()


@pytest.fixture
def guarded(broker, bystander):
    """Per test: checkpoint the bystander, run the test, then require that the bystander made
    progress without errors, and that the broker still answers on a fresh connection."""
    cp = bystander.checkpoint()
    yield broker
    if broker.alive():
        versions = kwire.api_versions(broker.bootstrap)
        assert kwire.API_API_VERSIONS in versions, "broker no longer answers ApiVersions"
        bystander.wait_progress(cp, "this test")


# ---------------------------------------------------------------------------- helpers
def send_quietly(conn, data):
    """Send; the broker may already have closed (that is a valid answer to hostile input)."""
    try:
        conn.send(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False


def expect_closed(conn, what, timeout=10.0):
    how, data = conn.wait_closed(timeout)
    assert not data, "%s: expected the connection closed with no answer; the broker sent %s" % (
        what, kwire.describe_unexpected(data))
    assert how != "open", "%s: the broker kept the connection open %.0fs later (expected it closed)" % (what, timeout)


def hostile(bootstrap, payload, what, half_close=False, timeout=10.0):
    with kwire.Conn(bootstrap) as c:
        send_quietly(c, payload)
        if half_close:
            try:
                c.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        expect_closed(c, what, timeout)


def header(api_key, version, corr=4242, client="hostile"):
    return struct.pack(">hhi", api_key, version, corr) + kwire.string(client)


# ---------------------------------------------------------------------------- truncated frames
@pytest.mark.parametrize("mode", ["close", "reset"])
@pytest.mark.parametrize("cut", ["inside-size-prefix", "inside-header", "inside-body"])
def test_truncated_frame_then_drop(guarded, bootstrap, cut, mode):
    """The client vanishes mid-frame (FIN or RST): nothing to answer; the broker must shrug."""
    body = kwire.array([kwire.string("t%d" % i) for i in range(20)])
    full = kwire.frame(header(kwire.API_METADATA, 1) + body)
    part = {"inside-size-prefix": full[:2], "inside-header": full[:9], "inside-body": full[:len(full) - 7]}[cut]
    c = kwire.Conn(bootstrap)
    c.send(part)
    time.sleep(0.05)
    c.reset() if mode == "reset" else c.close()


@pytest.mark.parametrize("cut", [2, 9, 30])
def test_truncated_frame_then_half_close(guarded, bootstrap, cut):
    """Partial frame, then EOF from the client (shutdown SHUT_WR): Kafka closes its side."""
    body = kwire.array([kwire.string("t%d" % i) for i in range(20)])
    full = kwire.frame(header(kwire.API_METADATA, 1) + body)
    hostile(bootstrap, full[:cut], "%d of %d bytes of a Metadata frame, then EOF" % (cut, len(full)), half_close=True)


# ---------------------------------------------------------------------------- size prefixes
@pytest.mark.parametrize("size,label", [
    (2 ** 31 - 1, "2 GiB"),
    (100 * MIB + 1, "100 MiB + 1 (just above socket.request.max.bytes)"),
    (-1, "-1"),
    (-(2 ** 31), "-2^31"),
])
def test_bad_size_prefix_closes(guarded, bootstrap, broker, size, label):
    rss0 = broker.rss_bytes()
    hostile(bootstrap, struct.pack(">i", size) + b"\x00" * 1024, "size prefix %s" % label)
    rss1 = broker.rss_bytes()
    if rss0 and rss1:
        assert rss1 - rss0 < 64 * MIB, "broker RSS grew by %d MiB after a %s size prefix" % (
            (rss1 - rss0) // MIB, label)


def test_many_2gib_prefixes_allocate_nothing(guarded, bootstrap, broker):
    """50 connections at once announce 2 GiB frames: all closed, and the broker does not try to
    buffer them (RSS stays well below even one of them)."""
    rss0 = broker.rss_bytes()
    conns = [kwire.Conn(bootstrap) for _ in range(50)]
    try:
        for c in conns:
            send_quietly(c, struct.pack(">i", 2 ** 31 - 1) + b"\xab" * 4096)
        for i, c in enumerate(conns):
            expect_closed(c, "connection %d of 50 with a 2 GiB size prefix" % i)
    finally:
        for c in conns:
            c.close()
    rss1 = broker.rss_bytes()
    if rss0 and rss1:
        assert rss1 - rss0 < 128 * MIB, "broker RSS grew by %d MiB after 50 x 2 GiB prefixes" % ((rss1 - rss0) // MIB)


@pytest.mark.parametrize("size", [0, 1, 3, 7])
def test_frame_too_short_for_a_header_closes(guarded, bootstrap, size):
    hostile(bootstrap, struct.pack(">i", size) + b"\x00" * size, "a %d-byte frame" % size)


# ---------------------------------------------------------------------------- unknown keys / versions
@pytest.mark.parametrize("api_key", [999, 32767, -1])
def test_unknown_api_key_closes(guarded, bootstrap, api_key):
    hostile(bootstrap, kwire.frame(header(api_key, 0) + b"\x00" * 16), "API key %d" % api_key)


@pytest.mark.parametrize("api_key,version,name", [
    (kwire.API_PRODUCE, 99, "Produce v99"),
    (kwire.API_FETCH, 99, "Fetch v99"),
    (kwire.API_METADATA, 99, "Metadata v99"),
    (kwire.API_PRODUCE, -1, "Produce v-1"),
])
def test_unsupported_version_closes(guarded, bootstrap, api_key, version, name):
    hostile(bootstrap, kwire.frame(header(api_key, version) + b"\x00" * 32), name)


def test_unknown_version_on_a_used_connection_closes_only_it(guarded, bootstrap):
    """A connection that has been working is closed at its first unsupported request; the
    answers it was owed before that arrive first."""
    with kwire.Conn(bootstrap) as c:
        body = c.roundtrip(kwire.API_API_VERSIONS, 0, b"")
        assert struct.unpack(">h", body[:2])[0] == 0
        send_quietly(c, kwire.frame(header(kwire.API_PRODUCE, 99) + b"\x00" * 32))
        expect_closed(c, "Produce v99 after a good ApiVersions on the same connection")


@pytest.mark.parametrize("body_kind", ["v3-body", "empty", "junk"])
def test_api_versions_unsupported_version_answers_v0_error_35(guarded, bootstrap, body_kind):
    body = {"v3-body": kwire.api_versions_request_v3_body(), "empty": b"",
            "junk": b"\xde\xad\xbe\xef" * 8}[body_kind]
    with kwire.Conn(bootstrap) as c:
        corr = c.request(kwire.API_API_VERSIONS, 99, body, flexible_header=True)
        try:
            raw = c.response(corr)  # response header v0 for ApiVersions, always
        except kwire.Closed as e:
            pytest.fail("ApiVersions v99 (%s): the broker closed the connection (%s); Kafka answers "
                        "UNSUPPORTED_VERSION in a v0 body" % (body_kind, e))
        try:
            err, keys, left = kwire.parse_api_versions_v0(raw)
        except ValueError as e:
            pytest.fail("ApiVersions v99 answer is not a v0 ApiVersions body: %s" % e)
        assert err == UNSUPPORTED_VERSION, "ApiVersions v99: error %d, expected 35" % err
        assert kwire.API_API_VERSIONS in keys, "the v99 answer must list ApiVersions' range; got %r" % keys
        lo, hi = keys[kwire.API_API_VERSIONS]
        assert lo == 0 and hi >= 3, "ApiVersions range %d-%d in the fallback answer" % (lo, hi)
        assert left == 0, "%d bytes after the v0 body (v0 has no throttle time)" % left
        # KIP-511: the client retries on the same connection at a version from the list
        body = c.roundtrip(kwire.API_API_VERSIONS, 0, b"")
        err, keys, _ = kwire.parse_api_versions_v0(body)
        assert err == 0 and kwire.API_PRODUCE in keys, "ApiVersions v0 retry on the same connection: %d %r" % (err, keys)


# ---------------------------------------------------------------------------- malformed bodies
def _malformed_bodies(topic):
    good_batch = kwire.build_batch([(b"k", b"v", None)])
    produce = kwire.produce_body(3, topic, 0, good_batch)
    cut = produce[:-len(good_batch)]  # records length says N bytes, none follow
    return {
        "Metadata v1, array count 2^31-1": header(kwire.API_METADATA, 1) + struct.pack(">i", 2 ** 31 - 1) + b"\x00" * 8,
        "Metadata v1, 3 topics announced, 1 sent": header(kwire.API_METADATA, 1) + kwire.i32(3) + kwire.string("a"),
        "Metadata v1, string length 30000, 10 bytes": header(kwire.API_METADATA, 1) + kwire.i32(1) + kwire.i16(30000) + b"x" * 10,
        "Produce v3, records length past the frame": header(kwire.API_PRODUCE, 3) + cut,
        "ApiVersions v3, compact string length past the frame": header(kwire.API_API_VERSIONS, 3) + b"\x00" + b"\x7f" + b"ab",
        "header client id length past the frame": struct.pack(">hhi", kwire.API_METADATA, 1, 1) + kwire.i16(500) + b"abc",
    }


@pytest.mark.parametrize("case", list(_malformed_bodies("x")))
def test_malformed_request_closes(guarded, bootstrap, case):
    payload = _malformed_bodies(C.unique("malformed"))[case]
    hostile(bootstrap, kwire.frame(payload), case)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_one_megabyte_of_garbage(guarded, bootstrap, seed):
    data = random.Random(seed).randbytes(MIB)
    hostile(bootstrap, data, "1 MiB of random bytes (seed %d, size prefix %d)" % (
        seed, struct.unpack(">i", data[:4])[0]), half_close=True)


def test_garbage_frame_with_a_plausible_size(guarded, bootstrap):
    """A size prefix that matches the garbage that follows (1 MiB): the header is nonsense."""
    rnd = random.Random(9)
    body = struct.pack(">hh", 0x7ABC, 0x7123) + rnd.randbytes(MIB - 4)
    hostile(bootstrap, kwire.frame(body), "a 1 MiB frame of garbage")


# ---------------------------------------------------------------------------- record-level errors
def test_produce_bad_crc_is_corrupt_message(guarded, bootstrap):
    topic = C.create_topic(bootstrap, 1, "crc")
    versions = kwire.api_versions(bootstrap)
    v = kwire.pick_version(versions, kwire.API_PRODUCE, 3, 8, "Produce")
    good = kwire.build_batch([(b"k%d" % i, b"value-%d" % i, [("h", b"x")]) for i in range(5)])
    bad = bytearray(good)
    bad[-3] ^= 0x55  # inside the last record: covered by the CRC
    with kwire.Conn(bootstrap) as c:
        r = kwire.produce(c, v, topic, 0, good)
        assert (r["error"], r["base_offset"]) == (0, 0), "a well-formed raw batch was refused: %r" % r
        r = kwire.produce(c, v, topic, 0, bytes(bad))
        assert r["error"] == CORRUPT_MESSAGE, "batch with a bad CRC: error %d, expected CORRUPT_MESSAGE (2)" % r["error"]
        r = kwire.produce(c, v, topic, 0, good)
        assert (r["error"], r["base_offset"]) == (0, 5), "after the CRC error the connection should still work: %r" % r
    got = C.consume_kp(bootstrap, topic)
    assert len(got) == 10, "partition holds %d records, expected the 2 good batches (10)" % len(got)


def test_produce_undecompressible_batch_is_rejected(guarded, bootstrap):
    """A gzip batch whose CRC is right but whose payload is not gzip: Kafka decompresses
    producer batches to validate them and refuses it. Which code depends on where Kafka's
    decompression fails (InvalidRecordException -> INVALID_RECORD, CorruptRecordException ->
    CORRUPT_MESSAGE, a bare KafkaException -> UNKNOWN_SERVER_ERROR); what matters is that it
    is refused and nothing is stored."""
    topic = C.create_topic(bootstrap, 1, "badgzip")
    versions = kwire.api_versions(bootstrap)
    v = kwire.pick_version(versions, kwire.API_PRODUCE, 3, 8, "Produce")
    batch = bytearray(kwire.build_batch([(None, b"x" * 200, None)] * 3, codec="gzip"))
    # records section starts after the 61-byte header; scribble over it and re-seal the CRC
    for i in range(61, len(batch)):
        batch[i] = (batch[i] * 7 + 13) & 0xFF
    from kafka.record.util import calc_crc32c
    struct.pack_into(">I", batch, 17, calc_crc32c(bytes(batch[21:])))
    with kwire.Conn(bootstrap) as c:
        r = kwire.produce(c, v, topic, 0, bytes(batch))
    assert r["error"] in (CORRUPT_MESSAGE, INVALID_RECORD, -1), \
        "gzip batch with garbage inside: error %d, expected CORRUPT_MESSAGE (2), INVALID_RECORD (87) " \
        "or UNKNOWN_SERVER_ERROR (-1)" % r["error"]
    assert C.watermarks(bootstrap, topic, 0) == (0, 0), "the undecompressible batch was stored"


def test_produce_unknown_partition(guarded, bootstrap):
    topic = C.create_topic(bootstrap, 1, "nopart")
    versions = kwire.api_versions(bootstrap)
    v = kwire.pick_version(versions, kwire.API_PRODUCE, 3, 8, "Produce")
    with kwire.Conn(bootstrap) as c:
        r = kwire.produce(c, v, topic, 7, kwire.build_batch([(b"k", b"v", None)]))
    assert r["error"] == UNKNOWN_TOPIC_OR_PARTITION, "Produce to partition 7 of 1: error %d" % r["error"]


def _raw_produce(bootstrap, topic, partition, records, acks=-1):
    versions = kwire.api_versions(bootstrap)
    v = kwire.pick_version(versions, kwire.API_PRODUCE, 3, 8, "Produce")
    with kwire.Conn(bootstrap) as c:
        body = c.roundtrip(kwire.API_PRODUCE, v, kwire.produce_body(v, topic, partition, records, acks))
        r = kwire.parse_produce_response(v, body)[(topic, partition)]
        # the connection stays usable after a per-partition error
        assert struct.unpack(">h", c.roundtrip(kwire.API_API_VERSIONS, 0, b"")[:2])[0] == 0
    return r


def test_produce_to_missing_topic_does_not_create_it(guarded, bootstrap):
    """Produce never auto-creates (only Metadata does): UNKNOWN_TOPIC_OR_PARTITION."""
    topic = C.unique("noproduce")
    r = _raw_produce(bootstrap, topic, 0, kwire.build_batch([(b"k", b"v", None)]))
    assert r["error"] == UNKNOWN_TOPIC_OR_PARTITION, "Produce to a missing topic: error %d, expected 3" % r["error"]
    _, _, topics = kwire.metadata_v4(bootstrap, [topic], allow_auto_create=False)
    assert topics[topic][0] == UNKNOWN_TOPIC_OR_PARTITION, "Produce created topic %s" % topic


def test_produce_invalid_acks(guarded, bootstrap):
    topic = C.create_topic(bootstrap, 1, "acks2")
    r = _raw_produce(bootstrap, topic, 0, kwire.build_batch([(b"k", b"v", None)]), acks=2)
    assert r["error"] == INVALID_REQUIRED_ACKS, "Produce with acks=2: error %d, expected INVALID_REQUIRED_ACKS (21)" % r["error"]
    assert C.watermarks(bootstrap, topic, 0) == (0, 0), "a Produce with acks=2 was appended"


@pytest.mark.parametrize("kind", ["magic-1 message set", "two batches in one partition", "no batch at all"])
def test_produce_v3_plus_invalid_record_sets(guarded, bootstrap, kind):
    """Produce v3+ carries exactly one magic-2 batch per partition; anything else is
    INVALID_RECORD (87) for that partition (Kafka: ProduceRequest.validateRecords)."""
    topic = C.create_topic(bootstrap, 1, "badset")
    if kind.startswith("magic"):
        records = kwire.build_legacy_message_set([(b"k", b"v1"), (b"k", b"v2")])
    elif kind.startswith("two"):
        records = kwire.build_batch([(b"k", b"a", None)]) + kwire.build_batch([(b"k", b"b", None)])
    else:
        records = b""
    r = _raw_produce(bootstrap, topic, 0, records)
    assert r["error"] == INVALID_RECORD, "%s: error %d, expected INVALID_RECORD (87)" % (kind, r["error"])
    assert C.watermarks(bootstrap, topic, 0) == (0, 0), "%s was appended" % kind


def test_zstd_needs_produce_v7(guarded, bootstrap):
    """A zstd batch in a Produce below v7 is UNSUPPORTED_COMPRESSION_TYPE (76); from v7 it is fine."""
    topic = C.create_topic(bootstrap, 1, "zstdv")
    versions = kwire.api_versions(bootstrap)
    lo, hi = versions[kwire.API_PRODUCE]
    if lo > 6 or hi < 7:
        pytest.skip("broker advertises Produce v%d-%d" % (lo, hi))
    batch = kwire.build_batch([(b"k", b"zstd " * 50, None)], codec="zstd")
    with kwire.Conn(bootstrap) as c:
        r = kwire.produce(c, max(lo, 3), topic, 0, batch)
        assert r["error"] == UNSUPPORTED_COMPRESSION_TYPE, \
            "zstd batch in Produce v%d: error %d, expected UNSUPPORTED_COMPRESSION_TYPE (76)" % (max(lo, 3), r["error"])
        r = kwire.produce(c, 7, topic, 0, batch)
        assert r["error"] == 0, "zstd batch in Produce v7: error %d" % r["error"]


# ---------------------------------------------------------------------------- dropped connections
def test_byte_at_a_time_request_is_answered(guarded, bootstrap):
    """A well-formed request trickled one byte per write is reassembled and answered."""
    with kwire.Conn(bootstrap) as c:
        corr = 31337
        data = kwire.frame(header(kwire.API_API_VERSIONS, 0, corr))
        for i in range(len(data)):
            c.send(data[i:i + 1])
            time.sleep(0.01)
        body = c.response(corr)
        assert struct.unpack(">h", body[:2])[0] == 0, "byte-at-a-time ApiVersions answered with an error"


@pytest.fixture(scope="module")
def big_topic(_session_broker):
    """A topic with ~6 MB in partition 0, for fetches that are dropped or not read."""
    bootstrap = _session_broker.bootstrap
    topic = C.create_topic(bootstrap, 1, "bigfetch")
    rnd = random.Random(5)
    C.produce_confluent(bootstrap, topic, [{"value": rnd.randbytes(200_000), "partition": 0} for _ in range(30)],
                        **{"compression.type": "none"})
    return topic


def test_many_connections_dropped_mid_frame_and_mid_response(guarded, bootstrap, broker, big_topic):
    """300 connections cut at random points of a Produce frame (FIN or RST), 30 that send a whole
    acks=all Produce and reset at once, 40 that send a big Fetch and vanish before reading, 20
    that read part of the response and reset: the broker stays up, serves the bystander, keeps
    batches whole, and releases the descriptors."""
    fd0 = broker.open_fds()
    versions = kwire.api_versions(bootstrap)
    fv = kwire.pick_version(versions, kwire.API_FETCH, 4, 11, "Fetch")
    pv = kwire.pick_version(versions, kwire.API_PRODUCE, 3, 8, "Produce")
    topic = C.create_topic(bootstrap, 1, "dropped")
    batch = kwire.build_batch([(b"k", b"z" * 1000, None)] * 10)
    produce = kwire.frame(header(kwire.API_PRODUCE, pv) + kwire.produce_body(pv, topic, 0, batch))
    rnd = random.Random(300)
    for wave in range(6):
        conns = []
        for _ in range(50):
            c = kwire.Conn(bootstrap)
            send_quietly(c, produce[:rnd.randrange(1, len(produce))])
            conns.append(c)
        for i, c in enumerate(conns):
            c.reset() if i % 2 else c.close()
    fetch = kwire.frame(header(kwire.API_FETCH, fv) + kwire.fetch_body(fv, big_topic, 0, 0))
    for _ in range(40):
        c = kwire.Conn(bootstrap)
        send_quietly(c, fetch)
        c.reset()
    for _ in range(20):
        c = kwire.Conn(bootstrap)
        send_quietly(c, fetch)
        try:
            c.recv_exact(100_000)
        except kwire.Closed:
            pass
        c.reset()
    assert C.watermarks(bootstrap, topic, 0) == (0, 0), "a cut-off Produce frame was appended"
    # whole acks=all Produce requests whose sender resets before the answer: each batch is
    # either appended whole or not at all, and the broker survives writing to a dead socket
    whole = C.create_topic(bootstrap, 1, "dropped-whole")
    for n in range(30):
        b = kwire.build_batch([(b"k", b"batch%02d-rec%d" % (n, i), None) for i in range(10)])
        c = kwire.Conn(bootstrap)
        send_quietly(c, kwire.frame(header(kwire.API_PRODUCE, pv) + kwire.produce_body(pv, whole, 0, b)))
        c.reset()
    time.sleep(0.5)
    got = C.consume_confluent(bootstrap, whole)
    groups = {}
    for g in got:
        groups.setdefault(g["value"][:7], []).append(g["value"])
    torn = {k: len(v) for k, v in groups.items() if len(v) != 10}
    assert not torn, "batches from reset Produce connections stored partially: %r" % torn
    assert [g["offset"] for g in got] == list(range(len(got))), "offsets not dense after reset Produce connections"
    if fd0 is not None:
        deadline = time.time() + 15
        while time.time() < deadline and broker.open_fds() > fd0 + 20:
            time.sleep(0.2)
        assert broker.open_fds() <= fd0 + 20, "broker holds %d descriptors, %d before 360 dropped connections" % (
            broker.open_fds(), fd0)


def test_slow_reader_does_not_block_others(guarded, bootstrap, big_topic, bystander):
    """A client requests ~6 MB and does not read for 4 s: other connections carry on."""
    versions = kwire.api_versions(bootstrap)
    fv = kwire.pick_version(versions, kwire.API_FETCH, 4, 11, "Fetch")
    with kwire.Conn(bootstrap, timeout=30, rcvbuf=65536) as c:
        corr = c.request(kwire.API_FETCH, fv, kwire.fetch_body(fv, big_topic, 0, 0))
        cp = bystander.checkpoint()
        time.sleep(4)
        bystander.wait_progress(cp, "a 4 s stall of another connection's 6 MB fetch", need=20, timeout=10)
        d = kwire.parse_fetch_response(fv, c.response(corr))[(big_topic, 0)]
        assert d["error"] == 0 and len(d["records"]) > 1_000_000, \
            "the stalled fetch, finally read, returned error %d with %d bytes" % (d["error"], len(d["records"]))


def test_zz_bystander_saw_nothing(bystander):
    """Last in the module: stop the bystander and check its whole history."""
    bystander.stop()
    assert not bystander.crashed, "bystander crashed: %s" % bystander.crashed
    assert not bystander.errors, "bystander errors during the hostile tests: %r" % bystander.errors[:10]
    bystander.check_consistency("the whole hostile module")
    assert len(bystander.acked) >= 20, "bystander acknowledged only %d records" % len(bystander.acked)
    assert len(bystander.consumed) == len(bystander.acked), "bystander consumed %d of %d acknowledged records" % (
        len(bystander.consumed), len(bystander.acked))
