"""Produce/consume/admin helpers over the three third-party clients the suite drives:
confluent-kafka (librdkafka 2.16, bundled in the wheel), kafka-python (pure Python) and kcat
(Debian's, librdkafka 2.0.2). Every helper takes the bootstrap address explicitly, because a
restarted broker may come back on another port.

Records are normalised to dicts:
  {"partition", "offset", "key", "value", "headers": [(str, bytes|None)], "ts_type", "ts"}
with ts_type one of "create" | "append" | "none".
"""
import os
import re
import shutil
import subprocess
import time
import uuid

import pytest
from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer, TopicPartition,
                             OFFSET_BEGINNING)
from confluent_kafka.admin import AdminClient, NewTopic

# confluent producers never use idempotence here: idempotent producers arrive with issue #5.
CONFLUENT_PRODUCER_BASE = {"enable.idempotence": False, "linger.ms": 5}


def unique(prefix):
    return "sl-%s-%s" % (prefix, uuid.uuid4().hex[:10])


def now_ms():
    return int(time.time() * 1000)


def rec(partition, offset, key, value, headers, ts_type, ts):
    return {"partition": partition, "offset": offset, "key": key, "value": value,
            "headers": [(k, v) for k, v in (headers or [])], "ts_type": ts_type, "ts": ts}


def by_offset(records):
    return sorted(records, key=lambda r: (r["partition"], r["offset"]))


def short(v, n=40):
    """repr of a bytes value, shortened for assertion messages."""
    if v is None:
        return "None"
    if len(v) <= n:
        return repr(v)
    return "%r...(%d bytes)" % (v[:n], len(v))


# ---------------------------------------------------------------------------- admin
_ADMINS = {}


def admin(bootstrap):
    """One long-lived AdminClient per bootstrap address (futures fail with _DESTROY if the
    client that issued them is garbage-collected first). Its Metadata requests never ask for
    auto-creation: list_topics(topic=T) makes T known to the handle, which refreshes it on every
    reconnect, and with auto-creation allowed that would re-create deleted topics."""
    a = _ADMINS.get(bootstrap)
    if a is None:
        a = AdminClient({"bootstrap.servers": bootstrap, "allow.auto.create.topics": False})
        _ADMINS[bootstrap] = a
    return a


def forget(bootstrap):
    """Drop the cached AdminClient of a broker that is gone (it would keep reconnecting)."""
    _ADMINS.pop(bootstrap, None)


def metadata_topic(bootstrap, topic, timeout=10.0):
    md = admin(bootstrap).list_topics(topic=topic, timeout=timeout)
    return md.topics.get(topic)


def partition_count(bootstrap, topic, timeout=10.0):
    t = metadata_topic(bootstrap, topic, timeout)
    if t is None or t.error is not None:
        return 0
    return len(t.partitions)


