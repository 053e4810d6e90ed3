#!/usr/bin/env python3
"""Capture golden Kafka frames from real librdkafka clients (see capture.sh).

  capture.py --mock PATH [--out DIR] [--raw DIR] [--keep N]

Starts librdkafka's mock cluster (PATH: the built /work/shared/tools/mockbroker.c, 1 broker),
then for every scenario starts record_proxy.py in front of it and drives one client through
the proxy: confluent-kafka (the librdkafka bundled in its wheel) and Debian's kcat (librdkafka
2.0.2). Afterwards it keeps the first few frames per (client, scenario, api, version), writes
them to DIR/<client>/NNNN-{req,resp}-<Api>-v<N>-<tag>.bin plus DIR/manifest.json, and
self-checks them: every Produce request's record batches are decoded by kafka-python
(Tools/interop/decode_batches.py) and compared with the records the client was told to send.

  capture.py client SCENARIO BOOTSTRAP   (internal: run one confluent-kafka scenario)
"""
import argparse
import base64
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import kafka_wire  # noqa: E402

DEFAULT_OUT = os.path.join(REPO, "Tests", "KafkaProtocolTests", "Fixtures", "golden")
DECODER = os.path.join(REPO, "Tools", "interop", "decode_batches.py")
PROXY = os.path.join(HERE, "record_proxy.py")

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
BASE_TS = 1700000000000
CONFLUENT_CLIENT_ID = "golden-confluent"
KCAT_CLIENT_ID = "golden-kcat"
KCAT_HEADERS = [["source", "kcat"], ["trace-id", "abc-123"]]


# ---------------------------------------------------------------- deterministic content

def confluent_records(label):
    """The records confluent-kafka produces in scenario 'produce <label>' (all to partition 0)."""
    def filler(i):
        return ("golden %s record %d; " % (label, i)) * 6
    return [
        {"key": "key-0", "value": filler(0), "timestamp": BASE_TS,
         "headers": [["trace-id", "abc-123"], ["source", "confluent"]]},
        {"key": "key-1", "value": filler(1), "timestamp": BASE_TS + 1, "headers": []},
        {"key": None, "value": filler(2), "timestamp": BASE_TS + 2,
         "headers": [["source", "confluent"]]},
        {"key": "key-3", "value": None, "timestamp": BASE_TS + 3,
         "headers": [["tombstone", None]]},
        {"key": "key-4", "value": "", "timestamp": BASE_TS + 4, "headers": [["empty", ""]]},
        {"key": "clé-5", "value": "välue ünïcode ✓ " * 4, "timestamp": BASE_TS + 1000,
         "headers": [["ünï", "cødé"], ["source", "confluent"]]},
    ]


def kcat_lines(codec):
    """stdin lines for `kcat -P -K : -Z`, and the records they must become."""
    def filler(i):
        return ("kcat golden %s record %d; " % (codec, i)) * 6
    lines = ["key-0:" + filler(0), "key-1:" + filler(1), "key-2:", filler(3), "key-4:" + filler(4)]
    expected = [
        {"key": "key-0", "value": filler(0)},
        {"key": "key-1", "value": filler(1)},
        {"key": "key-2", "value": None},  # empty value + -Z -> null value
        {"key": None, "value": filler(3)},  # no key delimiter -> null key
        {"key": "key-4", "value": filler(4)},
    ]
    for e in expected:
        e["headers"] = [list(h) for h in KCAT_HEADERS]
        e["timestamp"] = None  # kcat stamps wall-clock CreateTime
    return "\n".join(lines) + "\n", expected


# ---------------------------------------------------------------- confluent-kafka client side

def _enc(s):
    return None if s is None else s.encode("utf-8")


