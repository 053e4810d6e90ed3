#!/usr/bin/env python3
"""A small recording TCP proxy for the Kafka wire protocol (Python 3 stdlib only).

It listens on 127.0.0.1:<port>, forwards every accepted connection to one upstream
broker, splits both directions into Kafka frames (int32 big-endian size + body) and
records each full frame (size prefix included) as one file under <out>/frames/, with
one JSON line per frame in <out>/log.jsonl:

  {"seq", "conn", "direction": "request"|"response", "apiKey", "apiVersion",
   "correlationId", "size", "file", "label", "rewrittenPort", "rewrites", "time"}

Requests are labelled from the first 8 bytes of the body (api key int16, api version
int16, correlation id int32). Responses are matched to their request by correlation id
(per connection) and labelled with that request's api key and version.

Port rewrite: the broker advertises its own host:port in Metadata, FindCoordinator and
DescribeCluster responses, so a client would connect to it directly and bypass the proxy.
In every version of those responses the host string's bytes are immediately followed by
the int32 port, so the proxy replaces those 4 bytes with its own listening port: the
frame size does not change. A host occurrence is only rewritten when it is preceded by a
valid length prefix (int16 for classic strings, unsigned varint N+1 for compact strings)
and followed by the upstream port. The recorded response is the rewritten one, i.e. the
bytes the client actually received ("rewrittenPort": true); the upstream original is kept
beside it as frames/<seq>.orig.bin.

Usage:
  record_proxy.py --upstream 127.0.0.1:9092 --out DIR [--port 0] [--label TEXT]
                  [--host 127.0.0.1 --host localhost]

It prints "listening 127.0.0.1:<port>" as its first stdout line, then serves until
SIGTERM/SIGINT.
"""
import argparse
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

API_NAMES = {
    0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit",
    9: "OffsetFetch", 10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat",
    13: "LeaveGroup", 14: "SyncGroup", 15: "DescribeGroups", 16: "ListGroups",
    17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics", 20: "DeleteTopics",
    21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
    24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 28: "TxnOffsetCommit",
    32: "DescribeConfigs", 33: "AlterConfigs", 36: "SaslAuthenticate", 37: "CreatePartitions",
    42: "DeleteGroups", 44: "IncrementalAlterConfigs", 47: "OffsetDelete",
    60: "DescribeCluster", 61: "DescribeProducers", 68: "ConsumerGroupHeartbeat",
    69: "ConsumerGroupDescribe", 71: "GetTelemetrySubscriptions", 72: "PushTelemetry",
    75: "DescribeTopicPartitions",
}

# api key -> first flexible version, for the responses whose host/port we rewrite.
REWRITE_APIS = {3: 9, 10: 3, 60: 0}

MAX_FRAME = 256 * 1024 * 1024


def api_name(key):
    return API_NAMES.get(key, "Api%d" % key)


def rewrite_ports(body, hosts, old_port, new_port):
    """Return (new_body, count): every <len><host><old_port> becomes <len><host><new_port>."""
    buf = bytearray(body)
    old = struct.pack(">i", old_port)
    new = struct.pack(">i", new_port)
    count = 0
    for host in hosts:
        h = host.encode()
        n = len(h)
        start = 0
        while True:
            i = buf.find(h, start)
            if i < 0:
                break
            start = i + 1
            if buf[i + n:i + n + 4] != old:
                continue
            classic = i >= 2 and struct.unpack(">h", bytes(buf[i - 2:i]))[0] == n
            compact = n + 1 < 0x80 and i >= 1 and buf[i - 1] == n + 1
            if not (classic or compact):
                continue
            buf[i + n:i + n + 4] = new
            count += 1
    return bytes(buf), count


class Reader:
    """Just enough of the Kafka primitive types to walk a response body."""

    def __init__(self, buf, off=0):
        self.buf = buf
        self.off = off

    def take(self, n):
        if self.off + n > len(self.buf):
            raise ValueError("short buffer")
        b = self.buf[self.off:self.off + n]
        self.off += n
        return b

    def i16(self):
        return struct.unpack(">h", self.take(2))[0]

    def i32(self):
        return struct.unpack(">i", self.take(4))[0]

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
        if n < 0:
            return None
        return self.take(n)

    def array_len(self, flexible):
        return self.uvarint() - 1 if flexible else self.i32()

    def tags(self):
        for _ in range(self.uvarint()):
            self.uvarint()
            self.take(self.uvarint())