def wait_topic(bootstrap, topic, partitions, timeout=15.0):
    """Wait until Metadata shows `topic` with exactly `partitions` partitions, all led."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        t = metadata_topic(bootstrap, topic, timeout=5)
        last = t
        if t is not None and t.error is None and len(t.partitions) == partitions \
                and all(p.leader >= 0 for p in t.partitions.values()):
            return
        time.sleep(0.1)
    raise AssertionError("topic %s did not appear in Metadata with %d led partitions within %.0fs "
                         "(last: %r, partitions %r)" % (topic, partitions, timeout, last,
                                                        None if last is None else sorted(last.partitions)))


def wait_topic_gone(bootstrap, topic, timeout=15.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        md = admin(bootstrap).list_topics(timeout=5)
        if topic not in md.topics:
            return
        time.sleep(0.1)
    raise AssertionError("topic %s still listed in Metadata %.0fs after DeleteTopics" % (topic, timeout))


def create_topic(bootstrap, partitions=1, prefix="t", config=None, name=None):
    """CreateTopics (strict: no fallback to auto-creation) and wait until Metadata shows it."""
    name = name or unique(prefix)
    fut = admin(bootstrap).create_topics([NewTopic(name, partitions, 1, config=dict(config or {}))],
                                         operation_timeout=10, request_timeout=15)[name]
    try:
        fut.result(timeout=20)
    except KafkaException as e:
        raise AssertionError("CreateTopics(%s, %d partitions, config %r) failed: %s"
                             % (name, partitions, config, e))
    wait_topic(bootstrap, name, partitions)
    return name


def watermarks(bootstrap, topic, partition):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("wm"), "enable.auto.commit": False})
    try:
        return c.get_watermark_offsets(TopicPartition(topic, partition), timeout=10, cached=False)
    finally:
        c.close()


# ---------------------------------------------------------------------------- confluent-kafka
def confluent_producer(bootstrap, **conf):
    base = {"bootstrap.servers": bootstrap}
    base.update(CONFLUENT_PRODUCER_BASE)
    base.update(conf)
    return Producer(base)


def produce_confluent(bootstrap, topic, messages, timeout=30.0, **conf):
    """messages: dicts with key/value/headers/timestamp/partition (value may be None).
    Returns [(partition, offset)] in produce order; asserts every delivery succeeded."""
    p = confluent_producer(bootstrap, **conf)
    reports = {}

    def cb(err, msg, i):
        reports[i] = (err, msg.partition(), msg.offset())

    n = 0
    for i, m in enumerate(messages):
        kw = {"value": m.get("value")}
        for k in ("key", "headers", "timestamp", "partition"):
            if m.get(k) is not None:
                kw[k] = m[k]
        while True:
            try:
                p.produce(topic, on_delivery=lambda e, msg, i=i: cb(e, msg, i), **kw)
                break
            except BufferError:
                p.poll(0.05)
        p.poll(0)
        n += 1
    left = p.flush(timeout)
    assert left == 0, "confluent producer: %d of %d messages undelivered after %.0fs" % (left, n, timeout)
    errs = [(i, r[0]) for i, r in sorted(reports.items()) if r[0] is not None]
    assert not errs, "confluent producer delivery errors (first 3 of %d): %r" % (len(errs), errs[:3])
    assert len(reports) == n, "confluent producer: %d delivery reports for %d messages" % (len(reports), n)
    return [(reports[i][1], reports[i][2]) for i in range(n)]


def _partitions_of(bootstrap, topic, partitions):
    if partitions is not None:
        return list(partitions)
    n = partition_count(bootstrap, topic)
    assert n > 0, "topic %s not in Metadata" % topic
    return list(range(n))


def consume_confluent(bootstrap, topic, partitions=None, start=OFFSET_BEGINNING, timeout=30.0, **conf):
    """Read every record from `start` up to each partition's high watermark (taken when the
    read begins) with assign() (no group membership)."""
    partitions = _partitions_of(bootstrap, topic, partitions)
    base = {"bootstrap.servers": bootstrap, "group.id": unique("g"), "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "enable.partition.eof": False}
    base.update(conf)
    c = Consumer(base)
    out = []
    try:
        ends = {}
        for p in partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(topic, p), timeout=10, cached=False)
            ends[p] = hi
        c.assign([TopicPartition(topic, p, start) for p in partitions])
        pending = {p for p in partitions if ends[p] > 0}
        if isinstance(start, int) and start >= 0:
            pending = {p for p in pending if start < ends[p]}
        deadline = time.time() + timeout
        while pending and time.time() < deadline:
            for m in c.consume(1000, 0.2):
                if m.error():
                    raise AssertionError("confluent consumer error on %s: %s" % (topic, m.error()))
                tt, ts = m.timestamp()
                out.append(rec(m.partition(), m.offset(), m.key(), m.value(), m.headers(),
                               {1: "create", 2: "append"}.get(tt, "none"), ts))
                if m.offset() + 1 >= ends.get(m.partition(), 0):
                    pending.discard(m.partition())
        assert not pending, ("confluent consumer: partitions %r of %s not read up to their high watermarks %r "
                             "within %.0fs (got %d records)" % (sorted(pending), topic, ends, timeout, len(out)))
    finally:
        c.close()
    return by_offset(out)


# ---------------------------------------------------------------------------- kafka-python
def produce_kp(bootstrap, topic, messages, timeout=30.0, **cfg):
    from kafka import KafkaProducer
    p = KafkaProducer(bootstrap_servers=[bootstrap], **cfg)
    try:
        futs = [p.send(topic, key=m.get("key"), value=m.get("value"), headers=m.get("headers"),
                       timestamp_ms=m.get("timestamp"), partition=m.get("partition")) for m in messages]
        p.flush(timeout=timeout)
        out = []
        for i, f in enumerate(futs):
            try:
                md = f.get(timeout=1)
            except Exception as e:  # noqa: BLE001 - report which message failed
                raise AssertionError("kafka-python producer: message %d failed: %r" % (i, e))
            out.append((md.partition, md.offset))
        return out
    finally:
        p.close(timeout=5)


def consume_kp(bootstrap, topic, partitions=None, timeout=30.0, **cfg):
    """Read every record up to the high watermarks with assign + seek_to_beginning, no group."""
    from kafka import KafkaConsumer, TopicPartition as KTP
    partitions = _partitions_of(bootstrap, topic, partitions)
    c = KafkaConsumer(bootstrap_servers=[bootstrap], enable_auto_commit=False, group_id=None,
                      auto_offset_reset="earliest", **cfg)
    out = []
    try:
        tps = [KTP(topic, p) for p in partitions]
        c.assign(tps)
        ends = c.end_offsets(tps)
        c.seek_to_beginning(*tps)
        pending = {tp for tp in tps if ends[tp] > 0}
        deadline = time.time() + timeout
        while pending and time.time() < deadline:
            for tp, recs in c.poll(timeout_ms=200, max_records=5000).items():
                for m in recs:
                    out.append(rec(m.partition, m.offset, m.key, m.value, m.headers,
                                   {0: "create", 1: "append"}.get(m.timestamp_type, "none"), m.timestamp))
                    if m.offset + 1 >= ends[tp]:
                        pending.discard(tp)
        assert not pending, ("kafka-python consumer: %r not read up to high watermarks %r within %.0fs "
                             "(got %d records)" % (sorted(pending), ends, timeout, len(out)))
    finally:
        c.close()
    return by_offset(out)


def kp_admin(bootstrap):
    from kafka import KafkaAdminClient
    return KafkaAdminClient(bootstrap_servers=[bootstrap], request_timeout_ms=15000)


# ---------------------------------------------------------------------------- kcat
def kcat_path():
    path = shutil.which("kcat") or shutil.which("kafkacat")
    if not path:
        if os.environ.get("ALLOW_NO_KCAT") == "1":
            pytest.skip("kcat not installed and ALLOW_NO_KCAT=1")
        pytest.fail("kcat is not installed (`make test` installs Debian's kcat; ALLOW_NO_KCAT=1 skips its tests)")
    return path


def run_kcat(args, data=None, timeout=40):
    cmd = [kcat_path()] + list(args)
    try:
        r = subprocess.run(cmd, input=data, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError("kcat timed out after %ds: %s\nstderr: %s"
                             % (timeout, " ".join(cmd), (e.stderr or b"").decode("replace")[-2000:]))
    assert r.returncode == 0, "kcat failed rc=%d: %s\nstderr: %s" % (
        r.returncode, " ".join(cmd), r.stderr.decode("replace")[-2000:])
    return r


def produce_kcat(bootstrap, topic, lines, partition=0, headers=(), null_empty=False, extra=()):
    """lines: [(key or None, value str)], one message per line, key delimiter TAB; a line without
    the delimiter has a null key. headers apply to every message. null_empty: -Z (an empty value
    is sent as NULL)."""
    args = ["-b", bootstrap, "-P", "-t", topic, "-p", str(partition), "-K", "\t", "-q"]
    for k, v in headers:
        args += ["-H", "%s=%s" % (k, v)]
    if null_empty:
        args.append("-Z")
    args += list(extra)
    data = "".join(("%s\t%s\n" % (k, v)) if k is not None else ("%s\n" % v) for k, v in lines)
    run_kcat(args, data.encode())


def produce_kcat_files(bootstrap, topic, paths, partition=0, extra=()):
    """Each file is sent whole as one message (null key)."""
    run_kcat(["-b", bootstrap, "-P", "-t", topic, "-p", str(partition), "-q"] + list(extra) + [str(p) for p in paths])


KCAT_FORMAT = "%p %o %T %K %S\\n%k%s\\n%h\\n"


def consume_kcat(bootstrap, topic, partition=None, extra=(), timeout=40):
    """Consume from the beginning to the end (-e) and parse kcat's own output format:
    'PARTITION OFFSET TIMESTAMP KEYLEN VALUELEN\\n' KEY VALUE '\\n' HEADERS(CSV n=v) '\\n'.
    Header values come back as bytes (kcat cannot show NULL header values)."""
    args = ["-b", bootstrap, "-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", KCAT_FORMAT]
    if partition is not None:
        args += ["-p", str(partition)]
    args += list(extra)
    raw = run_kcat(args, timeout=timeout).stdout
    out = []
    pos = 0
    while pos < len(raw):
        nl = raw.index(b"\n", pos)
        fields = raw[pos:nl].split(b" ")
        assert len(fields) == 5, "unparsable kcat output line %r" % raw[pos:nl]
        p, o, ts, klen, vlen = (int(x) for x in fields)
        pos = nl + 1
        key = None if klen < 0 else raw[pos:pos + klen]
        pos += max(klen, 0)
        value = None if vlen < 0 else raw[pos:pos + vlen]
        pos += max(vlen, 0)
        assert raw[pos:pos + 1] == b"\n", "kcat output out of step at byte %d" % pos
        pos += 1
        nl = raw.index(b"\n", pos)
        hraw = raw[pos:nl]
        pos = nl + 1
        headers = []
        if hraw:
            for item in hraw.split(b","):
                k, _, v = item.partition(b"=")
                headers.append((k.decode(), v))
        out.append(rec(p, o, key, value, headers, "create", ts))
    return by_offset(out)


def kcat_metadata(bootstrap, topic=None):
    import json
    args = ["-b", bootstrap, "-L", "-J"]
    if topic:
        args += ["-t", topic]
    return json.loads(run_kcat(args).stdout.decode())


def kcat_query(bootstrap, topic, partition, ts):
    """kcat -Q: offset of the first message with timestamp >= ts (-1 if none)."""
    out = run_kcat(["-b", bootstrap, "-Q", "-t", "%s:%d:%d" % (topic, partition, ts)]).stdout.decode()
    m = re.search(r"\[%d\]\s+offset\s+(-?\d+)" % partition, out)
    assert m, "unparsable kcat -Q output %r" % out
    return int(m.group(1))


# ---------------------------------------------------------------------------- comparisons
def assert_same_records(got, want, who, fields=("key", "value", "headers"), check_ts=True):
    """got: normalised records in offset order; want: dicts with key/value/headers/timestamp."""
    assert len(got) == len(want), "%s: read %d records, expected %d" % (who, len(got), len(want))
    for i, (g, w) in enumerate(zip(got, want)):
        for f in fields:
            gv = g[f]
            wv = w.get(f)
            if f == "headers":
                wv = [(k, v) for k, v in (wv or [])]
                gv = [(k, v) for k, v in (gv or [])]
            assert gv == wv, "%s: record %d (partition %d offset %d) %s = %s, expected %s" % (
                who, i, g["partition"], g["offset"], f,
                short(gv) if isinstance(gv, (bytes, type(None))) else gv,
                short(wv) if isinstance(wv, (bytes, type(None))) else wv)
        if check_ts and w.get("timestamp") is not None:
            assert g["ts"] == w["timestamp"], "%s: record %d timestamp %r, produced with %r" % (
                who, i, g["ts"], w["timestamp"])
            assert g["ts_type"] == "create", "%s: record %d timestamp type %s, expected CreateTime" % (
                who, i, g["ts_type"])


CONSUMERS = {
    "confluent": consume_confluent,
    "kafka-python": consume_kp,
    "kcat": consume_kcat,
}


def consume_with(name, bootstrap, topic, **kw):
    return CONSUMERS[name](bootstrap, topic, **kw)


def expect_error_code(fut, codes, what, timeout=20):
    """Wait for a confluent admin future that must fail with one of `codes` (KafkaError codes)."""
    try:
        fut.result(timeout=timeout)
    except KafkaException as e:
        err = e.args[0]
        assert err.code() in codes, "%s: failed with %s (code %d), expected one of codes %r" % (
            what, err, err.code(), list(codes))
        return err
    raise AssertionError("%s: succeeded, expected error %r" % (what, codes))


# ---------------------------------------------------------------------------- consumer groups
def group_consumer(bootstrap, group, **conf):
    """A confluent consumer in `group` (subscribe() it yourself): manual commits, earliest reset,
    fast heartbeats so rebalances are noticed within half a second."""
    base = {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "enable.partition.eof": False, "heartbeat.interval.ms": 500}
    base.update(conf)
    return Consumer(base)


def commit_sync(consumer, offsets):
    """Synchronous commit of {(topic, partition): next offset} or a list of TopicPartitions;
    asserts that every partition's commit succeeded and returns the broker's answer."""
    if isinstance(offsets, dict):
        offsets = [TopicPartition(t, p, o) for (t, p), o in sorted(offsets.items())]
    res = consumer.commit(offsets=list(offsets), asynchronous=False)
    bad = [(tp.topic, tp.partition, tp.error) for tp in res if tp.error is not None]
    assert not bad, "OffsetCommit failed for %r" % bad
    return res


# ---------------------------------------------------------------------------- connection cutter
import socket  # noqa: E402 - for the proxy only
import struct  # noqa: E402
import threading  # noqa: E402


class CuttingProxy:
    """A TCP proxy (one thread per direction per connection) in front of a broker, that can cut
    every client connection at once (RST on both sides), as a flaky network would, optionally
    after losing the broker's responses for a while.

    Start it before the broker (its port must be the broker's advertised.listeners, or clients
    would bypass it after the bootstrap Metadata), then set `target`."""

    def __init__(self, target=None, host="127.0.0.1"):
        self.target = target
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(128)
        self.host = host
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.pairs = []
        self.swallowing = set()
        self.accepted = 0
        self.cuts = 0
        self.closed = False
        self._acceptor = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)
        self._acceptor.start()

    @property
    def address(self):
        return "%s:%d" % (self.host, self.port)

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.target is None:
                client.close()
                continue
            try:
                th, tp = self.target.rsplit(":", 1)
                upstream = socket.create_connection((th, int(tp)), timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            pair = (client, upstream)
            with self.lock:
                self.pairs.append(pair)
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b, pair), daemon=True).start()

    def _pump(self, src, dst, pair):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if src is pair[1] and pair in self.swallowing:
                    continue  # a response lost on the way back: the request did reach the broker
                dst.sendall(data)
        except OSError:
            pass
        self._drop(pair, reset=False)

    def _drop(self, pair, reset):
        with self.lock:
            if pair in self.pairs:
                self.pairs.remove(pair)
        for s in pair:
            try:
                if reset:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def cut(self, swallow_responses=0.0):
        """Reset every open connection (both the client's and the broker's side); returns how many.
        With swallow_responses=S, first throw away everything the broker sends on them for S
        seconds: requests sent meanwhile are carried out but never answered, so the client
        must retry what the broker already did."""
        with self.lock:
            pairs = list(self.pairs)
        if swallow_responses > 0:
            self.swallowing.update(pairs)
            time.sleep(swallow_responses)
        for pair in pairs:
            self._drop(pair, reset=True)
        self.swallowing.difference_update(pairs)
        self.cuts += 1
        return len(pairs)

    def close(self):
        self.closed = True
        try:
            self.listener.close()
        except OSError:
            pass
        self.cut()