def client_main(scenario, bootstrap):
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition, OFFSET_BEGINNING
    from confluent_kafka.admin import AdminClient, NewTopic

    common = {"bootstrap.servers": bootstrap, "client.id": CONFLUENT_CLIENT_ID}
    result = {"scenario": scenario}

    def produce(topic, records, extra):
        conf = dict(common, **{"linger.ms": 100, "acks": "all", "enable.idempotence": False,
                               "message.timeout.ms": 15000})
        conf.update(extra)
        p = Producer(conf)
        delivered = []

        def cb(err, msg):
            delivered.append({"error": str(err) if err else None, "partition": msg.partition(),
                              "offset": msg.offset()})
        for r in records:
            p.produce(topic, value=_enc(r["value"]), key=_enc(r["key"]), partition=0,
                      timestamp=r["timestamp"], on_delivery=cb,
                      headers=[(k, _enc(v)) for k, v in r["headers"]])
        left = p.flush(20)
        result.update(delivered=delivered, undelivered=left)
        if left or any(d["error"] for d in delivered):
            raise SystemExit("produce failed: %r" % result)

    def drain(c, want_eofs, seconds):
        eofs, msgs, errors = set(), [], []
        end = time.time() + seconds
        while time.time() < end:
            m = c.poll(0.2)
            if m is None:
                if want_eofs is None and c.assignment() and eofs >= {
                        (tp.topic, tp.partition) for tp in c.assignment()}:
                    break
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    eofs.add((m.topic(), m.partition()))
                    if want_eofs is not None and eofs >= want_eofs:
                        break
                    if want_eofs is None and c.assignment() and eofs >= {
                            (tp.topic, tp.partition) for tp in c.assignment()}:
                        break
                else:
                    errors.append(str(m.error()))
                continue
            msgs.append({"topic": m.topic(), "partition": m.partition(), "offset": m.offset()})
        return eofs, msgs, errors

    if scenario.startswith("produce-"):
        codec = scenario.split("-", 1)[1]
        if codec == "idempotent":
            produce("golden-idempotent", confluent_records("idempotent"),
                    {"enable.idempotence": True, "compression.type": "none"})
        else:
            produce("golden-" + codec, confluent_records(codec), {"compression.type": codec})
    elif scenario == "metadata":
        a = AdminClient(common)
        md = a.list_topics(timeout=10)
        one = a.list_topics(topic="golden-none", timeout=10)
        result.update(topics=sorted(md.topics), brokers=len(md.brokers),
                      one=sorted(one.topics))
    elif scenario == "fetch":
        topics = ["golden-" + c for c in CODECS] + ["golden-idempotent"]
        c = Consumer(dict(common, **{"group.id": "golden-fetch", "enable.auto.commit": False,
                                     "enable.partition.eof": True, "fetch.wait.max.ms": 100,
                                     "auto.offset.reset": "earliest"}))
        c.assign([TopicPartition(t, 0, OFFSET_BEGINNING) for t in topics])
        eofs, msgs, errors = drain(c, {(t, 0) for t in topics}, 20)
        c.close()
        result.update(consumed=len(msgs), eofs=sorted(map(list, eofs)), errors=errors)
        if len(eofs) != len(topics) or len(msgs) != 6 * len(topics):
            raise SystemExit("fetch incomplete: %r" % result)
    elif scenario in ("group", "group-consumer-protocol"):
        classic = scenario == "group"
        topic = "golden-none" if classic else "golden-gzip"
        conf = dict(common, **{"group.id": "golden-group" if classic else "golden-group-848",
                               "enable.auto.commit": False, "enable.partition.eof": True,
                               "auto.offset.reset": "earliest", "fetch.wait.max.ms": 100})
        if classic:
            conf.update({"session.timeout.ms": 6000, "heartbeat.interval.ms": 250})
        else:
            conf.update({"group.protocol": "consumer"})
        c = Consumer(conf)
        c.subscribe([topic])
        eofs, msgs, errors = drain(c, None, 25)
        assignment = sorted([tp.topic, tp.partition] for tp in c.assignment())
        committed = []
        if msgs:
            offs = c.commit(asynchronous=False)
            committed = sorted([tp.topic, tp.partition, tp.offset] for tp in offs or [])
        fetched = c.committed([TopicPartition(topic, p) for p in range(4)], timeout=10)
        end = time.time() + 1.5  # let a few heartbeats go by
        while time.time() < end:
            c.poll(0.1)
        c.close()
        result.update(consumed=len(msgs), assignment=assignment, committed=committed,
                      fetchedOffsets=sorted([tp.topic, tp.partition, tp.offset] for tp in fetched),
                      errors=errors)
        if len(msgs) != 6:
            raise SystemExit("group consume incomplete: %r" % result)
    elif scenario == "createtopics":
        a = AdminClient(common)
        fs = a.create_topics([NewTopic("golden-created", num_partitions=3, replication_factor=1,
                                       config={"cleanup.policy": "compact"})],
                             request_timeout=3, operation_timeout=2)
        outcome = {}
        for t, f in fs.items():
            try:
                f.result(timeout=15)
                outcome[t] = "created"
            except Exception as e:  # expected: the mock has no CreateTopics handler
                outcome[t] = str(e)
        result.update(outcome=outcome)
    else:
        raise SystemExit("unknown scenario " + scenario)
    print(json.dumps(result))