def shim_api_versions(body, version):
    """Add CreateTopics (19) versions 0-7 to an ApiVersions response that lacks it.

    Returns the new body or None. Used only with --admin-shim: librdkafka's mock does not
    implement the admin APIs, so without this a client never even sends CreateTopics."""
    flexible = version >= 3
    r = Reader(body, 4)  # ApiVersions responses always use response header v0
    if r.i16() != 0:
        return None
    count_off = r.off
    n = r.array_len(flexible)
    entry = 7 if flexible else 6
    keys = []
    for _ in range(n):
        keys.append(r.i16())
        r.take(entry - 2)
    if 19 in keys:
        return None
    new_entry = struct.pack(">hhh", 19, 0, 7) + (b"\x00" if flexible else b"")
    if flexible:
        if n + 2 >= 0x80:
            return None
        count = bytes([n + 2])
        head = body[:count_off] + count + body[count_off + 1:r.off]
    else:
        head = body[:count_off] + struct.pack(">i", n + 1) + body[count_off + 4:r.off]
    return head + new_entry + body[r.off:]


def metadata_controller_offset(body, version):
    """Return (offset of ControllerId, [broker node ids]) in a Metadata response body."""
    flexible = version >= 9
    r = Reader(body, 4)
    if flexible:
        r.tags()
    if version >= 3:
        r.i32()
    nodes = []
    for _ in range(r.array_len(flexible)):
        nodes.append(r.i32())
        r.string(flexible)
        r.i32()
        if version >= 1:
            r.string(flexible)
        if flexible:
            r.tags()
    if version >= 2:
        r.string(flexible)
    if version < 1:
        return None, nodes
    return r.off, nodes


def recv_exact(sock, n):
    chunks = []
    while n > 0:
        b = sock.recv(min(n, 1 << 20))
        if not b:
            return None
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def read_frame(sock):
    head = recv_exact(sock, 4)
    if head is None:
        return None
    (size,) = struct.unpack(">i", head)
    if size < 0 or size > MAX_FRAME:
        raise ValueError("bad frame size %d" % size)
    body = recv_exact(sock, size) if size else b""
    if body is None:
        return None
    return head, body


class Recorder:
    def __init__(self, out, label):
        self.out = out
        self.label = label
        self.frames = os.path.join(out, "frames")
        os.makedirs(self.frames, exist_ok=True)
        self.lock = threading.Lock()
        self.seq = 0
        self.log = open(os.path.join(out, "log.jsonl"), "a", buffering=1)

    def record(self, conn, direction, frame, meta, original=None):
        with self.lock:
            self.seq += 1
            seq = self.seq
            name = "%06d.bin" % seq
            with open(os.path.join(self.frames, name), "wb") as f:
                f.write(frame)
            if original is not None:
                with open(os.path.join(self.frames, "%06d.orig.bin" % seq), "wb") as f:
                    f.write(original)
            entry = {"seq": seq, "conn": conn, "direction": direction,
                     "file": "frames/" + name, "size": len(frame), "label": self.label,
                     "time": round(time.time(), 6)}
            entry.update(meta)
            self.log.write(json.dumps(entry, sort_keys=True) + "\n")

    def close(self):
        with self.lock:
            self.log.close()


