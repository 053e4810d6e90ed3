"""kspec: a generic Kafka message codec driven by Kafka's own JSON message specs.

Written from the spec format (../shared/kafka-protocol/FORMAT.md), independently of the
broker's generator and Swift code, so that the interop tests can decode any response of any
version without trusting the implementation under test. Pure Python, stdlib only.

    specs = kspec.Specs()                       # KAFKA_PROTOCOL_SPECS overrides the folder
    frame = specs.request("Fetch", 12, {"MaxWaitMs": 100, ...}, correlation_id=7)
    corr, body = specs.response("Fetch", 12, frame_bytes_without_size_prefix)
    with kspec.Connection("127.0.0.1:9092") as c:
        body = c.call("Metadata", 12, {"Topics": None})

Values are dicts keyed by the spec's field names; arrays are lists, structs dicts, uuids
uuid.UUID, strings str, bytes and records bytes, null None. Fields missing from a dict being
encoded take their spec default; decoding returns every field the version has (tagged fields
that were absent with their default). A version that lacks a field given with a non-default
value is an error unless the field is ignorable, as in Kafka's generated code.
"""
import itertools
import json
import os
import re
import socket
import struct
import uuid
from pathlib import Path

FIXED = {"bool": ">?", "int8": ">b", "int16": ">h", "uint16": ">H", "int32": ">i",
         "int64": ">q", "float64": ">d"}
PRIMITIVES = set(FIXED) | {"uuid", "string", "bytes", "records"}
ZERO_UUID = uuid.UUID(int=0)


class EncodeError(ValueError):
    pass


class DecodeError(ValueError):
    pass


