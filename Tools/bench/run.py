#!/usr/bin/env python3
"""`make bench`: Sluice's benchmark suite, measured against this machine's own limits.

It starts a release broker on a temporary data directory for each flush policy (Kafka-style
background flushing, and the durable default: acknowledged only after fdatasync), runs every
scenario through two load generators (librdkafka, via Tools/loadgen/rdkafka-bench.c, so the
broker is measured apart from the Swift client; and `sluice bench`, the Swift client), measures
the machine's limits in the same run (buffered and fdatasync-per-MiB disk bandwidth with
sluice-storage-tool, loopback TCP with iperf3 when installed), and prints every figure next to
its limit and its target. Results go to a JSON file and a PNG chart.

With --mockbroker (librdkafka's mock cluster, built by `make bench`) it adds issue #15's rows
(Tools/bench/perf.py): both I/O back ends on every produce row, the mock as comparator, the
clients side by side, and pinned end-to-end latency at fixed rates; --perf-only runs just those.

Usage: Tools/bench/run.py --sluice BIN --storage-tool BIN --loadgen BIN [--mockbroker BIN] [--out DIR] [--quick]
"""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Interop"))
from broker import Broker  # noqa: E402
from cluster import Cluster  # noqa: E402

BACKGROUND = {"log.flush.interval.messages": "9223372036854775807"}
DURABLE = {}
TICKS = os.sysconf("SC_CLK_TCK")


def log(text):
    print(text, file=sys.stderr, flush=True)


