"""Back pressure: what one client does cannot grow the broker's memory without bound or starve
other clients. A client that pipelines 100,000 requests and never reads an answer gets its
socket left unread once it has connection.max.pending.requests outstanding or 1 MiB of answers
unsent (Kafka mutes a channel per request for the same reason), while other clients produce and
consume normally; a storage writer with more queued than log.writer.max.queued.bytes holds
produce requests back, and producers still get every record through, in order."""
import socket
import threading
import time

import clients as C
import kwire

RSS_BOUND = 300 << 20  # the broker's whole resident memory during the flood


def metadata_v1_all_topics(correlation):
    # Metadata v1, topics null (all): header v1, then int32 -1.
    payload = kwire.header_v1(3, 1, correlation) + kwire.i32(-1)
    return kwire.frame(payload)


def flood(sock, count):
    """Sends `count` pipelined Metadata requests on one connection and never reads."""
    chunk = b"".join(metadata_v1_all_topics(i) for i in range(1000))
    sent = 0
    try:
        while sent < count:
            sock.sendall(chunk)  # blocks once the broker stops reading: that is the point
            sent += 1000
    except OSError:
        pass  # the test closed the socket under us


def test_a_client_that_never_reads_costs_bounded_memory(broker_factory):
    b = broker_factory()
    for i in range(30):
        C.create_topic(b.bootstrap, 4, "bp-meta-%d" % i)
    baseline = b.rss_bytes()
    sock = socket.create_connection(kwire.host_port(b.bootstrap), timeout=120)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sender = threading.Thread(target=flood, args=(sock, 100_000), daemon=True)
    sender.start()
    peak = 0
    try:
        # Meanwhile another client produces and consumes, and must see no error and no gap.
        topic = C.create_topic(b.bootstrap, 1, "bp-other")
        deadline = time.time() + 10
        produced = 0
        while time.time() < deadline:
            C.produce_confluent(b.bootstrap, topic, [{"value": b"m%d" % (produced + i), "partition": 0} for i in range(500)])
            produced += 500
            peak = max(peak, b.rss_bytes())
            time.sleep(0.2)
        got = C.consume_confluent(b.bootstrap, topic, partitions=[0])
        assert [g["value"] for g in got] == [b"m%d" % i for i in range(produced)]
        peak = max(peak, b.rss_bytes())
    finally:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
        sender.join(30)
    print("broker RSS: baseline %d MiB, peak during the flood %d MiB" % (baseline >> 20, peak >> 20))
    assert peak < RSS_BOUND, "broker RSS %d MiB during the flood (baseline %d MiB), bound %d MiB" % (
        peak >> 20, baseline >> 20, RSS_BOUND >> 20)
    assert b.alive()


def test_producers_get_through_a_congested_storage_writer(broker_factory):
    """log.writer.max.queued.bytes=1: the writer is congested after every submission, so every
    produce request waits for it to drain; nothing may hang or be lost, and fetches go on."""
    b = broker_factory({"log.writer.max.queued.bytes": "1"})
    topic = C.create_topic(b.bootstrap, 3, "bp-writer")
    errors = []

    def produce(worker):
        try:
            C.produce_confluent(b.bootstrap, topic, [{"value": b"w%d-%d" % (worker, i), "partition": worker % 3}
                                                     for i in range(5000)], **{"linger.ms": 1, "batch.num.messages": 100})
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)

    workers = [threading.Thread(target=produce, args=(w,)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(120)
    assert not errors, errors
    got = C.consume_confluent(b.bootstrap, topic)
    for worker in range(4):
        mine = [g["value"] for g in got if g["value"].startswith(b"w%d-" % worker)]
        assert mine == [b"w%d-%d" % (worker, i) for i in range(5000)], "worker %d: %d records, or out of order" % (worker, len(mine))
