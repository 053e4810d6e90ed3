"""The `sluice` CLI (built on the pure-Swift SluiceClient) against a real broker, and against
third-party clients on the other end: lines round-trip through `sluice produce` and `sluice
consume`; keys, values and headers written by the Swift client read back identically through
librdkafka, and what librdkafka writes reads back identically through the Swift client;
diagnostics stay on stderr; failures give a non-zero exit."""
import json
import subprocess

import clients as C


def run(sluice_bin, args, stdin=None, timeout=120):
    return subprocess.run([str(sluice_bin)] + args, input=stdin, capture_output=True, timeout=timeout)


def test_ten_thousand_lines_round_trip(sluice_bin, bootstrap):
    topic = C.create_topic(bootstrap, 3, "cli")
    lines = ["line-%05d %s" % (i, "x" * (i % 50)) for i in range(10000)]
    produced = run(sluice_bin, ["produce", "--bootstrap", bootstrap, "--topic", topic], stdin=("\n".join(lines) + "\n").encode())
    assert produced.returncode == 0, produced.stderr.decode()
    assert produced.stdout == b"", "produce wrote to stdout: %r" % produced.stdout[:200]
    consumed = run(sluice_bin, ["consume", "--bootstrap", bootstrap, "--topic", topic, "--from-beginning", "--count", "10000"])
    assert consumed.returncode == 0, consumed.stderr.decode()
    got = consumed.stdout.decode().splitlines()
    assert len(got) == 10000, "consumed %d lines" % len(got)
    assert sorted(got) == sorted(lines), "lines differ after the round trip"
    assert b"consumed 10000 records" in consumed.stderr, "progress/diagnostics belong on stderr"
    # Per partition, order is kept: each partition's lines appear in produce order.
    for partition in range(3):
        records = C.consume_confluent(bootstrap, topic, partitions=[partition], timeout=30)
        values = [r["value"].decode() for r in records]
        assert values == [v for v in lines if v in set(values)], "partition %d out of order" % partition