def default_spec_dir():
    env = os.environ.get("KAFKA_PROTOCOL_SPECS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "kafka-protocol" / "message"


def strip_comments(text):
    """Drop // comments, but not inside JSON strings."""
    return re.sub(r'("(?:\\.|[^"\\])*")|//[^\n]*', lambda m: m.group(1) or "", text)


def within(version, spec):
    """Is `version` in a range such as "3+", "0-7", "5" or "none" (None counts as none)?"""
    if spec is None or spec == "none":
        return False
    if spec.endswith("+"):
        return version >= int(spec[:-1])
    lo, _, hi = spec.partition("-")
    return int(lo) <= version <= int(hi or lo)


def uvarint(n):
    out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


class Field:
    def __init__(self, raw, structs):
        self.name, t = raw["name"], raw["type"]
        self.array = t.startswith("[]")
        self.type = t[2:] if self.array else t
        self.versions = raw.get("versions")
        self.nullable = raw.get("nullableVersions")
        self.tagged = raw.get("taggedVersions")
        self.tag = int(raw["tag"]) if "tag" in raw else None
        self.flexible = raw.get("flexibleVersions")      # a field-level override
        self.ignorable = raw.get("ignorable", False)
        self.raw_default = raw.get("default")
        self.fields = None
        if self.type not in PRIMITIVES:
            sub = raw["fields"] if "fields" in raw else structs.get(self.type)
            if sub is None:
                raise ValueError("struct type %s of field %s is not defined" % (self.type, self.name))
            self.fields = [Field(f, structs) for f in sub]

    def default(self, v):
        d = self.raw_default
        if d == "null":
            return None
        if self.array:
            return []
        if self.fields is not None:
            return {f.name: f.default(v) for f in self.fields if within(v, f.versions)}
        if self.type == "bool":
            return d in (True, "true")
        if self.type == "float64":
            return float(d or 0)
        if self.type in FIXED:
            return int(d, 0) if isinstance(d, str) and d else int(d or 0)
        if self.type == "uuid":
            return ZERO_UUID
        if self.type == "string":
            return d or ""
        return b""

    def is_default(self, value, v):
        if self.fields is not None and not self.array and value is not None:
            return all(f.is_default(value.get(f.name, f.default(v)), v)
                       for f in self.fields if within(v, f.versions))
        return value == self.default(v)


class Message:
    def __init__(self, raw):
        self.name = raw["name"]
        self.type = raw["type"]
        self.api_key = raw.get("apiKey")
        self.valid = raw["validVersions"]
        self.flexible = raw.get("flexibleVersions", "none")
        structs = {s["name"]: s["fields"] for s in raw.get("commonStructs", [])}
        self.fields = [Field(f, structs) for f in raw["fields"]]

    # ------------------------------------------------------------------------- encoding
    def encode(self, version, value):
        if not within(version, self.valid):
            raise EncodeError("%s has no version %d (valid: %s)" % (self.name, version, self.valid))
        out = bytearray()
        self._struct(out, self.fields, value or {}, version, within(version, self.flexible), self.name)
        return bytes(out)

    def _where(self, v, path):
        return "%s v%d: field %s" % (self.name, v, path)

    def _struct(self, out, fields, value, v, flex, path):
        unknown = set(value) - {f.name for f in fields}
        if unknown:
            raise EncodeError("%s: unknown field(s) %s" % (self._where(v, path), sorted(unknown)))
        tagged = []
        for f in fields:
            here = within(v, f.versions)
            val = value.get(f.name, f.default(v)) if here else value.get(f.name)
            if not here:
                if f.name in value and not f.ignorable and not f.is_default(val, v):
                    raise EncodeError("%s: not in this version and not ignorable, but given %r"
                                      % (self._where(v, path + "." + f.name), val))
                continue
            if within(v, f.tagged):
                if not f.is_default(val, v):
                    buf = bytearray()
                    self._field(buf, f, val, v, flex, path + "." + f.name)
                    tagged.append((f.tag, bytes(buf)))
                continue
            self._field(out, f, val, v, flex, path + "." + f.name)
        if flex:
            out += uvarint(len(tagged))
            for tag, buf in sorted(tagged):
                out += uvarint(tag) + uvarint(len(buf)) + buf

    def _field(self, out, f, val, v, flex, path):
        compact = within(v, f.flexible) if f.flexible is not None else flex
        if val is None:
            if not within(v, f.nullable):
                raise EncodeError("%s: null in a non-nullable field" % self._where(v, path))
            if f.array or f.type in ("string", "bytes", "records"):
                out += uvarint(0) if compact else struct.pack(">h" if f.type == "string" and not f.array else ">i", -1)
            elif f.fields is not None:
                out += b"\xff"
            else:
                raise EncodeError("%s: null %s" % (self._where(v, path), f.type))
            return
        if f.array:
            out += uvarint(len(val) + 1) if compact else struct.pack(">i", len(val))
            for i, item in enumerate(val):
                self._value(out, f, item, v, flex, compact, "%s[%d]" % (path, i))
            return
        if f.fields is not None and within(v, f.nullable):
            out += b"\x01"
        self._value(out, f, val, v, flex, compact, path)

    def _value(self, out, f, val, v, flex, compact, path):
        t = f.type
        if f.fields is not None:
            return self._struct(out, f.fields, val, v, flex, path)
        try:
            if t in FIXED:
                out += struct.pack(FIXED[t], val)
            elif t == "uuid":
                out += (val if isinstance(val, uuid.UUID) else uuid.UUID(bytes=val)).bytes
            else:   # string, bytes, records
                b = val.encode() if isinstance(val, str) else bytes(val)
                out += uvarint(len(b) + 1) if compact else struct.pack(">h" if t == "string" else ">i", len(b))
                out += b
        except (struct.error, TypeError, ValueError, AttributeError) as e:
            raise EncodeError("%s: cannot encode %r as %s: %s" % (self._where(v, path), val, t, e))

    # ------------------------------------------------------------------------- decoding
    def decode(self, version, data):
        """Decode one whole body; a byte left over or missing is a DecodeError."""
        if not within(version, self.valid):
            raise DecodeError("%s has no version %d (valid: %s)" % (self.name, version, self.valid))
        r = _Reader(bytes(data), self.name, version)
        value = self._rstruct(r, self.fields, version, within(version, self.flexible), self.name)
        r.done(self.name)
        return value

    def _rstruct(self, r, fields, v, flex, path):
        value, by_tag = {}, {}
        for f in fields:
            if not within(v, f.versions):
                continue
            if within(v, f.tagged):
                value[f.name] = f.default(v)
                by_tag[f.tag] = f
            else:
                value[f.name] = self._rfield(r, f, v, flex, path + "." + f.name)
                r.last = path + "." + f.name
        if flex:
            for _ in range(r.uvarint(path + ".<tagged fields>")):
                tag = r.uvarint(path + ".<tag>")
                raw = r.take(r.uvarint(path + ".<tag %d size>" % tag), "%s.<tag %d>" % (path, tag))
                f = by_tag.get(tag)
                if f is None:
                    continue    # unknown tags are skipped
                sub = _Reader(raw, self.name, v)
                value[f.name] = self._rfield(sub, f, v, flex, path + "." + f.name)
                sub.done(path + "." + f.name)
        return value

    def _rfield(self, r, f, v, flex, path):
        compact = within(v, f.flexible) if f.flexible is not None else flex
        nullable = within(v, f.nullable)
        if f.array:
            n = r.uvarint(path) - 1 if compact else r.unpack(">i", path)
            if n < 0:
                return r.null(n, nullable, path)
            if n > len(r.d) - r.p:
                r.fail(path, "array of %d elements, only %d bytes left" % (n, len(r.d) - r.p))
            return [self._rvalue(r, f, v, flex, compact, "%s[%d]" % (path, i)) for i in range(n)]
        if f.fields is not None and nullable:
            marker = r.unpack(">b", path)
            if marker < 0:
                return None
        return self._rvalue(r, f, v, flex, compact, path, nullable)

    def _rvalue(self, r, f, v, flex, compact, path, nullable=False):
        t = f.type
        if t in FIXED:
            return r.unpack(FIXED[t], path)
        if t == "uuid":
            return uuid.UUID(bytes=r.take(16, path))
        if t in ("string", "bytes", "records"):
            n = r.uvarint(path) - 1 if compact else r.unpack(">h" if t == "string" else ">i", path)
            if n < 0:
                return r.null(n, nullable, path)
            b = r.take(n, path)
            if t != "string":
                return b
            try:
                return b.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DecodeError("%s v%d: field %s: invalid UTF-8: %s" % (self.name, v, path, e))
        return self._rstruct(r, f.fields, v, flex, path)


class _Reader:
    def __init__(self, data, name, version):
        self.d, self.p, self.name, self.v = data, 0, name, version
        self.last = "(none)"

    def fail(self, path, what):
        raise DecodeError("%s v%d: field %s: %s" % (self.name, self.v, path, what))

    def take(self, n, path):
        if n > len(self.d) - self.p:
            self.fail(path, "needs %d bytes, only %d left (frame too short)" % (n, len(self.d) - self.p))
        b = self.d[self.p:self.p + n]
        self.p += n
        return b

    def unpack(self, fmt, path):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), path))[0]

    def uvarint(self, path):
        result = shift = 0
        while True:
            b = self.take(1, path)[0]
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7
            if shift > 28:
                self.fail(path, "unsigned varint longer than 5 bytes")

    def null(self, n, nullable, path):
        if n == -1 and nullable:
            return None
        self.fail(path, "length %d (%s)" % (n, "null in a non-nullable field" if n == -1 else "negative"))

    def done(self, path):
        if self.p != len(self.d):
            raise DecodeError("%s v%d: %d byte(s) left over in %s after its last field %s"
                              % (self.name, self.v, len(self.d) - self.p, path, self.last))


