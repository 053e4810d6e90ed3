"""The `sluice` CLI (built on the pure-Swift SluiceClient) against a real broker, and against
third-party clients on the other end: lines round-trip through `sluice produce` and `sluice
consume`; keys, values and headers written by the Swift client read back identically through
librdkafka, and what librdkafka writes reads back identically through the Swift client;
diagnostics stay on stderr; failures give a non-zero exit."""
import fcntl
import json
import os
import re
import shlex
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
from pathlib import Path

import pytest

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


# ---------------------------------------------------------------------------- signals
class Running:
    """A `sluice` process whose stdout lines and stderr are collected by threads as they come."""

    def __init__(self, sluice_bin, args, stdin=None, read_stdout=True):
        self.proc = subprocess.Popen([str(sluice_bin)] + args, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lines = []
        self.stderr = b""
        self._lock = threading.Lock()
        self._readers = [threading.Thread(target=self._read_err, daemon=True)]
        if read_stdout:
            self._readers.append(threading.Thread(target=self._read_out, daemon=True))
        for t in self._readers:
            t.start()

    def _read_out(self):
        for line in iter(self.proc.stdout.readline, b""):
            with self._lock:
                self.lines.append(line)

    def _read_err(self):
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            with self._lock:
                self.stderr += chunk

    def wait_for_lines(self, n, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self._lock:
                if len(self.lines) >= n:
                    return
            assert self.proc.poll() is None, "sluice exited (%s) after %d lines:\n%s" % (
                self.proc.returncode, len(self.lines), self.stderr.decode()[-2000:])
            time.sleep(0.02)
        raise AssertionError("only %d of %d lines within %.0fs:\n%s" % (len(self.lines), n, timeout, self.stderr.decode()))

    def finish(self, timeout=60):
        """Waits for the exit; returns (status, stdout lines, stderr text)."""
        self.proc.wait(timeout)
        for t in self._readers:
            t.join(10)
        return self.proc.returncode, list(self.lines), self.stderr.decode()


def fast_groups_broker(broker_factory):
    """A broker whose groups form at once (no initial rebalance delay): the tests wait less."""
    return broker_factory(settings={"group.initial.rebalance.delay.ms": "0"})


def group_state(bootstrap, group):
    return C.admin(bootstrap).describe_consumer_groups([group], request_timeout=15)[group].result(timeout=20)


def committed(bootstrap, group, topic, partitions):
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
    req = [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in partitions])]
    res = C.admin(bootstrap).list_consumer_group_offsets(req, request_timeout=15)[group].result(timeout=20)
    return {tp.partition: tp.offset for tp in res.topic_partitions if tp.offset >= 0}


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_consume_group_first_signal_prints_commits_what_was_printed_and_leaves(sluice_bin, broker_factory, sig):
    """The first SIGINT/SIGTERM while `consume --group` is streaming: exit 0, every record it
    received on stdout (per partition, offsets 0..k-1 with no gap), the group's committed
    offsets exactly k per partition — what was printed, not how far it had fetched — and the
    member gone from the group at once (LeaveGroup), not after its session timeout."""
    b = fast_groups_broker(broker_factory)
    topic = C.create_topic(b.bootstrap, 3, "cli-sig")
    C.produce_confluent(b.bootstrap, topic, [{"value": b"v%d" % i, "partition": i % 3} for i in range(60000)])
    group = C.unique("cli-sig")
    running = Running(sluice_bin, ["consume", "--bootstrap", b.bootstrap, "--topic", topic, "--group", group,
                                   "--from-beginning", "--format", "json"])
    running.wait_for_lines(50)
    running.proc.send_signal(sig)
    status, lines, stderr = running.finish()
    assert status == 0, "exit status %s after one signal\n%s" % (status, stderr)
    rows = [json.loads(line) for line in lines]
    printed = {}
    for row in rows:
        printed.setdefault(row["partition"], []).append(row["offset"])
    for partition, offsets in printed.items():
        assert offsets == list(range(len(offsets))), "partition %d: printed offsets are not 0..%d in order" % (
            partition, len(offsets) - 1)
    assert "consumed %d records from %s" % (len(rows), topic) in stderr, stderr
    want = {p: len(offsets) for p, offsets in printed.items()}
    assert committed(b.bootstrap, group, topic, range(3)) == want, "commits must be exactly what was printed"
    described = group_state(b.bootstrap, group)
    assert not described.members, "the member did not leave: %r" % described.members