def test_swift_producer_to_librdkafka_consumer_keeps_keys_values_headers(sluice_bin, bootstrap):
    topic = C.create_topic(bootstrap, 1, "cli-keys")
    lines = ["key-%d|value-%d ✓" % (i, i) for i in range(500)]
    for codec in ("none", "gzip", "snappy", "lz4", "zstd"):
        produced = run(sluice_bin, ["produce", "--bootstrap", bootstrap, "--topic", topic, "--key-separator", "|",
                                    "--header", "codec=" + codec, "--header", "origin=swift", "--compression", codec],
                       stdin=("\n".join(lines) + "\n").encode())
        assert produced.returncode == 0, produced.stderr.decode()
    records = C.consume_confluent(bootstrap, topic, partitions=[0], timeout=30)
    assert len(records) == 2500
    for index, record in enumerate(records):
        i = index % 500
        codec = ("none", "gzip", "snappy", "lz4", "zstd")[index // 500]
        assert record["key"] == b"key-%d" % i
        assert record["value"] == ("value-%d ✓" % i).encode()
        assert sorted(record["headers"]) == [("codec", codec.encode()), ("origin", b"swift")]
        assert record["ts_type"] == "create" and record["ts"] > 0


def test_librdkafka_producer_to_swift_consumer_reads_identical_records(sluice_bin, bootstrap):
    topic = C.create_topic(bootstrap, 1, "cli-json")
    base = C.now_ms() - 10_000
    messages = [{"key": b"k-%d" % i, "value": ("v-%d \"quoted\" \\ é" % i).encode(), "partition": 0,
                 "headers": [("h", b"%d" % i), ("same", b"x")], "timestamp": base + i} for i in range(300)]
    messages.append({"key": None, "value": None, "partition": 0, "timestamp": base + 300})
    C.produce_confluent(bootstrap, topic, messages, **{"compression.type": "zstd"})
    consumed = run(sluice_bin, ["consume", "--bootstrap", bootstrap, "--topic", topic, "--from-beginning",
                                "--exit-at-end", "--format", "json"])
    assert consumed.returncode == 0, consumed.stderr.decode()
    rows = [json.loads(line) for line in consumed.stdout.decode().splitlines()]
    assert len(rows) == 301
    for i, row in enumerate(rows[:300]):
        assert row["offset"] == i
        assert row["key"] == "k-%d" % i
        assert row["value"] == "v-%d \"quoted\" \\ é" % i
        assert row["headers"] == {"h": "%d" % i, "same": "x"}
        assert row["timestamp"] == base + i
    assert rows[300]["key"] is None and rows[300]["value"] is None
    # Plain format prints a null value as an empty line.
    plain = run(sluice_bin, ["consume", "--bootstrap", bootstrap, "--topic", topic, "--offset", "300", "--count", "1"])
    assert plain.stdout == b"\n"


def test_group_commands_and_resume_from_commits(sluice_bin, bootstrap):
    topic = C.create_topic(bootstrap, 2, "cli-group")
    C.produce_confluent(bootstrap, topic, [{"value": b"%d" % i, "partition": i % 2} for i in range(100)])
    group = C.unique("g")
    first = run(sluice_bin, ["consume", "--bootstrap", bootstrap, "--topic", topic, "--group", group,
                             "--from-beginning", "--exit-at-end"])
    assert len(first.stdout.decode().splitlines()) == 100
    again = run(sluice_bin, ["consume", "--bootstrap", bootstrap, "--topic", topic, "--group", group, "--exit-at-end"])
    assert again.stdout == b"", "a group resumes after its commits: nothing new to read"
    described = run(sluice_bin, ["group", "describe", group, "--bootstrap", bootstrap]).stdout.decode()
    assert "%s[0] committed 50 end 50 lag 0" % topic in described, described
    reset = run(sluice_bin, ["group", "reset-offsets", group, "--bootstrap", bootstrap, "--topic", topic, "--to-offset", "40"])
    assert reset.returncode == 0, reset.stderr.decode()
    after = run(sluice_bin, ["consume", "--bootstrap", bootstrap, "--topic", topic, "--group", group, "--exit-at-end"])
    assert len(after.stdout.decode().splitlines()) == 20
    listed = run(sluice_bin, ["group", "list", "--bootstrap", bootstrap]).stdout.decode()
    assert group in listed


def test_failures_exit_non_zero_with_a_clear_message(sluice_bin, bootstrap):
    missing = run(sluice_bin, ["topic", "describe", "no-such-topic-here", "--bootstrap", bootstrap])
    assert missing.returncode != 0
    assert b"UNKNOWN_TOPIC_OR_PARTITION" in missing.stderr
    exists = C.create_topic(bootstrap, 1, "cli-dup")
    duplicate = run(sluice_bin, ["topic", "create", exists, "--bootstrap", bootstrap])
    assert duplicate.returncode != 0 and b"TOPIC_ALREADY_EXISTS" in duplicate.stderr
    # A record over the topic's max.message.bytes fails and the exit status says so.
    small = C.create_topic(bootstrap, 1, "cli-small", config={"max.message.bytes": "1000"})
    big = run(sluice_bin, ["produce", "--bootstrap", bootstrap, "--topic", small], stdin=b"y" * 5000 + b"\n")
    assert big.returncode != 0 and b"MESSAGE_TOO_LARGE" in big.stderr, big.stderr.decode()
    unreachable = run(sluice_bin, ["topic", "list", "--bootstrap", "127.0.0.1:1"], timeout=60)
    assert unreachable.returncode != 0 and unreachable.stdout == b""


def test_bench_scenarios_report_json_and_clean_up(sluice_bin, bootstrap):
    """`sluice bench produce|consume|e2e` (small runs): one JSON object on stdout with the
    figures, progress only on stderr, and the topic each run created is gone afterwards."""
    before = set(C.admin(bootstrap).list_topics(timeout=10).topics)
    produced = run(sluice_bin, ["bench", "produce", "--bootstrap", bootstrap, "--records", "20000", "--record-size", "64",
                                "--acks", "1", "--json"])
    assert produced.returncode == 0, produced.stderr.decode()
    p = json.loads(produced.stdout)
    assert p["mode"] == "produce" and p["records"] == 20000 and p["failed"] == 0 and p["recordSize"] == 64, \
        "%r\n%s" % (p, produced.stderr.decode()[-2000:])
    assert p["recordsPerSecond"] > 0 and p["latencyMs"]["p50"] <= p["latencyMs"]["p99"] <= p["latencyMs"]["max"]
    assert p["settings"]["acks"] == "1"
    consumed = run(sluice_bin, ["bench", "consume", "--bootstrap", bootstrap, "--records", "20000", "--json"])
    assert consumed.returncode == 0, consumed.stderr.decode()
    c = json.loads(consumed.stdout)
    assert c["mode"] == "consume" and c["records"] == 20000 and c["megabytesPerSecond"] > 0
    e2e = run(sluice_bin, ["bench", "e2e", "--bootstrap", bootstrap, "--rate", "2000", "--duration", "2", "--json"])
    assert e2e.returncode == 0, e2e.stderr.decode()
    e = json.loads(e2e.stdout)
    assert e["mode"] == "e2e" and e["records"] == 4000 and e["failed"] == 0
    assert 0 < e["latencyMs"]["p50"] < 1000
    table = run(sluice_bin, ["bench", "produce", "--bootstrap", bootstrap, "--records", "1000"])
    assert table.returncode == 0 and b"records/s" in table.stdout and b"latency p99" in table.stdout
    C.forget(bootstrap)
    after = set(C.admin(bootstrap).list_topics(timeout=10).topics)
    assert not [t for t in after - before if t.startswith("sluice-bench-")], "bench topics left behind"