def run_json(cmd, timeout=600):
    """Runs a load generator; its progress lines pass through to stderr, its JSON result is the
    last stdout line."""
    log("$ " + " ".join(cmd))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=None, timeout=timeout)
    lines = [l for l in proc.stdout.decode().splitlines() if l.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError("%s failed (exit %d)" % (cmd[0], proc.returncode))
    return json.loads(lines[-1])


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Suite:
    def __init__(self, args):
        self.args = args
        self.results = []      # one row per scenario and client
        self.limits = {}
        self.scale = 0.2 if args.quick else 1.0

    # ------------------------------------------------------------------ machine limits
    def measure_limits(self, directory):
        out = subprocess.run([self.args.storage_tool, "limits", "--dir", directory, "--seconds", "3", "--json"],
                             stdout=subprocess.PIPE, check=True).stdout.decode()
        self.limits.update(json.loads(out))
        if shutil.which("iperf3"):
            server = subprocess.Popen(["iperf3", "-s", "-1", "-p", "15201"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
            try:
                out = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", "15201", "-t", "3", "-J"], stdout=subprocess.PIPE,
                                     timeout=30).stdout.decode()
                self.limits["loopbackTcpMBps"] = json.loads(out)["end"]["sum_received"]["bits_per_second"] / 8 / 1e6
            finally:
                server.kill()
        log("machine limits: %s" % json.dumps(self.limits))

    # ------------------------------------------------------------------ brokers
    def broker(self, settings, name, command_prefix=()):
        d = tempfile.mkdtemp(prefix="sluice-bench-%s-" % name, dir=self.args.data_root)
        b = Broker(self.args.sluice, os.path.join(d, "data"), os.path.join(d, "broker.log"), settings=settings,
                   command_prefix=command_prefix)
        b.start()
        b.tmp = d
        return b

    def stop(self, b):
        b.close()
        shutil.rmtree(b.tmp, ignore_errors=True)

    def topic(self, b, name, partitions=6):
        name = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-")
        subprocess.run([self.args.sluice, "topic", "create", name, "--partitions", str(partitions), "--bootstrap", b.bootstrap],
                       check=True, stdout=subprocess.DEVNULL)
        return name

    def add(self, scenario, client, result, broker_cpu=None):
        row = {"scenario": scenario, "client": client, "recordsPerSecond": result["recordsPerSecond"],
               "megabytesPerSecond": result["megabytesPerSecond"], "latencyMs": result.get("latencyMs"),
               "records": result["records"], "seconds": result["seconds"]}
        if broker_cpu is not None:
            row["brokerCores"] = broker_cpu
        self.results.append(row)
        log("=> %s / %s: %.0f records/s, %.1f MB/s%s" % (scenario, client, row["recordsPerSecond"], row["megabytesPerSecond"],
                                                     "" if broker_cpu is None else ", broker %.2f cores" % broker_cpu))

    # ------------------------------------------------------------------ scenarios
    def produce(self, b, scenario, size, acks, records):
        records = int(records * self.scale)
        rd_topic = self.topic(b, "rd-" + scenario)
        before, t0 = cpu_seconds(b.proc.pid), time.time()
        result = run_json([self.args.loadgen, "produce", "--bootstrap", b.bootstrap, "--topic", rd_topic, "--records", str(records),
                           "--record-size", str(size), "--acks", acks])
        cores = (cpu_seconds(b.proc.pid) - before) / (time.time() - t0)
        self.add(scenario, "librdkafka", result, cores)
        sw_topic = self.topic(b, "sw-" + scenario)
        result = run_json([self.args.sluice, "bench", "produce", "--bootstrap", b.bootstrap, "--topic", sw_topic, "--records",
                           str(records), "--record-size", str(size), "--acks", acks, "--json"])
        self.add(scenario, "sluice-swift", result)
        return rd_topic, sw_topic, records

    def consume(self, b, scenario, topic, records):
        result = run_json([self.args.loadgen, "consume", "--bootstrap", b.bootstrap, "--topic", topic, "--records", str(records)])
        self.add(scenario, "librdkafka", result)
        result = run_json([self.args.sluice, "bench", "consume", "--bootstrap", b.bootstrap, "--topic", topic, "--records",
                           str(records), "--json"])
        self.add(scenario, "sluice-swift", result)

    def e2e(self, b, scenario, acks):
        seconds = max(5, int(20 * self.scale))
        result = run_json([self.args.loadgen, "e2e", "--bootstrap", b.bootstrap, "--topic", self.topic(b, "rd-" + scenario),
                           "--seconds", str(seconds), "--rate", "10000", "--record-size", "100", "--acks", acks, "--linger-ms", "0"])
        self.add(scenario, "librdkafka", result)
        result = run_json([self.args.sluice, "bench", "e2e", "--bootstrap", b.bootstrap, "--topic", self.topic(b, "sw-" + scenario),
                           "--duration", str(seconds), "--rate", "10000", "--record-size", "100", "--acks", acks, "--linger-ms", "0",
                           "--json"])
        self.add(scenario, "sluice-swift", result)

    def replication(self):
        """Three brokers on this machine (127.0.0.1/.2/.3, durable default), idempotent acks=all
        producers from librdkafka: the same load on a topic of one replica and on one of three
        (min.insync.replicas=2), alternating in one run, so the ratio is the cost of replication."""
        base = tempfile.mkdtemp(prefix="sluice-bench-cluster-", dir=self.args.data_root)
        cluster = Cluster(self.args.sluice, __import__("pathlib").Path(base)).start()
        self.cluster_rows = []
        try:
            cluster.wait_live([1, 2, 3], via=1)
            bootstrap = cluster.all_bootstraps
            pids = [node.proc.pid for node in cluster.nodes.values()]
            for size, records in ((100, 1_000_000), (1024, 300_000)):
                records = int(records * self.scale)
                for factor in (1, 3):
                    topic = "rf%d-%d" % (factor, size)
                    subprocess.run([self.args.sluice, "topic", "create", topic, "--partitions", "6", "--replication-factor",
                                    str(factor), "--config", "min.insync.replicas=%d" % min(2, factor),
                                    "--bootstrap", cluster.bootstrap(1)], check=True, stdout=subprocess.DEVNULL)
                    time.sleep(2)
                    before, t0 = sum(cpu_seconds(p) for p in pids), time.time()
                    result = run_json([self.args.loadgen, "produce", "--bootstrap", bootstrap, "--topic", topic, "--records",
                                       str(records), "--record-size", str(size), "--acks", "all"])
                    cores = (sum(cpu_seconds(p) for p in pids) - before) / (time.time() - t0)
                    scenario = "cluster produce %s acks=all RF=%d" % ("100 B" if size == 100 else "1 KiB", factor)
                    self.add(scenario, "librdkafka", result, cores)
                    self.cluster_rows.append(self.results[-1])
        finally:
            cluster.close()
            shutil.rmtree(base, ignore_errors=True)

    def idle_partitions(self):
        """10,000 partitions (10 topics of 1,000) with no traffic: resident memory and CPU."""
        b = self.broker(BACKGROUND, "idle")
        try:
            for t in range(10):
                self.topic(b, "idle-%d" % t, partitions=1000)
            time.sleep(5)
            before, t0 = cpu_seconds(b.proc.pid), time.time()
            time.sleep(10)
            cores = (cpu_seconds(b.proc.pid) - before) / (time.time() - t0)
            self.idle = {"partitions": 10000, "rssMiB": rss_mib(b.proc.pid), "cpuPercent": cores * 100}
            # Clean shutdown (SIGTERM to exit) with 10,000 partitions, a few of them written to.
            for t in range(3):
                subprocess.run([self.args.loadgen, "produce", "--bootstrap", b.bootstrap, "--topic", "idle-%d" % t, "--records",
                                "10000", "--record-size", "100"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            t0 = time.time()
            b.close()
            self.idle["shutdownSeconds"] = time.time() - t0
            log("=> idle: %s" % json.dumps(self.idle))
        finally:
            self.stop(b)

    def run(self):
        os.makedirs(self.args.out, exist_ok=True)
        self.measure_limits(self.args.data_root)
        b = self.broker(BACKGROUND, "background")
        try:
            rd100, _, n100 = self.produce(b, "produce 100 B acks=1 (background flush)", 100, "1", 5_000_000)
            rd1k, _, n1k = self.produce(b, "produce 1 KiB acks=1 (background flush)", 1024, "1", 1_000_000)
            self.consume(b, "consume 100 B", rd100, n100)
            self.consume(b, "consume 1 KiB", rd1k, n1k)
            self.e2e(b, "e2e 100 B @10k/s (background flush)", "1")
        finally:
            self.stop(b)
        b = self.broker(DURABLE, "durable")
        try:
            self.produce(b, "produce 1 KiB acks=all (durable)", 1024, "all", 1_000_000)
            self.produce(b, "produce 100 B acks=all (durable)", 100, "all", 3_000_000)
            self.e2e(b, "e2e 100 B @10k/s (durable)", "all")
        finally:
            self.stop(b)
        self.idle_partitions()
        self.replication()
        self.report()
        if self.args.mockbroker:
            self.perf()

    def perf(self):
        import perf
        rows = perf.PerfRows(self)
        rows.run()
        data = rows.report(self.limits)
        data["limits"] = self.limits
        data["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        path = os.path.join(self.args.out, "perf.json")
        with open(path, "w") as f:
            json.dump(data, f, indent=2)
        perf.chart(data, os.path.join(self.args.out, "perf.png"))
        log("issue #15 rows: %s, perf.png" % path)

    # ------------------------------------------------------------------ report
    def row(self, scenario, client="librdkafka"):
        return next((r for r in self.results if r["scenario"] == scenario and r["client"] == client), None)

    def targets(self):
        """(what, measured, unit, limit, target, met) per target of issue #7, from the librdkafka load."""
        L = self.limits
        out = []

        def check(what, value, unit, limit, target_text, met):
            out.append({"target": what, "value": value, "unit": unit, "limit": limit, "goal": target_text, "met": bool(met)})

        r = self.row("produce 100 B acks=1 (background flush)")
        check("produce 100 B acks=1", r["recordsPerSecond"], "records/s", None, ">= 750,000", r["recordsPerSecond"] >= 750_000)
        check("broker CPU at 100 B produce", r.get("brokerCores", 0), "cores", None, "<= 1 core", r.get("brokerCores", 9) <= 1.0)
        r = self.row("produce 1 KiB acks=1 (background flush)")
        check("produce 1 KiB acks=1", r["megabytesPerSecond"], "MB/s", L.get("bufferedWriteMBps"), ">= 300 MB/s",
              r["megabytesPerSecond"] >= 300)
        r = self.row("produce 1 KiB acks=all (durable)")
        synced = L.get("syncedWriteMBps", 0)
        check("produce 1 KiB acks=all durable", r["megabytesPerSecond"], "MB/s", synced, ">= 70% of fdatasync-per-MiB",
              r["megabytesPerSecond"] >= 0.7 * synced)
        r = self.row("consume 100 B")
        check("consume 100 B", r["recordsPerSecond"], "records/s", None, ">= 1,200,000", r["recordsPerSecond"] >= 1_200_000)
        r = self.row("consume 1 KiB")
        check("consume 1 KiB", r["megabytesPerSecond"], "MB/s", L.get("loopbackTcpMBps"), ">= 600 MB/s", r["megabytesPerSecond"] >= 600)
        r = self.row("e2e 100 B @10k/s (background flush)")
        check("e2e p99, background flush", r["latencyMs"]["p99"], "ms", None, "<= 3 ms", r["latencyMs"]["p99"] <= 3)
        r = self.row("e2e 100 B @10k/s (durable)")
        bound = L.get("fdatasyncP99Ms", 0) + 2
        check("e2e p99, durable", r["latencyMs"]["p99"], "ms", L.get("fdatasyncP99Ms"), "<= fdatasync p99 + 2 ms (%.2f ms)" % bound,
              r["latencyMs"]["p99"] <= bound)
        check("10,000 idle partitions: RSS", self.idle["rssMiB"], "MiB", None, "<= 1024 MiB", self.idle["rssMiB"] <= 1024)
        check("10,000 idle partitions: CPU", self.idle["cpuPercent"], "%", None, "<= 2%", self.idle["cpuPercent"] <= 2)
        check("10,000 partitions: clean shutdown", self.idle["shutdownSeconds"], "s", None, "< 3 s", self.idle["shutdownSeconds"] < 3)
        for scenario in ("produce 100 B acks=1 (background flush)", "produce 100 B acks=all (durable)", "consume 100 B"):
            rd, sw = self.row(scenario), self.row(scenario, "sluice-swift")
            check("Swift client vs librdkafka: " + scenario, sw["recordsPerSecond"] / rd["recordsPerSecond"], "x", None, ">= 1.0x",
                  sw["recordsPerSecond"] >= rd["recordsPerSecond"])
        return out

    def report(self):
        targets = self.targets()
        limit_of = {"produce": self.limits.get("bufferedWriteMBps"), "consume": self.limits.get("loopbackTcpMBps")}
        print()
        print("machine: %s, %d cores; disk: buffered %.0f MB/s, write+fdatasync per MiB %.0f MB/s (fdatasync p50 %.2f ms, p99 %.2f ms)%s"
              % (platform.machine(), os.cpu_count(), self.limits["bufferedWriteMBps"], self.limits["syncedWriteMBps"],
                 self.limits["fdatasyncP50Ms"], self.limits["fdatasyncP99Ms"],
                 "; loopback TCP %.0f MB/s" % self.limits["loopbackTcpMBps"] if "loopbackTcpMBps" in self.limits else ""))
        print()
        header = "%-42s %-13s %13s %10s %10s %10s %10s" % ("scenario", "client", "records/s", "MB/s", "of limit", "p50 ms", "p99 ms")
        print(header)
        print("-" * len(header))
        for r in self.results:
            limit = self.limits.get("syncedWriteMBps") if "durable" in r["scenario"] and r["scenario"].startswith("produce") \
                else limit_of.get(r["scenario"].split()[0])
            fraction = "%.0f%%" % (100 * r["megabytesPerSecond"] / limit) if limit else "-"
            lat = r.get("latencyMs") or {}
            print("%-42s %-13s %13.0f %10.1f %10s %10s %10s" % (
                r["scenario"], r["client"], r["recordsPerSecond"], r["megabytesPerSecond"], fraction,
                "%.2f" % lat["p50"] if lat else "-", "%.2f" % lat["p99"] if lat else "-"))
        if getattr(self, "cluster_rows", None):
            print()
            print("replication: 3 brokers and the load share this machine's %d cores; all durable (fdatasync before" % os.cpu_count())
            print("acknowledging on the leader, before fetching further on each follower)")
            for size in ("100 B", "1 KiB"):
                one, three = self.row("cluster produce %s acks=all RF=1" % size), self.row("cluster produce %s acks=all RF=3" % size)
                if one and three:
                    print("  %-6s RF=3 / RF=1: %.2fx records/s (%.0f vs %.0f), brokers' CPU %.2f vs %.2f cores" % (
                        size, three["recordsPerSecond"] / one["recordsPerSecond"], three["recordsPerSecond"], one["recordsPerSecond"],
                        three.get("brokerCores", 0), one.get("brokerCores", 0)))
        print()
        print("%-58s %14s %-34s %s" % ("target (librdkafka load unless named)", "measured", "goal", "met"))
        for t in targets:
            value = "%.2f %s" % (t["value"], t["unit"]) if t["value"] < 100 else "{:,.0f} {}".format(t["value"], t["unit"])
            print("%-58s %14s %-34s %s" % (t["target"], value, t["goal"], "yes" if t["met"] else "NO"))
        data = {"machine": {"arch": platform.machine(), "cores": os.cpu_count(), "kernel": platform.release()},
                "limits": self.limits, "results": self.results, "idle": self.idle, "targets": targets,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        path = os.path.join(self.args.out, "results.json")
        with open(path, "w") as f:
            json.dump(data, f, indent=2)
        log("results: %s" % path)
        chart(data, os.path.join(self.args.out, "bench.png"))


def chart(data, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("matplotlib not installed: no chart")
        return
    results = data["results"]
    throughput = [r for r in results if not r["scenario"].startswith("e2e")]
    scenarios = list(dict.fromkeys(r["scenario"] for r in throughput))
    clients = ["librdkafka", "sluice-swift"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(15, 6), gridspec_kw={"width_ratios": [3, 2]})
    width = 0.38
    for i, client in enumerate(clients):
        values = [next((r["megabytesPerSecond"] for r in throughput if r["scenario"] == s and r["client"] == client), 0)
                  for s in scenarios]
        bars = left.barh([y + i * width for y in range(len(scenarios))], values, height=width, label=client)
        for bar, s in zip(bars, scenarios):
            rate = next((r["recordsPerSecond"] for r in throughput if r["scenario"] == s and r["client"] == client), 0)
            left.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, " %.2fM rec/s" % (rate / 1e6), va="center", fontsize=7)
    limits = data["limits"]
    for value, label, style in ((limits.get("bufferedWriteMBps"), "disk, buffered", "--"),
                                (limits.get("syncedWriteMBps"), "disk, fdatasync per MiB", ":"),
                                (limits.get("loopbackTcpMBps"), "loopback TCP", "-.")):
        if value:
            left.axvline(value, linestyle=style, color="grey", linewidth=1)
            left.text(value, -0.45, label, rotation=90, fontsize=7, va="top", ha="right", color="grey")
    left.set_yticks([y + width / 2 for y in range(len(scenarios))])
    left.set_yticklabels(scenarios, fontsize=8)
    left.invert_yaxis()
    left.set_xlabel("MB/s")
    left.set_title("Throughput (bars) against the machine's limits (lines)")
    left.legend(loc="lower right", fontsize=8)
    e2e = [r for r in results if r["latencyMs"] and (r["scenario"].startswith("e2e") or r["scenario"].startswith("produce"))]
    labels = ["%s\n%s" % (r["scenario"].replace(" (", "\n("), r["client"]) for r in e2e if r["scenario"].startswith("e2e")]
    rows = [r for r in e2e if r["scenario"].startswith("e2e")]
    for j, p in enumerate(("p50", "p99", "p999")):
        right.bar([i + j * 0.27 for i in range(len(rows))], [r["latencyMs"][p] for r in rows], width=0.27, label=p)
    right.axhline(limits.get("fdatasyncP99Ms", 0) + 2, linestyle=":", color="grey", linewidth=1)
    right.text(len(rows) - 0.5, limits.get("fdatasyncP99Ms", 0) + 2, "fdatasync p99 + 2 ms", fontsize=7, color="grey",
               ha="right", va="bottom")
    right.set_xticks([i + 0.27 for i in range(len(rows))])
    right.set_xticklabels(labels, fontsize=7)
    right.set_yscale("log")  # a single slow p99.9 would otherwise flatten every other bar
    right.set_ylabel("ms (log scale)")
    right.set_title("End-to-end latency at 10k msg/s, 100 B")
    right.legend(fontsize=8)
    fig.suptitle("Sluice %s, %d cores (%s)" % (data["machine"]["arch"], data["machine"]["cores"], data["time"]))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    log("chart: %s" % path)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sluice", required=True)
    p.add_argument("--storage-tool", required=True)
    p.add_argument("--loadgen", required=True)
    p.add_argument("--out", default="bench-results")
    p.add_argument("--data-root", default=None, help="where brokers keep their data (default: the system's temp dir)")
    p.add_argument("--quick", action="store_true", help="a fifth of the records and shorter e2e runs")
    p.add_argument("--chart-only", metavar="RESULTS_JSON", help="only redraw the chart from a results file")
    p.add_argument("--replication-only", action="store_true", help="only the 3-broker RF=1 against RF=3 comparison")
    p.add_argument("--mockbroker", help="librdkafka's mock broker (../shared/tools/mockbroker.c): adds issue #15's rows")
    p.add_argument("--perf-only", action="store_true", help="only issue #15's rows (needs --mockbroker)")
    if "--chart-only" in sys.argv:
        only = sys.argv[sys.argv.index("--chart-only") + 1]
        with open(only) as f:
            chart(json.load(f), os.path.join(os.path.dirname(only) or ".", "bench.png"))
        return
    args = p.parse_args()
    args.data_root = args.data_root or tempfile.gettempdir()
    suite = Suite(args)
    if args.perf_only:
        os.makedirs(args.out, exist_ok=True)
        suite.measure_limits(args.data_root)
        suite.perf()
        return
    if args.replication_only:
        suite.replication()
        for r in suite.cluster_rows:
            print("%-42s %13.0f records/s %8.1f MB/s  brokers %.2f cores" % (r["scenario"], r["recordsPerSecond"],
                                                                          r["megabytesPerSecond"], r.get("brokerCores", 0)))
        for size in ("100 B", "1 KiB"):
            one, three = suite.row("cluster produce %s acks=all RF=1" % size), suite.row("cluster produce %s acks=all RF=3" % size)
            print("%s: RF=3 / RF=1 = %.2fx" % (size, three["recordsPerSecond"] / one["recordsPerSecond"]))
        return
    suite.run()


if __name__ == "__main__":
    main()
