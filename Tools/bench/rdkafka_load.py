#!/usr/bin/env python3
"""librdkafka-based load generator (confluent-kafka): produce then consume, and report rates.

Usage: rdkafka_load.py --bootstrap HOST:PORT [--records N] [--size BYTES] [--partitions P]
                       [--acks 1|all|0] [--compression none|lz4|...] [--linger-ms MS] [--json]

Creates a fresh topic, produces N records of SIZE bytes as fast as the client allows (one line
of progress per second on stderr), waits for every delivery report, then consumes them all back
with assign() from the beginning and reports both rates. The topic is deleted afterwards.
"""
import argparse
import json
import sys
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=100)
    ap.add_argument("--partitions", type=int, default=1)
    ap.add_argument("--acks", default="1")
    ap.add_argument("--compression", default="none")
    ap.add_argument("--linger-ms", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    topic = f"bench-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": args.bootstrap})
    admin.create_topics([NewTopic(topic, args.partitions, 1)])[topic].result(30)

    producer = Producer({
        "bootstrap.servers": args.bootstrap, "acks": args.acks, "compression.type": args.compression,
        "linger.ms": args.linger_ms, "batch.size": args.batch_size, "enable.idempotence": False,
        "queue.buffering.max.messages": 2_000_000, "queue.buffering.max.kbytes": 2_097_151,
    })
    value = b"x" * args.size
    delivered = [0]
    failed = [0]

    def report(err, _msg):
        if err is None:
            delivered[0] += 1
        else:
            failed[0] += 1

    start = time.monotonic()
    last = start
    last_count = 0
    for i in range(args.records):
        while True:
            try:
                producer.produce(topic, value, on_delivery=report if args.acks != "0" else None)
                break
            except BufferError:
                producer.poll(0.001)
        if i % 10000 == 0:
            producer.poll(0)
            now = time.monotonic()
            if now - last >= 1:
                rate = (delivered[0] - last_count) / (now - last)
                print(f"produce: {rate:,.0f} records/s, {rate * args.size / 1e6:,.1f} MB/s", file=sys.stderr)
                last, last_count = now, delivered[0]
    producer.flush(120)
    produce_seconds = time.monotonic() - start
    if args.acks == "0":
        delivered[0] = args.records

    consumer = Consumer({
        "bootstrap.servers": args.bootstrap, "group.id": f"bench-{topic}", "enable.auto.commit": False,
        "fetch.max.bytes": 52_428_800, "max.partition.fetch.bytes": 10_485_760, "fetch.wait.max.ms": 100,
        "queued.max.messages.kbytes": 1_048_576,
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(args.partitions)])
    consumed = 0
    start = time.monotonic()
    deadline = start + 120
    while consumed < delivered[0] and time.monotonic() < deadline:
        for message in consumer.consume(num_messages=10000, timeout=1.0):
            if message.error() is None:
                consumed += 1
    consume_seconds = time.monotonic() - start
    consumer.close()
    admin.delete_topics([topic])

    result = {
        "records": args.records, "size": args.size, "partitions": args.partitions, "acks": args.acks,
        "compression": args.compression, "failed": failed[0],
        "produceRecordsPerSecond": round(delivered[0] / produce_seconds),
        "produceMBps": round(delivered[0] * args.size / produce_seconds / 1e6, 1),
        "consumed": consumed,
        "consumeRecordsPerSecond": round(consumed / consume_seconds),
        "consumeMBps": round(consumed * args.size / consume_seconds / 1e6, 1),
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key}: {value}")
    return 0 if failed[0] == 0 and consumed == delivered[0] else 1


if __name__ == "__main__":
    sys.exit(main())
