"""The performance rows of issue #15, measured side by side in one run on this machine.

- Produce throughput with librdkafka at its defaults, flat out (no per-record timing), 100 B and
  1 KiB, one partition and eight, background flushing (D0, acks=1) and the durable default (D1,
  acks=all): the io_uring and pwrite back ends in alternating rounds, with the broker's CPU per
  record, and librdkafka's mock broker (which stores batches without parsing them) on the D0 rows.
- Clients: librdkafka at its defaults, librdkafka tuned, and the Swift producer, same broker, same
  run, 100 B acks=1 on one partition.
- Latency: end to end (producer's schedule to the consumer receiving the record) at fixed rates,
  10k/s of 100 B and 100k/s of 1 KiB, D0 and D1, one partition and eight, with the broker started
  on CPU 0 (so it runs one event loop) and the load generator on CPU 1 (taskset), so they do not
  take turns on one core; acknowledgement latency next to the mock broker under the same pinning.
  These rows run first, each after the page cache's dirty data is written back: gigabytes left
  dirty by throughput rows are written back during whatever runs next, and ext4 then makes
  every writer wait (p99 of 50-600 ms at 10k/s that had nothing to do with the broker).

Every figure carries the machine's state: load average before and after, and the disk's
buffered and fdatasync bandwidth measured in the same run.
"""
import json
import os
import shutil
import statistics
import subprocess
import tempfile
import time

BACKGROUND = {"log.flush.interval.messages": "9223372036854775807"}
DURABLE = {}
POLICIES = (("D0", BACKGROUND, "1"), ("D1", DURABLE, "all"))
BACKENDS = ("io_uring", "pwrite")


def dirty_kib():
    """Dirty and under-writeback page cache, KiB (/proc/meminfo)."""
    total = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(("Dirty:", "Writeback:")):
                total += int(line.split()[1])
    return total


def settle(limit_kib=16 << 10, timeout=120.0):
    """Writes back the page cache's dirty data and waits until little is left; returns what was left."""
    os.sync()
    deadline = time.time() + timeout
    while dirty_kib() > limit_kib and time.time() < deadline:
        time.sleep(0.5)
    return dirty_kib()


def free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(url):
    """The broker's /metrics as {series: value}; {} when it cannot be read."""
    import urllib.request
    try:
        text = urllib.request.urlopen(url, timeout=5).read().decode()
    except OSError:
        return {}
    series = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, value = line.rsplit(" ", 1)
        try:
            series[key] = float(value)
        except ValueError:
            pass
    return series


def histogram_quantiles(before, after, name, label_filter):
    """p50 and p99 (ms) of a Prometheus histogram's change between two scrapes, interpolated
    within buckets as histogram_quantile does; None when nothing was observed."""
    buckets = []
    for key, value in after.items():
        if not key.startswith(name + "_bucket{") or label_filter not in key:
            continue
        le = key.split('le="', 1)[1].split('"', 1)[0]
        bound = float("inf") if le == "+Inf" else float(le)
        buckets.append((bound, value - before.get(key, 0.0)))
    buckets.sort()
    if not buckets or buckets[-1][1] <= 0:
        return None

    def quantile(q):
        rank, lower, below = q * buckets[-1][1], 0.0, 0.0
        for bound, count in buckets:
            if count >= rank:
                if bound == float("inf"):
                    return lower
                inside = count - below
                return lower + (bound - lower) * (rank - below) / inside if inside > 0 else bound
            lower, below = bound, count
        return lower

    return {"p50": quantile(0.5) * 1000, "p99": quantile(0.99) * 1000}


def broker_breakdown(before, after):
    """Where a latency row's time went inside the broker: Produce and Fetch from dispatch to
    answer (Fetch includes its long-poll wait for data), and the storage rounds."""
    return {
        "produce": histogram_quantiles(before, after, "sluice_request_duration_seconds", 'api="Produce"'),
        "fetch": histogram_quantiles(before, after, "sluice_request_duration_seconds", 'api="Fetch"'),
        "storageRoundSynced": histogram_quantiles(before, after, "sluice_storage_round_seconds", 'sync="true"'),
        "storageRoundBuffered": histogram_quantiles(before, after, "sluice_storage_round_seconds", 'sync="false"'),
    }


