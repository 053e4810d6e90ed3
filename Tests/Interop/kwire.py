"""A small hand-written Kafka wire codec for the tests that must look at raw frames: hostile
input, batch attributes on the wire, error codes the clients hide. Written from Kafka's message
specs (clients/src/main/resources/common/message/*.json); only non-flexible versions are encoded,
except ApiVersions v3+ (whose response header is always v0).

Record batches are built and parsed with kafka-python's own record code (an independent
implementation), never with ours.
"""
import itertools
import socket
import struct
import time

_corr = itertools.count(7000)

API_PRODUCE, API_FETCH, API_LIST_OFFSETS, API_METADATA, API_API_VERSIONS = 0, 1, 2, 3, 18
CODECS = {"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
CODEC_NAMES = {v: k for k, v in CODECS.items()}


class Closed(ConnectionError):
    pass


def host_port(bootstrap):
    host, port = bootstrap.split(",")[0].strip().rsplit(":", 1)
    return host.strip("[]"), int(port)


# ---------------------------------------------------------------------------- primitives
def i8(v): return struct.pack(">b", v)
def i16(v): return struct.pack(">h", v)
def i32(v): return struct.pack(">i", v)
def i64(v): return struct.pack(">q", v)


def string(s):
    if s is None:
        return i16(-1)
    b = s.encode() if isinstance(s, str) else s
    return i16(len(b)) + b


def nbytes(b):
    if b is None:
        return i32(-1)
    return i32(len(b)) + b


def uvarint(n):
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def compact_string(s):
    b = s.encode()
    return uvarint(len(b) + 1) + b


def array(items):
    items = list(items)
    return i32(len(items)) + b"".join(items)


class Reader:
    def __init__(self, data):
        self.d, self.p = bytes(data), 0

    def take(self, fmt):
        v = struct.unpack_from(fmt, self.d, self.p)
        self.p += struct.calcsize(fmt)
        return v[0] if len(v) == 1 else v

    def i8(self): return self.take(">b")
    def i16(self): return self.take(">h")
    def i32(self): return self.take(">i")
    def i64(self): return self.take(">q")

    def string(self):
        n = self.i16()
        if n < 0:
            return None
        s = self.d[self.p:self.p + n].decode("utf-8", "replace")
        self.p += n
        return s

    def nbytes(self):
        n = self.i32()
        if n < 0:
            return None
        b = self.d[self.p:self.p + n]
        if len(b) != n:
            raise ValueError("bytes field of %d bytes, only %d left" % (n, len(b)))
        self.p += n
        return b

    def uvarint(self):
        shift = result = 0
        while True:
            b = self.d[self.p]
            self.p += 1
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def skip_tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.p += self.uvarint()

    def remaining(self):
        return len(self.d) - self.p


# ---------------------------------------------------------------------------- connection
def header_v1(api_key, version, corr, client_id="sluice-interop"):
    return i16(api_key) + i16(version) + i32(corr) + string(client_id)


def frame(payload):
    return i32(len(payload)) + payload


class Conn:
    """One TCP connection to the broker."""

    def __init__(self, bootstrap, timeout=10.0, rcvbuf=None):
        if rcvbuf is None:
            self.sock = socket.create_connection(host_port(bootstrap), timeout=timeout)
        else:  # a small receive window has to be set before the handshake
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(timeout)
            self.sock.connect(host_port(bootstrap))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self):
        """Close with an RST instead of a FIN (SO_LINGER 0)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def request(self, api_key, version, body, flexible_header=False, corr=None):
        corr = next(_corr) if corr is None else corr
        hdr = header_v1(api_key, version, corr)
        if flexible_header:
            hdr += b"\x00"
        self.send(frame(hdr + body))
        return corr

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                raise Closed("connection closed by the broker after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def recv_frame(self):
        size = struct.unpack(">i", self.recv_exact(4))[0]
        assert 0 <= size < 1 << 30, "response size prefix %d" % size
        return self.recv_exact(size)

    def response(self, corr, flexible_header=False):
        """Read one response; check the correlation id; return the body."""
        data = self.recv_frame()
        got = struct.unpack(">i", data[:4])[0]
        assert got == corr, "correlation id mismatch: sent %d, got %d" % (corr, got)
        body = data[4:]
        if flexible_header:
            r = Reader(body)
            r.skip_tags()
            body = body[r.p:]
        return body

    def roundtrip(self, api_key, version, body, flexible_header=False, flexible_response_header=None):
        corr = self.request(api_key, version, body, flexible_header)
        frh = flexible_header if flexible_response_header is None else flexible_response_header
        return self.response(corr, frh)

    def wait_closed(self, timeout=10.0):
        """Wait for the broker to close this connection. Returns (how, bytes received meanwhile),
        how = "eof" | "reset" | "open" (still open when the timeout ran out)."""
        self.sock.settimeout(0.25)
        got = bytearray()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return "reset", bytes(got)
            except OSError as e:
                return "error %s" % e, bytes(got)
            if not chunk:
                return "eof", bytes(got)
            got += chunk
        return "open", bytes(got)

    def is_open(self, wait=0.3):
        """True when the broker has not closed the connection (nothing to read, no EOF)."""
        self.sock.settimeout(wait)
        try:
            chunk = self.sock.recv(1, socket.MSG_PEEK)
        except socket.timeout:
            return True
        except OSError:
            return False
        return bool(chunk)


def describe_unexpected(data):
    """Human summary of bytes a broker sent when it should have closed the connection."""
    if len(data) >= 8:
        size, corr = struct.unpack(">ii", data[:8])
        return "%d bytes (size prefix %d, correlation id %d): %r" % (len(data), size, corr, data[:64])
    return "%d bytes: %r" % (len(data), data)


# ---------------------------------------------------------------------------- ApiVersions
def api_versions(bootstrap):
    """ApiVersions v0 -> {api_key: (min, max)}; asserts error 0."""
    with Conn(bootstrap) as c:
        r = Reader(c.roundtrip(API_API_VERSIONS, 0, b""))
    err = r.i16()
    assert err == 0, "ApiVersions v0 answered error %d" % err
    keys = {}
    for _ in range(r.i32()):
        k, lo, hi = r.take(">hhh")
        keys[k] = (lo, hi)
    return keys


def pick_version(versions, api_key, lo, hi, what):
    """Highest version in [lo, hi] the broker advertises for api_key."""
    if api_key not in versions:
        raise AssertionError("broker does not advertise API key %d (%s) in ApiVersions" % (api_key, what))
    blo, bhi = versions[api_key]
    v = min(hi, bhi)
    if v < max(lo, blo):
        raise AssertionError("broker advertises %s v%d-%d; this test encodes v%d-%d" % (what, blo, bhi, lo, hi))
    return v


def api_versions_request_v3_body(client="sluice-interop", version="1.0"):
    return compact_string(client) + compact_string(version) + b"\x00"


def parse_api_versions_v0(body):
    """(error, {key: (min, max)}, leftover byte count); raises ValueError if not v0-decodable."""
    r = Reader(body)
    try:
        err = r.i16()
        n = r.i32()
        if n < 0 or r.remaining() < 6 * n:
            raise ValueError("array count %d does not fit the %d-byte body" % (n, len(body)))
        keys = {}
        for _ in range(n):
            k, lo, hi = r.take(">hhh")
            keys[k] = (lo, hi)
    except struct.error as e:
        raise ValueError("body %r is not a v0 ApiVersions response: %s" % (body[:64], e))
    return err, keys, r.remaining()


# ---------------------------------------------------------------------------- Metadata
def metadata_v4(bootstrap, topics, allow_auto_create):
    """Metadata v4 -> (brokers {id: (host, port)}, controller, topics {name: (err, {p: (err, leader)})})."""
    body = array(string(t) for t in topics) + i8(1 if allow_auto_create else 0)
    with Conn(bootstrap) as c:
        r = Reader(c.roundtrip(API_METADATA, 4, body))
    r.i32()  # throttle
    brokers = {}
    for _ in range(r.i32()):
        node = r.i32()
        host = r.string()
        port = r.i32()
        r.string()  # rack
        brokers[node] = (host, port)
    r.string()  # cluster id
    controller = r.i32()
    out = {}
    for _ in range(r.i32()):
        terr = r.i16()
        name = r.string()
        r.i8()  # is_internal
        parts = {}
        for _ in range(r.i32()):
            perr, idx, leader = r.take(">hii")
            for _f in ("replicas", "isr", "offline"):
                r.p += 4 * max(r.i32(), 0)
            parts[idx] = (perr, leader)
        out[name] = (terr, parts)
    return brokers, controller, out


# ---------------------------------------------------------------------------- record batches
def build_batch(records, codec="none", base_ts=None):
    """records: [(key, value, headers)] -> one magic-2 batch (bytes) built by kafka-python."""
    from kafka.record.default_records import DefaultRecordBatchBuilder
    b = DefaultRecordBatchBuilder(magic=2, compression_type=CODECS[codec], is_transactional=False,
                                  producer_id=-1, producer_epoch=-1, base_sequence=-1,
                                  batch_size=1 << 30)
    ts = int(time.time() * 1000) if base_ts is None else base_ts
    for i, (k, v, h) in enumerate(records):
        b.append(i, timestamp=ts + i, key=k, value=v, headers=list(h or []))
    return bytes(b.build())


def parse_batches(records_bytes):
    """Split a records field into kafka-python DefaultRecordBatch objects; also returns the
    number of trailing bytes that do not form a whole batch (allowed at the end of a fetch)."""
    from kafka.record.memory_records import MemoryRecords
    mr = MemoryRecords(bytes(records_bytes))
    batches = []
    while mr.has_next():
        batches.append(mr.next_batch())
    return batches, len(records_bytes) - mr.valid_bytes()


# ---------------------------------------------------------------------------- Produce v3..v8
def produce_body(version, topic, partition, records, acks=-1, timeout_ms=10000):
    return (string(None) + i16(acks) + i32(timeout_ms)
            + array([string(topic) + array([i32(partition) + nbytes(records)])]))


def parse_produce_response(version, body):
    """-> {(topic, partition): {"error", "base_offset", "log_append_time", "log_start_offset",
    "error_message"}}"""
    r = Reader(body)
    out = {}
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            d = {"error": r.i16(), "base_offset": r.i64()}
            if version >= 2:
                d["log_append_time"] = r.i64()
            if version >= 5:
                d["log_start_offset"] = r.i64()
            if version >= 8:
                d["record_errors"] = [(r.i32(), r.string()) for _ in range(max(r.i32(), 0))]
                d["error_message"] = r.string()
            out[(topic, p)] = d
    return out


def produce(conn, version, topic, partition, records, acks=-1):
    body = conn.roundtrip(API_PRODUCE, version, produce_body(version, topic, partition, records, acks))
    return parse_produce_response(version, body)[(topic, partition)]


# ---------------------------------------------------------------------------- Fetch v4..v11
def fetch_body(version, topic, partition, offset, max_bytes=50 << 20, partition_max_bytes=50 << 20,
               max_wait_ms=100, min_bytes=1):
    b = i32(-1) + i32(max_wait_ms) + i32(min_bytes) + i32(max_bytes) + i8(0)
    if version >= 7:
        b += i32(0) + i32(-1)  # session id 0, epoch -1: a full fetch, no session
    part = i32(partition)
    if version >= 9:
        part += i32(-1)  # current leader epoch: unknown
    part += i64(offset)
    if version >= 5:
        part += i64(-1)  # log start offset (followers only)
    part += i32(partition_max_bytes)
    b += array([string(topic) + array([part])])
    if version >= 7:
        b += array([])  # forgotten topics
    if version >= 11:
        b += string("")  # rack id
    return b


def parse_fetch_response(version, body):
    """-> {(topic, partition): {"error", "high_watermark", "log_start_offset", "records"}}"""
    r = Reader(body)
    r.i32()  # throttle
    if version >= 7:
        top_err = r.i16()
        r.i32()  # session id
        assert top_err == 0, "Fetch v%d top-level error %d" % (version, top_err)
    out = {}
    for _ in range(r.i32()):
        topic = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            d = {"error": r.i16(), "high_watermark": r.i64()}
            r.i64()  # last stable offset
            if version >= 5:
                d["log_start_offset"] = r.i64()
            n = r.i32()
            for _ in range(max(n, 0)):
                r.i64(), r.i64()
            if version >= 11:
                r.i32()  # preferred read replica
            d["records"] = r.nbytes() or b""
            out[(topic, p)] = d
    return out


def fetch(conn, version, topic, partition, offset, **kw):
    body = conn.roundtrip(API_FETCH, version, fetch_body(version, topic, partition, offset, **kw))
    return parse_fetch_response(version, body)[(topic, partition)]


def fetch_all_batches(bootstrap, topic, partition, versions=None):
    """Every batch of a partition, read from offset 0 with raw Fetch requests, as kafka-python
    DefaultRecordBatch objects (CRC not yet checked, records not yet decompressed)."""
    versions = versions or api_versions(bootstrap)
    v = pick_version(versions, API_FETCH, 4, 11, "Fetch")
    batches = []
    offset = 0
    with Conn(bootstrap, timeout=20) as c:
        for _ in range(10000):
            d = fetch(c, v, topic, partition, offset)
            assert d["error"] == 0, "Fetch v%d %s[%d]@%d: error %d" % (v, topic, partition, offset, d["error"])
            got, _trailing = parse_batches(d["records"])
            got = [b for b in got if b.next_offset > offset]
            if not got:
                assert offset >= d["high_watermark"], \
                    "Fetch v%d at offset %d returned no whole batch below the high watermark %d" % (
                        v, offset, d["high_watermark"])
                return batches, d["high_watermark"]
            batches += got
            offset = got[-1].next_offset
    raise AssertionError("fetch_all_batches did not reach the end")


# ---------------------------------------------------------------------------- ListOffsets v1..v5
def list_offsets(bootstrap, topic, partition, timestamp, versions=None):
    """Raw ListOffsets -> (error, timestamp, offset). timestamp: -2 earliest, -1 latest, -3 max."""
    versions = versions or api_versions(bootstrap)
    v = pick_version(versions, API_LIST_OFFSETS, 1, 5, "ListOffsets")
    body = i32(-1)
    if v >= 2:
        body += i8(0)
    part = i32(partition)
    if v >= 4:
        part += i32(-1)
    part += i64(timestamp)
    body += array([string(topic) + array([part])])
    with Conn(bootstrap) as c:
        r = Reader(c.roundtrip(API_LIST_OFFSETS, v, body))
    if v >= 2:
        r.i32()
    out = {}
    for _ in range(r.i32()):
        name = r.string()
        for _ in range(r.i32()):
            p = r.i32()
            err, ts, off = r.i16(), r.i64(), r.i64()
            if v >= 4:
                r.i32()
            out[(name, p)] = (err, ts, off)
    assert (topic, partition) in out, "ListOffsets v%d response lacks %s[%d]: %r" % (v, topic, partition, out)
    return out[(topic, partition)]


def build_legacy_message_set(records, magic=1):
    """records: [(key, value)] -> an old-format (magic 0/1) message set built by kafka-python."""
    from kafka.record.legacy_records import LegacyRecordBatchBuilder
    b = LegacyRecordBatchBuilder(magic=magic, compression_type=0, batch_size=1 << 30)
    ts = int(time.time() * 1000)
    for i, (k, v) in enumerate(records):
        b.append(i, timestamp=ts if magic else None, key=k, value=v)
    return bytes(b.build())
