"""Idempotent producers (InitProducerId, sequence numbers): a confluent-kafka producer with
enable.idempotence=true keeps producing while the broker is restarted under it (SIGTERM and
kill -9), and 200,000 messages while a proxy cuts its connections mid-stream; librdkafka retries
what was in flight, and the log ends up with every message exactly once, in order per partition,
with no gaps."""
import json
import signal
import subprocess
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


@pytest.mark.timeout(300)
def test_idempotent_producer_200k_messages_with_connections_cut_mid_stream(broker_factory):
    """200,000 messages from one idempotent producer while a proxy between it and the broker
    resets every connection several times mid-stream (every other time after losing the broker's
    answers for 0.3 s): the broker sees retried batches whose first attempt it already appended,
    and must answer them as duplicates, never append twice, never skip. (Without idempotence the
    same cuts leave tens of thousands of duplicates in the log.) The broker advertises the proxy's
    address so every connection goes through it."""
    proxy = C.CuttingProxy()
    try:
        b = broker_factory(settings={"advertised.listeners": proxy.address})
        proxy.target = b.bootstrap
        boot = proxy.address
        stats = []
        parts = 3
        topic = C.create_topic(boot, parts, "idem-cut")
        total = 200_000
        producer = C.confluent_producer(boot, **{
            "enable.idempotence": True, "acks": "all", "linger.ms": 10, "batch.num.messages": 2000,
            "message.timeout.ms": 180000, "retry.backoff.ms": 50, "reconnect.backoff.ms": 20,
            "reconnect.backoff.max.ms": 200, "queue.buffering.max.messages": total + 10,
            "statistics.interval.ms": 200, "stats_cb": lambda js: stats.append(js)})
        failures = []
        acked = [0]

        def report(err, _msg):
            if err is not None:
                failures.append(err)
            else:
                acked[0] += 1

        cuts = []
        cut_every = 20_000  # acknowledged messages between cuts: 9 cuts over the run
        window = 20_000     # messages queued or in flight at most, so every cut hits a busy pipe

        def maybe_cut():
            if acked[0] >= (len(cuts) + 1) * cut_every and len(producer) > 0:
                # every other cut first loses the broker's answers for 0.3 s: batches it appended
                # come back as retries, which it must recognise as duplicates
                cuts.append((acked[0], len(producer), proxy.cut(swallow_responses=0.3 if len(cuts) % 2 else 0)))

        t0 = time.time()
        for i in range(total):
            while True:
                try:
                    producer.produce(topic, value=b"%07d" % i, partition=i % parts, on_delivery=report)
                    break
                except BufferError:
                    producer.poll(0.01)
            while len(producer) >= window:
                producer.poll(0.005)
                maybe_cut()
            if i % 500 == 0:
                producer.poll(0)
                maybe_cut()
        deadline = time.time() + 240
        while len(producer) > 0 and time.time() < deadline:
            producer.poll(0.01)
            maybe_cut()
        assert producer.flush(10) == 0, "messages still undelivered after 240 s (%d acknowledged)" % acked[0]
        elapsed = time.time() - t0
        assert not failures, "delivery failures: %r" % failures[:5]
        assert acked[0] == total, "%d delivery reports for %d messages" % (acked[0], total)
        assert len(cuts) >= 5 and sum(c[2] for c in cuts) >= 5, \
            "the proxy cut too few live connections (the test did not test anything): %r" % cuts
        assert proxy.accepted > len(cuts), "the producer did not reconnect through the proxy (%d connections " \
                                           "accepted, %d cuts)" % (proxy.accepted, len(cuts))
        producer.poll(0.5)  # one more statistics report
        assert stats, "librdkafka delivered no statistics (statistics.interval.ms=200)"
        last = json.loads(stats[-1])
        sent = sum(pp.get("txmsgs", 0) for t in last["topics"].values() for pid, pp in t["partitions"].items()
                   if pid != "-1")
        assert sent > total, "librdkafka sent each message once (%d): no cut hit a request in flight, so " \
                             "nothing was retried (cuts: %r)" % (sent, cuts)
        print("200k idempotent messages in %.1f s; %d sent again after the cuts; cuts (acked, in flight, "
              "connections cut): %r; %d connections" % (elapsed, sent - total, cuts, proxy.accepted))

        # read back through the proxy too (the broker advertises it), with no more cuts
        stored = C.consume_confluent(boot, topic, partitions=range(parts), timeout=120)
        for p in range(parts):
            values = [int(r["value"]) for r in stored if r["partition"] == p]
            expected = list(range(p, total, parts))
            duplicates = len(values) - len(set(values))
            assert duplicates == 0, "partition %d: %d duplicates after connection cuts" % (p, duplicates)
            assert values == expected, "partition %d: %d stored, %d expected; first difference at %r" % (
                p, len(values), len(expected),
                next((a, e) for a, e in zip(values + [None] * len(expected), expected) if a != e))
    finally:
        proxy.close()


@pytest.mark.timeout(240)
def test_swift_idempotent_producer_with_connections_cut_mid_stream(broker_factory, sluice_bin):
    """The same cuts against the Swift client (`sluice produce`, idempotent by default with
    acks=all): 100,000 lines fed gradually while the proxy resets every connection 8 times
    (every other time after swallowing the broker's answers for 0.3 s). The producer re-sends
    what was in flight, in sequence order, and the log holds every line exactly once, in input
    order per partition."""
    proxy = C.CuttingProxy()
    try:
        b = broker_factory(settings={"advertised.listeners": proxy.address})
        proxy.target = b.bootstrap
        boot = proxy.address
        parts = 3
        topic = C.create_topic(boot, parts, "idem-swift")
        total = 100_000
        producer = subprocess.Popen([sluice_bin, "produce", "--bootstrap", boot, "--topic", topic, "--linger-ms", "5"],
                                    stdin=subprocess.PIPE, stderr=subprocess.PIPE)
        cuts = []

        def cutter():
            for n in range(8):
                time.sleep(0.35)
                cuts.append(proxy.cut(swallow_responses=0.3 if n % 2 else 0))

        thread = threading.Thread(target=cutter)
        thread.start()
        for start in range(0, total, 2000):
            producer.stdin.write(b"".join(b"%07d\n" % i for i in range(start, start + 2000)))
            producer.stdin.flush()
            time.sleep(0.01)
        producer.stdin.close()
        thread.join()
        err = producer.stderr.read().decode()
        assert producer.wait(180) == 0, err
        assert "produced %d records" % total in err, err
        assert "batches retried" in err, "no cut hit a batch in flight, so nothing was tested (cuts %r): %s" % (cuts, err)
        assert sum(cuts) >= 4, "the proxy cut too few live connections: %r" % cuts

        stored = C.consume_confluent(boot, topic, partitions=range(parts), timeout=120)
        values = [int(r["value"]) for r in stored]
        assert len(values) == len(set(values)), "%d duplicates after connection cuts" % (len(values) - len(set(values)))
        assert sorted(values) == list(range(total)), "%d of %d lines stored" % (len(set(values)), total)
        for p in range(parts):
            mine = [int(r["value"]) for r in sorted(stored, key=lambda r: r["offset"]) if r["partition"] == p]
            assert mine == sorted(mine), "partition %d out of input order" % p
        print("Swift producer: %s; cuts %r" % (err.strip().splitlines()[-1], cuts))
    finally:
        proxy.close()