# ---------------------------------------------------------------- scenarios

def scenarios():
    out = []
    for codec in CODECS:
        out.append({"client": "confluent", "id": "produce-" + codec, "scenario": "produce " + codec,
                    "tag": codec, "produce": {"topic": "golden-" + codec, "partition": 0,
                                              "compression": codec,
                                              "records": confluent_records(codec)}})
    out.append({"client": "confluent", "id": "produce-idempotent",
                "scenario": "produce idempotent", "tag": "idempotent",
                "produce": {"topic": "golden-idempotent", "partition": 0, "compression": "none",
                            "records": confluent_records("idempotent")},
                "notes": "enable.idempotence=true: InitProducerId, then a batch with a producer "
                         "id/epoch and base sequence 0"})
    out.append({"client": "confluent", "id": "metadata", "scenario": "metadata", "tag": "metadata",
                "notes": "AdminClient.list_topics() (all topics) then list_topics(topic=golden-none)"})
    out.append({"client": "confluent", "id": "fetch", "scenario": "fetch", "tag": "fetch",
                "notes": "Consumer.assign() partition 0 of golden-{none,gzip,snappy,lz4,zstd,"
                         "idempotent} from OFFSET_BEGINNING (ListOffsets), read to EOF"})
    out.append({"client": "confluent", "id": "group", "scenario": "group", "tag": "group",
                "notes": "classic group golden-group subscribed to golden-none: FindCoordinator, "
                         "JoinGroup, SyncGroup, Fetch, OffsetCommit (sync), OffsetFetch "
                         "(committed()), Heartbeat (250 ms), LeaveGroup on close"})
    out.append({"client": "confluent", "id": "group-consumer-protocol",
                "scenario": "group consumer-protocol", "tag": "group848", "optional": True,
                "notes": "KIP-848 group.protocol=consumer, group golden-group-848 subscribed to "
                         "golden-gzip: ConsumerGroupHeartbeat instead of Join/Sync/Heartbeat"})
    out.append({"client": "confluent", "id": "createtopics", "scenario": "createtopics",
                "tag": "createtopics", "shim": True,
                "notes": "AdminClient.create_topics(golden-created, 3 partitions, rf 1, "
                         "cleanup.policy=compact). The mock implements no admin API, so the proxy "
                         "ran with --admin-shim: it added CreateTopics 0-7 to the ApiVersions "
                         "response and pointed the Metadata ControllerId (the mock says 0, a broker "
                         "that does not exist) at broker 1. The mock drops the connection on the "
                         "CreateTopics request, so it has no response."})
    for codec in CODECS:
        text, expected = kcat_lines(codec)
        out.append({"client": "kcat", "id": "produce-" + codec, "scenario": "produce " + codec,
                    "tag": codec, "stdin": text,
                    "produce": {"topic": "golden-kcat-" + codec, "partition": 0,
                                "compression": codec, "records": expected},
                    "notes": "kcat -P -p 0 -K : -Z -z %s -H source=kcat -H trace-id=abc-123 "
                             "(timestamps are wall-clock)" % codec})
    out.append({"client": "kcat", "id": "metadata", "scenario": "metadata", "tag": "metadata",
                "notes": "kcat -L, then kcat -L -t golden-kcat-none"})
    out.append({"client": "kcat", "id": "consume", "scenario": "consume", "tag": "consume",
                "notes": "kcat -C -t golden-kcat-none -p 0 -o beginning -e, then the same for "
                         "golden-zstd (written by confluent-kafka)"})
    out.append({"client": "kcat", "id": "consume-group", "scenario": "consume group",
                "tag": "group", "optional": True,
                "notes": "kcat -G golden-kcat-group golden-kcat-gzip -e (balanced consumer, "
                         "auto commit)"})
    return out


