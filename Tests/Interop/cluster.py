"""Three (or more) `sluice serve` processes forming one cluster on 127.0.0.1, .2 and .3.

Each node is started exactly as issue #10 describes it: `--set cluster.id=... --set node.id=N
--set process.roles=broker,controller --set listeners=PLAINTEXT://127.0.0.N:P,CONTROLLER://127.0.0.N:C
--set controller.listener.names=CONTROLLER --set controller.quorum.voters=1@127.0.0.1:C1,...`, with
short session and heartbeat times so that fencing shows within seconds. Ports are picked free
per node address before the first start and kept across restarts.
"""
import re
import socket
import subprocess
import time

from broker import Broker

CLUSTER_ID = "MkU3OEVBNTcwNTJENDM2Qk"


def free_port(host):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class ClusterNode(Broker):
    """A node whose listeners come from its settings (no --listen)."""

    def command(self, port):
        cmd = [self.binary, "serve", "--data-dir", self.data_dir]
        for k, v in self.settings.items():
            cmd += ["--set", "%s=%s" % (k, v)]
        return cmd

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")


class Cluster:
    def __init__(self, binary, base, size=3, cluster_id=CLUSTER_ID, extra=None, first_host=1):
        self.binary = binary
        self.base = base
        self.cluster_id = cluster_id
        # first_host=2 leaves 127.0.0.1 to the clients, so cuts between brokers never cut them.
        self.hosts = {n: "127.0.0.%d" % (n + first_host - 1) for n in range(1, size + 1)}
        self.client_ports = {n: free_port(h) for n, h in self.hosts.items()}
        self.controller_ports = {n: free_port(h) for n, h in self.hosts.items()}
        self.voters = ",".join("%d@%s:%d" % (n, self.hosts[n], self.controller_ports[n]) for n in self.hosts)
        self.nodes = {n: ClusterNode(binary, base / ("node%d" % n), base / ("node%d.log" % n),
                                     settings=self.settings(n, extra), host=self.hosts[n])
                      for n in self.hosts}

    def settings(self, n, extra=None):
        s = {
            "cluster.id": self.cluster_id, "node.id": str(n), "process.roles": "broker,controller",
            "listeners": "PLAINTEXT://%s:%d,CONTROLLER://%s:%d" % (self.hosts[n], self.client_ports[n], self.hosts[n],
                                                                   self.controller_ports[n]),
            "controller.listener.names": "CONTROLLER", "controller.quorum.voters": self.voters,
            "broker.session.timeout.ms": "3000", "broker.heartbeat.interval.ms": "500",
        }
        s.update(extra or {})
        return s

    def start(self):
        for node in self.nodes.values():
            node.start()
        return self

    def bootstrap(self, n):
        return "%s:%d" % (self.hosts[n], self.client_ports[n])

    @property
    def all_bootstraps(self):
        return ",".join(self.bootstrap(n) for n in self.nodes)

    def close(self):
        import clients
        for node in self.nodes.values():
            try:
                node.close()
            except Exception:
                pass
            for bs in node.bootstraps:
                clients.forget(bs)

    # ------------------------------------------------------------------ what the cluster says
    def describe(self, via):
        """`sluice cluster describe` through node `via`: (live broker ids, quorum leader, epoch,
        high watermark), or None while it cannot answer."""
        out = subprocess.run([str(self.binary), "cluster", "describe", "--bootstrap", self.bootstrap(via)],
                             capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            return None
        text = out.stdout.decode()
        live = sorted(int(m.group(1)) for m in re.finditer(r"^\s+(\d+)\s+\S+:\d+\s+rack \S+\s+live$", text, re.M))
        q = re.search(r"^quorum: leader (-?\d+) epoch (\d+) high watermark (-?\d+)", text, re.M)
        if not q:
            return live, None, None, None
        return live, int(q.group(1)), int(q.group(2)), int(q.group(3))

    def wait_for(self, what, check, timeout=60.0, interval=0.25):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = check()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError("%s: not within %.0fs (last: %r)\n%s" % (what, timeout, last, self.tails()))

    def wait_live(self, ids, via, timeout=60.0):
        want = sorted(ids)
        return self.wait_for("brokers %s live, as node %d sees them" % (want, via),
                             lambda: (lambda d: d if d and d[0] == want and d[1] not in (None, -1) else None)(self.describe(via)),
                             timeout=timeout)

    def tails(self):
        return "\n".join("--- node %d ---\n%s" % (n, node.tail(15)) for n, node in self.nodes.items())