class Specs:
    """Every message spec of a folder, by name ("FetchRequest") and by API ("Fetch")."""

    def __init__(self, directory=None):
        self.dir = Path(directory) if directory else default_spec_dir()
        self.messages = {}
        for p in sorted(self.dir.glob("*.json")):
            m = Message(json.loads(strip_comments(p.read_text())))
            self.messages[m.name] = m
        if not self.messages:
            raise FileNotFoundError("no Kafka message specs (*.json) in %s" % self.dir)
        self.by_key = {m.api_key: m.name[:-len("Request")] for m in self.messages.values()
                       if m.type == "request"}

    def message(self, name):
        return self.messages[name]

    def api_key(self, api):
        return self.messages[api + "Request"].api_key

    def encode(self, name, version, value):
        return self.messages[name].encode(version, value)

    def decode(self, name, version, data):
        return self.messages[name].decode(version, data)

    def request_header_version(self, api, version):
        if api == "ControlledShutdown" and version == 0:
            return 0
        return 2 if within(version, self.messages[api + "Request"].flexible) else 1

    def response_header_version(self, api, version):
        if api == "ApiVersions":
            return 0
        return 1 if within(version, self.messages[api + "Response"].flexible) else 0

    def request(self, api, version, body, correlation_id, client_id="kspec"):
        """A whole request frame: size prefix, request header, body."""
        header = {"RequestApiKey": self.api_key(api), "RequestApiVersion": version,
                  "CorrelationId": correlation_id}
        hv = self.request_header_version(api, version)
        if hv >= 1:
            header["ClientId"] = client_id
        payload = self.encode("RequestHeader", hv, header) + self.encode(api + "Request", version, body)
        return struct.pack(">i", len(payload)) + payload

    def response(self, api, version, frame):
        """(correlation id, body dict) of a response frame without its size prefix."""
        hv = self.response_header_version(api, version)
        header_msg = self.messages["ResponseHeader"]
        r = _Reader(bytes(frame), "ResponseHeader", hv)
        header = header_msg._rstruct(r, header_msg.fields, hv, within(hv, header_msg.flexible), "ResponseHeader")
        return header["CorrelationId"], self.decode(api + "Response", version, frame[r.p:])


_DEFAULT = []


def specs():
    """The Specs of the default folder, loaded once."""
    if not _DEFAULT:
        _DEFAULT.append(Specs())
    return _DEFAULT[0]


class Connection:
    """One plain TCP connection speaking kspec-encoded requests."""
    _corr = itertools.count(1)

    def __init__(self, bootstrap, timeout=15.0, spec=None):
        host, port = bootstrap.split(",")[0].strip().rsplit(":", 1)
        self.sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.specs = spec or specs()

    def send(self, api, version, body):
        corr = next(self._corr)
        self.sock.sendall(self.specs.request(api, version, body, corr))
        return corr

    def _exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                raise ConnectionError("connection closed by the broker after %d of %d bytes" % (len(buf), n))
            buf += chunk
        return bytes(buf)

    def receive(self, api, version, corr):
        frame = self._exact(struct.unpack(">i", self._exact(4))[0])
        got, body = self.specs.response(api, version, frame)
        if got != corr:
            raise DecodeError("%sResponse v%d: correlation id %d, expected %d" % (api, version, got, corr))
        return body

    def call(self, api, version, body=None):
        return self.receive(api, version, self.send(api, version, body or {}))

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