def kcat_commands(sc, bootstrap):
    base = ["kcat", "-b", bootstrap, "-X", "client.id=" + KCAT_CLIENT_ID]
    if sc["id"].startswith("produce-"):
        codec = sc["produce"]["compression"]
        cmd = base + ["-P", "-t", sc["produce"]["topic"], "-p", "0", "-K", ":", "-Z",
                      "-X", "linger.ms=200", "-X", "acks=all"]
        if codec != "none":
            cmd += ["-z", codec]
        for k, v in KCAT_HEADERS:
            cmd += ["-H", "%s=%s" % (k, v)]
        return [(cmd, sc["stdin"])]
    if sc["id"] == "metadata":
        return [(base + ["-L"], None), (base + ["-L", "-t", "golden-kcat-none"], None)]
    if sc["id"] == "consume":
        return [(base + ["-C", "-t", t, "-p", "0", "-o", "beginning", "-e", "-q",
                         "-X", "fetch.wait.max.ms=100"], None)
                for t in ("golden-kcat-none", "golden-zstd")]
    if sc["id"] == "consume-group":
        return [(base + ["-G", "golden-kcat-group", "golden-kcat-gzip", "-e", "-q",
                         "-X", "auto.offset.reset=earliest", "-X", "fetch.wait.max.ms=100",
                         "-X", "heartbeat.interval.ms=250"], None)]
    raise ValueError(sc["id"])


# ---------------------------------------------------------------- processes

class Procs:
    def __init__(self):
        self.procs = []

    def start(self, cmd, **kw):
        p = subprocess.Popen(cmd, **kw)
        self.procs.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=5):
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def stop_all(self):
        for p in reversed(self.procs):
            self.stop(p)


