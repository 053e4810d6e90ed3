#!/usr/bin/env python3
"""Issue #13's figures: transactional produce throughput next to idempotent produce on the same
broker, in alternating rounds of one run. librdkafka (confluent-kafka) produces --records
records of --size bytes to a fresh 4-partition topic in each mode:

  idempotent     enable.idempotence=true (acks=all), no transactions
  txn-1000       transactions of 1,000 records (begin, produce, commit)
  txn-100        transactions of 100 records

Throughput is records over the wall time from the first produce to the last acknowledgement
(the last commit for transactions). The broker is a release build started per run on a fresh
data directory.

    .venv/bin/python Tools/bench/transactions.py --sluice .build/release/sluice
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

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient, NewTopic


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create_topic(bootstrap, name):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(name, 4, 1)])[name].result(30)


def run_mode(bootstrap, mode, records, size, round_):
    topic = "bench-%s-%d" % (mode, round_)
    create_topic(bootstrap, topic)
    value = b"x" * size
    base = {"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 10000, "queue.buffering.max.messages": 1000000}
    if mode == "idempotent":
        p = Producer(dict(base, **{"enable.idempotence": True}))
        started = time.time()
        for i in range(records):
            while True:
                try:
                    p.produce(topic, value=value, partition=i % 4)
                    break
                except BufferError:
                    p.poll(0.01)
        p.flush(120)
    else:
        per = int(mode.split("-")[1])
        p = Producer(dict(base, **{"transactional.id": "bench-%s-%d" % (mode, round_)}))
        p.init_transactions(30)
        started = time.time()
        sent = 0
        while sent < records:
            p.begin_transaction()
            for i in range(min(per, records - sent)):
                p.produce(topic, value=value, partition=(sent + i) % 4)
            sent += min(per, records - sent)
            p.commit_transaction(60)
    seconds = time.time() - started
    return {"mode": mode, "round": round_, "records": records, "seconds": seconds, "recordsPerSecond": records / seconds,
            "megabytesPerSecond": records * size / seconds / 1e6}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--data-root", default=os.getcwd())
    parser.add_argument("--out")
    args = parser.parse_args()
    base = tempfile.mkdtemp(prefix="txn-bench-", dir=args.data_root)
    port = free_port()
    bootstrap = "127.0.0.1:%d" % port
    log = open(os.path.join(base, "broker.log"), "w")
    broker = subprocess.Popen([args.sluice, "serve", "--listen", bootstrap, "--data-dir", os.path.join(base, "data")],
                              stdout=log, stderr=subprocess.STDOUT)
    rows = []
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.time() < deadline and broker.poll() is None, "the broker did not start"
                time.sleep(0.2)
        for round_ in range(1, args.rounds + 1):
            for mode in ("idempotent", "txn-1000", "txn-100"):
                row = run_mode(bootstrap, mode, args.records, args.size, round_)
                rows.append(row)
                print(json.dumps(row), file=sys.stderr, flush=True)
    finally:
        broker.terminate()
        broker.wait(60)
        log.close()
        shutil.rmtree(base, ignore_errors=True)
    print("| round | mode | records | seconds | records/s | MB/s |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        print("| %d | %s | %d | %.2f | %.0f | %.1f |" % (r["round"], r["mode"], r["records"], r["seconds"], r["recordsPerSecond"],
                                                     r["megabytesPerSecond"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
