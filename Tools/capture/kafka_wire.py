"""Minimal Kafka wire helpers for the capture tooling (Python 3 stdlib only).

Only what the golden-frame self-check needs: header versions from the message specs, the
records of a Produce request, and the records of a Fetch response.
"""
import glob
import json
import os
import re
import struct

def _spec_dir():
    if os.environ.get("KAFKA_SPEC_DIR"):
        return os.environ["KAFKA_SPEC_DIR"]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for base in (os.path.join(repo, "shared"), os.path.join(os.path.dirname(repo), "shared")):
        d = os.path.join(base, "kafka-protocol", "message")
        if os.path.isdir(d):
            return d
    raise SystemExit("kafka_wire: cannot find shared/kafka-protocol/message; set KAFKA_SPEC_DIR")


SPEC_DIR = None


class Reader:
    def __init__(self, buf, off=0):
        self.buf = buf
        self.off = off

    def take(self, n):
        if n < 0 or self.off + n > len(self.buf):
            raise ValueError("short buffer at %d (+%d of %d)" % (self.off, n, len(self.buf)))
        b = self.buf[self.off:self.off + n]
        self.off += n
        return b

    def i8(self):
        return struct.unpack(">b", self.take(1))[0]

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

    def i64(self):
        return struct.unpack(">q", self.take(8))[0]

    def uvarint(self):
        shift = value = 0
        while True:
            b = self.take(1)[0]
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7

    def string(self, flexible):
        n = self.uvarint() - 1 if flexible else self.i16()
        return None if n < 0 else self.take(n).decode("utf-8")

    def bytes_(self, flexible):
        n = self.uvarint() - 1 if flexible else self.i32()
        return None if n < 0 else self.take(n)

    def array_len(self, flexible):
        return self.uvarint() - 1 if flexible else self.i32()

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def _versions(spec):
    spec = spec.strip()
    if spec == "none":
        return None
    if spec.endswith("+"):
        return (int(spec[:-1]), 1 << 15)
    if "-" in spec:
        a, b = spec.split("-")
        return (int(a), int(b))
    return (int(spec), int(spec))


_SPECS = None


def specs():
    """api key -> {"name", "request": (flexible from), "response": ...}"""
    global _SPECS
    if _SPECS is None:
        _SPECS = {}
        for path in glob.glob(os.path.join(SPEC_DIR or _spec_dir(), "*.json")):
            with open(path) as f:
                text = re.sub(r"^\s*//.*$", "", f.read(), flags=re.M)
            d = json.loads(text)
            if d.get("type") not in ("request", "response"):
                continue
            e = _SPECS.setdefault(d["apiKey"], {})
            e[d["type"]] = {"name": d["name"], "valid": _versions(d["validVersions"]),
                            "flexible": _versions(d["flexibleVersions"])}
    return _SPECS


def is_flexible(api_key, api_version, kind="request"):
    e = specs().get(api_key, {}).get(kind)
    if not e or not e["flexible"]:
        return False
    lo, hi = e["flexible"]
    return lo <= api_version <= hi


def header_versions(api_key, api_version):
    """(request header version, response header version) for one api key / version."""
    if api_key == 7 and api_version == 0:  # ControlledShutdown v0
        return 0, 0
    flex = is_flexible(api_key, api_version)
    req = 2 if flex else 1
    resp = 1 if flex and api_key != 18 else 0
    return req, resp


def request_header(frame):
    """(api key, api version, correlation id, client id, Reader at body start)."""
    r = Reader(frame, 4)
    key, ver, corr = r.i16(), r.i16(), r.i32()
    client_id = r.string(False)
    if header_versions(key, ver)[0] >= 2:
        r.tags()
    return key, ver, corr, client_id, r


def produce_records(frame):
    """[(topic, partition, records bytes)] from a full Produce request frame."""
    key, ver, _, _, r = request_header(frame)
    assert key == 0, key
    flex = is_flexible(0, ver)
    out = []
    if ver >= 3:
        r.string(flex)  # transactional id
    r.i16()  # acks
    r.i32()  # timeout
    for _ in range(r.array_len(flex)):
        if ver >= 13:
            topic = r.take(16).hex()
        else:
            topic = r.string(flex)
        for _ in range(r.array_len(flex)):
            part = r.i32()
            recs = r.bytes_(flex)
            out.append((topic, part, recs))
            if flex:
                r.tags()
        if flex:
            r.tags()
    if flex:
        r.tags()
    if r.off != len(frame):
        raise ValueError("Produce v%d: %d trailing bytes" % (ver, len(frame) - r.off))
    return out


def produce_transactional_id(frame):
    key, ver, _, _, r = request_header(frame)
    if ver < 3:
        return None
    return r.string(is_flexible(0, ver))


def fetch_records(frame, version):
    """[(topic name or topic id hex, partition, error code, records bytes or None)]."""
    flex = is_flexible(1, version, "response")
    r = Reader(frame, 4)
    r.i32()  # correlation id
    if flex:
        r.tags()
    if version >= 1:
        r.i32()  # throttle
    if version >= 7:
        r.i16()  # error code
        r.i32()  # session id
    out = []
    for _ in range(r.array_len(flex)):
        topic = r.take(16).hex() if version >= 13 else r.string(flex)
        for _ in range(r.array_len(flex)):
            part = r.i32()
            err = r.i16()
            r.i64()  # high watermark
            if version >= 4:
                r.i64()  # last stable offset
            if version >= 5:
                r.i64()  # log start offset
            if version >= 4:
                n = r.array_len(flex)
                for _ in range(max(n, 0)):
                    r.i64()
                    r.i64()
                    if flex:
                        r.tags()
            if version >= 11:
                r.i32()  # preferred read replica
            recs = r.bytes_(flex)
            if flex:
                r.tags()
            out.append((topic, part, err, recs))
        if flex:
            r.tags()
    if flex:
        r.tags()
    if r.off != len(frame):
        raise ValueError("Fetch v%d response: %d trailing bytes" % (version, len(frame) - r.off))
    return out


def metadata_topic_ids(frame, version):
    """{topic id hex: topic name} from a Metadata response (v10+ carry topic ids)."""
    if version < 10:
        return {}
    flex = is_flexible(3, version, "response")
    r = Reader(frame, 4)
    r.i32()
    if flex:
        r.tags()
    if version >= 3:
        r.i32()
    for _ in range(r.array_len(flex)):
        r.i32()
        r.string(flex)
        r.i32()
        if version >= 1:
            r.string(flex)
        if flex:
            r.tags()
    if version >= 2:
        r.string(flex)
    if version >= 1:
        r.i32()
    out = {}
    for _ in range(r.array_len(flex)):
        r.i16()
        name = r.string(flex)
        tid = r.take(16).hex()
        if version >= 1:
            r.i8()
        for _ in range(r.array_len(flex)):
            r.i16()
            r.i32()
            r.i32()
            if version >= 7:
                r.i32()
            for _ in range(2 if version < 5 else 3):
                for _ in range(max(r.array_len(flex), 0)):
                    r.i32()
            if flex:
                r.tags()
        if version >= 8:
            r.i32()
        if flex:
            r.tags()
        if name is not None:
            out[tid] = name
    return out