def run_client(procs, cmd, stdin, timeout, log):
    log.write("$ %s\n" % " ".join(cmd))
    p = procs.start(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = p.communicate(stdin.encode() if stdin else None, timeout=timeout)
    except subprocess.TimeoutExpired:
        procs.stop(p, signal.SIGINT)
        out, err = p.communicate()
        log.write("(timed out after %ss, sent SIGINT)\n" % timeout)
    log.write(out.decode(errors="replace")[-4000:] + err.decode(errors="replace")[-4000:] + "\n")
    log.flush()
    return p.returncode, out.decode(errors="replace"), err.decode(errors="replace")


def capture_all(mock, raw):
    procs = Procs()
    log = open(os.path.join(raw, "clients.log"), "w")
    done = []
    try:
        mp = procs.start([mock, "1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        bootstrap = mp.stdout.readline().decode().strip()
        if not bootstrap:
            raise SystemExit("mock broker printed no bootstrap")
        print("mock cluster at %s" % bootstrap, flush=True)
        for i, sc in enumerate(scenarios()):
            sdir = os.path.join(raw, "%02d-%s-%s" % (i, sc["client"], sc["id"]))
            os.makedirs(sdir)
            cmd = [sys.executable, PROXY, "--upstream", bootstrap, "--out", sdir,
                   "--label", sc["scenario"]]
            if sc.get("shim"):
                cmd.append("--admin-shim")
            pp = procs.start(cmd, stdout=subprocess.PIPE,
                             stderr=open(os.path.join(sdir, "proxy.err"), "w"))
            line = pp.stdout.readline().decode().split()
            proxy = line[1]
            t0 = time.time()
            ok = True
            if sc["client"] == "confluent":
                rc, out, err = run_client(procs, [sys.executable, os.path.abspath(__file__),
                                                  "client", sc["id"], proxy], None, 60, log)
                ok = rc == 0
                sc["result"] = out.strip().splitlines()[-1] if out.strip() else err[-500:]
            else:
                for cmd, stdin in kcat_commands(sc, proxy):
                    rc, out, err = run_client(procs, cmd, stdin, 30, log)
                    ok = ok and rc == 0
                sc["result"] = "exit %d" % rc
            time.sleep(0.5)
            procs.stop(pp)
            status = "ok" if ok else ("FAILED (optional)" if sc.get("optional") else "FAILED")
            print("  %-9s %-24s %5.1fs %s" % (sc["client"], sc["id"], time.time() - t0, status),
                  flush=True)
            if not ok and not sc.get("optional"):
                raise SystemExit("scenario %s/%s failed: %s" % (sc["client"], sc["id"],
                                                                 sc["result"]))
            sc["ok"] = ok
            sc["raw"] = sdir
            done.append(sc)
    finally:
        procs.stop_all()
        log.close()
    return done


# ---------------------------------------------------------------- selection and manifest

def load_log(sdir):
    entries = []
    path = os.path.join(sdir, "log.jsonl")
    if os.path.exists(path):
        with open(path) as f:
            entries = [json.loads(l) for l in f if l.strip()]
    for e in entries:
        with open(os.path.join(sdir, e["file"]), "rb") as f:
            e["bytes"] = f.read()
    return sorted(entries, key=lambda e: e["seq"])


def has_records(e):
    try:
        return any(r for _, _, _, r in kafka_wire.fetch_records(e["bytes"], e["apiVersion"]))
    except ValueError:
        return False


def select(entries, keep):
    """First `keep` request/response pairs per (api, version); every Produce/CreateTopics
    request, and every Fetch whose response carries records."""
    data_fetches = {(e["conn"], e["correlationId"]) for e in entries
                    if e["direction"] == "response" and e["apiKey"] == 1 and has_records(e)}
    counts = {}
    kept_reqs = set()
    out = []
    for e in entries:
        if e["direction"] == "request":
            k = (e["apiKey"], e["apiVersion"])
            counts[k] = counts.get(k, 0) + 1
            if counts[k] <= keep or e["apiKey"] in (0, 19) or \
                    (e["conn"], e["correlationId"]) in data_fetches:
                kept_reqs.add((e["conn"], e["correlationId"]))
                out.append(e)
        elif (e["conn"], e["correlationId"]) in kept_reqs or e.get("unmatched"):
            out.append(e)
    return out


def version_info(client):
    if client == "confluent":
        import confluent_kafka
        lib = confluent_kafka.libversion()[0]
        ver = confluent_kafka.version()
        ver = ver[0] if isinstance(ver, tuple) else ver
        return ("confluent-kafka-python",
                "confluent-kafka %s (librdkafka %s, bundled)" % (ver, lib), lib)
    v = subprocess.run(["kcat", "-V"], capture_output=True, text=True).stdout
    line = next(l for l in v.splitlines() if l.startswith("Version"))
    kv = line.split()[1]
    lib = line.split("librdkafka ")[1].split()[0]
    return "kcat", "kcat %s (librdkafka %s, Debian)" % (kv, lib), lib


def decode_batches(python, blobs):
    """Run Tools/interop/decode_batches.py on blobs; return its per-file batch lists."""
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i, b in enumerate(blobs):
            p = os.path.join(d, "%d.bin" % i)
            with open(p, "wb") as f:
                f.write(b)
            paths.append(p)
        r = subprocess.run([python, DECODER] + paths, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("decode_batches.py failed: " + r.stderr)
        return [f["batches"] for f in json.loads(r.stdout)["files"]]


def b64(s):
    return None if s is None else base64.b64encode(s.encode("utf-8")).decode()


def check_produce(entry, frame, expected, python):
    parts = kafka_wire.produce_records(frame)
    if len(parts) != 1:
        raise SystemExit("%s: expected one topic-partition, got %r" % (entry["file"],
                                                                       [p[:2] for p in parts]))
    topic, part, recs = parts[0]
    if (topic, part) != (expected["topic"], expected["partition"]):
        raise SystemExit("%s: wrote to %s/%d" % (entry["file"], topic, part))
    batches = decode_batches(python, [recs])[0]
    records = [r for b in batches for r in b["records"]]
    want = expected["records"]
    problems = []
    if len(records) != len(want):
        problems.append("record count %d != %d" % (len(records), len(want)))
    for i, (got, w) in enumerate(zip(records, want)):
        if got["key"] != b64(w["key"]):
            problems.append("record %d key %r" % (i, got["key"]))
        if got["value"] != b64(w["value"]):
            problems.append("record %d value %r" % (i, got["value"]))
        if got["headers"] != [[k, b64(v)] for k, v in w["headers"]]:
            problems.append("record %d headers %r" % (i, got["headers"]))
        if w["timestamp"] is not None and got["timestamp"] != w["timestamp"]:
            problems.append("record %d timestamp %r" % (i, got["timestamp"]))
        if got["offset"] != i:
            problems.append("record %d offset %r" % (i, got["offset"]))
    for b in batches:
        if b["compression"] != expected["compression"]:
            problems.append("batch compression %s" % b["compression"])
    if problems:
        raise SystemExit("%s does not hold the expected records: %s" % (entry["file"],
                                                                        "; ".join(problems)))
    b = batches[0]
    summary = {k: b[k] for k in ("compression", "producerId", "producerEpoch", "baseSequence",
                                 "isTransactional", "timestampType", "recordsCount",
                                 "batchLength", "crc")}
    summary["batches"] = len(batches)
    summary["recordsBytes"] = len(recs)
    if "snappyFraming" in b:
        summary["snappyFraming"] = b["snappyFraming"]
    summary["timestamps"] = [r["timestamp"] for r in records]
    return summary


def fetch_summary(frame, version, python, topic_names):
    parts = kafka_wire.fetch_records(frame, version)
    parts = [(topic_names.get(t, t), p, e, r) for t, p, e, r in parts]
    with_data = [(t, p, e, r) for t, p, e, r in parts if r]
    decoded = decode_batches(python, [r for _, _, _, r in with_data]) if with_data else []
    out = []
    for (t, p, e, r), batches in zip(with_data, decoded):
        out.append({"topic": t, "partition": p, "batches": len(batches),
                    "records": sum(len(b["records"]) for b in batches),
                    "compression": sorted({b["compression"] for b in batches})})
    return {"partitions": len(parts), "withRecords": out}


def build(done, out_dir, keep, python):
    manifest = []
    by_client = {}
    for sc in done:
        by_client.setdefault(sc["client"], []).append(sc)
    stats = {}
    for client, scs in by_client.items():
        client_name, client_version, lib = version_info(client)
        dirname = "%s-%s" % (client, ".".join(lib.split(".")[:2]))
        cdir = os.path.join(out_dir, dirname)
        if os.path.isdir(cdir):
            shutil.rmtree(cdir)
        os.makedirs(cdir)
        n = 0
        topic_names = {}
        for sc in scs:
            for e in load_log(sc["raw"]):
                if e["direction"] == "response" and e["apiKey"] == 3:
                    try:
                        topic_names.update(kafka_wire.metadata_topic_ids(e["bytes"],
                                                                         e["apiVersion"]))
                    except ValueError:
                        pass
        for sc in scs:
            entries = select(load_log(sc["raw"]), keep)
            first = True
            names = {}
            for e in entries:
                n += 1
                fname = "%04d-%s-%s-v%s-%s.bin" % (
                    n, "req" if e["direction"] == "request" else "resp",
                    e.get("apiName") or "Unknown", e["apiVersion"], sc["tag"])
                e["rel"] = "%s/%s" % (dirname, fname)
                names[(e["direction"], e["conn"], e["correlationId"])] = e["rel"]
            for e in entries:
                req = e["direction"] == "request"
                api = e.get("apiName") or "Unknown"
                ver = e["apiVersion"]
                rel = e["rel"]
                frame = e["bytes"]
                if int.from_bytes(frame[:4], "big", signed=True) != len(frame) - 4:
                    raise SystemExit("%s: size prefix mismatch" % rel)
                with open(os.path.join(out_dir, rel), "wb") as f:
                    f.write(frame)
                hv = kafka_wire.header_versions(e["apiKey"], ver) if ver is not None else (None, None)
                m = {"file": rel, "client": client_name, "clientVersion": client_version,
                     "librdkafkaVersion": lib, "direction": e["direction"],
                     "apiKey": e["apiKey"], "apiName": api, "apiVersion": ver,
                     "correlationId": e["correlationId"],
                     "headerVersion": hv[0] if req else hv[1],
                     "scenario": sc["scenario"], "connection": e["conn"],
                     "size": len(frame), "sha256": hashlib.sha256(frame).hexdigest()}
                notes = []
                if req:
                    key, v2, corr, client_id, _ = kafka_wire.request_header(frame)
                    assert (key, v2, corr) == (e["apiKey"], ver, e["correlationId"])
                    m["clientId"] = client_id
                    peer = names.get(("response", e["conn"], e["correlationId"]))
                else:
                    m["rewrittenPort"] = bool(e.get("rewrittenPort"))
                    m["modifiedByProxy"] = bool(e.get("rewrittenPort") or e.get("shim"))
                    if e.get("rewrittenPort"):
                        m["advertisedPort"] = e["advertisedPort"]
                        notes.append("the broker port after each advertised host was rewritten "
                                     "from the mock's %d to the proxy's %d (%d place(s)); size "
                                     "unchanged; recorded as the client received it"
                                     % (e["upstreamPort"], e["advertisedPort"], e["rewrites"]))
                    if e.get("shim"):
                        m["shim"] = e["shim"]
                        notes.append("changed by the proxy's --admin-shim: " + "; ".join(e["shim"]))
                    peer = names.get(("request", e["conn"], e["correlationId"]))
                if peer:
                    m["pairedWith"] = peer
                if req and e["apiKey"] == 0 and sc.get("produce"):
                    m["expected"] = sc["produce"]
                    m["batch"] = check_produce(m, frame, sc["produce"], python)
                    notes.append("%s batch, %d records; the client's compressed payload is "
                                 "kept as sent" % (m["batch"]["compression"],
                                                   m["batch"]["recordsCount"]))
                if not req and e["apiKey"] == 1:
                    m["fetched"] = fetch_summary(frame, ver, python, topic_names)
                if e["apiKey"] == 18 and not req and ver is not None and ver >= 3 and \
                        frame[8:10] == b"\x00\x23":
                    notes.append("UNSUPPORTED_VERSION (35): the mock supports ApiVersions 0-2. "
                                 "Its body is not spec-conformant: error code, then the api-key "
                                 "count as ONE byte holding N (not N+1), entries without tagged "
                                 "fields, then throttle time and no tagged-field section; the "
                                 "client only reads the error code and retries with v0")
                if req and e["apiKey"] == 19:
                    notes.append("no response: the mock has no CreateTopics handler and closes "
                                 "the connection")
                if sc.get("notes") and (first or e["apiKey"] in (0, 19, 22)):
                    notes.append("scenario: " + sc["notes"])
                first = False
                m["notes"] = " | ".join(notes)
                manifest.append(m)
                k = (dirname, e["direction"], api, ver)
                stats[k] = stats.get(k, 0) + 1
    return manifest, stats


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "client":
        return client_main(sys.argv[2], sys.argv[3])
    ap = argparse.ArgumentParser()
    ap.add_argument("--mock", required=True, help="built mockbroker binary")
    ap.add_argument("--out", default=DEFAULT_OUT)
    ap.add_argument("--raw", help="keep the raw proxy recordings here (default: a temp dir)")
    ap.add_argument("--keep", type=int, default=3,
                    help="request/response pairs kept per (client, scenario, api, version)")
    a = ap.parse_args()
    raw = a.raw or tempfile.mkdtemp(prefix="golden-raw-")
    os.makedirs(raw, exist_ok=True)
    try:
        done = capture_all(os.path.abspath(a.mock), raw)
        os.makedirs(a.out, exist_ok=True)
        manifest, stats = build(done, a.out, a.keep, sys.executable)
        with open(os.path.join(a.out, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1, ensure_ascii=False)
            f.write("\n")
        total = sum(m["size"] for m in manifest)
        print("\n%d frames, %d bytes, in %s" % (len(manifest), total, a.out))
        for (d, direction, api, ver), n in sorted(stats.items()):
            print("  %-16s %-8s %-26s v%-3s %d" % (d, direction, api, ver, n))
        import verify_golden
        if not verify_golden.verify(a.out):
            raise SystemExit("verify_golden failed on %s" % a.out)
        skipped = [sc["client"] + "/" + sc["id"] for sc in done if not sc.get("ok")]
        if skipped:
            print("optional scenarios that failed (their frames are still kept): " +
                  ", ".join(skipped))
    finally:
        if not a.raw:
            shutil.rmtree(raw, ignore_errors=True)


if __name__ == "__main__":
    main()
