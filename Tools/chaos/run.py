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
  full-disk       broker 1's log directory is a small loop-mounted ext4 file system; fill it
                  for --pause s every --interval s, then free it (root needed)

As root, the run re-executes itself in network and mount namespaces of its own (unshare), so
its iptables rules and loop mounts never touch the host's; --no-namespace runs it in place.

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

SCENARIOS = ("none", "kill-leader", "kill-all", "pause-leader", "cut-leader", "followers-down", "full-disk")
ROOT_ONLY = ("cut-leader", "full-disk")
DISK_NODE = 1
DISK_MB = 256
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
        self.disk = None
        if args.scenario == "full-disk":
            # The metadata log apart (metadata.log.dir) on every node, as an operator would: the
            # full disk is the partitions' alone, so the quorum is not part of this fault.
            for n, node in self.cluster.nodes.items():
                node.settings["metadata.log.dir"] = str(self.out / ("metadata%d" % n))
            self.disk = LoopDisk(self.out / "disk.img", Path(self.cluster.nodes[DISK_NODE].data_dir), DISK_MB)
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

    def full_disk(self, stop):
        while not stop.wait(self.args.interval - self.args.pause):
            self.disk.fill()
            self.faults += 1
            log(self.start, "broker %d's disk filled (%s)" % (DISK_NODE, self.disk.usage()))
            took = self.wait_fenced(DISK_NODE, timeout=self.args.pause)
            led = sorted(p for p, x in (self.metadata(exclude=(DISK_NODE,)) or {}).items() if x["LeaderId"] == DISK_NODE)
            log(self.start, "broker %d %s; partitions it still leads: %s" % (
                DISK_NODE, "out of every ISR after %.1f s" % took if took is not None else "still in an ISR", led or "none"))
            if took is not None:
                self.failovers.append(took)
            stop.wait(max(0.0, self.args.pause - (took or 0.0)))
            self.disk.free()
            log(self.start, "broker %d's disk freed (%s)" % (DISK_NODE, self.disk.usage()))

    def wait_fenced(self, node, timeout):
        """Seconds until no partition names `node` as leader or in-sync replica (it has asked to
        be fenced once an append ran out of space), or None. Only counted once producers
        actually touch the full disk, so it includes the time to the first failed append."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            parts = self.metadata(exclude=(node,))
            if parts and all(p["LeaderId"] != node and node not in p["IsrNodes"] for p in parts.values()):
                return time.monotonic() - started
            time.sleep(0.2)
        return None

    # ------------------------------------------------------------------ the run
    def run(self):
        args = self.args
        log(self.start, "starting 3 brokers under %s" % self.out)
        if self.disk:
            self.disk.mount()
            log(self.start, "broker %d's log directory is a %d MiB loop file system" % (DISK_NODE, DISK_MB))
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
                                      kwargs=dict({"rate": args.rate / args.producers, "timeout_s": 120.0,
                                                   "stats_path": str(self.out / ("p%d-stats.jsonl" % i))},
                                                  **({"debug": args.client_debug} if args.client_debug else {})), daemon=True)
                     for i in range(args.producers)]
        for t in producers:
            t.start()
        stop = threading.Event()
        faults = {"none": lambda s: None, "kill-leader": self.kill_leader, "kill-all": self.kill_all,
                  "pause-leader": self.pause_leader, "cut-leader": self.cut_leader,
                  "followers-down": self.followers_down, "full-disk": self.full_disk}[args.scenario]
        injector = threading.Thread(target=faults, args=(stop,), daemon=True)
        injector.start()
        deadline = time.monotonic() + args.duration
        while time.monotonic() < deadline and any(t.is_alive() for t in producers):
            time.sleep(min(10.0, max(0.1, deadline - time.monotonic())))
            acked = {"p%d" % i: 0 for i in range(args.producers)}
            sent = 0
            for line in open(history_path):
                sent += 1
                if '"outcome": "ok"' in line:
                    acked[line.split('"producer": "', 1)[1].split('"', 1)[0]] += 1
            log(self.start, "%d outcomes logged (acknowledged: %s), %d faults so far" % (
                sent, ", ".join("%s %d" % kv for kv in sorted(acked.items())), self.faults))
        stop.set()
        injector.join()
        for node in self.cluster.nodes.values():
            if not node.alive():
                node.start()
        for t in producers:
            t.join()
        self.cluster.wait_live([1, 2, 3], via=1, timeout=120)
        healed = time.monotonic()
        isr_restored = None
        while time.monotonic() - healed < 120:
            parts = self.metadata()
            if parts and all(len(p["IsrNodes"]) == 3 for p in parts.values()):
                isr_restored = time.monotonic() - healed
                break
            time.sleep(0.5)
        log(self.start, "every ISR whole again after %s" % ("%.1f s" % isr_restored if isr_restored is not None else "NO: not within 120 s"))
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
            "isr_restored_s": isr_restored,
            "valid": verdict["valid"],
        }
        (self.out / "result.json").write_text(json.dumps(result, indent=1))
        log(self.start, H.summary(verdict))
        if took:
            log(self.start, "failover: %d faults, median %.1f s, worst %.1f s" % (len(took), statistics.median(took), max(took)))
        log(self.start, "result: %s" % (self.out / "result.json"))
        return verdict["valid"] and isr_restored is not None

    def close(self):
        self.cluster.close()
        if self.disk:
            self.disk.unmount()


class LoopDisk:
    """A small ext4 file system in a file, mounted over a broker's data directory; `fill` takes
    all but a sliver of its free space with one preallocated file, `free` deletes that file."""

    def __init__(self, image, mountpoint, size_mb):
        self.image, self.mountpoint, self.size_mb = Path(image), Path(mountpoint), size_mb
        self.filler = self.mountpoint / "filler"
        self.mounted = False

    def mount(self):
        subprocess.run(["truncate", "-s", "%dM" % self.size_mb, str(self.image)], check=True)
        subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(self.image)], check=True)  # no blocks kept for root
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-o", "loop", str(self.image), str(self.mountpoint)], check=True)
        self.mounted = True
        (self.mountpoint / "lost+found").rmdir()

    def fill(self):
        st = os.statvfs(self.mountpoint)
        room = st.f_bavail * st.f_frsize - (128 << 10)
        if room > 0:
            subprocess.run(["fallocate", "-l", str(room), str(self.filler)], check=False)

    def free(self):
        if self.filler.exists():
            self.filler.unlink()

    def usage(self):
        st = os.statvfs(self.mountpoint)
        return "%.1f MiB free of %d" % (st.f_bavail * st.f_frsize / 2.0 ** 20, self.size_mb)

    def unmount(self):
        if self.mounted:
            subprocess.run(["umount", "-l", str(self.mountpoint)], check=False)
            self.mounted = False


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
    parser.add_argument("--no-namespace", action="store_true", help="as root, run in the host's namespaces")
    parser.add_argument("--out", help="where the history, logs and result go (default: a new temporary directory)")
    args = parser.parse_args()
    if args.scenario in ROOT_ONLY and os.geteuid() != 0:
        sys.exit("%s needs root (iptables, loop mounts)" % args.scenario)
    if (os.geteuid() == 0 and not args.no_namespace and not os.environ.get("SLUICE_CHAOS_NAMESPACED")
            and subprocess.run(["unshare", "--net", "--mount", "true"], capture_output=True).returncode != 0):
        print("cannot create namespaces here (unshare refused); running in the host's", flush=True)
        args.no_namespace = True
    if os.geteuid() == 0 and not args.no_namespace and not os.environ.get("SLUICE_CHAOS_NAMESPACED"):
        # Own network and mount namespaces: iptables rules and mounts vanish with the run.
        os.environ["SLUICE_CHAOS_NAMESPACED"] = "1"
        script = "ip link set lo up && exec \"$0\" \"$@\""
        os.execvp("unshare", ["unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script,
                              sys.executable] + sys.argv)
    run = Run(args)
    try:
        valid = run.run()
    finally:
        run.close()
    sys.exit(0 if valid else 1)


if __name__ == "__main__":
    main()