def pin(pid, cpu):
    """Pins every thread of a process (taskset -a) to one CPU."""
    subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)], stdout=subprocess.DEVNULL, check=True)


class MockBroker:
    """librdkafka's mock cluster (../shared/tools/mockbroker.c), one broker."""

    def __init__(self, binary, topic, partitions):
        self.proc = subprocess.Popen([binary, "1", "%s:%d" % (topic, partitions)], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.bootstrap = self.proc.stdout.readline().decode().strip()

    def close(self):
        self.proc.terminate()
        self.proc.wait()


class PerfRows:
    def __init__(self, suite):
        self.suite = suite
        self.args = suite.args
        self.rows = []
        self.rounds = 1 if self.args.quick else 2
        self.scale = suite.scale

    @staticmethod
    def suite_log(text):
        import sys
        print(text, file=sys.stderr, flush=True)

    def loadgen(self, *args, cpu=None):
        from run import run_json
        cmd = [self.args.loadgen, *args]
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu)] + cmd
        return run_json(cmd)

    def add(self, group, scenario, target, result, cores=None, **extra):
        row = {"group": group, "scenario": scenario, "target": target, "recordsPerSecond": result["recordsPerSecond"],
               "megabytesPerSecond": result["megabytesPerSecond"], "latencyMs": result.get("latencyMs"),
               "records": result.get("records"), **extra}
        if cores is not None:
            row["brokerCores"] = cores
            row["brokerNsPerRecord"] = cores * 1e9 / max(1.0, result["recordsPerSecond"])
        self.rows.append(row)
        self.suite_log("=> %s | %s | %s: %.0f records/s%s" % (group, scenario, target, row["recordsPerSecond"],
                       "" if cores is None else ", broker %.2f cores, %.0f ns/record" % (cores, row["brokerNsPerRecord"])))
        return row

    # ------------------------------------------------------------------ brokers
    def sluice(self, backend, settings):
        settings = dict(settings, **{"log.io.backend": "automatic" if backend == "io_uring" else backend})
        return self.suite.broker(settings, "perf-%s" % backend)

    def measured(self, pid, fn):
        from run import cpu_seconds
        before, t0 = cpu_seconds(pid), time.time()
        result = fn()
        return result, (cpu_seconds(pid) - before) / (time.time() - t0)

    # ------------------------------------------------------------------ rows
    def produce_rows(self):
        """Both back ends run at once, idle in turn, and each row goes to them back to back (and
        to the mock on D0 rows), in an order that alternates by round: this disk's speed drifts
        by 2x within minutes, so only figures measured next to each other compare."""
        sizes = ((100, 2_000_000), (1024, 500_000))
        for policy, settings, acks in POLICIES:
            brokers = {backend: self.sluice(backend, settings) for backend in BACKENDS}
            try:
                for rnd in range(self.rounds):
                    for size, records in sizes:
                        records = int(records * self.scale * (0.5 if policy == "D1" else 1))
                        for partitions in (1, 8):
                            targets = list(BACKENDS) + (["mock"] if policy == "D0" and self.args.mockbroker else [])
                            if rnd % 2:
                                targets.reverse()
                            for target in targets:
                                self.produce_row(target, brokers.get(target), policy, acks, size, partitions, records, rnd)
            finally:
                for b in brokers.values():
                    self.suite.stop(b)

    def produce_row(self, target, broker, policy, acks, size, partitions, records, rnd):
        name = self.produce_name(size, partitions, policy)
        if target == "mock":
            m = MockBroker(self.args.mockbroker, "t", partitions)
            try:
                result, cores = self.measured(m.proc.pid, lambda: self.loadgen(
                    "produce", "--bootstrap", m.bootstrap, "--topic", "t", "--records", str(records), "--record-size", str(size),
                    "--acks", acks, "--profile", "default"))
            finally:
                m.close()
            self.add("produce", name, "librdkafka mock", result, cores, round=rnd)
            return
        topic = self.suite.topic(broker, "p-%s-%d-%d-%d" % (policy, size, partitions, rnd), partitions=partitions)
        result, cores = self.measured(broker.proc.pid, lambda: self.loadgen(
            "produce", "--bootstrap", broker.bootstrap, "--topic", topic, "--records", str(records), "--record-size", str(size),
            "--acks", acks, "--profile", "default"))
        self.add("produce", name, "sluice " + target, result, cores, round=rnd)
        # Free the disk for the next row: the topic's data would otherwise be written back during it.
        subprocess.run([self.args.sluice, "topic", "delete", topic, "--bootstrap", broker.bootstrap], stdout=subprocess.DEVNULL)

    @staticmethod
    def produce_name(size, partitions, policy):
        return "produce %s x%dp %s" % ("100 B" if size == 100 else "1 KiB", partitions, policy)

    def client_rows(self):
        """librdkafka defaults, librdkafka tuned, the Swift producer: 100 B acks=1, one partition."""
        records = int(3_000_000 * self.scale)
        b = self.sluice("io_uring", BACKGROUND)
        try:
            for rnd in range(self.rounds):
                for client in ("librdkafka default", "librdkafka tuned", "sluice-swift"):
                    topic = self.suite.topic(b, "c-%s-%d" % (client.replace(" ", "-"), rnd), partitions=1)
                    if client == "sluice-swift":
                        from run import run_json
                        result, cores = self.measured(b.proc.pid, lambda: run_json([
                            self.args.sluice, "bench", "produce", "--bootstrap", b.bootstrap, "--topic", topic, "--records",
                            str(records), "--record-size", "100", "--acks", "1", "--json"]))
                    else:
                        result, cores = self.measured(b.proc.pid, lambda: self.loadgen(
                            "produce", "--bootstrap", b.bootstrap, "--topic", topic, "--records", str(records), "--record-size", "100",
                            "--acks", "1", "--profile", client.split()[1]))
                    self.add("clients", "produce 100 B x1p D0", client, result, cores, round=rnd)
        finally:
            self.suite.stop(b)

    def pinned_sluice(self, settings):
        """A broker started on CPU 0: it sizes its event loops to the one core it may use. Its
        /metrics (for the per-row breakdown) is at `.metrics_url`."""
        port = free_port()
        settings = dict(settings, **{"log.io.backend": "automatic", "metrics.listener": "127.0.0.1:%d" % port})
        b = self.suite.broker(settings, "perf-pinned", command_prefix=["taskset", "-c", "0"])
        b.metrics_url = "http://127.0.0.1:%d/metrics" % port
        return b

    def latency_rows(self):
        seconds = max(5, int(15 * self.scale))
        loads = (("G7", 10_000, 100), ("G8", 100_000, 1024))
        for policy, settings, acks in POLICIES:
            b = self.pinned_sluice(settings)
            try:
                for name, rate, size in loads:
                    for partitions in (1, 8):
                        topic = self.suite.topic(b, "e-%s-%s-%d" % (policy, name, partitions), partitions=partitions)
                        dirty = settle()
                        before = scrape(b.metrics_url)
                        result, cores = self.measured(b.proc.pid, lambda: self.loadgen(
                            "e2e", "--bootstrap", b.bootstrap, "--topic", topic, "--seconds", str(seconds), "--rate", str(rate),
                            "--record-size", str(size), "--acks", acks, "--linger-ms", "0", cpu=1))
                        self.add("latency", self.latency_name(name, rate, size, partitions, policy), "sluice io_uring", result,
                                 cores, expected=rate * seconds, dirtyKiBBefore=dirty,
                                 broker=broker_breakdown(before, scrape(b.metrics_url)))
            finally:
                self.suite.stop(b)
        # Acknowledgement latency at the same rates, D0: the mock serves fetches from a short
        # in-memory log, so it has no end-to-end figure to compare; its acks it has.
        for name, rate, size in loads:
            for partitions in (1, 8):
                for target in ("sluice io_uring", "librdkafka mock"):
                    metrics_url = None
                    if target == "sluice io_uring":
                        b = self.pinned_sluice(BACKGROUND)
                        pid, bootstrap, metrics_url = b.proc.pid, b.bootstrap, b.metrics_url
                        topic = self.suite.topic(b, "a-%s-%d" % (name, partitions), partitions=partitions)
                        close = lambda: self.suite.stop(b)  # noqa: E731
                    else:
                        m = MockBroker(self.args.mockbroker, "t", partitions)
                        pid, bootstrap, topic, close = m.proc.pid, m.bootstrap, "t", m.close
                        pin(pid, 0)
                    try:
                        dirty = settle()
                        before = scrape(metrics_url) if metrics_url else {}
                        result, cores = self.measured(pid, lambda: self.loadgen(
                            "produce", "--bootstrap", bootstrap, "--topic", topic, "--seconds", str(seconds), "--rate", str(rate),
                            "--record-size", str(size), "--acks", "1", "--linger-ms", "0", cpu=1))
                        extra = {"broker": broker_breakdown(before, scrape(metrics_url))} if metrics_url else {}
                        self.add("latency", "%s acks %dk/s %s x%dp D0" % (name, rate // 1000, "100 B" if size == 100 else "1 KiB",
                                                                       partitions),
                                 target, result, cores, expected=rate * seconds, dirtyKiBBefore=dirty, **extra)
                    finally:
                        close()

    @staticmethod
    def latency_name(name, rate, size, partitions, policy):
        return "%s e2e %dk/s %s x%dp %s" % (name, rate // 1000, "100 B" if size == 100 else "1 KiB", partitions, policy)

    def run(self):
        self.load_before = os.getloadavg()
        # Latency first, on a disk with nothing left to write back (see the module's comment).
        self.latency_rows()
        self.produce_rows()
        self.client_rows()
        self.load_after = os.getloadavg()

    # ------------------------------------------------------------------ report
    def mean(self, group, scenario, target, key="recordsPerSecond"):
        values = [r[key] for r in self.rows if r["group"] == group and r["scenario"] == scenario and r["target"] == target
                  and r.get(key) is not None]
        return statistics.mean(values) if values else None

    def targets(self):
        out = []

        def check(what, value, goal, met):
            out.append({"target": what, "value": value, "goal": goal, "met": bool(met)})

        for scenario in dict.fromkeys(r["scenario"] for r in self.rows if r["group"] == "produce"):
            uring, pwrite = self.mean("produce", scenario, "sluice io_uring"), self.mean("produce", scenario, "sluice pwrite")
            if uring and pwrite:
                check("io_uring / pwrite, " + scenario, uring / pwrite, ">= 1.0x", uring >= pwrite)
        g1, mock = self.mean("produce", "produce 100 B x1p D0", "sluice io_uring"), self.mean("produce", "produce 100 B x1p D0",
                                                                                              "librdkafka mock")
        if g1 and mock:
            check("G1: produce 100 B x1p D0, Sluice / mock", g1 / mock, ">= 0.9x", g1 >= 0.9 * mock)
        swift = self.mean("clients", "produce 100 B x1p D0", "sluice-swift")
        for profile in ("librdkafka default", "librdkafka tuned"):
            other = self.mean("clients", "produce 100 B x1p D0", profile)
            if swift and other:
                check("Swift producer / %s" % profile, swift / other, ">= 1.0x", swift >= other)
        # Every end-to-end row, one partition and eight, D0 and D1.
        for row in self.rows:
            if row["group"] != "latency" or " e2e " not in row["scenario"] or not row["latencyMs"]:
                continue
            bound = 3.0 if row["scenario"].startswith("G7") else 10.0
            check(row["scenario"] + " p99 (ms)", row["latencyMs"]["p99"], "<= %g ms" % bound, row["latencyMs"]["p99"] <= bound)
        return out

    def report(self, limits):
        print()
        print("issue #15 rows: load average %.2f before, %.2f after (1 min); disk buffered %.0f MB/s, write+fdatasync per MiB "
              "%.0f MB/s, fdatasync p99 %.2f ms (same run)" % (self.load_before[0], self.load_after[0],
                                                              limits.get("bufferedWriteMBps", 0), limits.get("syncedWriteMBps", 0),
                                                              limits.get("fdatasyncP99Ms", 0)))
        print("produce: librdkafka at its defaults, flat out; mean of %d alternating rounds; ns/record = broker CPU per record" %
              self.rounds)
        header = "%-28s %-20s %12s %9s %11s" % ("scenario", "broker", "records/s", "MB/s", "ns/record")
        print(header)
        print("-" * len(header))
        for group in ("produce", "clients"):
            seen = []
            for r in self.rows:
                key = (r["scenario"], r["target"])
                if r["group"] != group or key in seen:
                    continue
                seen.append(key)
                rps, mbps = self.mean(group, *key), self.mean(group, *key, key="megabytesPerSecond")
                ns = self.mean(group, *key, key="brokerNsPerRecord")
                print("%-28s %-20s %12.0f %9.1f %11s" % (r["scenario"], r["target"], rps, mbps, "%.0f" % ns if ns else "-"))
            print()
        print("latency: broker started on CPU 0 (one event loop), load generator on CPU 1 (taskset); producer linger.ms 0; "
              "each row after the page cache's dirty data was written back")
        header = "%-34s %-16s %9s %8s %8s %8s %8s %10s" % ("scenario", "broker", "received", "p50 ms", "p99 ms", "p99.9 ms",
                                                           "max ms", "ns/record")
        print(header)
        print("-" * len(header))
        for r in self.rows:
            if r["group"] != "latency":
                continue
            lat = r["latencyMs"] or {}
            print("%-34s %-16s %9s %8.2f %8.2f %8.2f %8.2f %10.0f" % (
                r["scenario"], r["target"], "%d/%d" % (r.get("records") or 0, r["expected"]), lat.get("p50", 0), lat.get("p99", 0),
                lat.get("p999", 0), lat.get("max", 0), r.get("brokerNsPerRecord", 0)))
        print()
        print("where the time goes, inside the broker (its /metrics over each row): Produce and Fetch from dispatch")
        print("to answer (Fetch includes its long-poll wait), storage rounds (one group of writes, with or without fdatasync)")
        header = "%-34s %17s %17s %17s %17s" % ("scenario", "e2e/acks p50/p99", "Produce p50/p99", "storage p50/p99", "Fetch p50/p99")
        print(header)
        print("-" * len(header))

        def pair(q):
            return "%.2f / %.2f" % (q["p50"], q["p99"]) if q else "-"

        for r in self.rows:
            if r["group"] != "latency" or "broker" not in r:
                continue
            br, lat = r["broker"], r["latencyMs"] or {}
            storage = br.get("storageRoundSynced") or br.get("storageRoundBuffered")
            print("%-34s %17s %17s %17s %17s" % (r["scenario"], pair(lat) if lat else "-", pair(br.get("produce")), pair(storage),
                                                 pair(br.get("fetch"))))
        targets = self.targets()
        print()
        print("%-52s %10s %-10s %s" % ("target", "measured", "goal", "met"))
        for t in targets:
            print("%-52s %10.2f %-10s %s" % (t["target"], t["value"], t["goal"], "yes" if t["met"] else "NO"))
        return {"loadBefore": self.load_before, "loadAfter": self.load_after, "rounds": self.rounds, "rows": self.rows,
                "targets": targets}


def chart(data, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    rows = [r for r in data["rows"] if r["group"] == "produce"]
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    targets = ["sluice io_uring", "sluice pwrite", "librdkafka mock"]
    fig, ax = plt.subplots(figsize=(12, 6))
    width = 0.27
    for i, target in enumerate(targets):
        values = []
        for s in scenarios:
            v = [r["recordsPerSecond"] for r in rows if r["scenario"] == s and r["target"] == target]
            values.append(statistics.mean(v) / 1e6 if v else 0)
        ax.barh([y + i * width for y in range(len(scenarios))], values, height=width, label=target)
    ax.set_yticks([y + width for y in range(len(scenarios))])
    ax.set_yticklabels(scenarios, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("million records/s (librdkafka defaults, flat out)")
    ax.set_title("Produce: io_uring and pwrite back ends against librdkafka's mock broker")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
