"""Idempotent producers (InitProducerId, sequence numbers): a confluent-kafka producer with
enable.idempotence=true keeps producing while the broker is restarted under it (SIGTERM and
kill -9); librdkafka retries what was in flight, and the log ends up with every message exactly
once, in order per partition, with no gaps."""
import signal
import threading
import time

import pytest

import clients as C


@pytest.mark.timeout(240)
@pytest.mark.parametrize("how", ["sigterm", "kill9"])
def test_idempotent_producer_survives_broker_restarts_without_duplicates(broker_factory, how):
    b = broker_factory()
    parts = 2
    topic = C.create_topic(b.bootstrap, parts, "idem-" + how)
    total = 30000
    producer = C.confluent_producer(b.bootstrap, **{
        "enable.idempotence": True, "acks": "all", "linger.ms": 5, "message.timeout.ms": 120000,
        "retry.backoff.ms": 100, "queue.buffering.max.messages": total + 10})
    failures = []

    def report(err, _msg):
        if err is not None:
            failures.append(err)

    def restarts():
        for _ in range(2):
            time.sleep(0.4)
            # Same port, so the producer's reconnects find the broker again.
            b.restart(sig=signal.SIGTERM if how == "sigterm" else signal.SIGKILL)

    restarter = threading.Thread(target=restarts)
    restarter.start()
    for i in range(total):
        while True:
            try:
                producer.produce(topic, value=b"%07d" % i, partition=i % parts, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.01)
        if i % 1000 == 0:
            producer.poll(0)
            time.sleep(0.02)  # spread the load over the restarts
    restarter.join()
    assert producer.flush(180) == 0, "messages still undelivered"
    assert not failures, "delivery failures: %r" % failures[:5]

    stored = C.consume_confluent(b.bootstrap, topic, partitions=range(parts), timeout=90)
    for p in range(parts):
        values = [int(r["value"]) for r in sorted(stored, key=lambda r: r["offset"]) if r["partition"] == p]
        expected = list(range(p, total, parts))
        duplicates = len(values) - len(set(values))
        assert duplicates == 0, "partition %d: %d duplicates" % (p, duplicates)
        assert values == expected, "partition %d: %d stored, %d expected; first difference at %r" % (
            p, len(values), len(expected), next((a, e) for a, e in zip(values + [None] * len(expected), expected) if a != e))
