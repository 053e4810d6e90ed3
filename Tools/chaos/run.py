#!/usr/bin/env python3
"""The fault-injection supervisor (issue #11): a 3-broker cluster, load, one kind of fault on a
schedule, then one verdict from history.py.

    Tools/chaos/run.py SCENARIO [--duration S] [--interval S] [--rate N] [--producers N]
                       [--partitions N] [--binary PATH] [--out DIR]

Scenarios (../shared/notes/replication.md's acceptance table):
  none            no faults (T1)
  kill-leader     kill -9 the leader of partition 0 every --interval s, restart it 3 s later (T2)
  kill-all        kill -9 all three brokers every --interval s, restart them at once (T2b)
  pause-leader    SIGSTOP the leader of partition 0 for --pause s every --interval s (T6)
  cut-leader      cut the leader of partition 0 off from the other brokers with iptables for
                  --pause s every --interval s; clients still reach it (T4; root needed)
  followers-down  kill -9 one follower of partition 0, then the other; restart both (T3)

The brokers run as in the acceptance setup: RF=3, min.insync.replicas=2, idempotent acks=all
producers (confluent-kafka), replica.lag.time.max.ms 5 s, a 3 s broker session. They listen
on 127.0.0.2, .3 and .4 and every inter-broker connection binds its broker's address, while
the load connects from 127.0.0.1: a cut between brokers never cuts the clients.

Progress goes to stdout as the run goes; the history (JSON lines), each broker's log and
result.json (verdict, fault count, failover times) go to --out. Exit status 1 when the history
is invalid (anything acknowledged lost, duplicated, at an inconsistent offset or reordered).
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "Tests" / "Interop"))

import history as H  # noqa: E402
import workload as W  # noqa: E402
from cluster import Cluster  # noqa: E402

SCENARIOS = ("none", "kill-leader", "kill-all", "pause-leader", "cut-leader", "followers-down")
TOPIC = "chaos"


def log(start, text):
    print("[%7.1fs] %s" % (time.monotonic() - start, text), flush=True)


class Run:
    def __init__(self, args):
        self.args = args
        self.out = Path(args.out or tempfile.mkdtemp(prefix="sluice-chaos-"))
        self.out.mkdir(parents=True, exist_ok=True)
        settings = {"replica.lag.time.max.ms": "5000", "min.insync.replicas": "2", "default.replication.factor": "3"}
        self.cluster = Cluster(args.binary, self.out, first_host=2, extra=settings)
        self.start = time.monotonic()
        self.faults = 0
        self.failovers = []
        self.notes = []

    # ------------------------------------------------------------------ cluster state
    def metadata(self, exclude=()):
        from kspec import Connection
        for n, node in self.cluster.nodes.items():
            if n in exclude or not node.alive():
                continue
            try:
                with Connection(self.cluster.bootstrap(n), timeout=5) as k:
                    r = k.call("Metadata", 12, {"Topics": [{"Name": TOPIC}], "AllowAutoTopicCreation": False,
                                                "IncludeTopicAuthorizedOperations": False})
                topic = r["Topics"][0]
                if topic["ErrorCode"] == 0:
                    return {p["PartitionIndex"]: p for p in topic["Partitions"]}
            except Exception:
                continue
        return None

    def leader_of(self, partition=0, exclude=()):
        parts = self.metadata(exclude)
        return parts[partition]["LeaderId"] if parts and partition in parts else -1

    def wait_new_leader(self, victim, partition=0, timeout=60.0):
        """Seconds until a broker other than `victim` names a leader other than it."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            leader = self.leader_of(partition, exclude=(victim,))
            if leader not in (-1, victim):
                return time.monotonic() - started
            time.sleep(0.1)
        return None

    # ------------------------------------------------------------------ faults
    def kill_leader(self, stop):
        while not stop.wait(self.args.interval):
            victim = self.leader_of()
            if victim < 0:
                continue
            self.cluster.nodes[victim].kill9()
            self.faults += 1
            took = self.wait_new_leader(victim)
            self.failovers.append(took)
            log(self.start, "kill -9 broker %d (leader of %s-0): new leader after %s" %
                (victim, TOPIC, "%.1f s" % took if took is not None else "NONE within 60 s"))
            time.sleep(3)
            self.cluster.nodes[victim].start()
            log(self.start, "broker %d restarted" % victim)

    def kill_all(self, stop):
        while not stop.wait(self.args.interval):
            for node in self.cluster.nodes.values():
                node.kill9()
            self.faults += 1
            killed = time.monotonic()
            for node in self.cluster.nodes.values():
                node.start()
            while time.monotonic() - killed < 60 and self.leader_of() < 0:
                time.sleep(0.1)
            took = time.monotonic() - killed
            self.failovers.append(took)
            log(self.start, "kill -9 all brokers, restarted: partition 0 led again after %.1f s" % took)

    def pause_leader(self, stop):
        while not stop.wait(self.args.interval - self.args.pause):
            victim = self.leader_of()
            if victim < 0:
                continue
            pid = self.cluster.nodes[victim].proc.pid
            os.kill(pid, signal.SIGSTOP)
            self.faults += 1
            took = self.wait_new_leader(victim, timeout=self.args.pause)
            self.failovers.append(took)
            log(self.start, "SIGSTOP broker %d: new leader after %s" % (victim, "%.1f s" % took if took else "none while paused"))
            remaining = self.args.pause - (took or self.args.pause)
            time.sleep(max(0.0, remaining))
            os.kill(pid, signal.SIGCONT)
            log(self.start, "SIGCONT broker %d" % victim)

    def cut_leader(self, stop):
        while not stop.wait(self.args.interval - self.args.pause):
            victim = self.leader_of()
            if victim < 0:
                continue
            me = self.cluster.hosts[victim]
            rules = []
            for n, other in self.cluster.hosts.items():
                if n != victim:
                    rules += [["OUTPUT", "-p", "tcp", "-s", me, "-d", other, "-j", "DROP"],
                              ["OUTPUT", "-p", "tcp", "-s", other, "-d", me, "-j", "DROP"]]
            for rule in rules:
                subprocess.run(["iptables", "-I"] + rule, check=True)
            self.faults += 1
            try:
                took = self.wait_new_leader(victim, timeout=self.args.pause)
                self.failovers.append(took)
                log(self.start, "broker %d cut off from the others: new leader after %s" %
                    (victim, "%.1f s" % took if took else "none during the cut"))
                time.sleep(max(0.0, self.args.pause - (took or self.args.pause)))
            finally:
                for rule in rules:
                    subprocess.run(["iptables", "-D"] + rule, check=False)
            log(self.start, "broker %d healed" % victim)

    def followers_down(self, stop):
        parts = self.metadata()
        leader = parts[0]["LeaderId"]
        followers = [n for n in parts[0]["ReplicaNodes"] if n != leader]
        for victim in followers:
            if stop.wait(self.args.interval):
                break
            self.cluster.nodes[victim].kill9()
            self.faults += 1
            log(self.start, "kill -9 follower %d" % victim)
        stop.wait(self.args.interval)
        for victim in followers:
            self.cluster.nodes[victim].start()
            log(self.start, "follower %d restarted" % victim)

    # ------------------------------------------------------------------ the run
    def run(self):
        args = self.args
        log(self.start, "starting 3 brokers under %s" % self.out)
        self.cluster.start()
        self.cluster.wait_live([1, 2, 3], via=1)
        from kspec import Connection
        with Connection(self.cluster.bootstrap(1)) as k:
            r = k.call("CreateTopics", 7, {"Topics": [{"Name": TOPIC, "NumPartitions": args.partitions, "ReplicationFactor": 3,
                                                       "Assignments": [], "Configs": []}],
                                           "timeoutMs": 30000, "validateOnly": False})
        assert r["Topics"][0]["ErrorCode"] == 0, r
        while not (lambda p: p and len(p) == args.partitions and all(len(x["IsrNodes"]) == 3 for x in p.values()))(self.metadata()):
            time.sleep(0.2)
        history_path = self.out / "history.jsonl"
        history = W.HistoryFile(str(history_path))
        per_producer = int(args.rate * args.duration / args.producers)
        log(self.start, "load: %d producers, %d records each at %d/s in all, for %d s; scenario %s"
            % (args.producers, per_producer, args.rate, args.duration, args.scenario))
        producers = [threading.Thread(target=W.produce, args=(self.cluster.all_bootstraps, TOPIC, history, "p%d" % i, per_producer),
                                      kwargs=dict({"rate": args.rate / args.producers, "timeout_s": 120.0},
                                                  **({"debug": args.client_debug} if args.client_debug else {})), daemon=True)
                     for i in range(args.producers)]
        for t in producers:
            t.start()
        stop = threading.Event()
        faults = {"none": lambda s: None, "kill-leader": self.kill_leader, "kill-all": self.kill_all,
                  "pause-leader": self.pause_leader, "cut-leader": self.cut_leader,
                  "followers-down": self.followers_down}[args.scenario]
        injector = threading.Thread(target=faults, args=(stop,), daemon=True)
        injector.start()
        deadline = time.monotonic() + args.duration
        while time.monotonic() < deadline and any(t.is_alive() for t in producers):
            time.sleep(min(10.0, max(0.1, deadline - time.monotonic())))
            sent = sum(1 for _ in open(history_path))
            log(self.start, "%d outcomes logged, %d faults so far" % (sent, self.faults))
        stop.set()
        injector.join()
        for node in self.cluster.nodes.values():
            if not node.alive():
                node.start()
        for t in producers:
            t.join()
        self.cluster.wait_live([1, 2, 3], via=1, timeout=120)
        log(self.start, "load done; reading everything back")
        W.read_all(self.cluster.all_bootstraps, TOPIC, args.partitions, history, timeout_s=300.0)
        history.close()
        verdict = H.check(H.load([str(history_path)]))
        took = [t for t in self.failovers if t is not None]
        result = {
            "scenario": args.scenario, "duration_s": args.duration, "faults": self.faults,
            "failover_s": {"count": len(took), "missed": len(self.failovers) - len(took),
                           "median": statistics.median(took) if took else None, "max": max(took) if took else None},
            "verdict": {k: (v if not isinstance(v, list) else len(v)) for k, v in verdict.items()},
            "valid": verdict["valid"],
        }
        (self.out / "result.json").write_text(json.dumps(result, indent=1))
        log(self.start, H.summary(verdict))
        if took:
            log(self.start, "failover: %d faults, median %.1f s, worst %.1f s" % (len(took), statistics.median(took), max(took)))
        log(self.start, "result: %s" % (self.out / "result.json"))
        return verdict["valid"]

    def close(self):
        self.cluster.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=SCENARIOS)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load and faults")
    parser.add_argument("--interval", type=float, default=10.0, help="seconds between faults")
    parser.add_argument("--pause", type=float, default=15.0, help="seconds a pause or a cut lasts")
    parser.add_argument("--rate", type=int, default=2000, help="records a second, all producers together")
    parser.add_argument("--producers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=6)
    parser.add_argument("--binary", default=os.environ.get("SLUICE_BIN", str(ROOT / ".build" / "release" / "sluice")))
    parser.add_argument("--client-debug", help="librdkafka debug contexts for the producers (eos, protocol, ...)")
    parser.add_argument("--out", help="where the history, logs and result go (default: a new temporary directory)")
    args = parser.parse_args()
    if args.scenario == "cut-leader" and os.geteuid() != 0:
        sys.exit("cut-leader needs root (iptables)")
    run = Run(args)
    try:
        valid = run.run()
    finally:
        run.close()
    sys.exit(0 if valid else 1)


if __name__ == "__main__":
    main()