class Connection:
    def __init__(self, proxy, cid, client):
        self.proxy = proxy
        self.cid = cid
        self.client = client
        self.upstream = socket.create_connection(proxy.upstream, timeout=10)
        self.upstream.settimeout(None)
        self.pending = {}  # correlation id -> (api key, api version)
        self.lock = threading.Lock()

    def start(self):
        threading.Thread(target=self.requests, daemon=True).start()
        threading.Thread(target=self.responses, daemon=True).start()

    def shutdown(self):
        for s in (self.client, self.upstream):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def requests(self):
        try:
            while True:
                fr = read_frame(self.client)
                if fr is None:
                    break
                head, body = fr
                meta = {"apiKey": None, "apiVersion": None, "correlationId": None}
                if len(body) >= 8:
                    key, ver, corr = struct.unpack(">hhi", body[:8])
                    meta = {"apiKey": key, "apiName": api_name(key), "apiVersion": ver,
                            "correlationId": corr}
                    with self.lock:
                        self.pending[corr] = (key, ver)
                self.proxy.rec.record(self.cid, "request", head + body, meta)
                self.upstream.sendall(head + body)
        except (OSError, ValueError) as e:
            self.proxy.note("conn %d request side: %s" % (self.cid, e))
        finally:
            self.shutdown()

    def responses(self):
        try:
            while True:
                fr = read_frame(self.upstream)
                if fr is None:
                    break
                head, body = fr
                upstream_frame = head + body
                meta = {"apiKey": None, "apiVersion": None, "correlationId": None,
                        "rewrittenPort": False}
                if len(body) >= 4:
                    (corr,) = struct.unpack(">i", body[:4])
                    with self.lock:
                        req = self.pending.pop(corr, None)
                    meta["correlationId"] = corr
                    if req is not None:
                        key, ver = req
                        meta.update(apiKey=key, apiName=api_name(key), apiVersion=ver)
                        if self.proxy.admin_shim:
                            body, shims = self.proxy.shim(key, ver, body)
                            if shims:
                                meta["shim"] = shims
                                head = struct.pack(">i", len(body))
                        if key in REWRITE_APIS:
                            new_body, n = rewrite_ports(body, self.proxy.hosts,
                                                        self.proxy.upstream[1], self.proxy.port)
                            meta["rewrites"] = n
                            if n:
                                body = new_body
                                meta["rewrittenPort"] = True
                                meta["advertisedPort"] = self.proxy.port
                                meta["upstreamPort"] = self.proxy.upstream[1]
                    else:
                        meta["unmatched"] = True
                frame = head + body
                original = upstream_frame if frame != upstream_frame else None
                self.proxy.rec.record(self.cid, "response", frame, meta, original)
                self.client.sendall(frame)
        except (OSError, ValueError) as e:
            self.proxy.note("conn %d response side: %s" % (self.cid, e))
        finally:
            self.shutdown()


class Proxy:
    def __init__(self, upstream, out, port, label, hosts, admin_shim=False):
        self.upstream = upstream
        self.admin_shim = admin_shim
        self.rec = Recorder(out, label)
        self.hosts = hosts
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stopping = False

    def shim(self, key, ver, body):
        shims = []
        try:
            if key == 18:
                new = shim_api_versions(body, ver)
                if new is not None:
                    body = new
                    shims.append("ApiVersions: added CreateTopics 0-7")
            elif key == 3:
                off, nodes = metadata_controller_offset(body, ver)
                if off is not None and nodes:
                    (ctrl,) = struct.unpack(">i", body[off:off + 4])
                    if ctrl not in nodes:
                        body = body[:off] + struct.pack(">i", nodes[0]) + body[off + 4:]
                        shims.append("Metadata: ControllerId %d -> %d" % (ctrl, nodes[0]))
        except (ValueError, IndexError, struct.error) as e:
            self.note("shim failed on api %d v%d: %s" % (key, ver, e))
        return body, shims

    def note(self, msg):
        print("record_proxy: " + msg, file=sys.stderr, flush=True)

    def serve(self):
        cid = 0
        self.sock.settimeout(0.2)
        while not self.stopping:
            try:
                client, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                break
            client.settimeout(None)
            cid += 1
            try:
                c = Connection(self, cid, client)
            except OSError as e:
                self.note("upstream connect failed: %s" % e)
                client.close()
                continue
            self.conns.append(c)
            c.start()

    def stop(self):
        self.stopping = True
        try:
            self.sock.close()
        except OSError:
            pass
        for c in self.conns:
            c.shutdown()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", required=True, help="host:port of the real broker")
    ap.add_argument("--out", required=True, help="directory for frames/ and log.jsonl")
    ap.add_argument("--port", type=int, default=0, help="listen port (0: ephemeral)")
    ap.add_argument("--label", default="", help="label stored with every frame")
    ap.add_argument("--host", action="append", default=None,
                    help="advertised host string(s) to rewrite the port after "
                         "(default: upstream host, 127.0.0.1, localhost)")
    ap.add_argument("--admin-shim", action="store_true",
                    help="make the client believe the broker supports CreateTopics: add it to "
                         "ApiVersions responses and point a dangling Metadata ControllerId at "
                         "the first broker (changes those responses; they are marked 'shim')")
    a = ap.parse_args()
    host, _, port = a.upstream.rpartition(":")
    hosts = a.host or [host, "127.0.0.1", "localhost"]
    hosts = list(dict.fromkeys(h for h in hosts if h))
    p = Proxy((host, int(port)), a.out, a.port, a.label, hosts, a.admin_shim)

    def stop(sig, frame):
        p.stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("listening 127.0.0.1:%d" % p.port, flush=True)
    p.serve()
    p.stop()
    # Let in-flight frames finish recording before closing the log.
    time.sleep(0.2)
    p.rec.close()


if __name__ == "__main__":
    main()
