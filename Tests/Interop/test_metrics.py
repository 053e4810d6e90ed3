"""`/metrics` (metrics.listener): Prometheus text that agrees with what third-party clients did.

After librdkafka produces 600 records to a 3-partition topic and reads them back: records in,
log end offsets (per topic and partition), log sizes, requests and latency histograms per API,
bytes in and out, fetch waits, storage rounds with fdatasync (the durable default) and the
connection gauge all say so; a deleted topic's series disappear; anything but GET /metrics gets
404, and garbage on the metrics port does not disturb the broker."""
import re
import socket
import urllib.error
import urllib.request

import clients as C

LINE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? [-+0-9.eEInfa]+$')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    series = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        assert LINE.match(line), "not Prometheus text format: %r" % line
        name, value = line.rsplit(" ", 1)
        series[name] = float(value)
    return series


def test_metrics_agree_with_what_clients_did(broker_factory):
    port = free_port()
    b = broker_factory(settings={"metrics.listener": "127.0.0.1:%d" % port})
    topic = C.create_topic(b.bootstrap, 3, "metrics")
    C.produce_confluent(b.bootstrap, topic, [{"value": b"m%d" % i, "partition": i % 3} for i in range(600)])
    got = C.consume_confluent(b.bootstrap, topic, partitions=range(3), timeout=30)
    assert len(got) == 600
    m = scrape(port)
    assert m["sluice_records_in_total"] == 600
    ends = [m['sluice_log_end_offset{topic="%s",partition="%d"}' % (topic, p)] for p in range(3)]
    assert ends == [200.0, 200.0, 200.0]
    assert all(m['sluice_log_size_bytes{topic="%s",partition="%d"}' % (topic, p)] > 200 * 2 for p in range(3))
    assert m["sluice_partitions"] >= 3
    assert m['sluice_requests_total{api="Produce"}'] >= 1
    assert m['sluice_requests_total{api="Fetch"}'] >= 1
    assert m['sluice_request_duration_seconds_count{api="Produce"}'] == m['sluice_requests_total{api="Produce"}']
    assert m["sluice_bytes_in_total"] > 600 * 2 and m["sluice_bytes_out_total"] > 600 * 2
    assert m['sluice_storage_round_seconds_count{sync="true"}'] >= 1, "durable appends fdatasync"
    assert "sluice_fetch_wait_seconds_count" in m
    assert m["sluice_connections"] >= 0
    assert m["sluice_groups"] == 0

    C.admin(b.bootstrap).delete_topics([topic])[topic].result(15)
    C.wait_topic_gone(b.bootstrap, topic)
    m = scrape(port)
    assert not any(topic in name for name in m), "series of a deleted topic remain"

    try:
        urllib.request.urlopen("http://127.0.0.1:%d/other" % port, timeout=10)
        raise AssertionError("expected 404")
    except urllib.error.HTTPError as e:
        assert e.code == 404
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"\x00\x01garbage that is not HTTP\r\n\r\n" * 10)
        try:
            s.recv(100)
        except OSError:
            pass
    assert b.alive()
    assert scrape(port)["sluice_partitions"] >= 0
