#!/usr/bin/env python3
"""Issue #14's figures: produce and consume throughput on each kind of listener of one broker,
in alternating rounds of one run, measured with the librdkafka load generator
(Tools/loadgen/rdkafka-bench.c) so the Swift client is not what is measured.

  plaintext      the PLAINTEXT listener
  sasl-plain     SASL_PLAINTEXT, logged in with PLAIN
  sasl-scram512  SASL_PLAINTEXT, logged in with SCRAM-SHA-512

Each row produces --records records of --size bytes (acks=1, librdkafka's tuned profile) to a
fresh 4-partition topic, then consumes them back. A login costs one exchange per connection,
so these rows show what the listener itself costs per byte. The broker is a release build
started on a fresh data directory.

    make bench-security   (or: .venv/bin/python Tools/bench/security.py --sluice .build/release/sluice --loadgen .build/rdkafka-bench)
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from confluent_kafka.admin import (AdminClient, NewTopic, ScramCredentialInfo, ScramMechanism,
                                   UserScramCredentialUpsertion)

JAAS = ('org.apache.kafka.common.security.plain.PlainLoginModule required user_bench="bench-secret";')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, broker, seconds=60):
    deadline = time.time() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.time() < deadline and broker.poll() is None, "the broker did not start"
            time.sleep(0.2)


def loadgen(args, mode, bootstrap, topic, extra):
    cmd = [args.loadgen, mode, "--bootstrap", bootstrap, "--topic", topic, "--records", str(args.records)]
    if mode == "produce":
        cmd += ["--record-size", str(args.size), "--acks", "1"]
    for setting in extra:
        cmd += ["-X", setting]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError("%s failed: %s" % (" ".join(cmd[:2]), out.stderr[-2000:]))
    return json.loads(out.stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--loadgen", required=True, help="the built Tools/loadgen/rdkafka-bench.c")
    parser.add_argument("--records", type=int, default=2_000_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-root", default=os.getcwd())
    parser.add_argument("--out")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="security-bench-", dir=args.data_root)
    plain_port, sasl_port = free_port(), free_port()
    config = os.path.join(base, "server.properties")
    with open(config, "w") as f:
        f.write("listeners=PLAINTEXT://127.0.0.1:%d,SASL_PLAINTEXT://127.0.0.1:%d\n" % (plain_port, sasl_port))
        f.write("sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-512\n")
        f.write("listener.name.sasl_plaintext.plain.sasl.jaas.config=%s\n" % JAAS)
    log = open(os.path.join(base, "broker.log"), "w")
    broker = subprocess.Popen([args.sluice, "serve", "--config", config, "--data-dir", os.path.join(base, "data")],
                              stdout=log, stderr=subprocess.STDOUT)
    plaintext = "127.0.0.1:%d" % plain_port
    sasl = "127.0.0.1:%d" % sasl_port
    login = ["security.protocol=SASL_PLAINTEXT", "sasl.username=bench", "sasl.password=bench-secret"]
    modes = {
        "plaintext": (plaintext, []),
        "sasl-plain": (sasl, login + ["sasl.mechanism=PLAIN"]),
        "sasl-scram512": (sasl, login + ["sasl.mechanism=SCRAM-SHA-512"]),
    }
    rows = []
    try:
        wait_listening(plain_port, broker)
        admin = AdminClient({"bootstrap.servers": plaintext})
        for f in admin.alter_user_scram_credentials([UserScramCredentialUpsertion(
                "bench", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 4096), b"bench-secret")]).values():
            f.result(30)
        for round_ in range(1, args.rounds + 1):
            for mode, (bootstrap, extra) in modes.items():
                topic = "bench-%s-%d" % (mode, round_)
                admin.create_topics([NewTopic(topic, 4, 1)])[topic].result(30)
                produced = loadgen(args, "produce", bootstrap, topic, extra)
                consumed = loadgen(args, "consume", bootstrap, topic, extra)
                row = {"round": round_, "mode": mode, "records": args.records, "size": args.size,
                       "produceRecordsPerSecond": produced["recordsPerSecond"], "produceMBPerSecond": produced["megabytesPerSecond"],
                       "consumeRecordsPerSecond": consumed["recordsPerSecond"], "consumeMBPerSecond": consumed["megabytesPerSecond"]}
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        broker.terminate()
        broker.wait(60)
        log.close()
        shutil.rmtree(base, ignore_errors=True)
    print("| round | listener | records | produce rec/s | produce MB/s | consume rec/s | consume MB/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print("| %d | %s | %d | %.0f | %.1f | %.0f | %.1f |" % (
            r["round"], r["mode"], r["records"], r["produceRecordsPerSecond"], r["produceMBPerSecond"],
            r["consumeRecordsPerSecond"], r["consumeMBPerSecond"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