@pytest.mark.timeout(120)
@pytest.mark.parametrize("sig,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"])
def test_a_second_signal_exits_at_once(sluice_bin, bootstrap, sig, status):
    """A consumer whose output nobody reads blocks writing to a full pipe, so the first signal's
    graceful stop cannot finish; the second ends it at once with 128 + the signal number."""
    topic = C.create_topic(bootstrap, 1, "cli-sig2")
    C.produce_confluent(bootstrap, topic, [{"value": b"x" * 100, "partition": 0} for _ in range(3000)])
    running = Running(sluice_bin, ["consume", "--bootstrap", bootstrap, "--topic", topic, "--from-beginning"],
                      read_stdout=False)
    deadline = time.time() + 60
    while time.time() < deadline:
        waiting = struct.unpack("i", fcntl.ioctl(running.proc.stdout.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        if waiting >= 60000:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the consumer never filled its stdout pipe")
    running.proc.send_signal(sig)
    time.sleep(1)
    assert running.proc.poll() is None, "one signal ended a consumer stuck on its output (status %s)" % running.proc.returncode
    running.proc.send_signal(sig)
    running.proc.wait(15)
    assert running.proc.returncode == status
    running.proc.stdout.close()


@pytest.mark.timeout(120)
def test_consume_without_group_prints_everything_on_a_signal_with_a_true_progress_line(sluice_bin, bootstrap):
    """`consume` without a group prints what it received and exits 0 on SIGTERM. Its progress
    line, once a second while records come, shows the true count and a rate: records that
    arrive in a burst after a wait were reported as "consumed 1 records, 0 records/s"."""
    topic = C.create_topic(bootstrap, 2, "cli-progress")
    running = Running(sluice_bin, ["consume", "--bootstrap", bootstrap, "--topic", topic, "--offset", "0"])
    time.sleep(2)
    C.produce_confluent(bootstrap, topic, [{"value": b"p%d" % i, "partition": i % 2} for i in range(50)])
    running.wait_for_lines(50)
    time.sleep(2.5)
    running.proc.send_signal(signal.SIGTERM)
    status, lines, stderr = running.finish()
    assert status == 0, stderr
    assert sorted(lines) == sorted(b"p%d\n" % i for i in range(50))
    progress = re.findall(r"^consumed (\d+) records, (\d+) records/s$", stderr, re.M)
    assert progress, "no progress line: %s" % stderr
    assert progress[-1][0] == "50", "the last progress line must show all 50 records: %r" % progress
    assert all(int(rate) > 0 for _, rate in progress), "a progress line with a zero rate: %r" % progress
    assert "consumed 50 records from %s" % topic in stderr


@pytest.mark.timeout(120)
def test_produce_first_signal_stops_reading_and_sends_what_it_read(sluice_bin, bootstrap):
    """`produce` reading a pipe that stays open: the first SIGINT stops reading (the read waiting
    for input ends at once), every record read is sent and acknowledged, exit 0."""
    topic = C.create_topic(bootstrap, 1, "cli-produce-sig")
    running = Running(sluice_bin, ["produce", "--bootstrap", bootstrap, "--topic", topic], stdin=subprocess.PIPE)
    running.proc.stdin.write(b"".join(b"line-%d\n" % i for i in range(100)))
    running.proc.stdin.flush()
    deadline = time.time() + 30
    while C.watermarks(bootstrap, topic, 0)[1] < 100 and time.time() < deadline:
        time.sleep(0.1)
    running.proc.stdin.write(b"".join(b"more-%d\n" % i for i in range(50)))
    running.proc.stdin.flush()
    running.proc.send_signal(signal.SIGINT)
    status, _, stderr = running.finish(timeout=30)
    running.proc.stdin.close()
    assert status == 0, stderr
    reported = re.search(r"produced (\d+) records to ", stderr)
    assert reported, stderr
    stored = C.watermarks(bootstrap, topic, 0)[1]
    assert 100 <= int(reported.group(1)) <= 150 and stored == int(reported.group(1)), \
        "reported %s records, the topic holds %d" % (reported.group(1), stored)


# ---------------------------------------------------------------------------- messages
def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_version(sluice_bin):
    out = run(sluice_bin, ["--version"])
    assert out.returncode == 0 and re.fullmatch(rb"\d+\.\d+\.\d+\n", out.stdout), out


def test_a_validation_error_shows_the_subcommands_usage(sluice_bin, bootstrap):
    """Errors in arguments, found while parsing or once the command runs, come with the usage
    of the command that was given — not `Usage: sluice <subcommand>`."""
    cases = [(["produce", "--bootstrap", bootstrap, "--topic", "t", "--acks", "7"], "sluice produce"),
             (["produce", "--bootstrap", bootstrap, "--topic", "t", "--file", "/no/such/file"], "sluice produce"),
             (["topic", "create", "t", "--bootstrap", bootstrap, "--config", "no-equals-sign"], "sluice topic create"),
             (["consume", "--bootstrap", bootstrap, "--topic", "t", "--format", "xml"], "sluice consume"),
             (["group", "reset-offsets", "g", "--bootstrap", bootstrap, "--topic", "t"], "sluice group reset-offsets")]
    for args, command in cases:
        out = run(sluice_bin, args, stdin=b"")
        err = out.stderr.decode()
        assert out.returncode == 64, "%s: status %d\n%s" % (args, out.returncode, err)
        assert err.startswith("Error: "), err
        assert "Usage: %s " % command in err and "See '%s --help'" % command in err, "%s:\n%s" % (args, err)
        assert "Usage: sluice <subcommand>" not in err, err


def test_a_refused_connection_asks_whether_a_broker_is_running(sluice_bin):
    port = free_port()
    for args in (["topic", "list"], ["group", "list"], ["consume", "--topic", "t"], ["produce", "--topic", "t"]):
        out = run(sluice_bin, args + ["--bootstrap", "127.0.0.1:%d" % port], stdin=b"x\n", timeout=60)
        err = out.stderr.decode()
        assert out.returncode == 1 and out.stdout == b"", (args, out.returncode, err)
        assert ("cannot connect to 127.0.0.1:%d: connection refused — is a broker running there? "
                "(sluice serve, or --bootstrap)" % port) in err, "%s:\n%s" % (args, err)


def test_consume_of_a_partition_the_topic_lacks_fails(sluice_bin, bootstrap):
    """As `produce --partition` does: reading nothing and exiting 0 looked like an empty partition."""
    topic = C.create_topic(bootstrap, 3, "cli-part")
    for command, stdin in ((["consume", "--exit-at-end"], None), (["produce"], b"x\n")):
        out = run(sluice_bin, command + ["--bootstrap", bootstrap, "--topic", topic, "--partition", "7"], stdin=stdin)
        err = out.stderr.decode()
        assert out.returncode == 1 and out.stdout == b"", (command, err)
        assert "UNKNOWN_TOPIC_OR_PARTITION" in err and "%s has 3 partitions (0 to 2); there is no partition 7" % topic in err, err


def test_describing_an_unknown_group_says_it_does_not_exist(sluice_bin, bootstrap):
    group = C.unique("never-used")
    out = run(sluice_bin, ["group", "describe", group, "--bootstrap", bootstrap])
    assert out.returncode == 1 and out.stdout == b"", out
    assert out.stderr.decode().strip() == "Consumer group '%s' does not exist." % group


def test_serve_on_a_busy_address_names_it_and_suggests_listen(sluice_bin, broker, tmp_path):
    busy = broker.bootstrap
    out = run(sluice_bin, ["serve", "--listen", busy, "--data-dir", str(tmp_path / "second")], timeout=60)
    err = out.stderr.decode()
    assert out.returncode == 1, err
    assert ("cannot listen on %s: Address already in use; is another broker running? "
            "choose another address with --listen HOST:PORT" % busy) in err, err
    # The metrics listener, when it is the one in use, is named as such.
    out = run(sluice_bin, ["serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "third"),
                           "--set", "metrics.listener=%s" % busy], timeout=60)
    err = out.stderr.decode()
    assert out.returncode == 1, err
    assert ("cannot listen on %s (metrics.listener): Address already in use; "
            "choose another address with --set metrics.listener=HOST:PORT" % busy) in err, err


# ---------------------------------------------------------------------------- bench
@pytest.mark.timeout(120)
def test_bench_produce_duration_is_sending_time_with_the_drain_apart(sluice_bin, bootstrap):
    """`--duration 2` sends for 2 s; acknowledgements still due then (what the producer's buffer
    held) are reported as drain seconds, and the rates count every record over both."""
    out = run(sluice_bin, ["bench", "produce", "--bootstrap", bootstrap, "--duration", "2", "--json"])
    assert out.returncode == 0, out.stderr.decode()
    p = json.loads(out.stdout)
    assert 2.0 <= p["seconds"] < 2.5, "a 2 s run reported %.3f s of sending" % p["seconds"]
    assert p["drainSeconds"] >= 0 and p["failed"] == 0 and p["records"] > 0, p
    total = p["seconds"] + p["drainSeconds"]
    assert abs(p["recordsPerSecond"] - p["records"] / total) <= 0.01 * p["recordsPerSecond"] + 1, p
    table = run(sluice_bin, ["bench", "produce", "--bootstrap", bootstrap, "--duration", "1"])
    assert table.returncode == 0 and re.search(rb"^drain seconds +\d", table.stdout, re.M), table.stdout.decode()


@pytest.mark.timeout(120)
def test_bench_metrics_summarises_the_brokers_view_of_the_run(sluice_bin, broker_factory):
    """`sluice bench --metrics URL` reads the endpoint before and after the run and prints what
    changed — requests/s per API, bytes, records, storage rounds, connections — not the raw
    Prometheus text; with --json the same figures are a `broker` object."""
    port = free_port()
    b = broker_factory(settings={"metrics.listener": "127.0.0.1:%d" % port})
    url = "http://127.0.0.1:%d/metrics" % port
    # Records from before the run: the summary counts only the run's.
    topic = C.create_topic(b.bootstrap, 1, "cli-metrics")
    C.produce_confluent(b.bootstrap, topic, [{"value": b"before", "partition": 0} for _ in range(300)])
    out = run(sluice_bin, ["bench", "produce", "--bootstrap", b.bootstrap, "--records", "500", "--acks", "1", "--metrics", url])
    assert out.returncode == 0, out.stderr.decode()
    text = out.stdout.decode()
    assert "records/s" in text and "broker (%s)" % url in text, text
    assert "sluice_" not in text, "raw Prometheus lines in the summary:\n" + text
    assert re.search(r"^  requests/s +.*\bProduce [\d.]+", text, re.M), text
    assert re.search(r"^  records in +500 \(\d+ records/s\)$", text, re.M), text
    assert re.search(r"^  bytes in +[\d.]+ MB \([\d.]+ MB/s\)$", text, re.M), text
    assert re.search(r"^  bytes out +[\d.]+ MB", text, re.M), text
    assert re.search(r"^  storage rounds, fdatasync +\d+, p50 [\d.]+ ms, p99 [\d.]+ ms$", text, re.M), text
    assert re.search(r"^  storage rounds, no sync +(none|\d+, p50)", text, re.M), text
    assert re.search(r"^  connections +\d+ open after the run$", text, re.M), text

    out = run(sluice_bin, ["bench", "produce", "--bootstrap", b.bootstrap, "--records", "400", "--acks", "1", "--json",
                           "--metrics", url])
    assert out.returncode == 0, out.stderr.decode()
    broker = json.loads(out.stdout)["broker"]
    assert broker["recordsIn"] == 400 and broker["requests"]["Produce"] >= 1 and broker["bytesIn"] > 400 * 100, broker
    rounds = broker["storageRoundsSync"]
    assert rounds["count"] >= 1 and 0 < rounds["p50Ms"] <= rounds["p99Ms"], broker


# ---------------------------------------------------------------------------- README
README = Path(__file__).resolve().parents[2] / "README.md"


def readme_first_five_minutes():
    """The shell commands of the README's "First five minutes" section, one per line."""
    text = README.read_text()
    section = re.search(r"^## First five minutes\n(.*?)(?=^## )", text, re.M | re.S)
    assert section, "README.md has no '## First five minutes' section"
    blocks = re.findall(r"^```sh\n(.*?)^```", section.group(1), re.M | re.S)
    assert blocks, "the 'First five minutes' section shows no ```sh block"
    return section.group(1), [line for block in blocks for line in block.splitlines()
                              if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.timeout(180)
def test_the_readmes_first_five_minutes_work(sluice_bin, broker_factory):
    """Every command of the README's "First five minutes", pasted into a shell against a test
    broker (the binary path and addresses swapped for the suite's), succeeds and shows what the
    section says; the section must keep showing each step."""
    prose, commands = readme_first_five_minutes()
    assert ".build/release/sluice" in prose and "make run" in prose and "swift build -c release --product sluice" in prose, \
        "the section must say where the binary is"
    for step in ("topic create", "produce", "consume", "group describe", "bench"):
        assert any((".build/release/sluice " + step) in c for c in commands), "no `sluice %s` step in %r" % (step, commands)
    port = free_port()
    b = broker_factory(settings={"metrics.listener": "127.0.0.1:%d" % port, "group.initial.rebalance.delay.ms": "0"})
    outputs = {}
    for command in commands:
        pasted = (command.replace(".build/release/sluice", shlex.quote(str(sluice_bin)))
                  .replace("localhost:9092", b.bootstrap)
                  .replace("http://localhost:9644/metrics", "http://127.0.0.1:%d/metrics" % port))
        out = subprocess.run(["bash", "-o", "pipefail", "-c", pasted], capture_output=True, timeout=120,
                             env=dict(os.environ, SLUICE_BOOTSTRAP=b.bootstrap))
        assert out.returncode == 0, "README command failed (%d): %s\n%s" % (out.returncode, command, out.stderr.decode())
        step = re.search(r"\.build/release/sluice (topic create|group describe|produce|consume|bench)", command)
        if step:
            outputs[step.group(1)] = out.stdout.decode()
    produced = set(re.search(r"printf '([^']*)'", next(c for c in commands if " produce " in c)).group(1).split("\\n")) - {""}
    consumed = outputs["consume"].splitlines()
    assert len(consumed) == 3 and set(consumed) <= produced, outputs["consume"]
    lags = [int(lag) for lag in re.findall(r"committed \d+ end \d+ lag (\d+)$", outputs["group describe"], re.M)]
    assert sum(lags) == len(produced) - 3, "the section says the lag is %d in all:\n%s" % (
        len(produced) - 3, outputs["group describe"])
    assert "records/s" in outputs["bench"] and "broker (" in outputs["bench"], outputs["bench"]
