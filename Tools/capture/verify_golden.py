#!/usr/bin/env python3
"""Re-check the committed golden frames against their manifest, without any broker.

  verify_golden.py [DIR]     (default: Tests/KafkaProtocolTests/Fixtures/golden)

For every manifest entry: the file exists, its size and sha256 match, its size prefix is
right, a request's header carries the manifest's api key / version / correlation id. Every
Produce request's record batches are decoded by kafka-python (Tools/interop/decode_batches.py)
and compared with the entry's "expected" records and "batch" summary; every Fetch response's
records are decoded too. Also fails on .bin files that the manifest does not list.
Needs kafka-python and the codec packages: run it with the repo's .venv/bin/python.
"""
import hashlib
import json
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import capture  # noqa: E402
import kafka_wire  # noqa: E402


def verify(out_dir):
    with open(os.path.join(out_dir, "manifest.json")) as f:
        manifest = json.load(f)
    failures = []
    listed = set()
    topic_names = {}
    frames = {}
    for m in manifest:
        path = os.path.join(out_dir, m["file"])
        listed.add(os.path.normpath(path))
        with open(path, "rb") as f:
            frames[m["file"]] = f.read()
        if m["direction"] == "response" and m["apiKey"] == 3:
            topic_names.update(kafka_wire.metadata_topic_ids(frames[m["file"]], m["apiVersion"]))
    for m in manifest:
        frame = frames[m["file"]]
        try:
            if len(frame) != m["size"]:
                raise AssertionError("size %d != %d" % (len(frame), m["size"]))
            if hashlib.sha256(frame).hexdigest() != m["sha256"]:
                raise AssertionError("sha256 differs")
            if int.from_bytes(frame[:4], "big", signed=True) != len(frame) - 4:
                raise AssertionError("size prefix does not match the file length")
            if m["direction"] == "request":
                key, ver, corr, client_id, _ = kafka_wire.request_header(frame)
                if (key, ver, corr) != (m["apiKey"], m["apiVersion"], m["correlationId"]):
                    raise AssertionError("header says %r" % ((key, ver, corr),))
                if client_id != m.get("clientId"):
                    raise AssertionError("client id %r" % client_id)
            elif int.from_bytes(frame[4:8], "big", signed=True) != m["correlationId"]:
                raise AssertionError("response correlation id differs")
            if m["direction"] == "request" and m["apiKey"] == 0 and "expected" in m:
                got = capture.check_produce(m, frame, m["expected"], sys.executable)
                if got != m["batch"]:
                    raise AssertionError("batch summary %r != manifest %r" % (got, m["batch"]))
            if m["direction"] == "response" and m["apiKey"] == 1:
                got = capture.fetch_summary(frame, m["apiVersion"], sys.executable, topic_names)
                if got != m["fetched"]:
                    raise AssertionError("fetched %r != manifest %r" % (got, m["fetched"]))
        except (AssertionError, ValueError, SystemExit) as e:
            failures.append("%s: %s" % (m["file"], e))
    for d, _, files in os.walk(out_dir):
        for name in files:
            p = os.path.normpath(os.path.join(d, name))
            if name.endswith(".bin") and p not in listed:
                failures.append("%s: not in manifest.json" % os.path.relpath(p, out_dir))
    for f in failures:
        print("FAIL " + f)
    print("golden: %d passed, %d failed" % (len(manifest) - len(failures), len(failures)))
    return not failures


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else capture.DEFAULT_OUT
    sys.exit(0 if verify(d) else 1)
