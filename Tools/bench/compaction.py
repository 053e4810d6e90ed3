#!/usr/bin/env python3
"""Issue #12's figures: how fast the log cleaner cleans, and what it costs the produce and fetch
paths of the same broker while it runs, next to the same broker with nothing to clean, in
alternating rounds of one run.

Each round starts a release broker on a fresh data directory and fills topic `dirty` (1 KiB
records over --keys keys, cleanup.policy=delete, so nothing cleans it yet). Then, in the
"cleaner" rounds, the topic is switched to cleanup.policy=compact (the cleaner starts on it at
once); in the "idle" rounds it is left alone. Right after, the librdkafka load generator
produces --records records of 100 B to another topic and consumes them back; the cleaner's
bytes read during each of those windows are scraped from /metrics. At the end of a cleaner
round the script waits for the cleaner to finish and reports its rate: bytes of log rewritten over
time spent cleaning (sluice_log_cleaner_bytes_cleaned_total / sluice_log_cleaner_seconds_total);
it reads the dirty part twice (offset map, then rewrite), so its disk reads are higher.
With --cold (root), the page cache is dropped before the cleaner starts, so its first read of
the log comes from the disk, as for a log written long ago.

    .venv/bin/python Tools/bench/compaction.py --sluice .build/release/sluice --loadgen .build/rdkafka-bench
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
import urllib.request


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url):
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and " " in line:
            name, value = line.rsplit(" ", 1)
            try:
                out[name] = float(value)
            except ValueError:
                pass
    return out


def loadgen(args, *extra):
    out = subprocess.run([args.loadgen, *extra], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, timeout=900, check=True)
    return json.loads([line for line in out.stdout.decode().splitlines() if line.startswith("{")][-1])


def cli(args, bootstrap, *words):
    subprocess.run([args.sluice, *words, "--bootstrap", bootstrap], check=True, stdout=subprocess.DEVNULL, timeout=120)


def one_round(args, cleaner):
    base = tempfile.mkdtemp(prefix="compaction-bench-", dir=args.data_root)
    port, metrics_port = free_port(), free_port()
    bootstrap = "127.0.0.1:%d" % port
    metrics = "http://127.0.0.1:%d/metrics" % metrics_port
    log = open(os.path.join(base, "broker.log"), "w")
    broker = subprocess.Popen([args.sluice, "serve", "--listen", bootstrap, "--data-dir", os.path.join(base, "data"),
                               "--set", "metrics.listener=127.0.0.1:%d" % metrics_port, "--set", "log.cleaner.backoff.ms=500"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.time() + 60
        while True:
            try:
                scrape(metrics)
                break
            except OSError:
                assert time.time() < deadline and broker.poll() is None, "the broker did not start"
                time.sleep(0.2)
        cli(args, bootstrap, "topic", "create", "dirty", "--partitions", "1",
            "--config", "cleanup.policy=delete", "--config", "segment.bytes=%d" % (32 << 20))
        cli(args, bootstrap, "topic", "create", "load", "--partitions", "1")
        fill = loadgen(args, "produce", "--bootstrap", bootstrap, "--topic", "dirty", "--records", str(args.fill_records),
                       "--record-size", "1024", "--keys", str(args.keys), "--acks", "1")
        if cleaner:
            if args.cold:
                subprocess.run(["sync"], check=True)
                with open("/proc/sys/vm/drop_caches", "w") as f:
                    f.write("3\n")
            cli(args, bootstrap, "topic", "alter", "dirty", "--set", "cleanup.policy=compact")
        row = {"cleaner": cleaner, "fillMBps": fill["megabytesPerSecond"]}
        for mode in ("produce", "consume"):
            before = scrape(metrics)
            started = time.time()
            result = loadgen(args, mode, "--bootstrap", bootstrap, "--topic", "load", "--records", str(args.records),
                             "--record-size", "100", "--acks", "1")
            after = scrape(metrics)
            read = after.get("sluice_log_cleaner_bytes_read_total", 0) - before.get("sluice_log_cleaner_bytes_read_total", 0)
            row[mode] = {"recordsPerSecond": result["recordsPerSecond"], "megabytesPerSecond": result["megabytesPerSecond"],
                         "seconds": result["seconds"], "cleanerMBRead": read / 1e6, "window": (started, time.time())}
        if cleaner:
            deadline = time.time() + 600
            while True:
                figures = scrape(metrics)
                if figures.get("sluice_log_cleaner_runs_total", 0) >= 1 and figures.get("sluice_log_cleaner_max_dirty_ratio", 1) < 0.5:
                    break
                assert time.time() < deadline, "the cleaner did not finish"
                time.sleep(0.5)
            seconds = figures["sluice_log_cleaner_seconds_total"]
            # The cleaning's wall-clock span (one run), to say how much of each window it covered.
            run_end = time.time() - figures["sluice_log_cleaner_seconds_since_last_run"]
            run_start = run_end - figures["sluice_log_cleaner_last_run_seconds"]
            for mode in ("produce", "consume"):
                low, high = row[mode]["window"]
                row[mode]["cleanerShare"] = max(0.0, min(high, run_end) - max(low, run_start)) / (high - low)
            row["cleaning"] = {"MBRead": figures["sluice_log_cleaner_bytes_read_total"] / 1e6,
                               "MBCleaned": figures["sluice_log_cleaner_bytes_cleaned_total"] / 1e6,
                               "MBWritten": figures["sluice_log_cleaner_bytes_written_total"] / 1e6,
                               "seconds": seconds, "runs": figures["sluice_log_cleaner_runs_total"],
                               "MBps": figures["sluice_log_cleaner_bytes_cleaned_total"] / 1e6 / seconds if seconds > 0 else None,
                               "recordsRemoved": figures["sluice_log_cleaner_records_removed_total"]}
        return row
    finally:
        broker.terminate()
        try:
            broker.wait(60)
        except subprocess.TimeoutExpired:
            broker.kill()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--fill-records", type=int, default=600_000, help="1 KiB records in the topic to clean")
    parser.add_argument("--keys", type=int, default=20_000)
    parser.add_argument("--records", type=int, default=3_000_000, help="100 B records produced and consumed meanwhile")
    parser.add_argument("--data-root", default=os.getcwd())
    parser.add_argument("--out", help="write the rows as JSON here")
    parser.add_argument("--cold", action="store_true", help="drop the page cache before each cleaning (root)")
    args = parser.parse_args()
    rows = []
    for number in range(args.rounds):
        for cleaner in (False, True):
            row = one_round(args, cleaner)
            row["round"] = number + 1
            rows.append(row)
            print(json.dumps(row), file=sys.stderr, flush=True)
    print("| round | cleaner | produce 100 B (rec/s) | share of it with the cleaner running | consume 100 B (rec/s) | share of it with the cleaner running |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for row in rows:
        print("| %d | %s | %.0f | %.0f %% | %.0f | %.0f %% |" % (
            row["round"], "cleaning" if row["cleaner"] else "idle", row["produce"]["recordsPerSecond"],
            100 * row["produce"].get("cleanerShare", 0), row["consume"]["recordsPerSecond"], 100 * row["consume"].get("cleanerShare", 0)))
    print()
    print("| round | log MB cleaned | MB read | MB written | seconds cleaning | log MB/s | records removed | runs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        if "cleaning" in row:
            c = row["cleaning"]
            print("| %d | %.0f | %.0f | %.0f | %.1f | %.0f | %.0f | %.0f |" % (row["round"], c["MBCleaned"], c["MBRead"], c["MBWritten"], c["seconds"],
                                                                  c["MBps"] or 0, c["recordsRemoved"], c["runs"]))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
